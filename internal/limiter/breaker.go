package limiter

import (
	"errors"
	"fmt"
	"slices"
	"sync/atomic"
	"time"

	"github.com/sony/gobreaker/v2"
)

// ErrOpen is wrapped by the error the Breakers' transport returns, without
// sending the request, while a group's breaker is open or while it is
// half-open and its probes are all under way.
var ErrOpen = errors.New("upstream circuit open")

// OtherGroup is the breaker of requests whose group is not one of those
// NewBreakers was given.
const OtherGroup = "other"

// BreakerConfig configures Breakers. The zero value is usable.
type BreakerConfig struct {
	// FailureRatio trips a breaker when, within the last Interval, at
	// least MinRequests requests had an outcome and this share or more of
	// them failed. ConsecutiveFailures trips it when the last that many
	// requests within Interval all failed. A breaker trips on either condition. When both are
	// zero they default to 0.5 and 5; otherwise a zero one is disabled.
	FailureRatio        float64
	ConsecutiveFailures uint32
	// MinRequests is how many outcomes FailureRatio needs within Interval
	// before it can trip a breaker; zero means 10.
	MinRequests uint32
	// Interval is the rolling window FailureRatio is measured over, in
	// steps of BucketPeriod; zero means 10s. BucketPeriod zero means a
	// tenth of Interval.
	Interval, BucketPeriod time.Duration
	// OpenTimeout is how long a breaker stays open before it lets probes
	// through (half-open); zero means 5s.
	OpenTimeout time.Duration
	// HalfOpenRequests is how many probes a half-open breaker lets through
	// at once, and how many must succeed in a row to close it; zero
	// means 1. One failed probe opens it again.
	HalfOpenRequests uint32
	// OnStateChange, if not nil, is called once per state change of a
	// group's breaker with the states' names ("closed", "open",
	// "half-open"). It runs while that breaker is locked, so it must be
	// quick and must not call the Breakers.
	OnStateChange func(group, from, to string)
}

// Breakers are circuit breakers in front of the upstream, one per route
// group, local to this process (each replica sees the upstream on its
// own). Requests fail, and count as failures, when the upstream answers 5xx,
// times out, refuses or drops the connection, or breaks off a response body;
// 4xx answers are successes; 429 answers and requests whose caller went
// away (context.Canceled) do not count. A 2xx's outcome is known only when
// its body has been read to the end or closed, so the caller must close
// every response body, as net/http requires: a half-open breaker waits for
// its probes' outcomes.
type Breakers struct {
	groups      map[string]*group
	openTimeout time.Duration
	halfOpen    uint32
}

// group is the breaker of one route group.
type group struct {
	cb *gobreaker.TwoStepCircuitBreaker[struct{}]
	// reopen is when the breaker, last opened, lets probes through, in
	// Unix nanoseconds.
	reopen atomic.Int64
}

// NewBreakers returns closed breakers for groups and OtherGroup. It fails
// if cfg is not valid or a group name is empty or repeated.
func NewBreakers(groups []string, cfg BreakerConfig) (*Breakers, error) {
	if err := cfg.defaults(); err != nil {
		return nil, fmt.Errorf("creating breakers: %w", err)
	}
	b := &Breakers{groups: map[string]*group{}, openTimeout: cfg.OpenTimeout, halfOpen: cfg.HalfOpenRequests}
	for _, name := range slices.Concat(groups, []string{OtherGroup}) {
		if name == "" {
			return nil, fmt.Errorf("creating breakers: empty group name")
		}
		if _, ok := b.groups[name]; ok && name != OtherGroup {
			return nil, fmt.Errorf("creating breakers: group %q given twice", name)
		}
		b.groups[name] = newGroup(name, cfg)
	}
	return b, nil
}

// defaults fills in cfg's zero fields and validates it.
func (cfg *BreakerConfig) defaults() error {
	if cfg.FailureRatio == 0 && cfg.ConsecutiveFailures == 0 {
		cfg.FailureRatio, cfg.ConsecutiveFailures = 0.5, 5
	}
	if cfg.MinRequests == 0 {
		cfg.MinRequests = 10
	}
	if cfg.Interval == 0 {
		cfg.Interval = 10 * time.Second
	}
	if cfg.BucketPeriod == 0 {
		cfg.BucketPeriod = cfg.Interval / 10
	}
	if cfg.OpenTimeout == 0 {
		cfg.OpenTimeout = 5 * time.Second
	}
	if cfg.HalfOpenRequests == 0 {
		cfg.HalfOpenRequests = 1
	}
	switch {
	case !(cfg.FailureRatio >= 0 && cfg.FailureRatio <= 1):
		return fmt.Errorf("failure ratio %v: must be between 0 and 1", cfg.FailureRatio)
	case cfg.Interval <= 0:
		return fmt.Errorf("interval %v: must be positive", cfg.Interval)
	case cfg.BucketPeriod <= 0 || cfg.BucketPeriod > cfg.Interval:
		return fmt.Errorf("bucket period %v: must be positive and at most the interval, %v", cfg.BucketPeriod, cfg.Interval)
	case cfg.OpenTimeout < 0:
		return fmt.Errorf("open timeout %v: must not be negative", cfg.OpenTimeout)
	}
	return nil
}

func newGroup(name string, cfg BreakerConfig) *group {
	g := &group{}
	g.cb = gobreaker.NewTwoStepCircuitBreaker[struct{}](gobreaker.Settings{
		Name:         name,
		MaxRequests:  cfg.HalfOpenRequests,
		Interval:     cfg.Interval,
		BucketPeriod: cfg.BucketPeriod,
		Timeout:      cfg.OpenTimeout,
		ReadyToTrip: func(c gobreaker.Counts) bool {
			if cfg.ConsecutiveFailures > 0 && c.ConsecutiveFailures >= cfg.ConsecutiveFailures {
				return true
			}
			n := c.TotalSuccesses + c.TotalFailures // Requests also counts those under way.
			return cfg.FailureRatio > 0 && n >= cfg.MinRequests && float64(c.TotalFailures) >= cfg.FailureRatio*float64(n)
		},
		IsExcluded: func(err error) bool { return errors.Is(err, errNotCounted) },
		OnStateChange: func(_ string, from, to gobreaker.State) {
			if to == gobreaker.StateOpen {
				g.reopen.Store(time.Now().Add(cfg.OpenTimeout).UnixNano())
			}
			if cfg.OnStateChange != nil {
				cfg.OnStateChange(name, from.String(), to.String())
			}
		},
	})
	return g
}

// group returns the breaker of the named group, or OtherGroup's.
func (b *Breakers) group(name string) *group {
	if g, ok := b.groups[name]; ok {
		return g
	}
	return b.groups[OtherGroup]
}

// State returns the state of a group's breaker: "closed", "open" or
// "half-open". An unknown group is OtherGroup.
func (b *Breakers) State(group string) string {
	return b.group(group).cb.State().String()
}

// RetryAfter estimates how long until a group's breaker lets requests
// through again, for a 503's Retry-After: zero if it does now, the rest
// of the open time if it is open, and OpenTimeout, the wait should they
// fail, if it is half-open with all its probes under way. An unknown group
// is OtherGroup.
func (b *Breakers) RetryAfter(group string) time.Duration {
	g := b.group(group)
	switch g.cb.State() {
	case gobreaker.StateOpen:
		return max(time.Duration(g.reopen.Load()-time.Now().UnixNano()), 0)
	case gobreaker.StateHalfOpen:
		if c := g.cb.Counts(); c.Requests-min(c.TotalExclusions, c.Requests) >= b.halfOpen {
			return b.openTimeout
		}
	}
	return 0
}
