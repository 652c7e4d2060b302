package cache

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"sync"
	"time"

	"github.com/sony/gobreaker/v2"
	"golang.org/x/sync/singleflight"
)

// ErrUnavailable is returned by a Guard when the store behind it failed,
// timed out, or is not being asked because it failed recently. The gateway
// then goes to the upstream as on a miss, and does not fill.
var ErrUnavailable = errors.New("cache unavailable")

// GuardConfig configures a Guard. The zero value is usable.
type GuardConfig struct {
	// Timeout bounds each call to the store, on top of the caller's
	// context; zero means 150ms.
	Timeout time.Duration
	// Failures is how many consecutive failures open the breaker; zero
	// means 3.
	Failures int
	// OpenTimeout is how long the breaker stays open before letting one
	// call probe the store, and the retry period of pending purges; zero
	// means 1s.
	OpenTimeout time.Duration
	// OnStateChange, if not nil, is called once per breaker state change
	// with the states' names ("closed", "open", "half-open"). It runs
	// while the breaker is locked, so it must be quick and must not call
	// the Guard.
	OnStateChange func(from, to string)
}

// Guard makes a remote Store fail open: each call is bounded by a timeout,
// and after repeated failures a circuit breaker answers ErrUnavailable at
// once, without touching the network, until a probe succeeds.
//
// A Purge that fails is remembered and retried, before any other call and
// from a background loop, until it succeeds. While a purge is pending, Get,
// Set and Fence return ErrUnavailable: the store may still hold entries
// the purge must delete, and a fill could not be fenced against it. The
// pending set lives in this process only; other replicas that reach the
// store meanwhile may serve those entries until the retry succeeds or they
// expire.
type Guard struct {
	inner   Store
	timeout time.Duration
	retry   time.Duration
	breaker *gobreaker.CircuitBreaker[struct{}]
	flights singleflight.Group // flights joins concurrent retries of pending purges.

	// mu guards pending and seq.
	mu sync.Mutex
	// pending maps each tag whose purge or hold failed to the seq of its
	// latest failure, so that a retry that started before a newer failure
	// of the same tag does not clear it, and to the end of its hold, if any.
	pending map[string]pendingPurge
	seq     uint64

	stop      chan struct{} // stop is closed by Close.
	done      chan struct{} // done is closed when the retry loop returns.
	closeOnce sync.Once
}

var _ Store = (*Guard)(nil)

// NewGuard returns a Guard around inner and starts its retry loop, which
// runs until Close.
func NewGuard(inner Store, cfg GuardConfig) *Guard {
	if inner == nil {
		panic("cache: NewGuard with a nil Store")
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = 150 * time.Millisecond
	}
	if cfg.Failures <= 0 {
		cfg.Failures = 3
	}
	if cfg.OpenTimeout <= 0 {
		cfg.OpenTimeout = time.Second
	}
	g := &Guard{
		inner:   inner,
		timeout: cfg.Timeout,
		retry:   cfg.OpenTimeout,
		pending: map[string]pendingPurge{},
		stop:    make(chan struct{}),
		done:    make(chan struct{}),
	}
	failures := uint32(cfg.Failures)
	g.breaker = gobreaker.NewCircuitBreaker[struct{}](gobreaker.Settings{
		Name:    "cache",
		Timeout: cfg.OpenTimeout,
		ReadyToTrip: func(c gobreaker.Counts) bool {
			return c.ConsecutiveFailures >= failures
		},
		IsSuccessful: func(err error) bool {
			return err == nil || errors.Is(err, ErrMiss) || errors.Is(err, ErrFenced)
		},
		// A caller that went away says nothing about the store.
		IsExcluded: func(err error) bool { return errors.Is(err, context.Canceled) },
		OnStateChange: func(_ string, from, to gobreaker.State) {
			if cfg.OnStateChange != nil {
				cfg.OnStateChange(from.String(), to.String())
			}
		},
	})
	go g.retryLoop()
	return g
}

// State returns the breaker's state: "closed", "open" or "half-open".
func (g *Guard) State() string { return g.breaker.State().String() }

// Get returns the inner store's entry, ErrMiss, or ErrUnavailable.
func (g *Guard) Get(ctx context.Context, key string) (*Entry, error) {
	if err := g.flush(ctx); err != nil {
		return nil, err
	}
	var e *Entry
	err := g.do(ctx, func(ctx context.Context) error {
		var err error
		e, err = g.inner.Get(ctx, key)
		return err
	})
	if err != nil {
		return nil, err
	}
	return e, nil
}

// Fence returns the inner store's fence, or ErrUnavailable.
func (g *Guard) Fence(ctx context.Context) (Fence, error) {
	if err := g.flush(ctx); err != nil {
		return Fence{}, err
	}
	var f Fence
	err := g.do(ctx, func(ctx context.Context) error {
		var err error
		f, err = g.inner.Fence(ctx)
		return err
	})
	return f, err
}

// Set stores e in the inner store, or returns ErrFenced or ErrUnavailable.
func (g *Guard) Set(ctx context.Context, key string, e *Entry, f Fence) error {
	if err := g.flush(ctx); err != nil {
		return err
	}
	return g.do(ctx, func(ctx context.Context) error { return g.inner.Set(ctx, key, e, f) })
}

// Purge purges tags, together with any pending purges, in the inner store,
// whatever the breaker's state. If that fails it returns ErrUnavailable and
// remembers the tags, which are purged before the Guard serves or stores
// anything again.
func (g *Guard) Purge(ctx context.Context, tags ...string) error {
	return g.Hold(ctx, 0, tags...)
}

