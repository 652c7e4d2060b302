package proxy_test

import (
	"bytes"
	"context"
	"fmt"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/rzpgate/rzpgate/internal/cache"
	"github.com/rzpgate/rzpgate/internal/fakerazorpay"
	"github.com/rzpgate/rzpgate/internal/proxy"
	"github.com/rzpgate/rzpgate/internal/redistest"
)

// cluster is several gateway replicas sharing one Redis and one upstream,
// each with the store chain cmd/proxy builds: Redis, an optional near
// cache, and the fail-open Guard.
type cluster struct {
	fake     *fakerazorpay.Server
	redis    *redistest.Server
	replicas []*env
}

type clusterOpts struct {
	replicas int
	near     time.Duration // near-cache TTL; 0 disables it
	timeout  time.Duration // Guard timeout; 0 means 100ms
	// configure, if not nil, adjusts every replica's configuration.
	configure func(*proxy.Config)
}

func newCluster(t *testing.T, o clusterOpts) *cluster {
	t.Helper()
	c := &cluster{fake: fakerazorpay.New(), redis: redistest.Start(t)}
	up := httptest.NewServer(c.fake)
	t.Cleanup(up.Close)
	if o.timeout == 0 {
		o.timeout = 100 * time.Millisecond
	}
	for range o.replicas {
		client := redis.NewClient(&redis.Options{Addr: c.redis.Addr(), ContextTimeoutEnabled: true,
			DialTimeout: o.timeout, ReadTimeout: o.timeout, WriteTimeout: o.timeout})
		t.Cleanup(func() { client.Close() })
		rs, err := cache.NewRedis(client, cache.RedisConfig{Prefix: "rzpgate:"})
		if err != nil {
			t.Fatal(err)
		}
		var inner cache.Store = rs
		if o.near > 0 {
			near, err := cache.NewNear(rs, client, cache.NearConfig{TTL: o.near})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { near.Close() })
			inner = near
		}
		guard := cache.NewGuard(inner, cache.GuardConfig{Timeout: o.timeout, Failures: 3, OpenTimeout: 200 * time.Millisecond})
		t.Cleanup(func() { guard.Close() })
		e := newEnvWith(t, c.fake, up.URL, func(cfg *proxy.Config) {
			cfg.Store = guard
			if o.configure != nil {
				o.configure(cfg)
			}
		})
		c.replicas = append(c.replicas, e)
	}
	return c
}

// newEnvWith is newEnv against an existing fake upstream.
func newEnvWith(t *testing.T, fake *fakerazorpay.Server, upstream string, opts ...func(*proxy.Config)) *env {
	t.Helper()
	u, _ := url.Parse(upstream)
	return newEnv(t, append([]func(*proxy.Config){func(c *proxy.Config) { c.Upstream = u }}, opts...)...).withFake(fake)
}

func TestSharedFillIsHitOnEveryReplica(t *testing.T) {
	c := newCluster(t, clusterOpts{replicas: 3})
	for _, target := range []string{payA + "?expand[]=upi", plinkA, qrListA} {
		first := c.replicas[0].get(t, target, credsA)
		if !strings.Contains(first.cacheStatus(), "stored") {
			t.Fatalf("%s on replica 0: Cache-Status %q; want stored", target, first.cacheStatus())
		}
		for i, r := range c.replicas[1:] {
			got := r.get(t, target, credsA, "Accept-Encoding", []string{"gzip", "identity"}[i%2])
			if !hitStatus.MatchString(got.cacheStatus()) || got.body != first.body {
				t.Errorf("%s on replica %d: Cache-Status %q, same body %t; want a hit with replica 0's body", target, i+1, got.cacheStatus(), got.body == first.body)
			}
		}
		if n := c.fake.Count("GET", strings.Split(target, "?")[0]); n != 1 {
			t.Errorf("%s: upstream saw %d requests across 3 replicas; want 1", target, n)
		}
		// Another caller's credentials never hit the shared entry.
		if other := c.replicas[2].get(t, target, credsB); hitStatus.MatchString(other.cacheStatus()) {
			t.Errorf("%s: caller B got a hit on caller A's entry", target)
		}
	}
}

func TestSharedPatchInvalidatesEveryReplica(t *testing.T) {
	c := newCluster(t, clusterOpts{replicas: 3})
	for _, r := range c.replicas {
		r.get(t, qrListA, credsA)
	}
	if p := c.replicas[1].do(t, "PATCH", qrPatchA, credsA, `{"notes":{"v":"7"}}`); p.status != 200 {
		t.Fatalf("PATCH on replica 1: %d %s", p.status, p.body)
	}
	for i, r := range c.replicas {
		got := r.get(t, qrListA, credsA)
		if v := notes(t, got.body)["v"]; v != "7" {
			t.Errorf("replica %d after PATCH on replica 1: notes v = %q (Cache-Status %q); want 7", i, v, got.cacheStatus())
		}
	}
}

