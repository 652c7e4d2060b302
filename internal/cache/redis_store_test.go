package cache

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/rzpgate/rzpgate/internal/redistest"
)

// newTestRedis returns a store on srv with a settable clock starting now,
// since Redis expires keys on its own clock.
func newTestRedis(t *testing.T, srv *redistest.Server, cfg RedisConfig) (*Redis, *clock) {
	t.Helper()
	c := &clock{now: time.Now()}
	if cfg.Clock == nil {
		cfg.Clock = c.Now
	}
	r, err := NewRedis(srv.Client(t), cfg)
	if err != nil {
		t.Fatalf("NewRedis: %v", err)
	}
	return r, c
}

func newRedisEntry(c *clock, body string, ttl time.Duration, tags ...string) *Entry {
	return &Entry{
		Status:   200,
		Header:   http.Header{"Content-Type": {"application/json"}},
		Body:     []byte(body),
		Tags:     tags,
		StoredAt: c.Now(),
		TTL:      ttl,
	}
}

func mustRedisFence(t *testing.T, s Store) Fence {
	t.Helper()
	f, err := s.Fence(context.Background())
	if err != nil {
		t.Fatalf("Fence: %v", err)
	}
	return f
}

func mustSet(t *testing.T, s Store, key string, e *Entry, f Fence) {
	t.Helper()
	if err := s.Set(context.Background(), key, e, f); err != nil {
		t.Fatalf("Set(%q): %v", key, err)
	}
}

// assertBody checks that Get(key) returns body, or ErrMiss if body is "".
func assertBody(t *testing.T, s Store, key, body string) {
	t.Helper()
	e, err := s.Get(context.Background(), key)
	if body == "" {
		if !errors.Is(err, ErrMiss) {
			t.Errorf("Get(%q) = %v, %v; want ErrMiss", key, e, err)
		}
		return
	}
	if err != nil {
		t.Errorf("Get(%q): %v; want body %q", key, err, body)
		return
	}
	if string(e.Body) != body {
		t.Errorf("Get(%q) body = %q, want %q", key, e.Body, body)
	}
}

func TestRedisRoundTrip(t *testing.T) {
	srv := redistest.Start(t)
	r, c := newTestRedis(t, srv, RedisConfig{})
	tests := []struct {
		desc string
		key  string
		e    *Entry
	}{
		{desc: "typical", key: "acc_1|GET /v1/payments/qr_codes/qr_1", e: newRedisEntry(c, `{"id":"qr_1"}`, time.Minute, "qr_1", "cust_1")},
		{desc: "no tags", key: "k", e: newRedisEntry(c, "{}", time.Minute)},
		{desc: "binary key and tags", key: "a\x00{b}\xff", e: newRedisEntry(c, "x", time.Minute, "t\x00{", "")},
		{desc: "empty body", key: "empty", e: newRedisEntry(c, "", time.Minute, "qr_2")},
	}
	for _, tt := range tests {
		t.Run(tt.desc, func(t *testing.T) {
			mustSet(t, r, tt.key, tt.e, mustRedisFence(t, r))
			got, err := r.Get(context.Background(), tt.key)
			if err != nil {
				t.Fatalf("Get: %v", err)
			}
			want := *tt.e
			want.StoredAt = time.UnixMilli(want.StoredAt.UnixMilli())
			assertSameEntry(t, got, &want)
		})
	}
	t.Run("missing", func(t *testing.T) { assertBody(t, r, "nope", "") })
	t.Run("corrupt value is a miss", func(t *testing.T) {
		if err := srv.Client(t).Set(context.Background(), r.entryKey("bad"), "\x09garbage", 0).Err(); err != nil {
			t.Fatal(err)
		}
		assertBody(t, r, "bad", "")
	})
}

