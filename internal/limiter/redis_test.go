package limiter_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/rzpgate/rzpgate/internal/limiter"
	"github.com/rzpgate/rzpgate/internal/redistest"
)

// The clients the gateway may use all fit RedisClient.
var (
	_ limiter.RedisClient = (*redis.Client)(nil)
	_ limiter.RedisClient = (*redis.ClusterClient)(nil)
	_ limiter.RedisClient = (*redis.Ring)(nil)
	_ limiter.RedisClient = redis.UniversalClient(nil)
)

func TestRedisCounts(t *testing.T) {
	s := redistest.Start(t)
	tests := []struct {
		desc        string
		limit       limiter.Limit
		calls       int
		wantAllowed int
	}{
		{desc: "burst", limit: limiter.Limit{Rate: 1, Burst: 5, Period: time.Minute}, calls: 20, wantAllowed: 5},
		{desc: "burst of one", limit: limiter.Limit{Rate: 100, Burst: 1, Period: time.Hour}, calls: 5, wantAllowed: 1},
		{desc: "default period", limit: limiter.Limit{Rate: 1, Burst: 3}, calls: 3, wantAllowed: 3},
	}
	for _, tt := range tests {
		t.Run(tt.desc, func(t *testing.T) {
			r := limiter.NewRedis(s.Client(t), limiter.RedisConfig{})
			allowed := 0
			for range tt.calls {
				res, err := r.Allow(context.Background(), t.Name(), tt.limit)
				if err != nil {
					t.Fatalf("Allow: %v", err)
				}
				if res.Allowed {
					allowed++
				}
			}
			if allowed != tt.wantAllowed {
				t.Errorf("allowed %d of %d, want %d", allowed, tt.calls, tt.wantAllowed)
			}
		})
	}
}

func TestRedisResult(t *testing.T) {
	s := redistest.Start(t)
	r := limiter.NewRedis(s.Client(t), limiter.RedisConfig{})
	ctx := context.Background()
	lim := limiter.Limit{Rate: 2, Burst: 3, Period: time.Minute}
	// Redis's clock runs during the test, so durations are checked to
	// within a second.
	want := []limiter.Result{
		{Allowed: true, Remaining: 2, ResetAfter: 30 * time.Second},
		{Allowed: true, Remaining: 1, ResetAfter: 60 * time.Second},
		{Allowed: true, Remaining: 0, ResetAfter: 90 * time.Second},
		{RetryAfter: 30 * time.Second, ResetAfter: 90 * time.Second},
	}
	for i, w := range want {
		got, err := r.Allow(ctx, "k", lim)
		if err != nil {
			t.Fatalf("call %d: Allow: %v", i, err)
		}
		near := func(a, b time.Duration) bool { return (a - b).Abs() < time.Second }
		if got.Allowed != w.Allowed || got.Remaining != w.Remaining || !near(got.RetryAfter, w.RetryAfter) || !near(got.ResetAfter, w.ResetAfter) {
			t.Errorf("call %d: Allow = %+v, want about %+v", i, got, w)
		}
	}
}

func TestRedisPrefix(t *testing.T) {
	s := redistest.Start(t)
	c := s.Client(t)
	ctx := context.Background()
	tests := []struct {
		desc    string
		prefix  string
		wantKey string
	}{
		{desc: "default", prefix: "", wantKey: "rate:rzpgate:rl:tenant:acme"},
		{desc: "configured", prefix: "staging:", wantKey: "rate:staging:tenant:acme"},
	}
	for _, tt := range tests {
		t.Run(tt.desc, func(t *testing.T) {
			r := limiter.NewRedis(c, limiter.RedisConfig{Prefix: tt.prefix})
			if _, err := r.Allow(ctx, "tenant:acme", limiter.Limit{Rate: 1, Burst: 1}); err != nil {
				t.Fatalf("Allow: %v", err)
			}
			if n, err := c.Exists(ctx, tt.wantKey).Result(); err != nil || n != 1 {
				t.Errorf("EXISTS %s = %d, %v; want 1", tt.wantKey, n, err)
			}
		})
	}
}

func TestRedisErrors(t *testing.T) {
	s := redistest.Start(t)
	r := limiter.NewRedis(s.Client(t), limiter.RedisConfig{})
	if _, err := r.Allow(context.Background(), "k", limiter.Limit{Burst: 1}); !errors.Is(err, limiter.ErrInvalidLimit) {
		t.Errorf("Allow with no rate = %v, want ErrInvalidLimit", err)
	}
	if s.Shared() {
		t.Skip("needs a private redis-server to stop")
	}
	s.Stop()
	if _, err := r.Allow(context.Background(), "k", limiter.Limit{Rate: 1, Burst: 1}); err == nil {
		t.Errorf("Allow with Redis stopped succeeded, want an error")
	}
}
