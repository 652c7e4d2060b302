package cache

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/rzpgate/rzpgate/internal/redistest"
)

// claimers returns one of each Claimer on real stores, with a way to make
// time pass for it: Memory's clock, or real time for Redis, which expires
// keys on its own clock.
func claimers(t *testing.T) []struct {
	desc  string
	c     Claimer
	after func(time.Duration)
} {
	t.Helper()
	mc := &clock{now: time.Now()}
	m := newTestMemory(t, mc)
	srv := redistest.Start(t)
	r, _ := newTestRedis(t, srv, RedisConfig{Prefix: "claims-redis:"})
	n, _ := newTestNear(t, srv, nil, NearConfig{})
	g := NewGuard(m, GuardConfig{})
	t.Cleanup(func() { g.Close() })
	return []struct {
		desc  string
		c     Claimer
		after func(time.Duration)
	}{
		{"memory", m, mc.Add},
		{"redis", r, time.Sleep},
		{"near", n, time.Sleep},
		{"guard", g, mc.Add},
	}
}

func TestClaim(t *testing.T) {
	ctx := context.Background()
	for _, tt := range claimers(t) {
		t.Run(tt.desc, func(t *testing.T) {
			const ttl = 300 * time.Millisecond
			key := "evt_" + tt.desc
			if got, err := tt.c.Claimed(ctx, key); err != nil || got {
				t.Fatalf("Claimed before any claim = %v, %v; want false, nil", got, err)
			}
			if got, err := tt.c.Claim(ctx, key, ttl); err != nil || !got {
				t.Fatalf("first Claim = %v, %v; want true, nil", got, err)
			}
			if got, err := tt.c.Claim(ctx, key, ttl); err != nil || got {
				t.Errorf("second Claim = %v, %v; want false, nil", got, err)
			}
			if got, err := tt.c.Claimed(ctx, key); err != nil || !got {
				t.Errorf("Claimed after Claim = %v, %v; want true, nil", got, err)
			}
			if got, err := tt.c.Claimed(ctx, key+"x"); err != nil || got {
				t.Errorf("Claimed of another key = %v, %v; want false, nil", got, err)
			}
			tt.after(ttl + 50*time.Millisecond)
			if got, err := tt.c.Claimed(ctx, key); err != nil || got {
				t.Errorf("Claimed after the ttl = %v, %v; want false, nil", got, err)
			}
			if got, err := tt.c.Claim(ctx, key, ttl); err != nil || !got {
				t.Errorf("Claim after the ttl = %v, %v; want true, nil", got, err)
			}
			for _, ttl := range []time.Duration{0, -time.Second} {
				if _, err := tt.c.Claim(ctx, "other", ttl); err == nil {
					t.Errorf("Claim with ttl %v: err = nil, want one", ttl)
				}
			}
		})
	}
}

// TestClaimConcurrent checks that of many concurrent claims of one key,
// across replicas sharing a Redis, exactly one wins.
func TestClaimConcurrent(t *testing.T) {
	srv := redistest.Start(t)
	mc := &clock{now: time.Now()}
	mem := newTestMemory(t, mc)
	var replicas []Claimer
	for range 3 {
		r, _ := newTestRedis(t, srv, RedisConfig{})
		g := NewGuard(r, GuardConfig{Timeout: time.Second})
		t.Cleanup(func() { g.Close() })
		replicas = append(replicas, g)
	}
	for _, tt := range []struct {
		desc     string
		claimers []Claimer
	}{
		{"memory", []Claimer{mem}},
		{"redis replicas", replicas},
	} {
		t.Run(tt.desc, func(t *testing.T) {
			for k := range 20 {
				key := fmt.Sprintf("evt_%d", k)
				var wins atomic.Int32
				var wg sync.WaitGroup
				for i := range 12 {
					c := tt.claimers[i%len(tt.claimers)]
					wg.Go(func() {
						ok, err := c.Claim(context.Background(), key, time.Minute)
						if err != nil {
							t.Errorf("Claim: %v", err)
						}
						if ok {
							wins.Add(1)
						}
					})
				}
				wg.Wait()
				if got := wins.Load(); got != 1 {
					t.Fatalf("%s: %d claims won, want 1", key, got)
				}
			}
		})
	}
}