func TestRedisExpiry(t *testing.T) {
	srv := redistest.Start(t)
	rc := srv.Client(t)
	ctx := context.Background()

	t.Run("redis expires the key", func(t *testing.T) {
		r, c := newTestRedis(t, srv, RedisConfig{})
		mustSet(t, r, "short", newRedisEntry(c, "v", 100*time.Millisecond, "qr_1"), mustRedisFence(t, r))
		pttl, err := rc.PTTL(ctx, r.entryKey("short")).Result()
		if err != nil || pttl <= 0 || pttl > 100*time.Millisecond {
			t.Errorf("PTTL = %v, %v; want within (0, 100ms]", pttl, err)
		}
		deadline := time.Now().Add(2 * time.Second)
		for rc.Exists(ctx, r.entryKey("short")).Val() == 1 {
			if time.Now().After(deadline) {
				t.Fatal("Redis still holds the entry 2s after its 100ms TTL")
			}
			time.Sleep(10 * time.Millisecond)
		}
		assertBody(t, r, "short", "")
	})
	t.Run("clock past expiry", func(t *testing.T) {
		r, c := newTestRedis(t, srv, RedisConfig{})
		mustSet(t, r, "long", newRedisEntry(c, "v", time.Hour), mustRedisFence(t, r))
		c.Add(time.Hour - time.Millisecond)
		assertBody(t, r, "long", "v")
		c.Add(time.Millisecond)
		assertBody(t, r, "long", "")
		if got := rc.Exists(ctx, r.entryKey("long")).Val(); got != 1 {
			t.Errorf("EXISTS = %d, want the key still in Redis", got)
		}
	})
	t.Run("expired entry is not stored", func(t *testing.T) {
		r, c := newTestRedis(t, srv, RedisConfig{})
		e := newRedisEntry(c, "v", time.Second)
		c.Add(time.Second)
		mustSet(t, r, "stale", e, mustRedisFence(t, r))
		if got := rc.Exists(ctx, r.entryKey("stale")).Val(); got != 0 {
			t.Errorf("EXISTS = %d, want an expired entry not stored", got)
		}
	})
}

func TestRedisPurge(t *testing.T) {
	srv := redistest.Start(t)
	rc := srv.Client(t)
	r, c := newTestRedis(t, srv, RedisConfig{})
	ctx := context.Background()
	f := mustRedisFence(t, r)
	// Partitions are different keys for the same resource.
	for _, k := range []string{"A|qr", "B|qr"} {
		mustSet(t, r, k, newRedisEntry(c, k, time.Minute, "qr_1", "cust_1"), f)
	}
	mustSet(t, r, "A|pay", newRedisEntry(c, "pay", time.Minute, "pay_1"), f)
	mustSet(t, r, "A|cust", newRedisEntry(c, "cust", time.Minute, "cust_1"), f)

	if err := r.Purge(ctx); err != nil {
		t.Fatalf("Purge(): %v", err)
	}
	if got := mustRedisFence(t, r).Epoch; got != f.Epoch {
		t.Errorf("epoch after Purge() = %d, want %d unchanged", got, f.Epoch)
	}
	if err := r.Purge(ctx, "qr_1"); err != nil {
		t.Fatalf("Purge: %v", err)
	}
	tests := []struct{ key, want string }{
		{"A|qr", ""}, {"B|qr", ""}, {"A|pay", "pay"}, {"A|cust", "cust"},
	}
	for _, tt := range tests {
		t.Run(tt.key, func(t *testing.T) { assertBody(t, r, tt.key, tt.want) })
	}
	if got := rc.Exists(ctx, r.tagKey("qr_1")).Val(); got != 0 {
		t.Errorf("tag set qr_1 EXISTS = %d, want deleted", got)
	}
	if got := rc.SMembers(ctx, r.tagKey("cust_1")).Val(); len(got) != 3 {
		t.Errorf("tag set cust_1 = %q, want 3 members (stale ones are pruned lazily)", got)
	}
	if pttl := rc.PTTL(ctx, r.markKey("qr_1")).Val(); pttl <= defaultFenceRetention-time.Second {
		t.Errorf("purge mark PTTL = %v, want about FenceRetention", pttl)
	}
}

func TestRedisPurgePublishes(t *testing.T) {
	srv := redistest.Start(t)
	r, _ := newTestRedis(t, srv, RedisConfig{})
	ctx := context.Background()
	sub := srv.Client(t).Subscribe(ctx, r.PurgeChannel())
	defer sub.Close()
	if _, err := sub.Receive(ctx); err != nil {
		t.Fatalf("subscribing: %v", err)
	}
	want := []string{"qr_1", "a\x00b"}
	if err := r.Purge(ctx, want...); err != nil {
		t.Fatal(err)
	}
	msg, err := sub.ReceiveMessage(ctx)
	if err != nil {
		t.Fatal(err)
	}
	got, err := decodeTags(msg.Payload)
	if err != nil || strings.Join(got, ",") != strings.Join(want, ",") {
		t.Errorf("published tags = %q, %v; want %q", got, err, want)
	}
}

