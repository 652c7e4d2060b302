package limiter_test

import (
	"context"
	"math"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/rzpgate/rzpgate/internal/limiter"
	"github.com/rzpgate/rzpgate/internal/redistest"
)

// replica is one gateway replica's shared-mode limiter, with its own
// go-redis client and local buckets.
type replica struct {
	*limiter.Fallback
	mu      sync.Mutex // guards changes
	changes []string
}

// newReplica returns a replica of replicas on s, whose calls to Redis time
// out after timeout (zero for the default). Its client has conns
// connections open already, as a gateway's has once it has served a
// while, so that a test's first burst does not wait for them.
func newReplica(t *testing.T, s *redistest.Server, replicas int, timeout time.Duration, conns int) *replica {
	t.Helper()
	c := s.Client(t)
	var wg sync.WaitGroup
	for range conns {
		wg.Go(func() {
			if err := c.Ping(context.Background()).Err(); err != nil {
				t.Errorf("PING: %v", err)
			}
		})
	}
	wg.Wait()
	r := &replica{}
	r.Fallback = limiter.NewFallback(
		limiter.NewRedis(c, limiter.RedisConfig{}),
		limiter.NewLocal(limiter.LocalConfig{}),
		limiter.FallbackConfig{
			Timeout:          timeout,
			ExpectedReplicas: replicas,
			OpenTimeout:      200 * time.Millisecond,
			OnStateChange: func(from, to string) {
				r.mu.Lock()
				defer r.mu.Unlock()
				r.changes = append(r.changes, from+"->"+to)
			},
		})
	return r
}

func (r *replica) sawChange(change string) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Contains(r.changes, change)
}

// burst makes perReplica concurrent calls on each replica under key and
// returns how many were allowed, the longest call, and how long the burst
// took. Any error fails the test.
func burst(t *testing.T, key string, l limiter.Limit, perReplica int, replicas ...*replica) (allowed int, slowest, took time.Duration) {
	t.Helper()
	var n, slow atomic.Int64
	var wg sync.WaitGroup
	start := time.Now()
	for _, r := range replicas {
		for range perReplica {
			wg.Go(func() {
				callStart := time.Now()
				res, err := r.Allow(context.Background(), key, l)
				d := time.Since(callStart)
				for old := slow.Load(); int64(d) > old && !slow.CompareAndSwap(old, int64(d)); old = slow.Load() {
				}
				if err != nil {
					t.Errorf("Allow: %v", err)
				}
				if res.Allowed {
					n.Add(1)
				}
			})
		}
	}
	wg.Wait()
	return int(n.Load()), time.Duration(slow.Load()), time.Since(start)
}

// checkAllowed checks that allowed is want, give or take what the bucket
// refilled at rate per second while the burst took.
func checkAllowed(t *testing.T, phase string, allowed, want int, rate float64, took time.Duration) {
	t.Helper()
	tolerance := int(math.Ceil(rate * took.Seconds()))
	t.Logf("%s: allowed %d, want %d (+%d refilled in %v)", phase, allowed, want, tolerance, took.Round(time.Millisecond))
	if allowed < want || allowed > want+tolerance {
		t.Errorf("%s: allowed %d, want %d to %d", phase, allowed, want, want+tolerance)
	}
}