func TestMemoryClaimsBounded(t *testing.T) {
	c := &clock{now: time.Now()}
	m, err := NewMemory(MemoryConfig{MaxClaims: 3, Clock: c.Now})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	ctx := context.Background()
	// a ends first, then b, c, d.
	for i, k := range []string{"a", "b", "c", "d"} {
		if ok, err := m.Claim(ctx, k, time.Duration(i+1)*time.Minute); !ok || err != nil {
			t.Fatalf("Claim(%s) = %v, %v; want true, nil", k, ok, err)
		}
	}
	if got := m.claims.len(); got != 3 {
		t.Errorf("%d claims kept, want the bound 3", got)
	}
	for k, want := range map[string]bool{"a": false, "b": true, "c": true, "d": true} {
		if got, _ := m.Claimed(ctx, k); got != want {
			t.Errorf("Claimed(%s) = %v, want %v: the claim closest to its end goes first", k, got, want)
		}
	}
	// Expired claims make room without evicting live ones.
	c.Add(150 * time.Second) // b has ended
	if ok, _ := m.Claim(ctx, "e", time.Minute); !ok {
		t.Fatal("Claim(e) = false, want true")
	}
	for k, want := range map[string]bool{"b": false, "c": true, "d": true, "e": true} {
		if got, _ := m.Claimed(ctx, k); got != want {
			t.Errorf("after b ended: Claimed(%s) = %v, want %v", k, got, want)
		}
	}
}

func TestGuardClaimFailsFast(t *testing.T) {
	srv := redistest.Start(t)
	const timeout = 100 * time.Millisecond
	g, _, _ := newTestGuard(t, srv, GuardConfig{Timeout: timeout, Failures: 2, OpenTimeout: time.Hour})
	ctx := context.Background()
	if ok, err := g.Claim(ctx, "evt_1", time.Minute); !ok || err != nil {
		t.Fatalf("Claim = %v, %v; want true, nil", ok, err)
	}
	srv.Stop()
	for i := range 4 {
		start := time.Now()
		_, err := g.Claimed(ctx, "evt_1")
		if !errors.Is(err, ErrUnavailable) {
			t.Fatalf("Claimed %d with Redis stopped: err = %v, want ErrUnavailable", i, err)
		}
		if _, err := g.Claim(ctx, "evt_2", time.Minute); !errors.Is(err, ErrUnavailable) {
			t.Fatalf("Claim %d with Redis stopped: err = %v, want ErrUnavailable", i, err)
		}
		if d := time.Since(start); d > 4*timeout {
			t.Errorf("calls %d with Redis stopped took %v, want at most about twice the timeout %v", i, d, timeout)
		}
	}
	if got := g.State(); got != "open" {
		t.Errorf("breaker %s after failed claims, want open", got)
	}
}

func TestGuardClaimNeedsClaimer(t *testing.T) {
	g := NewGuard(&funcStore{}, GuardConfig{})
	defer g.Close()
	if _, err := g.Claim(context.Background(), "k", time.Minute); !errors.Is(err, errors.ErrUnsupported) {
		t.Errorf("Claim through a Store that cannot claim: err = %v, want ErrUnsupported", err)
	}
	if _, err := g.Claimed(context.Background(), "k"); !errors.Is(err, errors.ErrUnsupported) {
		t.Errorf("Claimed through a Store that cannot claim: err = %v, want ErrUnsupported", err)
	}
}

func TestRedisClaimKey(t *testing.T) {
	srv := redistest.Start(t)
	r, _ := newTestRedis(t, srv, RedisConfig{Prefix: "gw:"})
	if _, err := r.Claim(context.Background(), "evt_K1", 90*time.Second); err != nil {
		t.Fatal(err)
	}
	pttl, err := srv.Client(t).PTTL(context.Background(), "{gw:}w:evt_K1").Result()
	if err != nil {
		t.Fatal(err)
	}
	if pttl <= 89*time.Second || pttl > 90*time.Second {
		t.Errorf("PTTL of {gw:}w:evt_K1 = %v, want the claim's 90s", pttl)
	}
}
