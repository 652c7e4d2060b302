package cache

import (
	"context"
	"errors"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/rzpgate/rzpgate/internal/redistest"
)

// transitions records OnStateChange calls.
type transitions struct {
	mu  sync.Mutex // guards got
	got []string
}

func (tr *transitions) record(from, to string) {
	tr.mu.Lock()
	defer tr.mu.Unlock()
	tr.got = append(tr.got, from+"->"+to)
}

func (tr *transitions) list() []string {
	tr.mu.Lock()
	defer tr.mu.Unlock()
	return slices.Clone(tr.got)
}

// assertChain checks that each change starts where the last one ended,
// so none was reported twice or skipped, and that the chain ends in end.
func (tr *transitions) assertChain(t *testing.T, end string) {
	t.Helper()
	got := tr.list()
	state := "closed"
	for _, c := range got {
		from, to, _ := strings.Cut(c, "->")
		if from != state || from == to {
			t.Errorf("state changes %q: %q does not follow state %q", got, c, state)
			return
		}
		state = to
	}
	if state != end {
		t.Errorf("state changes %q end in %q, want %q", got, state, end)
	}
}

func newTestGuard(t *testing.T, srv *redistest.Server, cfg GuardConfig) (*Guard, *clock, *transitions) {
	t.Helper()
	r, c := newTestRedis(t, srv, RedisConfig{})
	// The first calls load the scripts and dial the pool, which on a
	// loaded machine can outlast the short timeouts these tests give the
	// Guard: they are made here, without one, so that every test starts
	// from a warm Redis.
	if f, err := r.Fence(context.Background()); err != nil {
		t.Fatalf("warming Redis: %v", err)
	} else if err := r.Set(context.Background(), "warm", newRedisEntry(c, "w", time.Minute), f); err != nil {
		t.Fatalf("warming Redis: %v", err)
	}
	tr := &transitions{}
	cfg.OnStateChange = tr.record
	g := NewGuard(r, cfg)
	t.Cleanup(func() { g.Close() })
	return g, c, tr
}

func TestGuardFailsOpenAndRecovers(t *testing.T) {
	srv := redistest.Start(t)
	const timeout = 100 * time.Millisecond
	g, c, tr := newTestGuard(t, srv, GuardConfig{Timeout: timeout, Failures: 3, OpenTimeout: 300 * time.Millisecond})
	ctx := context.Background()
	mustSet(t, g, "k", newRedisEntry(c, "v", time.Hour), mustRedisFence(t, g))
	assertBody(t, g, "k", "v")

	srv.Stop()
	for i := range 3 {
		start := time.Now()
		_, err := g.Get(ctx, "k")
		if !errors.Is(err, ErrUnavailable) {
			t.Fatalf("Get %d with Redis stopped: err = %v, want ErrUnavailable", i, err)
		}
		if d := time.Since(start); d > 2*timeout {
			t.Errorf("Get %d with Redis stopped took %v, want at most about the timeout %v", i, d, timeout)
		}
	}
	if got := g.State(); got != "open" {
		t.Fatalf("State() after 3 failures = %q, want open", got)
	}

	const calls = 100
	start := time.Now()
	for range calls {
		if _, err := g.Get(ctx, "k"); !errors.Is(err, ErrUnavailable) {
			t.Fatalf("Get while open: err = %v, want ErrUnavailable", err)
		}
	}
	elapsed := time.Since(start)
	t.Logf("%d calls while open took %v, %v each (timeout %v)", calls, elapsed, elapsed/calls, timeout)
	if elapsed > timeout {
		t.Errorf("%d calls while open took %v, want far less than one timeout (%v), let alone %d", calls, elapsed, timeout, calls)
	}
	if got, want := tr.list(), []string{"closed->open"}; !slices.Equal(got, want) {
		t.Errorf("state changes = %q, want %q", got, want)
	}

	srv.Restart()
	recovered := waitFor(t, "Get to reach Redis again", 5*time.Second, func() bool {
		_, err := g.Get(ctx, "k")
		return errors.Is(err, ErrMiss) // Redis lost its data in the restart.
	})
	t.Logf("Get reached Redis again %v after the restart", recovered)
	if got := g.State(); got != "closed" {
		t.Errorf("State() after recovery = %q, want closed", got)
	}
	tr.assertChain(t, "closed")
}