// TestNearCacheStalenessWindow measures how long after a PATCH returns on
// replica A replica B can still serve the old body from its near cache: the
// pub/sub delivery delay, bounded by the near-cache TTL.
func TestNearCacheStalenessWindow(t *testing.T) {
	const nearTTL = 500 * time.Millisecond
	c := newCluster(t, clusterOpts{replicas: 2, near: nearTTL})
	a, b := c.replicas[0], c.replicas[1]
	var worst time.Duration
	for round := range 10 {
		b.get(t, qrListA, credsA)
		b.get(t, qrListA, credsA) // now in B's near cache
		v := string(rune('a' + round))
		if p := a.do(t, "PATCH", qrPatchA, credsA, `{"notes":{"v":"`+v+`"}}`); p.status != 200 {
			t.Fatalf("PATCH: %d", p.status)
		}
		returned := time.Now()
		for {
			got := b.get(t, qrListA, credsA)
			if notes(t, got.body)["v"] == v {
				break
			}
			if time.Since(returned) > 2*nearTTL {
				t.Fatalf("round %d: replica B still served the old notes %s after the PATCH returned on A; the bound is the near TTL %s",
					round, time.Since(returned), nearTTL)
			}
		}
		worst = max(worst, time.Since(returned))
	}
	t.Logf("near cache: replica B served the pre-PATCH body for at most %s after the PATCH returned on A (TTL bound %s)", worst, nearTTL)
}

// TestRedisOutageFailsOpen stops Redis in the middle of a load of
// concurrent requests and starts it again: no client request fails, and
// the replicas cache again once Redis is back.
func TestRedisOutageFailsOpen(t *testing.T) {
	c := newCluster(t, clusterOpts{replicas: 2})
	if c.redis.Shared() {
		t.Skip("RZPGATE_TEST_REDIS_URL is a shared server this test cannot stop")
	}
	targets := []string{payA + "?expand[]=upi", plinkA, qrListA}
	var (
		failed, total atomic.Int64
		stop          = make(chan struct{})
		wg            sync.WaitGroup
		mu            sync.Mutex // guards failures
		failures      []string
	)
	for w := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			deadline := time.Now().Add(10 * time.Second)
			for i := 0; time.Now().Before(deadline); i++ {
				select {
				case <-stop:
					return
				default:
				}
				r := c.replicas[(w+i)%2].get(t, targets[i%3], credsA)
				total.Add(1)
				if r.status != 200 {
					failed.Add(1)
					mu.Lock()
					failures = append(failures, r.body)
					mu.Unlock()
				}
			}
		}()
	}
	time.Sleep(300 * time.Millisecond)
	c.redis.Stop()
	time.Sleep(700 * time.Millisecond)
	c.redis.Restart()
	// Caching resumes by itself: a fill after the restart is a hit on the
	// other replica.
	deadline := time.Now().Add(5 * time.Second)
	resumed := false
	for time.Now().Before(deadline) && !resumed {
		c.replicas[0].get(t, plinkA, credsA, "Cache-Control", "no-cache")
		resumed = hitStatus.MatchString(c.replicas[1].get(t, plinkA, credsA).cacheStatus())
		time.Sleep(50 * time.Millisecond)
	}
	close(stop)
	wg.Wait()
	if n := failed.Load(); n > 0 {
		t.Errorf("%d of %d client requests failed during the Redis outage; first: %s", n, total.Load(), failures[0])
	}
	if !resumed {
		t.Errorf("no hits within 5s of Redis restarting")
	}
	t.Logf("%d requests during a Redis stop and restart, %d failed", total.Load(), failed.Load())
}

// TestSlowRedisCostsAtMostTheTimeout pauses Redis (it accepts connections
// but answers nothing): each request costs at most about the Redis
// timeout, not go-redis' default 3s read timeout, and the breaker soon
// makes it cost nothing.
func TestSlowRedisCostsAtMostTheTimeout(t *testing.T) {
	const timeout = 100 * time.Millisecond
	c := newCluster(t, clusterOpts{replicas: 1, timeout: timeout})
	if c.redis.Shared() {
		t.Skip("RZPGATE_TEST_REDIS_URL is a shared server this test cannot pause")
	}
	g := c.replicas[0]
	g.get(t, plinkA, credsA)
	c.redis.Pause()
	defer c.redis.Resume()
	var slowest time.Duration
	for range 10 {
		start := time.Now()
		if r := g.get(t, plinkA, credsA); r.status != 200 {
			t.Fatalf("request with Redis paused: status %d", r.status)
		}
		slowest = max(slowest, time.Since(start))
	}
	// A get and a fill each wait at most the timeout; 10x leaves room for a
	// loaded machine while still failing if the timeout were ignored (3 s).
	if slowest > 10*timeout {
		t.Errorf("slowest request with Redis paused took %s; want about the %s Redis timeout", slowest, timeout)
	}
	t.Logf("slowest request with Redis paused: %s (Redis timeout %s)", slowest, timeout)
}

