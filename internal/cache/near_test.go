package cache

import (
	"context"
	"errors"
	"strconv"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/rzpgate/rzpgate/internal/redistest"
)

// subscriberFunc adapts a function to Subscriber.
type subscriberFunc func(ctx context.Context, channels ...string) *redis.PubSub

func (f subscriberFunc) Subscribe(ctx context.Context, channels ...string) *redis.PubSub {
	return f(ctx, channels...)
}

// newTestNear returns a near cache on its own client of srv, as a replica
// would have, once its subscription is live.
func newTestNear(t *testing.T, srv *redistest.Server, sub Subscriber, cfg NearConfig) (*Near, *clock) {
	t.Helper()
	client := srv.Client(t)
	c := &clock{now: time.Now()}
	r, err := NewRedis(client, RedisConfig{Clock: c.Now})
	if err != nil {
		t.Fatal(err)
	}
	if sub == nil {
		sub = client
	}
	n, err := NewNear(r, sub, cfg)
	if err != nil {
		t.Fatalf("NewNear: %v", err)
	}
	t.Cleanup(func() { n.Close() })
	waitFor(t, "near subscription to go live", 2*time.Second, n.isLive)
	return n, c
}

func (n *Near) isLive() bool {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.live
}

// held reports whether key is in memory.
func (n *Near) held(key string) bool {
	_, ok := n.entries.GetIfPresent(key)
	return ok
}

// waitFor polls cond every millisecond until it holds or limit passes.
func waitFor(t *testing.T, what string, limit time.Duration, cond func() bool) time.Duration {
	t.Helper()
	start := time.Now()
	for !cond() {
		if time.Since(start) > limit {
			t.Fatalf("waiting for %s: not done after %v", what, limit)
		}
		time.Sleep(time.Millisecond)
	}
	return time.Since(start)
}

func TestNearServesLocally(t *testing.T) {
	srv := redistest.Start(t)
	n, c := newTestNear(t, srv, nil, NearConfig{TTL: 5 * time.Second})
	mustSet(t, n, "k", newRedisEntry(c, "v", time.Minute, "qr_1"), mustRedisFence(t, n))
	if !n.held("k") {
		t.Fatal("Set did not keep the entry in memory")
	}
	// A paused Redis answers nothing but keeps the subscription open, so
	// only a local hit can answer.
	srv.Pause()
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	e, err := n.Get(ctx, "k")
	srv.Resume()
	if err != nil || string(e.Body) != "v" {
		t.Fatalf("Get with Redis paused = %v, %v; want the entry from memory", e, err)
	}
	c.Add(time.Minute)
	if e, err := n.Get(context.Background(), "k"); !errors.Is(err, ErrMiss) {
		t.Errorf("Get past the entry's TTL = %v, %v; want ErrMiss", e, err)
	}
}

func TestNearPurgeAcrossReplicas(t *testing.T) {
	srv := redistest.Start(t)
	a, c := newTestNear(t, srv, nil, NearConfig{TTL: time.Minute})
	b, _ := newTestNear(t, srv, nil, NearConfig{TTL: time.Minute})
	ctx := context.Background()
	const rounds = 20
	var worst, total time.Duration
	for i := range rounds {
		key, tag := "k"+strconv.Itoa(i), "qr_"+strconv.Itoa(i)
		mustSet(t, a, key, newRedisEntry(c, "v", time.Hour, tag, "acc_1"), mustRedisFence(t, a))
		mustSet(t, a, "other"+key, newRedisEntry(c, "v", time.Hour, "pay_1"), mustRedisFence(t, a))
		for _, k := range []string{key, "other" + key} {
			if _, err := b.Get(ctx, k); err != nil || !b.held(k) {
				t.Fatalf("replica B Get(%q) = %v, held %v; want it kept in memory", k, err, b.held(k))
			}
		}
		start := time.Now()
		if err := a.Purge(ctx, tag); err != nil {
			t.Fatal(err)
		}
		d := waitFor(t, "replica B to drop the purged entry", 2*time.Second, func() bool {
			_, err := b.Get(ctx, key)
			return errors.Is(err, ErrMiss)
		})
		d = max(d, time.Since(start))
		worst, total = max(worst, d), total+d
		if !b.held("other" + key) {
			t.Errorf("replica B dropped %q, which the purge did not tag", "other"+key)
		}
	}
	t.Logf("replica B stopped serving a purged entry %v after Purge on A on average, %v at worst (%d rounds)",
		total/rounds, worst, rounds)
}