func TestFallbackReplicas(t *testing.T) {
	s := redistest.Start(t)
	// The timeout is longer than the default 50ms so that a burst of 100
	// calls under the race detector cannot time out and leave Redis.
	a, b := newReplica(t, s, 2, 250*time.Millisecond, 50), newReplica(t, s, 2, 250*time.Millisecond, 50)
	lim := limiter.Limit{Rate: 10, Burst: 20}

	// Both replicas share one bucket in Redis.
	allowed, _, took := burst(t, "tenant:one", lim, 50, a, b)
	checkAllowed(t, "redis", allowed, lim.Burst, 10, took)
	if a.UsingFallback() || b.UsingFallback() {
		t.Fatalf("UsingFallback() = %v, %v with Redis up; want false (state changes %v, %v)", a.UsingFallback(), b.UsingFallback(), a.changes, b.changes)
	}
	if s.Shared() {
		t.Skip("needs a private redis-server to stop")
	}

	// Without Redis each replica allows its share, half of the limit.
	s.Stop()
	allowed, slowest, took := burst(t, "tenant:two", lim, 50, a, b)
	checkAllowed(t, "redis down", allowed, lim.Burst, 10, took)
	if slowest > time.Second {
		t.Errorf("redis down: slowest call took %v, want about the 250ms timeout", slowest)
	}
	if !a.UsingFallback() || !b.UsingFallback() {
		t.Errorf("UsingFallback() = %v, %v with Redis down; want true", a.UsingFallback(), b.UsingFallback())
	}
	// While the breaker is open the answer is at once.
	start := time.Now()
	if _, err := a.Allow(context.Background(), "tenant:two", lim); err != nil {
		t.Errorf("Allow with the breaker open: %v", err)
	}
	if d := time.Since(start); d > 20*time.Millisecond {
		t.Errorf("Allow with the breaker open took %v, want no wait", d)
	}

	// Once Redis is back, a probe after OpenTimeout closes the breaker.
	s.Restart()
	deadline := time.Now().Add(5 * time.Second)
	for (a.UsingFallback() || b.UsingFallback()) && time.Now().Before(deadline) {
		_, _ = a.Allow(context.Background(), "probe", lim)
		_, _ = b.Allow(context.Background(), "probe", lim)
		time.Sleep(20 * time.Millisecond)
	}
	if a.UsingFallback() || b.UsingFallback() {
		t.Fatalf("UsingFallback() = %v, %v 5s after Redis came back; want false", a.UsingFallback(), b.UsingFallback())
	}
	for _, r := range []*replica{a, b} {
		if !r.sawChange("closed->open") || !r.sawChange("half-open->closed") {
			t.Errorf("state changes %v, want closed->open and half-open->closed", r.changes)
		}
	}
	allowed, _, took = burst(t, "tenant:three", lim, 50, a, b)
	checkAllowed(t, "redis back", allowed, lim.Burst, 10, took)
	if n, err := s.Client(t).Exists(context.Background(), "rate:rzpgate:rl:tenant:three").Result(); err != nil || n != 1 {
		t.Errorf("EXISTS of the bucket in Redis = %d, %v; want 1", n, err)
	}
}

func TestFallbackSlowRedis(t *testing.T) {
	s := redistest.Start(t)
	if s.Shared() {
		t.Skip("needs a private redis-server to pause")
	}
	r := newReplica(t, s, 1, 0, 1)
	lim := limiter.Limit{Rate: 1, Burst: 2, Period: time.Minute}
	ctx := context.Background()
	if _, err := r.Allow(ctx, "k", lim); err != nil { // Connects.
		t.Fatalf("Allow: %v", err)
	}
	s.Pause()
	defer s.Resume()
	for i := range 5 {
		start := time.Now()
		res, err := r.Allow(ctx, "k", lim)
		d := time.Since(start)
		if err != nil {
			t.Fatalf("call %d: Allow: %v", i, err)
		}
		// Redis's bucket had one token left; the local one is full.
		if wantAllowed := i < 2; res.Allowed != wantAllowed {
			t.Errorf("call %d: Allowed = %v, want %v from the local bucket", i, res.Allowed, wantAllowed)
		}
		switch {
		case i < 3 && d > 300*time.Millisecond:
			t.Errorf("call %d with Redis paused took %v, want about the 50ms timeout", i, d)
		case i >= 3 && d > 20*time.Millisecond:
			t.Errorf("call %d with the breaker open took %v, want no wait", i, d)
		}
	}
	if !r.UsingFallback() {
		t.Errorf("UsingFallback() = false after 3 timeouts, want true")
	}
}

func TestFallbackCallerGone(t *testing.T) {
	s := redistest.Start(t)
	if s.Shared() {
		t.Skip("needs a private redis-server to pause")
	}
	r := newReplica(t, s, 1, 0, 1)
	lim := limiter.Limit{Rate: 100, Burst: 100}
	if _, err := r.Allow(context.Background(), "k", lim); err != nil { // Connects.
		t.Fatalf("Allow: %v", err)
	}
	s.Pause()
	defer s.Resume()
	for i := range 5 {
		ctx, cancel := context.WithCancel(context.Background())
		time.AfterFunc(10*time.Millisecond, cancel)
		res, err := r.Allow(ctx, "k", lim)
		cancel()
		if err != nil || !res.Allowed {
			t.Errorf("call %d cancelled during the call: Allow = %+v, %v; want a local answer", i, res, err)
		}
	}
	if r.UsingFallback() {
		t.Errorf("UsingFallback() = true after callers went away, want false: they say nothing about Redis")
	}
}