func TestGuardPendingPurgeAcrossPause(t *testing.T) {
	srv := redistest.Start(t)
	g, c, _ := newTestGuard(t, srv, GuardConfig{Timeout: 100 * time.Millisecond, Failures: 3, OpenTimeout: 200 * time.Millisecond})
	ctx := context.Background()
	f := mustRedisFence(t, g)
	mustSet(t, g, "purged", newRedisEntry(c, "old", time.Hour, "qr_1"), f)
	mustSet(t, g, "kept", newRedisEntry(c, "kept", time.Hour, "pay_1"), f)

	srv.Pause()
	if err := g.Purge(ctx, "qr_1"); !errors.Is(err, ErrUnavailable) {
		t.Fatalf("Purge with Redis paused: err = %v, want ErrUnavailable", err)
	}
	for _, op := range []struct {
		desc string
		call func() error
	}{
		{"Get", func() error { _, err := g.Get(ctx, "kept"); return err }},
		{"Fence", func() error { _, err := g.Fence(ctx); return err }},
		{"Set", func() error { return g.Set(ctx, "new", newRedisEntry(c, "v", time.Hour), f) }},
	} {
		if err := op.call(); !errors.Is(err, ErrUnavailable) {
			t.Errorf("%s with a purge pending: err = %v, want ErrUnavailable", op.desc, err)
		}
	}
	srv.Resume()

	waitFor(t, "reads to resume", 5*time.Second, func() bool {
		if e, err := g.Get(ctx, "purged"); err == nil {
			t.Fatalf("Get served %q, whose tag's purge was pending", e.Body)
		}
		_, err := g.Get(ctx, "kept")
		return err == nil
	})
	assertBody(t, g, "purged", "")
	g.mu.Lock()
	pending := len(g.pending)
	g.mu.Unlock()
	if pending != 0 {
		t.Errorf("%d purges still pending after recovery", pending)
	}
}

func TestGuardBoundsPausedRedis(t *testing.T) {
	srv := redistest.Start(t)
	const timeout = 100 * time.Millisecond
	g, _, _ := newTestGuard(t, srv, GuardConfig{Timeout: timeout})
	srv.Pause()
	defer srv.Resume()
	tests := []struct {
		desc string
		call func(ctx context.Context) error
	}{
		{"Get", func(ctx context.Context) error { _, err := g.Get(ctx, "k"); return err }},
		{"Fence", func(ctx context.Context) error { _, err := g.Fence(ctx); return err }},
	}
	for _, tt := range tests {
		t.Run(tt.desc, func(t *testing.T) {
			start := time.Now()
			err := tt.call(context.Background())
			d := time.Since(start)
			t.Logf("%s with Redis paused returned %v after %v (timeout %v)", tt.desc, err, d, timeout)
			if !errors.Is(err, ErrUnavailable) {
				t.Errorf("err = %v, want ErrUnavailable", err)
			}
			if d > 2*timeout {
				t.Errorf("returned after %v, want about the timeout %v", d, timeout)
			}
		})
	}
}

// funcStore is a Store whose methods call its function fields, for what
// a real Redis cannot be made to do on cue: fail one call and not the next.
type funcStore struct {
	mu    sync.Mutex // guards calls
	calls []string
	get   func(key string) (*Entry, error)
	set   func(key string) error
	purge func(tags []string) error
}

func (s *funcStore) record(call string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.calls = append(s.calls, call)
}

func (s *funcStore) list() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.calls)
}

func (s *funcStore) Get(_ context.Context, key string) (*Entry, error) {
	s.record("get " + key)
	return s.get(key)
}

func (s *funcStore) Fence(context.Context) (Fence, error) {
	s.record("fence")
	return Fence{}, nil
}

func (s *funcStore) Set(_ context.Context, key string, _ *Entry, _ Fence) error {
	s.record("set " + key)
	return s.set(key)
}

func (s *funcStore) Purge(_ context.Context, tags ...string) error {
	sorted := slices.Sorted(slices.Values(tags))
	s.record("purge " + strings.Join(slices.Compact(sorted), ","))
	return s.purge(tags)
}

func (s *funcStore) Hold(_ context.Context, d time.Duration, tags ...string) error {
	sorted := slices.Sorted(slices.Values(tags))
	s.record("hold " + d.Round(time.Second).String() + " " + strings.Join(slices.Compact(sorted), ","))
	return s.purge(tags)
}

// outage makes funcStore purges fail while down is set.
type outage struct {
	mu   sync.Mutex // guards down
	down bool
}

func (o *outage) set(down bool) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.down = down
}

func (o *outage) purge([]string) error {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.down {
		return errors.New("connection refused")
	}
	return nil
}