// TestNoStaleReadAcrossRedisReplicas runs the core issue's GET/PATCH checker
// across three replicas sharing Redis: without a near cache no read may
// show notes older than a PATCH that had returned on any replica; with one,
// none older than a PATCH that returned more than the near-cache TTL ago.
func TestNoStaleReadAcrossRedisReplicas(t *testing.T) {
	tests := []struct {
		desc string
		near time.Duration
	}{
		{"no near cache", 0},
		{"near cache", 200 * time.Millisecond},
	}
	for _, tt := range tests {
		t.Run(tt.desc, func(t *testing.T) {
			c := newCluster(t, clusterOpts{replicas: 3, near: tt.near})
			urls := make([]string, len(c.replicas))
			for i, r := range c.replicas {
				urls[i] = r.gateway.URL
			}
			checkNoStaleReads(t, urls, c.fake, staleOpts{Window: tt.near})
		})
	}
}

// TestSharedEntriesStoredCompressed fills a list body large enough to be
// stored gzip-compressed in Redis: a gzip client of another replica gets the
// stored bytes as they are, an identity client the same JSON decompressed.
func TestSharedEntriesStoredCompressed(t *testing.T) {
	c := newCluster(t, clusterOpts{replicas: 2})
	for i := range 20 {
		c.fake.AddQRCode("rzp_test_A", fmt.Sprintf("qr_Big%011d", i), "cust_Big0000000001")
	}
	target := "/v1/payments/qr_codes?customer_id=cust_Big0000000001"
	first := c.replicas[0].get(t, target, credsA)
	if len(first.body) < 4096 || !strings.Contains(first.cacheStatus(), "stored") {
		t.Fatalf("fill: %d bytes, Cache-Status %q; want a stored body over 4 KiB", len(first.body), first.cacheStatus())
	}

	// The value in Redis is smaller than the body: it is compressed.
	rc := c.redis.Client(t)
	keys, err := rc.Keys(context.Background(), "{rzpgate:}e:*").Result()
	if err != nil || len(keys) != 1 {
		t.Fatalf("entry keys in Redis: %q, %v; want 1", keys, err)
	}
	stored, _ := rc.Get(context.Background(), keys[0]).Bytes()
	if len(stored) >= len(first.body)/2 {
		t.Errorf("stored value is %d bytes for a %d-byte body; want it compressed", len(stored), len(first.body))
	}
	if bytes.Contains(stored, []byte("secretA")) || bytes.Contains(stored, []byte("cnpwX3Rlc3RfQTpzZWNyZXRB")) {
		t.Errorf("stored value contains credentials")
	}

	for _, enc := range []string{"gzip", "identity"} {
		got := c.replicas[1].get(t, target, credsA, "Accept-Encoding", enc)
		if !hitStatus.MatchString(got.cacheStatus()) || got.body != first.body {
			t.Errorf("%s client on replica 1: Cache-Status %q, same body %t; want a hit with the fill's JSON", enc, got.cacheStatus(), got.body == first.body)
		}
		if ce := got.header.Get("Content-Encoding"); (ce == "gzip") != (enc == "gzip") {
			t.Errorf("%s client got Content-Encoding %q", enc, ce)
		}
	}
}

// TestNoFenceNoCoalescing: with Redis down the replica cannot fence, so it
// cannot tell whether another replica purged since a fetch started; each
// request then fetches for itself rather than join an older fetch.
func TestNoFenceNoCoalescing(t *testing.T) {
	c := newCluster(t, clusterOpts{replicas: 1})
	if c.redis.Shared() {
		t.Skip("RZPGATE_TEST_REDIS_URL is a shared server this test cannot stop")
	}
	c.redis.Stop()
	g := c.replicas[0]
	c.fake.SetLatency(200 * time.Millisecond)
	var wg sync.WaitGroup
	for range 5 {
		wg.Go(func() {
			if r := g.get(t, plinkA, credsA); r.status != 200 {
				t.Errorf("GET with Redis down: %d", r.status)
			}
		})
	}
	wg.Wait()
	if n := c.fake.Count("GET", plinkA); n != 5 {
		t.Errorf("5 concurrent misses without a fence made %d upstream requests; want 5 (no coalescing)", n)
	}
}
