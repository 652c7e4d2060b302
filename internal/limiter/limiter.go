// Package limiter rate-limits the gateway's tenants and its upstream, and
// breaks the circuit to a failing upstream.
package limiter

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// ErrInvalidLimit is wrapped by the error Allow returns for a Limit that
// fails Validate. Config validates its limits, so it means a programmer
// error; it is the only error Local and Fallback ever return.
var ErrInvalidLimit = errors.New("invalid limit")

// Limit is Burst requests at once, refilled at Rate requests per Period: a
// token bucket, which the Redis limiter runs as GCRA. The zero value is not
// a valid Limit.
type Limit struct {
	// Rate is how many requests are allowed per Period; it must be positive.
	Rate int
	// Burst is how many requests are allowed at once, from a full bucket;
	// it must be positive.
	Burst int
	// Period is the time over which Rate is counted; zero means one second.
	Period time.Duration
}

// Validate reports whether l can be used, naming the field at fault.
func (l Limit) Validate() error {
	switch {
	case l.Rate <= 0:
		return fmt.Errorf("%w: rate %d: must be positive", ErrInvalidLimit, l.Rate)
	case l.Burst <= 0:
		return fmt.Errorf("%w: burst %d: must be positive", ErrInvalidLimit, l.Burst)
	case l.Period < 0:
		return fmt.Errorf("%w: period %v: must not be negative", ErrInvalidLimit, l.Period)
	}
	return nil
}

// period returns l.Period, or one second if it is zero.
func (l Limit) period() time.Duration {
	if l.Period == 0 {
		return time.Second
	}
	return l.Period
}

// refill returns how long an empty bucket of l takes to fill up.
func (l Limit) refill() time.Duration {
	return time.Duration(float64(l.period()) * float64(l.Burst) / float64(l.Rate))
}

// Result is a limiter's answer to one request.
type Result struct {
	// Allowed reports whether the request may go ahead.
	Allowed bool
	// Remaining is how many more requests would be allowed right now,
	// after this one.
	Remaining int
	// RetryAfter is, when the request is denied, how long until the next
	// one would be allowed; it is zero when the request is allowed.
	RetryAfter time.Duration
	// ResetAfter is how long until the bucket is full again.
	ResetAfter time.Duration
}

// Limiter decides whether a request under key may go ahead within l, and
// counts it if so. A caller should use one Limit per key: what a key's state
// means after its Limit changes (a config reload) is up to each Limiter.
type Limiter interface {
	Allow(ctx context.Context, key string, l Limit) (Result, error)
}
