package cache

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/rzpgate/rzpgate/internal/redistest"
)

// TestHold checks every store: a hold purges its tags, refuses fills
// tagged with them until it ends, whatever their fence, leaves other tags
// alone, and is never shortened by a later, shorter hold.
func TestHold(t *testing.T) {
	stores := []struct {
		desc string
		open func(t *testing.T) (Store, *clock)
	}{
		{"memory", func(t *testing.T) (Store, *clock) {
			c := &clock{now: time.Unix(1700000000, 0)}
			return newTestMemory(t, c), c
		}},
		{"redis", func(t *testing.T) (Store, *clock) {
			r, c := newTestRedis(t, redistest.Start(t), RedisConfig{})
			return r, c
		}},
		{"near", func(t *testing.T) (Store, *clock) {
			srv := redistest.Start(t)
			r, c := newTestRedis(t, srv, RedisConfig{})
			n, err := NewNear(r, srv.Client(t), NearConfig{})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { n.Close() })
			return n, c
		}},
		{"guard over memory", func(t *testing.T) (Store, *clock) {
			c := &clock{now: time.Unix(1700000000, 0)}
			g := NewGuard(newTestMemory(t, c), GuardConfig{})
			t.Cleanup(func() { g.Close() })
			return g, c
		}},
	}
	for _, st := range stores {
		t.Run(st.desc, func(t *testing.T) {
			ctx := context.Background()
			s, c := st.open(t)
			// Redis expires hold keys on its own clock: use holds long
			// enough to outlast the test's steps, and short ones only
			// where the test waits for them.
			mustSet(t, s, "held", newRedisEntry(c, "old", time.Minute, "qr_1"), mustRedisFence(t, s))
			mustSet(t, s, "free", newRedisEntry(c, "other", time.Minute, "qr_2"), mustRedisFence(t, s))

			if err := s.Hold(ctx, 400*time.Millisecond, "qr_1", "cust_1"); err != nil {
				t.Fatalf("Hold: %v", err)
			}
			assertBody(t, s, "held", "")
			assertBody(t, s, "free", "other")
			for _, tags := range [][]string{{"qr_1"}, {"cust_1"}, {"qr_9", "cust_1"}} {
				err := s.Set(ctx, "held", newRedisEntry(c, "stale", time.Minute, tags...), mustRedisFence(t, s))
				if !errors.Is(err, ErrHeld) {
					t.Errorf("Set tagged %v during the hold: %v; want ErrHeld", tags, err)
				}
			}
			mustSet(t, s, "free2", newRedisEntry(c, "ok", time.Minute, "qr_2"), mustRedisFence(t, s))
			// A shorter hold later must not shorten the first one.
			if err := s.Hold(ctx, time.Millisecond, "qr_1"); err != nil {
				t.Fatalf("second Hold: %v", err)
			}
			time.Sleep(20 * time.Millisecond)
			c.Add(20 * time.Millisecond)
			if err := s.Set(ctx, "held", newRedisEntry(c, "stale", time.Minute, "qr_1"), mustRedisFence(t, s)); !errors.Is(err, ErrHeld) {
				t.Errorf("Set after a shorter second hold: %v; want ErrHeld", err)
			}

			// After the hold, fills are stored again.
			time.Sleep(450 * time.Millisecond)
			c.Add(450 * time.Millisecond)
			mustSet(t, s, "held", newRedisEntry(c, "new", time.Minute, "qr_1", "cust_1"), mustRedisFence(t, s))
			assertBody(t, s, "held", "new")
		})
	}
}

// TestGuardReplaysFailedHold checks that a hold that failed to reach the
// store is retried as a hold, for what remains of it, not as a plain purge.
func TestGuardReplaysFailedHold(t *testing.T) {
	var o outage
	o.set(true)
	s := &funcStore{
		get:   func(string) (*Entry, error) { return nil, ErrMiss },
		set:   func(string) error { return nil },
		purge: o.purge,
	}
	g := NewGuard(s, GuardConfig{OpenTimeout: time.Hour})
	defer g.Close()
	ctx := context.Background()
	if err := g.Hold(ctx, time.Minute, "qr_1"); !errors.Is(err, ErrUnavailable) {
		t.Fatalf("Hold while down: %v; want ErrUnavailable", err)
	}
	if _, err := g.Get(ctx, "k"); !errors.Is(err, ErrUnavailable) {
		t.Fatalf("Get with a hold pending: %v; want ErrUnavailable", err)
	}
	o.set(false)
	if _, err := g.Get(ctx, "k"); !errors.Is(err, ErrMiss) {
		t.Fatalf("Get after the store recovered: %v; want ErrMiss", err)
	}
	calls := s.list()
	// The failed hold, the retry by the Get while down, the retry that lands.
	want := []string{"hold 1m0s qr_1", "hold 1m0s qr_1", "hold 1m0s qr_1", "get k"}
	if len(calls) != len(want) {
		t.Fatalf("calls = %q; want %q", calls, want)
	}
	for i := range want {
		if calls[i] != want[i] {
			t.Fatalf("calls = %q; want %q", calls, want)
		}
	}
}
