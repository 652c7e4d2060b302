package limiter_test

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"runtime"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/rzpgate/rzpgate/internal/limiter"
)

func TestLocalCounts(t *testing.T) {
	type step struct {
		advance     time.Duration
		calls       int
		wantAllowed int
	}
	tests := []struct {
		desc  string
		limit limiter.Limit
		steps []step
	}{
		{
			desc:  "burst then rate",
			limit: limiter.Limit{Rate: 10, Burst: 5},
			steps: []step{
				{calls: 20, wantAllowed: 5},
				{advance: 100 * time.Millisecond, calls: 20, wantAllowed: 1},
				{advance: 350 * time.Millisecond, calls: 20, wantAllowed: 3},
				{advance: time.Hour, calls: 20, wantAllowed: 5}, // The bucket holds no more than Burst.
			},
		},
		{
			desc:  "per minute",
			limit: limiter.Limit{Rate: 2, Burst: 1, Period: time.Minute},
			steps: []step{
				{calls: 3, wantAllowed: 1},
				{advance: 29 * time.Second, calls: 3, wantAllowed: 0},
				{advance: time.Second, calls: 3, wantAllowed: 1},
			},
		},
		{
			desc:  "burst larger than rate",
			limit: limiter.Limit{Rate: 1, Burst: 100},
			steps: []step{
				{calls: 150, wantAllowed: 100},
				{advance: 10 * time.Second, calls: 150, wantAllowed: 10},
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.desc, func(t *testing.T) {
			c := newClock()
			l := limiter.NewLocal(limiter.LocalConfig{Clock: c.Now})
			for i, s := range tt.steps {
				c.Add(s.advance)
				allowed := 0
				for range s.calls {
					r, err := l.Allow(context.Background(), "k", tt.limit)
					if err != nil {
						t.Fatalf("step %d: Allow: %v", i, err)
					}
					if r.Allowed {
						allowed++
					}
				}
				if allowed != s.wantAllowed {
					t.Errorf("step %d: allowed %d of %d, want %d", i, allowed, s.calls, s.wantAllowed)
				}
			}
		})
	}
}

func TestLocalResult(t *testing.T) {
	type step struct {
		advance time.Duration
		want    limiter.Result
	}
	tests := []struct {
		desc  string
		limit limiter.Limit
		steps []step
	}{
		{
			desc:  "10 per second, burst 1",
			limit: limiter.Limit{Rate: 10, Burst: 1},
			steps: []step{
				{want: limiter.Result{Allowed: true, ResetAfter: 100 * time.Millisecond}},
				{want: limiter.Result{RetryAfter: 100 * time.Millisecond, ResetAfter: 100 * time.Millisecond}},
				{advance: 40 * time.Millisecond, want: limiter.Result{RetryAfter: 60 * time.Millisecond, ResetAfter: 60 * time.Millisecond}},
				{advance: 60 * time.Millisecond, want: limiter.Result{Allowed: true, ResetAfter: 100 * time.Millisecond}},
			},
		},
		{
			desc:  "2 per minute, burst 3",
			limit: limiter.Limit{Rate: 2, Burst: 3, Period: time.Minute},
			steps: []step{
				{want: limiter.Result{Allowed: true, Remaining: 2, ResetAfter: 30 * time.Second}},
				{want: limiter.Result{Allowed: true, Remaining: 1, ResetAfter: 60 * time.Second}},
				{want: limiter.Result{Allowed: true, Remaining: 0, ResetAfter: 90 * time.Second}},
				{want: limiter.Result{RetryAfter: 30 * time.Second, ResetAfter: 90 * time.Second}},
				{advance: 45 * time.Second, want: limiter.Result{Allowed: true, Remaining: 0, ResetAfter: 75 * time.Second}},
				{want: limiter.Result{RetryAfter: 15 * time.Second, ResetAfter: 75 * time.Second}},
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.desc, func(t *testing.T) {
			c := newClock()
			l := limiter.NewLocal(limiter.LocalConfig{Clock: c.Now})
			for i, s := range tt.steps {
				c.Add(s.advance)
				got, err := l.Allow(context.Background(), "k", tt.limit)
				if err != nil {
					t.Fatalf("step %d: Allow: %v", i, err)
				}
				if !closeResult(got, s.want) {
					t.Errorf("step %d: Allow = %+v, want %+v", i, got, s.want)
				}
			}
		})
	}
}

// closeResult reports whether got is want, but for durations a microsecond
// off: the buckets count in floating point.
func closeResult(got, want limiter.Result) bool {
	near := func(a, b time.Duration) bool { return (a - b).Abs() <= time.Microsecond }
	return got.Allowed == want.Allowed && got.Remaining == want.Remaining &&
		near(got.RetryAfter, want.RetryAfter) && near(got.ResetAfter, want.ResetAfter)
}

func TestLocalKeysAndLimitsAreSeparate(t *testing.T) {
	l := limiter.NewLocal(limiter.LocalConfig{Clock: newClock().Now})
	ctx := context.Background()
	one := limiter.Limit{Rate: 1, Burst: 1}
	for _, call := range []struct {
		key   string
		limit limiter.Limit
	}{{"a", one}, {"b", one}, {"a", limiter.Limit{Rate: 1, Burst: 1, Period: time.Minute}}} {
		if r, _ := l.Allow(ctx, call.key, call.limit); !r.Allowed {
			t.Errorf("first call of %q under %+v denied, want a bucket of its own", call.key, call.limit)
		}
	}
}

func TestLocalConcurrent(t *testing.T) {
	l := limiter.NewLocal(limiter.LocalConfig{Clock: newClock().Now})
	lim := limiter.Limit{Rate: 1, Burst: 37}
	var allowed atomic.Int64
	var wg sync.WaitGroup
	for range 64 {
		wg.Go(func() {
			for range 20 {
				if r, _ := l.Allow(context.Background(), "k", lim); r.Allowed {
					allowed.Add(1)
				}
			}
		})
	}
	wg.Wait()
	if got := allowed.Load(); got != int64(lim.Burst) {
		t.Errorf("%d concurrent calls on a frozen clock: allowed %d, want the burst, %d", 64*20, got, lim.Burst)
	}
}

func TestLocalInvalidLimit(t *testing.T) {
	l := limiter.NewLocal(limiter.LocalConfig{})
	if _, err := l.Allow(context.Background(), "k", limiter.Limit{}); !errors.Is(err, limiter.ErrInvalidLimit) {
		t.Errorf("Allow with a zero Limit = %v, want ErrInvalidLimit", err)
	}
}

// TestLocalMemoryBounded checks that many keys, as from a scan of random
// tenant ids, cost at most MaxKeys buckets.
func TestLocalMemoryBounded(t *testing.T) {
	if testing.Short() {
		t.Skip("allocates 100k buckets")
	}
	const (
		maxKeys   = 10_000
		keys      = 100_000
		maxGrowth = 8 << 20 // About 10k buckets, with otter's tables and slack.
	)
	before := heapInUse()
	l := limiter.NewLocal(limiter.LocalConfig{MaxKeys: maxKeys})
	lim := limiter.Limit{Rate: 5, Burst: 10}
	for range keys {
		if _, err := l.Allow(context.Background(), "tenant-"+strconv.FormatUint(rand.Uint64(), 36), lim); err != nil {
			t.Fatalf("Allow: %v", err)
		}
	}
	// otter evicts in maintenance that runs after writes, so the count
	// may be over MaxKeys briefly.
	deadline := time.Now().Add(5 * time.Second)
	for l.Len() > maxKeys && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if n := l.Len(); n > maxKeys {
		t.Errorf("after %d keys: %d buckets, want at most %d", keys, n, maxKeys)
	}
	growth := int64(heapInUse()) - int64(before)
	t.Logf("%d keys, max %d: %d buckets, heap grew %.1f MiB (%d B/bucket)", keys, maxKeys, l.Len(), float64(growth)/(1<<20), growth/int64(max(l.Len(), 1)))
	if growth > maxGrowth {
		t.Errorf("heap grew %d B, want at most %d", growth, maxGrowth)
	}
	runtime.KeepAlive(l)
}

func heapInUse() uint64 {
	runtime.GC()
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.HeapAlloc
}

func TestLocalIdleBucketsExpire(t *testing.T) {
	c := newClock()
	l := limiter.NewLocal(limiter.LocalConfig{IdleTimeout: time.Minute, Clock: c.Now})
	ctx := context.Background()
	lim := limiter.Limit{Rate: 1, Burst: 1}
	for i := range 1000 {
		_, _ = l.Allow(ctx, "k"+strconv.Itoa(i), lim)
	}
	c.Add(2 * time.Minute)
	// Expiry happens in the maintenance that reads and writes start.
	deadline := time.Now().Add(5 * time.Second)
	for l.Len() > 1 && time.Now().Before(deadline) {
		_, _ = l.Allow(ctx, "fresh", lim)
		time.Sleep(10 * time.Millisecond)
	}
	if n := l.Len(); n > 1 {
		t.Errorf("2 minutes idle with IdleTimeout 1m: %d buckets, want only the fresh one", n)
	}
}

// ExampleLocal shows a tenant's limit: a burst of 2, then 1 request per
// second.
func ExampleLocal() {
	c := newClock()
	l := limiter.NewLocal(limiter.LocalConfig{Clock: c.Now})
	perTenant := limiter.Limit{Rate: 1, Burst: 2}
	for range 3 {
		r, _ := l.Allow(context.Background(), "tenant:acme", perTenant)
		fmt.Printf("allowed=%v remaining=%d retry-after=%v\n", r.Allowed, r.Remaining, r.RetryAfter)
	}
	c.Add(500 * time.Millisecond)
	r, _ := l.Allow(context.Background(), "tenant:acme", perTenant)
	fmt.Printf("allowed=%v remaining=%d retry-after=%v\n", r.Allowed, r.Remaining, r.RetryAfter)
	// Output:
	// allowed=true remaining=1 retry-after=0s
	// allowed=true remaining=0 retry-after=0s
	// allowed=false remaining=0 retry-after=1s
	// allowed=false remaining=0 retry-after=500ms
}
