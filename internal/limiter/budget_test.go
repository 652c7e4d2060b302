package limiter_test

import (
	"context"
	"math"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/rzpgate/rzpgate/internal/limiter"
	"github.com/rzpgate/rzpgate/internal/redistest"
)

func newBudget(t *testing.T, c *clock, l limiter.Limit, reserve float64) *limiter.Budget {
	t.Helper()
	b, err := limiter.NewBudget(limiter.NewLocal(limiter.LocalConfig{Clock: c.Now}), limiter.BudgetConfig{Limit: l, WriteReserve: reserve, Clock: c.Now})
	if err != nil {
		t.Fatalf("NewBudget: %v", err)
	}
	return b
}

// spend makes n calls of a kind and returns how many were allowed.
func spend(t *testing.T, b *limiter.Budget, write bool, n int) int {
	t.Helper()
	allowed := 0
	for range n {
		r, err := b.Allow(context.Background(), write)
		if err != nil {
			t.Fatalf("Allow(write=%v): %v", write, err)
		}
		if r.Allowed {
			allowed++
		}
	}
	return allowed
}

func TestBudgetShares(t *testing.T) {
	type call struct {
		write       bool
		n           int
		wantAllowed int
	}
	tests := []struct {
		desc    string
		limit   limiter.Limit
		reserve float64
		calls   []call
	}{
		{
			desc: "reads first leave the reserve", limit: limiter.Limit{Rate: 10, Burst: 10}, reserve: 0.3,
			calls: []call{{write: false, n: 100, wantAllowed: 7}, {write: true, n: 100, wantAllowed: 3}},
		},
		{
			desc: "writes may take it all", limit: limiter.Limit{Rate: 10, Burst: 10}, reserve: 0.3,
			calls: []call{{write: true, n: 100, wantAllowed: 10}, {write: false, n: 100, wantAllowed: 0}},
		},
		{
			desc: "reserve rounds up", limit: limiter.Limit{Rate: 10, Burst: 10}, reserve: 0.25,
			calls: []call{{write: false, n: 100, wantAllowed: 7}, {write: true, n: 100, wantAllowed: 3}},
		},
		{
			desc: "no reserve", limit: limiter.Limit{Rate: 10, Burst: 10},
			calls: []call{{write: false, n: 100, wantAllowed: 10}, {write: true, n: 100, wantAllowed: 0}},
		},
		{
			desc: "reads and writes interleaved", limit: limiter.Limit{Rate: 2, Burst: 4, Period: time.Minute}, reserve: 0.5,
			calls: []call{{n: 1, wantAllowed: 1}, {write: true, n: 1, wantAllowed: 1}, {n: 5, wantAllowed: 1}, {write: true, n: 5, wantAllowed: 1}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.desc, func(t *testing.T) {
			b := newBudget(t, newClock(), tt.limit, tt.reserve)
			for i, c := range tt.calls {
				if got := spend(t, b, c.write, c.n); got != c.wantAllowed {
					t.Errorf("step %d: %d calls with write=%v: allowed %d, want %d", i, c.n, c.write, got, c.wantAllowed)
				}
			}
		})
	}
}

func TestBudgetConcurrent(t *testing.T) {
	b := newBudget(t, newClock(), limiter.Limit{Rate: 10, Burst: 10}, 0.3)
	var reads, writes atomic.Int64
	var wg sync.WaitGroup
	for i := range 200 {
		write := i%2 == 1
		wg.Go(func() {
			r, err := b.Allow(context.Background(), write)
			if err != nil {
				t.Errorf("Allow: %v", err)
			}
			switch {
			case !r.Allowed:
			case write:
				writes.Add(1)
			default:
				reads.Add(1)
			}
		})
	}
	wg.Wait()
	r, w := reads.Load(), writes.Load()
	if r+w != 10 || r > 7 || w < 3 {
		t.Errorf("100 reads and 100 writes at once: allowed %d reads and %d writes, want 10 in all, at most 7 reads", r, w)
	}
}

func TestBudgetRetryAfter(t *testing.T) {
	c := newClock()
	b := newBudget(t, c, limiter.Limit{Rate: 10, Burst: 10}, 0.3)
	spend(t, b, true, 10)
	// The write bucket refills a token every 333ms, the read bucket every
	// 143ms: a write may go when the read bucket has one.
	r, _ := b.Allow(context.Background(), true)
	if want := time.Second / 7; r.Allowed || (r.RetryAfter-want).Abs() > time.Microsecond {
		t.Errorf("write with both buckets empty: %+v, want denied for %v", r, want)
	}
	c.Add(r.RetryAfter)
	if r, _ := b.Allow(context.Background(), true); !r.Allowed {
		t.Errorf("write after RetryAfter: %+v, want allowed", r)
	}
}

func TestBudgetPause(t *testing.T) {
	c := newClock()
	b := newBudget(t, c, limiter.Limit{Rate: 100, Burst: 100}, 0.1)
	ctx := context.Background()
	b.Pause(2 * time.Second)
	b.Pause(time.Second) // Never shortens the pause.
	steps := []struct {
		advance   time.Duration
		write     bool
		want      bool
		wantRetry time.Duration
	}{
		{write: false, wantRetry: 2 * time.Second},
		{write: true, wantRetry: 2 * time.Second},
		{advance: 1500 * time.Millisecond, write: true, wantRetry: 500 * time.Millisecond},
		{advance: 500 * time.Millisecond, write: false, want: true},
		{write: true, want: true},
	}
	for i, s := range steps {
		c.Add(s.advance)
		r, err := b.Allow(ctx, s.write)
		if err != nil {
			t.Fatalf("step %d: Allow: %v", i, err)
		}
		if r.Allowed != s.want || r.RetryAfter != s.wantRetry {
			t.Errorf("step %d: Allow(write=%v) = %+v, want allowed %v, RetryAfter %v", i, s.write, r, s.want, s.wantRetry)
		}
	}
}

func TestNewBudgetErrors(t *testing.T) {
	local := limiter.NewLocal(limiter.LocalConfig{})
	ok := limiter.Limit{Rate: 10, Burst: 10}
	tests := []struct {
		desc    string
		l       limiter.Limiter
		cfg     limiter.BudgetConfig
		wantErr bool
	}{
		{desc: "valid", l: local, cfg: limiter.BudgetConfig{Limit: ok, WriteReserve: 0.5}},
		{desc: "nil limiter", cfg: limiter.BudgetConfig{Limit: ok}, wantErr: true},
		{desc: "zero limit", l: local, wantErr: true},
		{desc: "whole reserve", l: local, cfg: limiter.BudgetConfig{Limit: ok, WriteReserve: 1}, wantErr: true},
		{desc: "negative reserve", l: local, cfg: limiter.BudgetConfig{Limit: ok, WriteReserve: -0.1}, wantErr: true},
		{desc: "NaN reserve", l: local, cfg: limiter.BudgetConfig{Limit: ok, WriteReserve: math.NaN()}, wantErr: true},
		{desc: "reserve leaves reads nothing", l: local, cfg: limiter.BudgetConfig{Limit: limiter.Limit{Rate: 1, Burst: 1}, WriteReserve: 0.5}, wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.desc, func(t *testing.T) {
			_, err := limiter.NewBudget(tt.l, tt.cfg)
			if (err != nil) != tt.wantErr {
				t.Errorf("NewBudget = %v, want error: %v", err, tt.wantErr)
			}
		})
	}
}

// TestBudgetSharedInRedis checks that two replicas' Budgets on one Redis
// share one budget.
func TestBudgetSharedInRedis(t *testing.T) {
	s := redistest.Start(t)
	lim := limiter.Limit{Rate: 10, Burst: 10, Period: time.Minute} // Refills one in 6s: none during the test.
	var budgets []*limiter.Budget
	for range 2 {
		b, err := limiter.NewBudget(limiter.NewRedis(s.Client(t), limiter.RedisConfig{}), limiter.BudgetConfig{Limit: lim, WriteReserve: 0.3})
		if err != nil {
			t.Fatalf("NewBudget: %v", err)
		}
		budgets = append(budgets, b)
	}
	var reads, writes atomic.Int64
	var wg sync.WaitGroup
	for i := range 200 {
		b, write := budgets[i%2], i%4 >= 2
		wg.Go(func() {
			r, err := b.Allow(context.Background(), write)
			if err != nil {
				t.Errorf("Allow: %v", err)
			}
			switch {
			case !r.Allowed:
			case write:
				writes.Add(1)
			default:
				reads.Add(1)
			}
		})
	}
	wg.Wait()
	r, w := reads.Load(), writes.Load()
	if r+w != 10 || r > 7 || w < 3 {
		t.Errorf("two replicas, 100 reads and 100 writes at once: allowed %d reads and %d writes, want 10 in all, at most 7 reads", r, w)
	}
}

func TestBudgetLimit(t *testing.T) {
	l := limiter.Limit{Rate: 10, Burst: 20, Period: time.Minute}
	if got := newBudget(t, newClock(), l, 0.3).Limit(); got != l {
		t.Errorf("Limit() = %+v, want the whole budget, %+v", got, l)
	}
}