func TestGuardPendingPurgeOrder(t *testing.T) {
	down := &outage{}
	s := &funcStore{
		get:   func(string) (*Entry, error) { return nil, ErrMiss },
		set:   func(string) error { return nil },
		purge: down.purge,
	}
	// A breaker that never opens and a retry loop that never runs isolate
	// the retries made by calls.
	g := NewGuard(s, GuardConfig{Failures: 1000, OpenTimeout: time.Hour})
	defer g.Close()
	ctx := context.Background()

	down.set(true)
	if err := g.Purge(ctx, "qr_1"); !errors.Is(err, ErrUnavailable) {
		t.Fatalf("failed Purge: err = %v, want ErrUnavailable", err)
	}
	if err := g.Purge(ctx, "qr_2"); !errors.Is(err, ErrUnavailable) {
		t.Fatalf("second failed Purge: err = %v, want ErrUnavailable", err)
	}
	if _, err := g.Get(ctx, "k"); !errors.Is(err, ErrUnavailable) {
		t.Fatalf("Get with purges pending: err = %v, want ErrUnavailable", err)
	}
	down.set(false)
	if _, err := g.Get(ctx, "k"); !errors.Is(err, ErrMiss) {
		t.Fatalf("Get after recovery: err = %v, want ErrMiss", err)
	}
	mustSet(t, g, "k", &Entry{}, Fence{})
	want := []string{
		"purge qr_1",      // fails
		"purge qr_1,qr_2", // carries the pending tag, fails
		"purge qr_1,qr_2", // Get retries first, fails, and does not read
		"purge qr_1,qr_2", // Get retries first, succeeds
		"get k",
		"set k",
	}
	if got := s.list(); !slices.Equal(got, want) {
		t.Errorf("calls = %q\nwant    %q", got, want)
	}
}

func TestGuardRetryLoop(t *testing.T) {
	down := &outage{down: true}
	s := &funcStore{purge: down.purge}
	g := NewGuard(s, GuardConfig{OpenTimeout: 20 * time.Millisecond})
	defer g.Close()
	if err := g.Purge(context.Background(), "qr_1"); !errors.Is(err, ErrUnavailable) {
		t.Fatalf("failed Purge: err = %v, want ErrUnavailable", err)
	}
	down.set(false)
	waitFor(t, "the retry loop to apply the pending purge", 2*time.Second, func() bool {
		g.mu.Lock()
		defer g.mu.Unlock()
		return len(g.pending) == 0
	})
	if got := s.list(); got[len(got)-1] != "purge qr_1" {
		t.Errorf("calls = %q, want the retried purge last", got)
	}
}

func TestGuardSentinelsAreSuccesses(t *testing.T) {
	s := &funcStore{
		get: func(string) (*Entry, error) { return nil, ErrMiss },
		set: func(key string) error {
			if key == "held" {
				return ErrHeld
			}
			return ErrFenced
		},
	}
	tr := &transitions{}
	g := NewGuard(s, GuardConfig{Failures: 2, OnStateChange: tr.record})
	defer g.Close()
	ctx := context.Background()
	for range 10 {
		if _, err := g.Get(ctx, "k"); err != ErrMiss {
			t.Fatalf("Get: err = %v, want ErrMiss itself", err)
		}
		if err := g.Set(ctx, "k", &Entry{}, Fence{}); err != ErrFenced {
			t.Fatalf("Set: err = %v, want ErrFenced itself", err)
		}
		if err := g.Set(ctx, "held", &Entry{}, Fence{}); err != ErrHeld {
			t.Fatalf("Set of a held entry: err = %v, want ErrHeld itself", err)
		}
	}
	if got := g.State(); got != "closed" {
		t.Errorf("State() after misses, fenced and held fills = %q, want closed", got)
	}
	if got := tr.list(); len(got) != 0 {
		t.Errorf("state changes = %q, want none", got)
	}
}

func BenchmarkGuard(b *testing.B) {
	e := &Entry{Status: 200, Body: []byte("{}")}
	bad := errors.New("connection refused")
	tests := []struct {
		desc string
		get  func(string) (*Entry, error)
	}{
		{desc: "closed hit", get: func(string) (*Entry, error) { return e, nil }},
		{desc: "open", get: func(string) (*Entry, error) { return nil, bad }},
	}
	for _, tt := range tests {
		b.Run(tt.desc, func(b *testing.B) {
			g := NewGuard(&funcStore{get: tt.get}, GuardConfig{OpenTimeout: time.Hour})
			defer g.Close()
			ctx := context.Background()
			for range 3 {
				_, _ = g.Get(ctx, "k") // Opens the breaker if get fails.
			}
			b.ReportAllocs()
			for b.Loop() {
				_, _ = g.Get(ctx, "k")
			}
		})
	}
}

