package limiter

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"time"

	"github.com/sony/gobreaker/v2"
)

// FallbackConfig configures a Fallback. The zero value is usable.
type FallbackConfig struct {
	// Timeout bounds each call to the primary limiter, on top of the
	// caller's context; zero means 50ms.
	Timeout time.Duration
	// Failures is how many consecutive failures of the primary open the
	// breaker; zero means 3.
	Failures int
	// OpenTimeout is how long the breaker stays open before the next call
	// probes the primary; zero means 1s.
	OpenTimeout time.Duration
	// ExpectedReplicas is how many replicas share the primary's limits;
	// zero means 1. While the primary is unusable each replica allows its
	// share of every Limit (see Share).
	ExpectedReplicas int
	// OnStateChange, if not nil, is called once per breaker state change
	// with the states' names ("closed", "open", "half-open"), for a gauge
	// or a log. It runs while the breaker is locked, so it must be quick
	// and must not call the Fallback.
	OnStateChange func(from, to string)
}

// Fallback is the limiter of replicas that share their limits through
// Redis: it asks the primary (a Redis limiter), and answers from the local
// buckets with this replica's share of the Limit when the primary fails,
// takes longer than Timeout, or is not being asked because it failed
// Failures times in a row. It never returns an error for a valid Limit and
// never lets a request through unlimited. The breaker closes, and the
// primary is used again, when a probe after OpenTimeout succeeds; probes
// are made by the calls that come, one at a time. A call whose caller's
// context ends during it (cancelled, or past the caller's own deadline) is
// answered locally and does not count against the primary.
//
// The primary must honour its context's deadline, as go-redis does with
// ContextTimeoutEnabled: the Fallback calls it on the caller's goroutine.
type Fallback struct {
	primary  Limiter
	local    *Local
	timeout  time.Duration
	replicas int
	breaker  *gobreaker.CircuitBreaker[Result]
	// state is the breaker's state as of its last change, read without
	// taking the breaker's lock.
	state atomic.Int32
}

// errCallerGone marks a failure of the primary that happened because the
// caller's context ended: it says nothing about the primary, so the
// breaker excludes it.
var errCallerGone = errors.New("caller's context ended")

var _ Limiter = (*Fallback)(nil)

// NewFallback returns a Fallback that asks primary and falls back on local.
// It panics if either is nil or a cfg field is negative.
func NewFallback(primary Limiter, local *Local, cfg FallbackConfig) *Fallback {
	if primary == nil || local == nil {
		panic("limiter: NewFallback with a nil limiter")
	}
	if cfg.Timeout < 0 || cfg.Failures < 0 || cfg.OpenTimeout < 0 || cfg.ExpectedReplicas < 0 {
		panic(fmt.Sprintf("limiter: NewFallback with a negative setting: %+v", cfg))
	}
	if cfg.Timeout == 0 {
		cfg.Timeout = 50 * time.Millisecond
	}
	if cfg.Failures == 0 {
		cfg.Failures = 3
	}
	if cfg.OpenTimeout == 0 {
		cfg.OpenTimeout = time.Second
	}
	if cfg.ExpectedReplicas == 0 {
		cfg.ExpectedReplicas = 1
	}
	f := &Fallback{primary: primary, local: local, timeout: cfg.Timeout, replicas: cfg.ExpectedReplicas}
	failures := uint32(cfg.Failures)
	f.breaker = gobreaker.NewCircuitBreaker[Result](gobreaker.Settings{
		Name:        "limiter",
		Timeout:     cfg.OpenTimeout,
		ReadyToTrip: func(c gobreaker.Counts) bool { return c.ConsecutiveFailures >= failures },
		IsExcluded:  func(err error) bool { return errors.Is(err, errCallerGone) },
		OnStateChange: func(_ string, from, to gobreaker.State) {
			f.state.Store(int32(to))
			if cfg.OnStateChange != nil {
				cfg.OnStateChange(from.String(), to.String())
			}
		},
	})
	return f
}

// Allow asks the primary, or the local buckets for this replica's share of
// l. It returns an error, wrapping ErrInvalidLimit, only if l is not valid.
func (f *Fallback) Allow(ctx context.Context, key string, l Limit) (Result, error) {
	if err := l.Validate(); err != nil {
		return Result{}, err
	}
	// A caller that is already gone is answered locally, without asking
	// the primary or telling the breaker anything.
	if ctx.Err() == nil {
		res, err := f.breaker.Execute(func() (Result, error) {
			callCtx, cancel := context.WithTimeout(ctx, f.timeout)
			defer cancel()
			res, err := f.primary.Allow(callCtx, key, l)
			if err != nil && ctx.Err() != nil {
				// The primary may report the caller's cancellation as
				// some other error (a read cut short).
				return res, fmt.Errorf("%w: %w", errCallerGone, err)
			}
			return res, err
		})
		if err == nil {
			return res, nil
		}
	}
	return f.local.Allow(ctx, key, Share(l, f.replicas))
}

// Refresh brings the breaker's state up to date, as a call would: an open
// breaker whose timeout passed turns half-open (and OnStateChange hears of
// it) even while no request comes. Metrics poll it.
func (f *Fallback) Refresh() { f.breaker.State() }

// UsingFallback reports whether the breaker is open or half-open, so that
// most calls are answered from the local buckets.
func (f *Fallback) UsingFallback() bool {
	return gobreaker.State(f.state.Load()) != gobreaker.StateClosed
}

// Share returns one of n replicas' share of l: the same Rate over n times
// the Period, which divides the rate exactly, and Burst/n rounded down but
// at least 1. Together the n shares allow at most l, except that each
// keeps a burst of one when Burst < n.
func Share(l Limit, n int) Limit {
	if n <= 1 {
		return l
	}
	return Limit{Rate: l.Rate, Burst: max(l.Burst/n, 1), Period: l.period() * time.Duration(n)}
}