func TestRedisFence(t *testing.T) {
	srv := redistest.Start(t)
	ctx := context.Background()
	tests := []struct {
		desc string
		// fill takes a fence, stirs the store and returns the fence to Set.
		fill    func(t *testing.T, r *Redis, c *clock) Fence
		wantErr error
	}{
		{desc: "fence before purge of its tag is refused", wantErr: ErrFenced, fill: func(t *testing.T, r *Redis, c *clock) Fence {
			f := mustRedisFence(t, r)
			if err := r.Purge(ctx, "qr_1"); err != nil {
				t.Fatal(err)
			}
			return f
		}},
		{desc: "fence after the purge succeeds", fill: func(t *testing.T, r *Redis, c *clock) Fence {
			if err := r.Purge(ctx, "qr_1"); err != nil {
				t.Fatal(err)
			}
			return mustRedisFence(t, r)
		}},
		{desc: "purge of another tag does not fence", fill: func(t *testing.T, r *Redis, c *clock) Fence {
			f := mustRedisFence(t, r)
			if err := r.Purge(ctx, "pay_9"); err != nil {
				t.Fatal(err)
			}
			return f
		}},
		{desc: "fence within retention succeeds", fill: func(t *testing.T, r *Redis, c *clock) Fence {
			f := mustRedisFence(t, r)
			c.Add(time.Minute - time.Millisecond)
			return f
		}},
		{desc: "fence beyond retention is refused", wantErr: ErrFenced, fill: func(t *testing.T, r *Redis, c *clock) Fence {
			f := mustRedisFence(t, r)
			c.Add(time.Minute)
			return f
		}},
		{desc: "fence from before a Redis restart is refused", wantErr: ErrFenced, fill: func(t *testing.T, r *Redis, c *clock) Fence {
			if srv.Shared() {
				t.Skip("needs a private redis-server")
			}
			f := mustRedisFence(t, r)
			srv.Restart()
			if got := mustRedisFence(t, r).Epoch; got <= f.Epoch {
				t.Errorf("epoch after restart = %d, want above %d", got, f.Epoch)
			}
			return f
		}},
	}
	for _, tt := range tests {
		t.Run(tt.desc, func(t *testing.T) {
			srv.FlushAll(t)
			r, c := newTestRedis(t, srv, RedisConfig{FenceRetention: time.Minute})
			f := tt.fill(t, r, c)
			err := r.Set(ctx, "k", newRedisEntry(c, "v", time.Hour, "qr_1", "cust_1"), f)
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("Set error = %v, want %v", err, tt.wantErr)
			}
			want := "v"
			if tt.wantErr != nil {
				want = ""
			}
			assertBody(t, r, "k", want)
		})
	}
	t.Run("old fence is refused without touching Redis", func(t *testing.T) {
		dead := redis.NewClient(&redis.Options{Addr: "127.0.0.1:1", MaxRetries: -1})
		defer dead.Close()
		c := &clock{now: time.Now()}
		r, err := NewRedis(dead, RedisConfig{Clock: c.Now})
		if err != nil {
			t.Fatal(err)
		}
		f := Fence{Epoch: 1, Taken: c.Now().Add(-defaultFenceRetention)}
		if err := r.Set(ctx, "k", newRedisEntry(c, "v", time.Hour), f); !errors.Is(err, ErrFenced) {
			t.Errorf("Set error = %v, want ErrFenced", err)
		}
	})
}

func TestRedisTagSets(t *testing.T) {
	srv := redistest.Start(t)
	rc := srv.Client(t)
	r, c := newTestRedis(t, srv, RedisConfig{})
	ctx := context.Background()
	f := mustRedisFence(t, r)

	mustSet(t, r, "long", newRedisEntry(c, "v", time.Minute, "qr_1"), f)
	mustSet(t, r, "short", newRedisEntry(c, "v", time.Second, "qr_1"), f)
	pttl := rc.PTTL(ctx, r.tagKey("qr_1")).Val()
	if pttl < time.Minute || pttl > time.Minute+tagSlack {
		t.Errorf("tag set PTTL = %v, want within [1m, 1m+%v]: as long as its longest entry", pttl, tagSlack)
	}

	t.Run("expired members are pruned", func(t *testing.T) {
		for i := range 50 {
			mustSet(t, r, "gone"+strconv.Itoa(i), newRedisEntry(c, "v", 20*time.Millisecond, "acc_1"), f)
		}
		time.Sleep(50 * time.Millisecond)
		c.Add(50 * time.Millisecond)
		for i := range 200 {
			mustSet(t, r, "live"+strconv.Itoa(i), newRedisEntry(c, "v", time.Minute, "acc_1"), f)
		}
		if got := rc.SCard(ctx, r.tagKey("acc_1")).Val(); got >= 250 {
			t.Errorf("SCARD = %d, want expired members pruned below 250", got)
		}
	})
}