// Hold is Purge with a hold of d on tags (see Store.Hold). A hold that
// fails is remembered with its end and retried for what remains of it.
func (g *Guard) Hold(ctx context.Context, d time.Duration, tags ...string) error {
	if len(tags) == 0 {
		return nil
	}
	g.mu.Lock()
	pending := maps.Clone(g.pending)
	g.mu.Unlock()
	// A purge goes to the store even while the breaker is open or probing:
	// writes to QR codes are rare, and one that reaches the store now is
	// seen by every replica at once, while one left pending is seen only by
	// this one. The timeout still bounds it.
	ctx, cancel := context.WithTimeout(ctx, g.timeout)
	defer cancel()
	if err := g.replay(ctx, pending, d, tags...); err != nil {
		g.remember(tags, d)
		return fmt.Errorf("%w: %w", ErrUnavailable, err)
	}
	g.forget(pending)
	return nil
}

// pendingPurge is a purge that failed, waiting to be retried.
type pendingPurge struct {
	seq   uint64
	until time.Time // until is the end of its hold; zero for a plain purge.
}

// replay applies pending purges and then a new purge of tags held for d
// (none if d is zero) to the inner store: plain purges together as one
// Purge, pending holds as one Hold for the longest that remains, and the
// new hold as its own.
func (g *Guard) replay(ctx context.Context, pending map[string]pendingPurge, d time.Duration, tags ...string) error {
	var plain, held []string
	var hold time.Duration
	now := time.Now()
	for t, p := range pending {
		if rest := p.until.Sub(now); rest > 0 {
			held = append(held, t)
			hold = max(hold, rest)
		} else {
			plain = append(plain, t)
		}
	}
	if d <= 0 {
		plain = append(plain, tags...)
	}
	if len(plain) > 0 {
		if err := g.inner.Purge(ctx, plain...); err != nil {
			return err
		}
	}
	if len(held) > 0 {
		if err := g.inner.Hold(ctx, hold, held...); err != nil {
			return err
		}
	}
	if d > 0 && len(tags) > 0 {
		return g.inner.Hold(ctx, d, tags...)
	}
	return nil
}

// Close stops the retry loop. Pending purges are abandoned.
func (g *Guard) Close() error {
	g.closeOnce.Do(func() {
		close(g.stop)
		<-g.done
	})
	return nil
}

// do runs op through the breaker with the Guard's timeout. The inner
// store must honour its context's deadline, as go-redis does with
// ContextTimeoutEnabled (cmd/proxy sets it): the Guard calls it directly,
// so that a closed breaker costs no goroutine or allocation per call.
func (g *Guard) do(ctx context.Context, op func(context.Context) error) error {
	_, err := g.breaker.Execute(func() (struct{}, error) {
		ctx, cancel := context.WithTimeout(ctx, g.timeout)
		defer cancel()
		return struct{}{}, op(ctx)
	})
	switch {
	case err == nil, errors.Is(err, ErrMiss), errors.Is(err, ErrFenced), errors.Is(err, ErrUnavailable):
		return err
	case errors.Is(err, gobreaker.ErrOpenState), errors.Is(err, gobreaker.ErrTooManyRequests):
		return ErrUnavailable
	default:
		return fmt.Errorf("%w: %w", ErrUnavailable, err)
	}
}

// flush retries the pending purges, if any, and returns ErrUnavailable
// unless none remain. Concurrent callers share one retry.
func (g *Guard) flush(ctx context.Context) error {
	g.mu.Lock()
	n := len(g.pending)
	g.mu.Unlock()
	if n == 0 {
		return nil
	}
	_, err, _ := g.flights.Do("", func() (any, error) {
		g.mu.Lock()
		pending := maps.Clone(g.pending)
		g.mu.Unlock()
		if len(pending) == 0 {
			return nil, nil
		}
		// The retry serves every waiter, so one caller's cancellation
		// must not end it; the Guard's timeout still bounds it.
		ctx := context.WithoutCancel(ctx)
		if err := g.do(ctx, func(ctx context.Context) error { return g.replay(ctx, pending, 0) }); err != nil {
			return nil, err
		}
		g.forget(pending)
		return nil, nil
	})
	if err != nil {
		return fmt.Errorf("retrying pending purge: %w", err)
	}
	return nil
}

// remember adds tags to the pending purges, held for d if d > 0. A tag
// already pending keeps the later of its two hold ends.
func (g *Guard) remember(tags []string, d time.Duration) {
	var until time.Time
	if d > 0 {
		until = time.Now().Add(d)
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	g.seq++
	for _, t := range tags {
		p := pendingPurge{seq: g.seq, until: until}
		if old := g.pending[t]; old.until.After(until) {
			p.until = old.until
		}
		g.pending[t] = p
	}
}

// forget removes the purged tags from the pending set, unless a purge of
// the same tag failed again since the snapshot was taken.
func (g *Guard) forget(purged map[string]pendingPurge) {
	g.mu.Lock()
	defer g.mu.Unlock()
	for t, p := range purged {
		if g.pending[t].seq == p.seq {
			delete(g.pending, t)
		}
	}
}

// retryLoop retries pending purges every OpenTimeout until Close.
func (g *Guard) retryLoop() {
	defer close(g.done)
	tick := time.NewTicker(g.retry)
	defer tick.Stop()
	for {
		select {
		case <-g.stop:
			return
		case <-tick.C:
			_ = g.flush(context.Background())
		}
	}
}
