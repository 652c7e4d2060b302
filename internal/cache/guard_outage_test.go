package cache

import (
	"context"
	"errors"
	"log/slog"
	"os"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// errWrongPass is what Redis answers every call with a wrong password.
var errWrongPass = errors.New("WRONGPASS invalid username-password pair")

// scriptedStore is a Store whose every call runs fn, for outages a real
// Redis cannot be scripted into on a fake clock.
type scriptedStore struct {
	fn    func(ctx context.Context) error
	calls atomic.Int64 // calls counts the calls that reached the store.
}

func (s *scriptedStore) call(ctx context.Context) error {
	s.calls.Add(1)
	return s.fn(ctx)
}

func (s *scriptedStore) Get(ctx context.Context, _ string) (*Entry, error) {
	if err := s.call(ctx); err != nil {
		return nil, err
	}
	return nil, ErrMiss
}

func (s *scriptedStore) Fence(ctx context.Context) (Fence, error) { return Fence{}, s.call(ctx) }

func (s *scriptedStore) Set(ctx context.Context, _ string, _ *Entry, _ Fence) error {
	return s.call(ctx)
}

func (s *scriptedStore) Purge(ctx context.Context, _ ...string) error { return s.call(ctx) }

func (s *scriptedStore) Hold(ctx context.Context, _ time.Duration, _ ...string) error {
	return s.call(ctx)
}

// switchedStore returns a store that fails every call while down is set.
func switchedStore(down *atomic.Bool) *scriptedStore {
	return &scriptedStore{fn: func(context.Context) error {
		if down.Load() {
			return errWrongPass
		}
		return nil
	}}
}

// outages records a Guard's outage reports.
type outages struct {
	mu                      sync.Mutex // guards the slices
	starts, summaries, ends []Outage
}

func (o *outages) config(cfg GuardConfig) GuardConfig {
	add := func(to *[]Outage) func(Outage) {
		return func(x Outage) {
			o.mu.Lock()
			defer o.mu.Unlock()
			*to = append(*to, x)
		}
	}
	cfg.OnOutageStart = add(&o.starts)
	cfg.OnOutageSummary = add(&o.summaries)
	cfg.OnOutageEnd = add(&o.ends)
	return cfg
}

// counts returns how many starts, summaries and ends were reported.
func (o *outages) counts() (starts, summaries, ends int) {
	o.mu.Lock()
	defer o.mu.Unlock()
	return len(o.starts), len(o.summaries), len(o.ends)
}

func (o *outages) last(of *[]Outage) Outage {
	o.mu.Lock()
	defer o.mu.Unlock()
	return (*of)[len(*of)-1]
}

// sim drives a Guard on a fake clock: each step advances the clock, makes
// a few calls as traffic would, and runs the Guard's loop once.
type sim struct {
	t     *testing.T
	g     *Guard
	c     *clock
	s     *scriptedStore
	start time.Time
	// probes are the fake times, from start, at which calls reached
	// the store.
	probes []time.Duration
}

func (sm *sim) step(d time.Duration) {
	sm.t.Helper()
	sm.c.Add(d)
	ctx := context.Background()
	before := sm.s.calls.Load()
	_, _ = sm.g.Get(ctx, "k")
	_, _ = sm.g.Fence(ctx)
	_ = sm.g.Set(ctx, "k", &Entry{}, Fence{})
	_, _ = sm.g.Get(ctx, "k")
	sm.g.tick()
	if sm.s.calls.Load() != before {
		sm.probes = append(sm.probes, sm.c.Now().Sub(sm.start))
	}
}

// run steps until the clock is d past start.
func (sm *sim) run(d, step time.Duration) {
	sm.t.Helper()
	for sm.c.Now().Sub(sm.start) < d {
		sm.step(step)
	}
}

// newSim returns a sim of a Guard around a store that is down, with the
// breaker opened by a first failing call at the sim's start. The Guard's
// own loop ticks every OpenTimeout of real time: tests use hours, so that
// only the sim's ticks run.
func newSim(t *testing.T, down *atomic.Bool, cfg GuardConfig) *sim {
	t.Helper()
	c := &clock{now: time.Unix(1700000000, 0)}
	s := switchedStore(down)
	cfg.Failures = 1
	cfg.Clock = c.Now
	g := NewGuard(s, cfg)
	t.Cleanup(func() { g.Close() })
	down.Store(true)
	if _, err := g.Get(context.Background(), "k"); !errors.Is(err, ErrUnavailable) {
		t.Fatalf("Get with the store down: err = %v, want ErrUnavailable", err)
	}
	if got := g.State(); got != "open" {
		t.Fatalf("State() after a failure with Failures 1 = %q, want open", got)
	}
	return &sim{t: t, g: g, c: c, s: s, start: c.Now()}
}

func TestGuardBackoff(t *testing.T) {
	const h = time.Hour
	tests := []struct {
		desc      string
		open, max time.Duration
		run       time.Duration
		want      []time.Duration // want are the probe times.
	}{
		{
			desc: "doubles up to the cap",
			open: h, max: 16 * h, run: 70 * h,
			want: []time.Duration{1 * h, 3 * h, 7 * h, 15 * h, 31 * h, 47 * h, 63 * h},
		},
		{
			desc: "cap between doublings",
			open: h, max: 5 * h, run: 30 * h,
			want: []time.Duration{1 * h, 3 * h, 7 * h, 12 * h, 17 * h, 22 * h, 27 * h},
		},
		{
			desc: "cap below OpenTimeout means a fixed wait",
			open: 2 * h, max: h, run: 10 * h,
			want: []time.Duration{2 * h, 4 * h, 6 * h, 8 * h, 10 * h},
		},
	}
	for _, tt := range tests {
		t.Run(tt.desc, func(t *testing.T) {
			var down atomic.Bool
			sm := newSim(t, &down, GuardConfig{OpenTimeout: tt.open, MaxOpenTimeout: tt.max})
			sm.run(tt.run, 15*time.Minute)
			if !slices.Equal(sm.probes, tt.want) {
				t.Errorf("probes at %v, want %v", sm.probes, tt.want)
			}
			// One call opened the breaker; of the 5 per step, only the
			// probes reached the store.
			if got, want := sm.s.calls.Load(), int64(1+len(tt.want)); got != want {
				t.Errorf("store calls = %d over %v of outage, want %d", got, tt.run, want)
			}
		})
	}
}

func TestGuardDefaultMaxOpenTimeout(t *testing.T) {
	g := NewGuard(&scriptedStore{}, GuardConfig{})
	defer g.Close()
	if got, want := g.maxWait, 30*time.Second; got != want {
		t.Errorf("MaxOpenTimeout by default = %v, want %v", got, want)
	}
}

// TestGuardOutageReports checks that an outage is reported once when it
// starts, every SummaryInterval while it lasts, whatever the probes do,
// and once when it ends; that UnusableSince follows it; and that the
// next outage starts over from OpenTimeout.
func TestGuardOutageReports(t *testing.T) {
	const h = time.Hour
	var down atomic.Bool
	rep := &outages{}
	tr := &transitions{}
	cfg := rep.config(GuardConfig{OpenTimeout: h, MaxOpenTimeout: 8 * h, SummaryInterval: 10 * h, OnStateChange: tr.record})
	sm := newSim(t, &down, cfg)
	g := sm.g

	if starts, summaries, ends := rep.counts(); starts != 1 || summaries != 0 || ends != 0 {
		t.Fatalf("reports after the breaker opened: %d starts, %d summaries, %d ends; want 1, 0, 0", starts, summaries, ends)
	}
	start := rep.last(&rep.starts)
	if !start.Start.Equal(sm.start) || start.Duration != 0 || !errors.Is(start.Err, errWrongPass) || start.Backoff != h {
		t.Errorf("start reported %+v, want Start %v, no Duration, Err %v, Backoff %v", start, sm.start, errWrongPass, h)
	}
	if since, ok := g.UnusableSince(); !ok || !since.Equal(sm.start) {
		t.Errorf("UnusableSince() = %v, %t; want %v, true", since, ok, sm.start)
	}

	// Probes at 1h, 3h, 7h, 15h, 23h, 31h, 39h; summaries every 10h.
	sm.run(40*h, 15*time.Minute)
	starts, summaries, ends := rep.counts()
	if starts != 1 || summaries != 4 || ends != 0 {
		t.Errorf("reports after 40h down: %d starts, %d summaries, %d ends; want 1, 4, 0", starts, summaries, ends)
	}
	rep.mu.Lock()
	for i, s := range rep.summaries {
		if want := time.Duration(i+1) * 10 * h; s.Duration != want || !s.Start.Equal(sm.start) {
			t.Errorf("summary %d: Start %v, Duration %v; want %v, %v", i, s.Start, s.Duration, sm.start, want)
		}
	}
	rep.mu.Unlock()
	// By 10h: 40 steps of 4 calls, 3 of them probes.
	if first := rep.summaries[0]; first.Failed != 3 || first.Skipped != 40*4-3 || first.Backoff != 8*h {
		t.Errorf("first summary: Failed %d, Skipped %d, Backoff %v; want 3, %d, %v", first.Failed, first.Skipped, first.Backoff, 40*4-3, 8*h)
	}
	if since, ok := g.UnusableSince(); !ok || !since.Equal(sm.start) {
		t.Errorf("UnusableSince() after 40h down = %v, %t; want %v, true", since, ok, sm.start)
	}

	down.Store(false)
	sm.run(47*h, 15*time.Minute) // The probe at 47h succeeds.
	if starts, _, ends := rep.counts(); starts != 1 || ends != 1 {
		t.Errorf("reports after recovery: %d starts, %d ends; want 1, 1", starts, ends)
	}
	if end := rep.last(&rep.ends); end.Duration != 47*h || end.Failed != 7 {
		t.Errorf("end reported Duration %v, Failed %d; want %v, 7", end.Duration, end.Failed, 47*h)
	}
	if got := g.State(); got != "closed" {
		t.Errorf("State() after recovery = %q, want closed", got)
	}
	if since, ok := g.UnusableSince(); ok {
		t.Errorf("UnusableSince() after recovery = %v, true; want false", since)
	}
	sm.run(100*h, 15*time.Minute)
	if _, summaries, _ := rep.counts(); summaries != 4 {
		t.Errorf("%d summaries after recovery, want still 4", summaries)
	}

	// A new outage waits OpenTimeout again before its first probe.
	down.Store(true)
	sm.step(15 * time.Minute)
	restart := sm.c.Now()
	if starts, _, _ := rep.counts(); starts != 2 {
		t.Errorf("%d starts after the store failed again, want 2", starts)
	}
	sm.probes = nil
	sm.run(restart.Sub(sm.start)+3*h, 15*time.Minute)
	if want := []time.Duration{restart.Sub(sm.start) + h, restart.Sub(sm.start) + 3*h}; !slices.Equal(sm.probes, want) {
		t.Errorf("probes of the second outage at %v, want %v", sm.probes, want)
	}
	tr.assertChain(t, "open")
}

// TestGuardProbesWithoutTraffic: with no calls, as when a readiness check
// took the gateway out of service, the Guard's loop probes the store and
// closes the breaker once it is back.
func TestGuardProbesWithoutTraffic(t *testing.T) {
	var down atomic.Bool
	down.Store(true)
	rep := &outages{}
	g := NewGuard(switchedStore(&down), rep.config(GuardConfig{Failures: 1, OpenTimeout: 10 * time.Millisecond}))
	defer g.Close()
	if _, err := g.Get(context.Background(), "k"); !errors.Is(err, ErrUnavailable) {
		t.Fatalf("Get with the store down: err = %v, want ErrUnavailable", err)
	}
	down.Store(false)
	waitFor(t, "the breaker to close without calls", 5*time.Second, func() bool {
		_, ok := g.UnusableSince()
		return !ok
	})
	if starts, _, ends := rep.counts(); starts != 1 || ends != 1 {
		t.Errorf("reports: %d starts, %d ends; want 1, 1", starts, ends)
	}
	if got := g.State(); got != "closed" {
		t.Errorf("State() = %q, want closed", got)
	}
}

// TestGuardCallerCanceled checks that a call whose caller goes away says
// so (errors.Is context.Canceled, besides ErrUnavailable) and does not
// count against the store, whatever error the store returns for it.
func TestGuardCallerCanceled(t *testing.T) {
	stores := []struct {
		desc string
		err  func(ctx context.Context) error
	}{
		{"store returns ctx.Err()", func(ctx context.Context) error { return ctx.Err() }},
		{"store returns an i/o error", func(context.Context) error {
			return errors.New("read tcp 10.0.0.1:6379: use of closed network connection")
		}},
	}
	ops := []struct {
		desc string
		call func(g *Guard, ctx context.Context) error
	}{
		{"Get", func(g *Guard, ctx context.Context) error { _, err := g.Get(ctx, "k"); return err }},
		{"Fence", func(g *Guard, ctx context.Context) error { _, err := g.Fence(ctx); return err }},
		{"Set", func(g *Guard, ctx context.Context) error { return g.Set(ctx, "k", &Entry{}, Fence{}) }},
	}
	for _, st := range stores {
		for _, op := range ops {
			t.Run(st.desc+"/"+op.desc, func(t *testing.T) {
				var goAway context.CancelFunc
				// The client goes away while the store is working on
				// its call.
				s := &scriptedStore{fn: func(ctx context.Context) error {
					goAway()
					<-ctx.Done()
					return st.err(ctx)
				}}
				rep := &outages{}
				g := NewGuard(s, rep.config(GuardConfig{Failures: 1, OpenTimeout: time.Hour}))
				defer g.Close()
				for i := range 3 {
					ctx, cancel := context.WithCancel(context.Background())
					goAway = cancel
					err := op.call(g, ctx)
					cancel()
					if !errors.Is(err, context.Canceled) || !errors.Is(err, ErrUnavailable) {
						t.Fatalf("%s %d with the caller gone: err = %v, want context.Canceled and ErrUnavailable", op.desc, i, err)
					}
				}
				if got := s.calls.Load(); got != 3 {
					t.Errorf("store calls = %d, want 3: a canceled call must not open the breaker", got)
				}
				if got := g.State(); got != "closed" {
					t.Errorf("State() = %q, want closed", got)
				}
				if starts, _, _ := rep.counts(); starts != 0 {
					t.Errorf("%d outages reported, want none", starts)
				}
				if got := g.failed.Load(); got != 0 {
					t.Errorf("%d calls counted as failed, want none", got)
				}
			})
		}
	}
}

// ExampleOutage shows an outage as cmd/proxy might log it.
func ExampleOutage() {
	log := slog.New(slog.NewTextHandler(os.Stdout, &slog.HandlerOptions{
		ReplaceAttr: func(_ []string, a slog.Attr) slog.Attr {
			if a.Key == slog.TimeKey {
				return slog.Attr{}
			}
			return a
		},
	}))
	o := Outage{
		Start:    time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC),
		Duration: 2 * time.Minute,
		Err:      errWrongPass,
		Failed:   6,
		Skipped:  1200,
		Backoff:  30 * time.Second,
	}
	log.Warn("redis cache still unavailable", slog.Any("outage", o))
	// Output:
	// level=WARN msg="redis cache still unavailable" outage.since=2025-01-02T03:04:05.000Z outage.duration=2m0s outage.failed=6 outage.skipped=1200 outage.backoff=30s outage.error="WRONGPASS invalid username-password pair"
}