func TestRedisCompression(t *testing.T) {
	srv := redistest.Start(t)
	json := strings.Repeat(`{"id":"qr_1","entity":"qr_code"},`, 100)
	tests := []struct {
		desc     string
		min      int
		body     string
		wantGzip bool
	}{
		{desc: "compressed when it pays", min: 1024, body: json, wantGzip: true},
		{desc: "small body stored plain", min: 1024, body: json[:500]},
		{desc: "compression disabled", min: -1, body: json},
	}
	for _, tt := range tests {
		t.Run(tt.desc, func(t *testing.T) {
			r, c := newTestRedis(t, srv, RedisConfig{CompressMin: tt.min})
			mustSet(t, r, "k", newRedisEntry(c, tt.body, time.Minute), mustRedisFence(t, r))
			got, err := r.Get(context.Background(), "k")
			if err != nil {
				t.Fatal(err)
			}
			if gotGzip := got.Header.Get("Content-Encoding") == "gzip"; gotGzip != tt.wantGzip {
				t.Fatalf("stored gzip = %v, want %v", gotGzip, tt.wantGzip)
			}
			if tt.wantGzip {
				assertGzipOf(t, got, []byte(tt.body))
			} else if string(got.Body) != tt.body {
				t.Errorf("Body = %q, want the original", got.Body)
			}
		})
	}
}

func TestRedisPrefix(t *testing.T) {
	srv := redistest.Start(t)
	rc := srv.Client(t)
	ctx := context.Background()
	a, c := newTestRedis(t, srv, RedisConfig{Prefix: "a:"})
	b, _ := newTestRedis(t, srv, RedisConfig{Prefix: "b:", Clock: c.Now})
	mustSet(t, a, "k", newRedisEntry(c, "from a", time.Minute, "qr_1"), mustRedisFence(t, a))
	mustSet(t, b, "k", newRedisEntry(c, "from b", time.Minute, "qr_1"), mustRedisFence(t, b))
	if err := a.Purge(ctx, "qr_1"); err != nil {
		t.Fatal(err)
	}
	assertBody(t, a, "k", "")
	assertBody(t, b, "k", "from b")
	if got, want := a.PurgeChannel(), "a:purge"; got != want {
		t.Errorf("PurgeChannel() = %q, want %q", got, want)
	}
	for _, k := range rc.Keys(ctx, "*").Val() {
		if !strings.HasPrefix(k, "{a:}") && !strings.HasPrefix(k, "{b:}") {
			t.Errorf("key %q lacks a store's hash-tag prefix", k)
		}
	}
}

// TestRedisHammer races fills against purges and then checks the fencing
// invariant: no entry survives whose tag was purged after its fence. Each
// body records its fence's epoch, and each tag's purge mark holds the epoch
// of its latest purge; an entry present with an older fence than one of
// its tags' marks was stored after that purge, or survived it.
func TestRedisHammer(t *testing.T) {
	srv := redistest.Start(t)
	rc := srv.Client(t)
	r, c := newTestRedis(t, srv, RedisConfig{})
	ctx := context.Background()
	const workers, ops, keys, tags = 8, 500, 20, 5

	var wg sync.WaitGroup
	errs := make(chan error, workers)
	for w := range workers {
		wg.Go(func() {
			rng := rand.New(rand.NewPCG(uint64(w), 1))
			for range ops {
				tag := "t" + strconv.Itoa(rng.IntN(tags))
				if rng.IntN(4) == 0 {
					if err := r.Purge(ctx, tag); err != nil {
						errs <- err
						return
					}
					continue
				}
				f, err := r.Fence(ctx)
				if err != nil {
					errs <- err
					return
				}
				other := "t" + strconv.Itoa(rng.IntN(tags))
				e := newRedisEntry(c, strconv.FormatUint(f.Epoch, 10), time.Minute, tag, other)
				err = r.Set(ctx, "k"+strconv.Itoa(rng.IntN(keys)), e, f)
				if err != nil && !errors.Is(err, ErrFenced) {
					errs <- err
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatalf("hammer: %v", err)
	}

	present := 0
	for i := range keys {
		e, err := r.Get(ctx, "k"+strconv.Itoa(i))
		if errors.Is(err, ErrMiss) {
			continue
		}
		if err != nil {
			t.Fatal(err)
		}
		present++
		fence, _ := strconv.ParseUint(string(e.Body), 10, 64)
		for _, tag := range e.Tags {
			mark, err := rc.Get(ctx, r.markKey(tag)).Uint64()
			if err != nil && !errors.Is(err, redis.Nil) {
				t.Fatal(err)
			}
			if mark > fence {
				t.Errorf("key k%d: fenced at epoch %d but tag %s was purged at %d", i, fence, tag, mark)
			}
		}
	}
	t.Logf("%d of %d keys present after %d ops", present, keys, workers*ops)
}

func ExampleNewRedis() {
	client := redis.NewClient(&redis.Options{Addr: "127.0.0.1:6379"})
	defer client.Close()
	store, err := NewRedis(client, RedisConfig{Prefix: "rzpgate:"})
	if err != nil {
		panic(err)
	}
	fmt.Println(store.PurgeChannel())
	// Output: rzpgate:purge
}