// TestGuardPurgesWhileOpen: with the breaker open (reads failed), a purge
// still goes to the store, so a store that is back takes it at once instead
// of leaving it pending on one replica.
func TestGuardPurgesWhileOpen(t *testing.T) {
	var failing atomic.Bool
	failing.Store(true)
	s := &funcStore{
		get: func(string) (*Entry, error) {
			if failing.Load() {
				return nil, errors.New("connection refused")
			}
			return nil, ErrMiss
		},
		set:   func(string) error { return nil },
		purge: func([]string) error { return nil },
	}
	g := NewGuard(s, GuardConfig{Failures: 2, OpenTimeout: time.Hour})
	defer g.Close()
	ctx := context.Background()
	g.Get(ctx, "a")
	g.Get(ctx, "b")
	if st := g.State(); st != "open" {
		t.Fatalf("state after 2 failures = %s; want open", st)
	}
	failing.Store(false)
	if err := g.Purge(ctx, "qr_1"); err != nil {
		t.Fatalf("Purge with the breaker open and the store back: %v; want it applied", err)
	}
	if got := s.list(); !slices.Contains(got, "purge qr_1") {
		t.Errorf("store calls %q; want the purge to reach the store", got)
	}
	if _, err := g.Get(ctx, "c"); !errors.Is(err, ErrUnavailable) {
		t.Errorf("Get with the breaker open = %v; want ErrUnavailable (reads still wait for the breaker)", err)
	}
}

// TestGuardNearHits: entries a near cache holds are served without the
// timeout and the breaker while the breaker is closed, and neither count
// as calls to Redis nor hide its failures from the breaker; an open
// breaker and a pending purge refuse them as they refuse every read.
func TestGuardNearHits(t *testing.T) {
	srv := redistest.Start(t)
	if srv.Shared() {
		t.Skip("needs a private redis-server to pause")
	}
	newGuard := func(t *testing.T) (*Guard, *clock, *funcStore) {
		n, c := newTestNear(t, srv, nil, NearConfig{TTL: time.Minute})
		calls := &funcStore{}
		g := NewGuard(n, GuardConfig{
			Timeout:     100 * time.Millisecond,
			Failures:    3,
			OpenTimeout: time.Hour,
			OnCall:      func(op string, _ time.Duration, _ bool) { calls.record(op) },
		})
		t.Cleanup(func() { g.Close() })
		mustSet(t, g, "held", newRedisEntry(c, "v", time.Hour, "qr_1"), mustRedisFence(t, g))
		mustSet(t, g, "other", newRedisEntry(c, "w", time.Hour, "pay_1"), mustRedisFence(t, g))
		return g, c, calls
	}
	ctx := context.Background()

	t.Run("breaker", func(t *testing.T) {
		g, _, calls := newGuard(t)
		before := len(calls.list())
		assertBody(t, g, "held", "v")
		if got := calls.list()[before:]; len(got) != 0 {
			t.Errorf("a hit in memory made calls %q; want none", got)
		}
		srv.Pause()
		defer srv.Resume()
		for i, key := range []string{"a", "held", "b", "held", "c"} {
			e, err := g.Get(ctx, key)
			if key == "held" {
				if err != nil || string(e.Body) != "v" {
					t.Errorf("Get %d (held) with Redis paused = %v, %v; want the entry from memory", i, e, err)
				}
			} else if !errors.Is(err, ErrUnavailable) {
				t.Errorf("Get %d (%s) with Redis paused = %v; want ErrUnavailable", i, key, err)
			}
		}
		if got := g.State(); got != "open" {
			t.Fatalf("State() after 3 failures between hits in memory = %q, want open", got)
		}
		if _, err := g.Get(ctx, "held"); !errors.Is(err, ErrUnavailable) {
			t.Errorf("Get (held) with the breaker open = %v; want ErrUnavailable", err)
		}
	})
	t.Run("pending purge", func(t *testing.T) {
		g, _, _ := newGuard(t)
		srv.Pause()
		defer srv.Resume()
		if err := g.Purge(ctx, "qr_1"); !errors.Is(err, ErrUnavailable) {
			t.Fatalf("Purge with Redis paused = %v; want ErrUnavailable", err)
		}
		if _, err := g.Get(ctx, "other"); !errors.Is(err, ErrUnavailable) {
			t.Errorf("Get (other, held in memory) with a purge pending = %v; want ErrUnavailable", err)
		}
	})
}