func TestNearTTLBoundsLostMessages(t *testing.T) {
	srv := redistest.Start(t)
	a, c := newTestNear(t, srv, nil, NearConfig{TTL: time.Minute})
	// B listens on the wrong channel: every purge message is lost to it.
	client := srv.Client(t)
	deaf := subscriberFunc(func(ctx context.Context, _ ...string) *redis.PubSub {
		return client.Subscribe(ctx, "nobody-publishes-here")
	})
	const ttl = 300 * time.Millisecond
	b, _ := newTestNear(t, srv, deaf, NearConfig{TTL: ttl})
	ctx := context.Background()

	mustSet(t, a, "k", newRedisEntry(c, "v", time.Hour, "qr_1"), mustRedisFence(t, a))
	if _, err := b.Get(ctx, "k"); err != nil {
		t.Fatal(err)
	}
	kept := time.Now()
	if err := a.Purge(ctx, "qr_1"); err != nil {
		t.Fatal(err)
	}
	if _, err := b.Get(ctx, "k"); err != nil {
		t.Fatalf("replica B Get right after the lost purge = %v; want the stale entry (the test needs it)", err)
	}
	waitFor(t, "replica B's entry to expire", 2*time.Second, func() bool {
		_, err := b.Get(ctx, "k")
		return errors.Is(err, ErrMiss)
	})
	stale := time.Since(kept)
	t.Logf("with its purge message lost, replica B served the entry %v after keeping it (TTL %v)", stale, ttl)
	if stale > ttl+200*time.Millisecond {
		t.Errorf("stale for %v, want at most about the near TTL %v", stale, ttl)
	}
}

func TestNearSubscriptionLoss(t *testing.T) {
	srv := redistest.Start(t)
	n, c := newTestNear(t, srv, nil, NearConfig{TTL: time.Minute})
	mustSet(t, n, "k", newRedisEntry(c, "v", time.Hour, "qr_1"), mustRedisFence(t, n))

	srv.Stop()
	waitFor(t, "near cache to clear after losing its subscription", 2*time.Second, func() bool {
		return !n.isLive() && !n.held("k")
	})
	srv.Restart()
	waitFor(t, "near subscription to come back", 5*time.Second, n.isLive)
	mustSet(t, n, "k", newRedisEntry(c, "v2", time.Hour, "qr_1"), mustRedisFence(t, n))
	if !n.held("k") {
		t.Errorf("entry not kept in memory after the subscription came back")
	}
}

func TestNearRacingPurgeNotKept(t *testing.T) {
	srv := redistest.Start(t)
	n, c := newTestNear(t, srv, nil, NearConfig{})
	e := newRedisEntry(c, "v", time.Hour, "qr_1")
	// A Redis read that started before a purge and returns after it.
	gen := n.gen.Load()
	n.drop([]string{"qr_1"})
	n.keep("k", e, gen)
	if n.held("k") {
		t.Errorf("an entry read before a purge was kept after it")
	}
	n.keep("k", e, n.gen.Load())
	if !n.held("k") {
		t.Errorf("an entry read after the purge was not kept")
	}
}

func TestNearBoundedInBytes(t *testing.T) {
	srv := redistest.Start(t)
	const maxBytes = 64 << 10
	n, c := newTestNear(t, srv, nil, NearConfig{MaxBytes: maxBytes, TTL: time.Minute})
	body := string(make([]byte, 1000))
	f := mustRedisFence(t, n)
	for i := range 200 {
		mustSet(t, n, "k"+strconv.Itoa(i), newRedisEntry(c, body, time.Hour, "t"+strconv.Itoa(i%7)), f)
	}
	n.entries.CleanUp()
	if got := n.entries.WeightedSize(); got > maxBytes {
		t.Errorf("near cache holds %d bytes, want at most %d", got, maxBytes)
	}
	waitFor(t, "tag index to follow evictions", 2*time.Second, func() bool {
		n.mu.Lock()
		defer n.mu.Unlock()
		indexed := 0
		for _, keys := range n.tags {
			indexed += len(keys)
		}
		return indexed <= n.entries.EstimatedSize()
	})
}
