package limiter

import (
	"context"
	"fmt"
	"math"
	"sync"
	"time"

	"github.com/maypok86/otter/v2"
	"golang.org/x/time/rate"

	"github.com/rzpgate/rzpgate/internal/otterclock"
)

// LocalConfig configures a Local limiter. The zero value is usable.
type LocalConfig struct {
	// MaxKeys bounds how many buckets are kept; zero means 100,000. When
	// there are more, otter evicts those least likely to be used again,
	// and a key whose bucket was evicted starts again with a full one.
	MaxKeys int
	// IdleTimeout is how long a bucket is kept without being used, at
	// least; zero means one minute. A bucket is always kept until it would
	// be full again (Burst/Rate periods), so that dropping it frees memory
	// without ever letting its key through sooner.
	IdleTimeout time.Duration
	// Clock returns the current time; nil means time.Now. Buckets refill
	// and expire on it.
	Clock func() time.Time
}

// Local is an in-process Limiter: a golang.org/x/time/rate token bucket per
// (key, Limit), held in a bounded otter cache. Its Allow never fails for a
// valid Limit. Its methods are safe for concurrent use.
type Local struct {
	buckets *otter.Cache[bucketKey, *bucket]
	now     func() time.Time
}

// bucketKey names a bucket: a key under one Limit.
type bucketKey struct {
	key   string
	limit Limit
}

// bucket is one token bucket.
type bucket struct {
	// mu makes a reservation and its cancellation one step, so that a
	// request that is denied never holds, even briefly, a token another
	// request could have had.
	mu  sync.Mutex
	lim *rate.Limiter
	// perSecond and burst are lim's, which it gives out only under its
	// own lock.
	perSecond float64
	burst     float64
}

// expirySlack covers otter's expiry, which may come up to a second early.
const expirySlack = time.Second

var _ Limiter = (*Local)(nil)

// NewLocal returns an empty Local limiter. It panics if cfg.MaxKeys or
// cfg.IdleTimeout is negative.
func NewLocal(cfg LocalConfig) *Local {
	if cfg.MaxKeys < 0 || cfg.IdleTimeout < 0 {
		panic(fmt.Sprintf("limiter: NewLocal with MaxKeys %d, IdleTimeout %v: must not be negative", cfg.MaxKeys, cfg.IdleTimeout))
	}
	if cfg.MaxKeys == 0 {
		cfg.MaxKeys = 100_000
	}
	if cfg.IdleTimeout == 0 {
		cfg.IdleTimeout = time.Minute
	}
	// Otter gets no ticks (see otterclock): idle buckets expire in the
	// maintenance that Allow runs, not on a goroutine waking every second.
	var clock otter.Clock = otterclock.NewMono()
	if cfg.Clock == nil {
		cfg.Clock = time.Now
	} else {
		clock = otterclock.Func(cfg.Clock)
	}
	idle := cfg.IdleTimeout
	return &Local{
		now: cfg.Clock,
		buckets: otter.Must(&otter.Options[bucketKey, *bucket]{
			MaximumSize: cfg.MaxKeys,
			// A bucket left alone for its refill time is full, and so the
			// same as a new one: dropping it changes nothing for its key.
			ExpiryCalculator: otter.ExpiryAccessingFunc(func(e otter.Entry[bucketKey, *bucket]) time.Duration {
				return max(idle, e.Key.limit.refill()) + expirySlack
			}),
			Clock: clock,
		}),
	}
}

// Allow takes a token from the bucket of key under l, if it has one. It
// returns an error, wrapping ErrInvalidLimit, only if l is not valid.
func (lc *Local) Allow(_ context.Context, key string, l Limit) (Result, error) {
	if err := l.Validate(); err != nil {
		return Result{}, err
	}
	k := bucketKey{key: key, limit: l}
	b, ok := lc.buckets.GetIfPresent(k)
	if !ok {
		b, _ = lc.buckets.ComputeIfAbsent(k, func() (*bucket, bool) {
			r := float64(l.Rate) / l.period().Seconds()
			return &bucket{lim: rate.NewLimiter(rate.Limit(r), l.Burst), perSecond: r, burst: float64(l.Burst)}, false
		})
	}
	return b.take(lc.now), nil
}

// take takes a token if there is one, at now().
func (b *bucket) take(now func() time.Time) Result {
	b.mu.Lock()
	defer b.mu.Unlock()
	// The time is read under the lock so that the bucket sees it advance.
	t := now()
	res := b.lim.ReserveN(t, 1) // Burst >= 1, so res.OK().
	var r Result
	if wait := res.DelayFrom(t); wait > 0 {
		res.CancelAt(t)
		r.RetryAfter = wait
	} else {
		r.Allowed = true
	}
	tokens := b.lim.TokensAt(t)
	r.Remaining = int(max(math.Floor(tokens), 0))
	r.ResetAfter = time.Duration((b.burst - tokens) / b.perSecond * float64(time.Second))
	return r
}

// Len returns about how many buckets are held, for a gauge.
func (lc *Local) Len() int {
	return lc.buckets.EstimatedSize()
}
