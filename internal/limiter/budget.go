package limiter

import (
	"context"
	"fmt"
	"math"
	"sync/atomic"
	"time"
)

// Budget keys name the buckets a Budget keeps in its Limiter.
const (
	BudgetReadKey  = "budget:read"
	BudgetWriteKey = "budget:write"
)

// BudgetConfig configures a Budget.
type BudgetConfig struct {
	// Limit is the whole budget: what all requests together may take of
	// the upstream. It must be valid.
	Limit Limit
	// WriteReserve is the share of Limit kept for writes, in [0, 1); zero
	// keeps none. Reads may use only the rest; writes may use all of it.
	WriteReserve float64
	// Clock returns the current time, for Pause; nil means time.Now.
	Clock func() time.Time
}

// Budget is the global limit on requests that reach the upstream, kept as
// two buckets in one Limiter (shared by the replicas when it is a
// Fallback):
//
//   - the write bucket, BudgetWriteKey, holds the reserve: WriteReserve of
//     Limit's Rate and Burst, rounded up to whole requests;
//   - the read bucket, BudgetReadKey, holds the rest of Limit.
//
// A read takes a token from the read bucket only. A write takes one from
// the write bucket, or, when that is empty, from the read bucket. So reads
// alone take at most (1-WriteReserve) of Limit, writes always have at least
// WriteReserve of it and may take all of it, and together they never take
// more than Limit (within the Limiter's own tolerance). With no reserve
// there is only the read bucket, which writes share.
//
// After the upstream answers 429, Pause stops this process's requests for
// the time it asked.
type Budget struct {
	limiter     Limiter
	whole       Limit
	read, write Limit // write is zero when there is no reserve.
	now         func() time.Time
	// pausedUntil is the end of the current pause, in Unix nanoseconds.
	pausedUntil atomic.Int64
}

// NewBudget returns a Budget kept in l. It fails if cfg is not valid, or if
// the reserve leaves the read or write bucket with no rate or burst.
func NewBudget(l Limiter, cfg BudgetConfig) (*Budget, error) {
	if l == nil {
		return nil, fmt.Errorf("creating budget: nil limiter")
	}
	if err := cfg.Limit.Validate(); err != nil {
		return nil, fmt.Errorf("creating budget: limit: %w", err)
	}
	if !(cfg.WriteReserve >= 0 && cfg.WriteReserve < 1) {
		return nil, fmt.Errorf("creating budget: write reserve %v: must be at least 0 and less than 1", cfg.WriteReserve)
	}
	if cfg.Clock == nil {
		cfg.Clock = time.Now
	}
	b := &Budget{limiter: l, whole: cfg.Limit, read: cfg.Limit, now: cfg.Clock}
	if cfg.WriteReserve > 0 {
		lim := cfg.Limit
		b.write = Limit{Rate: reserve(lim.Rate, cfg.WriteReserve), Burst: reserve(lim.Burst, cfg.WriteReserve), Period: lim.Period}
		b.read = Limit{Rate: lim.Rate - b.write.Rate, Burst: lim.Burst - b.write.Burst, Period: lim.Period}
		if err := b.read.Validate(); err != nil {
			return nil, fmt.Errorf("creating budget: write reserve %v leaves reads nothing of %+v: %w", cfg.WriteReserve, lim, err)
		}
	}
	return b, nil
}

// reserve returns share of n rounded up, so that reads never get more than
// their share. The epsilon keeps 10*0.3, which is 3.0000000000000004 in
// floating point, from rounding up to 4.
func reserve(n int, share float64) int {
	return int(math.Ceil(float64(n)*share - 1e-9))
}

// Allow takes a token for a read, or a write if write is true. It returns
// the Result of the bucket that decided: the one that allowed the request
// or, for a write both buckets deny, the one that will allow it sooner.
// While paused it denies without asking the Limiter, with the rest of the
// pause as RetryAfter and ResetAfter. It fails only if the Limiter does.
func (b *Budget) Allow(ctx context.Context, write bool) (Result, error) {
	if wait := time.Duration(b.pausedUntil.Load() - b.now().UnixNano()); wait > 0 {
		return Result{RetryAfter: wait, ResetAfter: wait}, nil
	}
	if !write || b.write.Rate == 0 {
		r, err := b.limiter.Allow(ctx, BudgetReadKey, b.read)
		if err != nil {
			return Result{}, fmt.Errorf("limiting reads: %w", err)
		}
		return r, nil
	}
	w, err := b.limiter.Allow(ctx, BudgetWriteKey, b.write)
	if err != nil {
		return Result{}, fmt.Errorf("limiting writes: %w", err)
	}
	if w.Allowed {
		return w, nil
	}
	r, err := b.limiter.Allow(ctx, BudgetReadKey, b.read)
	if err != nil {
		return Result{}, fmt.Errorf("limiting writes: %w", err)
	}
	if r.Allowed || r.RetryAfter < w.RetryAfter {
		return r, nil
	}
	return w, nil
}

// Limit returns the whole budget, BudgetConfig.Limit, as for a
// RateLimit-Policy header.
func (b *Budget) Limit() Limit { return b.whole }

// Pause denies every request of this process until d from now, as after
// an upstream 429 with Retry-After. It never shortens a longer pause.
func (b *Budget) Pause(d time.Duration) {
	until := b.now().Add(d).UnixNano()
	for {
		old := b.pausedUntil.Load()
		if old >= until || b.pausedUntil.CompareAndSwap(old, until) {
			return
		}
	}
}
