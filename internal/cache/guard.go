package cache

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"sync"
	"sync/atomic"
	"time"

	"github.com/sony/gobreaker/v2"
	"golang.org/x/sync/singleflight"
)

// ErrUnavailable is returned by a Guard when the store behind it failed,
// timed out, or is not being asked because it failed recently. The gateway
// then goes to the upstream as on a miss, and does not fill.
var ErrUnavailable = errors.New("cache unavailable")

// GuardConfig configures a Guard. The zero value is usable.
type GuardConfig struct {
	// Timeout bounds each call to the store, on top of the caller's
	// context; zero means 150ms.
	Timeout time.Duration
	// Failures is how many consecutive failures open the breaker; zero
	// means 3.
	Failures int
	// OpenTimeout is how long the breaker stays open before letting one
	// call probe the store, the first time; zero means 1s. It is also the
	// period of the Guard's own loop, which retries pending purges and
	// probes the store when no call does.
	OpenTimeout time.Duration
	// MaxOpenTimeout caps the wait between probes: each probe that fails
	// doubles it, from OpenTimeout, until a probe succeeds. Zero means
	// 30s, so that a store that stays down (a wrong password) costs a
	// probe every 30s, and one that comes back is used again within 30s;
	// a value below OpenTimeout means OpenTimeout, a fixed wait.
	MaxOpenTimeout time.Duration
	// OnStateChange, if not nil, is called once per breaker state change
	// with the states' names ("closed", "open", "half-open"). While the
	// store stays down the breaker goes from open to half-open and back
	// at every probe, so this suits a gauge; OnOutageStart and
	// OnOutageEnd suit a log. It runs while the breaker is locked, so it
	// must be quick and must not call the Guard.
	OnStateChange func(from, to string)
	// OnOutageStart, if not nil, is called when the breaker opens from
	// closed: once per outage, whatever the probes that follow. It runs
	// while the breaker is locked, so it must be quick and must not call
	// the Guard.
	OnOutageStart func(Outage)
	// OnOutageSummary, if not nil, is called every SummaryInterval while
	// an outage lasts, from the Guard's loop, so up to OpenTimeout late.
	// It must not call the Guard.
	OnOutageSummary func(Outage)
	// OnOutageEnd, if not nil, is called once when a probe succeeds and
	// the breaker closes, ending the outage. It runs while the breaker is
	// locked, so it must be quick and must not call the Guard.
	OnOutageEnd func(Outage)
	// OnCall, if not nil, is called after each call that reached the store
	// with its operation (get, fence, set, purge, claim), its duration, and
	// whether it failed. It must be quick.
	OnCall func(op string, d time.Duration, failed bool)
	// SummaryInterval is the period of OnOutageSummary, counted from the
	// outage's start; zero means 1 minute.
	SummaryInterval time.Duration
	// Clock tells the time for the wait between probes, outages and holds;
	// nil means time.Now. It is for tests: the breaker (gobreaker) reads
	// time.Now itself, so with a Clock set its own open timer is cut to
	// nothing and the Guard's wait on Clock alone keeps calls off the
	// store. Without one, gobreaker's timer is a floor of OpenTimeout
	// under the Guard's wait, which stops a call that passed the Guard's
	// check just before the breaker opened from probing at once.
	Clock func() time.Time
}

// Outage describes a time the store behind a Guard is or was unusable:
// from the breaker opening after Failures consecutive failures until a
// probe closes it again.
type Outage struct {
	// Start is when the breaker opened.
	Start time.Time
	// Duration is how long the store has been unusable at the report:
	// zero at the start, the whole outage at its end.
	Duration time.Duration
	// Err is the latest failure before the breaker opened.
	Err error
	// Failed counts the calls that reached the store since Start and
	// failed: the probes, and calls under way when the breaker opened.
	Failed int64
	// Skipped counts the calls answered ErrUnavailable since Start
	// without reaching the store.
	Skipped int64
	// Backoff is the wait before the next probe at the report.
	Backoff time.Duration
}

// LogValue reports o as a group of attributes, for slog.
func (o Outage) LogValue() slog.Value {
	attrs := []slog.Attr{
		slog.Time("since", o.Start),
		slog.Duration("duration", o.Duration),
		slog.Int64("failed", o.Failed),
		slog.Int64("skipped", o.Skipped),
		slog.Duration("backoff", o.Backoff),
	}
	if o.Err != nil {
		attrs = append(attrs, slog.String("error", o.Err.Error()))
	}
	return slog.GroupValue(attrs...)
}

// Guard makes a remote Store fail open: each call is bounded by a timeout,
// and after repeated failures a circuit breaker answers ErrUnavailable at
// once, without touching the network, until a probe succeeds. The wait
// before each probe doubles while probes fail, up to MaxOpenTimeout, so
// that a store that stays down is not asked every second for ever.
//
// A Purge that fails is remembered and retried, before any other call and
// from a background loop, until it succeeds. While a purge is pending, Get,
// Set and Fence return ErrUnavailable: the store may still hold entries
// the purge must delete, and a fill could not be fenced against it. The
// pending set lives in this process only; other replicas that reach the
// store meanwhile may serve those entries until the retry succeeds or they
// expire.
type Guard struct {
	inner   Store
	timeout time.Duration
	retry   time.Duration
	maxWait time.Duration
	every   time.Duration // every is the period of outage summaries.
	now     func() time.Time
	breaker *gobreaker.CircuitBreaker[struct{}]
	flights singleflight.Group // flights joins concurrent retries of pending purges.

	onStart, onSummary, onEnd func(Outage)
	onStateChange             func(from, to string)
	onCall                    func(op string, d time.Duration, failed bool)

	// probeAt is when the Guard next lets a call through to the breaker,
	// which makes it the probe; nil while the breaker is closed. Calls
	// before it get ErrUnavailable without asking the breaker, because
	// gobreaker's own open timeout is fixed. An atomic, so that a call
	// with the breaker closed pays one load and takes no lock.
	probeAt atomic.Pointer[time.Time]
	// state is the breaker's state as of its last change. Asking the
	// breaker instead would let it go half-open when its own timer ends,
	// before the Guard's wait does.
	state atomic.Int32
	// lastErr is the latest failure of a call to the store, reported as
	// the cause of the outage it starts.
	lastErr atomic.Pointer[error]
	// failed and skipped count, for ever, the calls that reached the
	// store and failed, and those answered without reaching it.
	failed, skipped atomic.Int64

	// omu guards outage. It is taken while the breaker is locked, never
	// the other way round, and held while outage callbacks run, so that
	// no summary is reported after the end of its outage.
	omu    sync.Mutex
	outage outageState

	// mu guards pending and seq.
	mu sync.Mutex
	// pending maps each tag whose purge or hold failed to the seq of its
	// latest failure, so that a retry that started before a newer failure
	// of the same tag does not clear it, and to the end of its hold, if any.
	pending map[string]pendingPurge
	seq     uint64

	stop      chan struct{} // stop is closed by Close.
	done      chan struct{} // done is closed when the retry loop returns.
	closeOnce sync.Once
}

// outageState is the Guard's record of the current outage; its zero value
// means the breaker is closed.
type outageState struct {
	start           time.Time
	err             error
	failed, skipped int64         // failed and skipped are the Guard's totals at start.
	wait            time.Duration // wait is the current wait between probes.
	nextSummary     time.Time
}

var _ Store = (*Guard)(nil)

// NewGuard returns a Guard around inner and starts its loop, which runs
// until Close.
func NewGuard(inner Store, cfg GuardConfig) *Guard {
	if inner == nil {
		panic("cache: NewGuard with a nil Store")
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = 150 * time.Millisecond
	}
	if cfg.Failures <= 0 {
		cfg.Failures = 3
	}
	if cfg.OpenTimeout <= 0 {
		cfg.OpenTimeout = time.Second
	}
	if cfg.MaxOpenTimeout == 0 {
		cfg.MaxOpenTimeout = 30 * time.Second
	}
	cfg.MaxOpenTimeout = max(cfg.MaxOpenTimeout, cfg.OpenTimeout)
	if cfg.SummaryInterval <= 0 {
		cfg.SummaryInterval = time.Minute
	}
	breakerTimeout := cfg.OpenTimeout
	if cfg.Clock == nil {
		cfg.Clock = time.Now
	} else {
		breakerTimeout = time.Nanosecond // See GuardConfig.Clock.
	}
	g := &Guard{
		inner:         inner,
		timeout:       cfg.Timeout,
		retry:         cfg.OpenTimeout,
		maxWait:       cfg.MaxOpenTimeout,
		every:         cfg.SummaryInterval,
		now:           cfg.Clock,
		onStart:       cfg.OnOutageStart,
		onSummary:     cfg.OnOutageSummary,
		onEnd:         cfg.OnOutageEnd,
		onStateChange: cfg.OnStateChange,
		onCall:        cfg.OnCall,
		pending:       map[string]pendingPurge{},
		stop:          make(chan struct{}),
		done:          make(chan struct{}),
	}
	failures := uint32(cfg.Failures)
	g.breaker = gobreaker.NewCircuitBreaker[struct{}](gobreaker.Settings{
		Name:    "cache",
		Timeout: breakerTimeout,
		ReadyToTrip: func(c gobreaker.Counts) bool {
			return c.ConsecutiveFailures >= failures
		},
		IsSuccessful: isSuccessful,
		// A caller that went away says nothing about the store.
		IsExcluded:    func(err error) bool { return errors.Is(err, context.Canceled) },
		OnStateChange: func(_ string, from, to gobreaker.State) { g.changed(from, to) },
	})
	go g.retryLoop()
	return g
}

// isSuccessful reports whether err, from the store, shows it working.
func isSuccessful(err error) bool {
	return err == nil || errors.Is(err, ErrMiss) || errors.Is(err, ErrFenced) || errors.Is(err, ErrHeld)
}

// State returns the breaker's state: "closed", "open" or "half-open".
func (g *Guard) State() string { return gobreaker.State(g.state.Load()).String() }

// UnusableSince reports since when the store has been unusable, that is
// since the breaker opened, and whether it still is; while it is, the
// gateway serves every request from the upstream. A caller may take a
// gateway out of service when this lasts too long: the Guard's loop keeps
// probing the store without traffic, so it can come back.
func (g *Guard) UnusableSince() (time.Time, bool) {
	g.omu.Lock()
	defer g.omu.Unlock()
	return g.outage.start, !g.outage.start.IsZero()
}

// localGetter is a store that holds some entries in memory, such as Near,
// and returns them without I/O.
type localGetter interface {
	getLocal(key string) (*Entry, bool)
}

// Get returns the inner store's entry, ErrMiss, or ErrUnavailable.
func (g *Guard) Get(ctx context.Context, key string) (*Entry, error) {
	if err := g.flush(ctx); err != nil {
		return nil, err
	}
	// An entry in memory needs neither the timeout nor the breaker, which
	// cost more than the lookup (issue #11); nor does it say anything of
	// the remote store's health, so it must not count as a success that
	// resets the breaker's count of failures. Only a closed breaker lets
	// it through, so that an open or probing one answers as it did.
	if l, ok := g.inner.(localGetter); ok && g.probeAt.Load() == nil {
		if e, ok := l.getLocal(key); ok {
			return e, nil
		}
	}
	var e *Entry
	err := g.do(ctx, "get", func(ctx context.Context) error {
		var err error
		e, err = g.inner.Get(ctx, key)
		return err
	})
	if err != nil {
		return nil, err
	}
	return e, nil
}

// Fence returns the inner store's fence, or ErrUnavailable.
func (g *Guard) Fence(ctx context.Context) (Fence, error) {
	if err := g.flush(ctx); err != nil {
		return Fence{}, err
	}
	var f Fence
	err := g.do(ctx, "fence", func(ctx context.Context) error {
		var err error
		f, err = g.inner.Fence(ctx)
		return err
	})
	return f, err
}

// Set stores e in the inner store, or returns ErrFenced or ErrUnavailable.
func (g *Guard) Set(ctx context.Context, key string, e *Entry, f Fence) error {
	if err := g.flush(ctx); err != nil {
		return err
	}
	return g.do(ctx, "set", func(ctx context.Context) error { return g.inner.Set(ctx, key, e, f) })
}

// Purge purges tags, together with any pending purges, in the inner store,
// whatever the breaker's state. If that fails it returns ErrUnavailable and
// remembers the tags, which are purged before the Guard serves or stores
// anything again.
func (g *Guard) Purge(ctx context.Context, tags ...string) error {
	return g.Hold(ctx, 0, tags...)
}

// Hold is Purge with a hold of d on tags (see Store.Hold). A hold that
// fails is remembered with its end and retried for what remains of it.
func (g *Guard) Hold(ctx context.Context, d time.Duration, tags ...string) error {
	if len(tags) == 0 {
		return nil
	}
	g.mu.Lock()
	pending := maps.Clone(g.pending)
	g.mu.Unlock()
	// A purge goes to the store even while the breaker is open or probing:
	// writes to QR codes are rare, and one that reaches the store now is
	// seen by every replica at once, while one left pending is seen only by
	// this one. The timeout still bounds it.
	ctx, cancel := context.WithTimeout(ctx, g.timeout)
	defer cancel()
	start := time.Now()
	err := g.replay(ctx, pending, d, tags...)
	g.observeCall(ctx, "purge", start, err)
	if err != nil {
		g.remember(tags, d)
		return fmt.Errorf("%w: %w", ErrUnavailable, err)
	}
	g.forget(pending)
	return nil
}

// Claim claims key in the inner store, within the Guard's timeout and
// through its breaker: while the store is unusable it returns
// ErrUnavailable at once. Pending purges do not stop it, since a claim
// reads no entry. The inner store must be a Claimer.
func (g *Guard) Claim(ctx context.Context, key string, ttl time.Duration) (bool, error) {
	if err := checkClaimTTL(ttl); err != nil {
		return false, err // not the store's failure: the breaker must not count it
	}
	c, err := g.claimer()
	if err != nil {
		return false, err
	}
	var ok bool
	err = g.do(ctx, "claim", func(ctx context.Context) error {
		var err error
		ok, err = c.Claim(ctx, key, ttl)
		return err
	})
	return ok, err
}

// Claimed reports whether key is claimed in the inner store, as Claim
// asks it.
func (g *Guard) Claimed(ctx context.Context, key string) (bool, error) {
	c, err := g.claimer()
	if err != nil {
		return false, err
	}
	var ok bool
	err = g.do(ctx, "claim", func(ctx context.Context) error {
		var err error
		ok, err = c.Claimed(ctx, key)
		return err
	})
	return ok, err
}

// claimer returns the inner store as a Claimer.
func (g *Guard) claimer() (Claimer, error) {
	c, ok := g.inner.(Claimer)
	if !ok {
		return nil, fmt.Errorf("claiming with a %T: %w", g.inner, errors.ErrUnsupported)
	}
	return c, nil
}

// pendingPurge is a purge that failed, waiting to be retried.
type pendingPurge struct {
	seq   uint64
	until time.Time // until is the end of its hold; zero for a plain purge.
}

// replay applies pending purges and then a new purge of tags held for d
// (none if d is zero) to the inner store: plain purges together as one
// Purge, pending holds as one Hold for the longest that remains, and the
// new hold as its own.
func (g *Guard) replay(ctx context.Context, pending map[string]pendingPurge, d time.Duration, tags ...string) error {
	var plain, held []string
	var hold time.Duration
	now := g.now()
	for t, p := range pending {
		if rest := p.until.Sub(now); rest > 0 {
			held = append(held, t)
			hold = max(hold, rest)
		} else {
			plain = append(plain, t)
		}
	}
	if d <= 0 {
		plain = append(plain, tags...)
	}
	if len(plain) > 0 {
		if err := g.inner.Purge(ctx, plain...); err != nil {
			return err
		}
	}
	if len(held) > 0 {
		if err := g.inner.Hold(ctx, hold, held...); err != nil {
			return err
		}
	}
	if d > 0 && len(tags) > 0 {
		return g.inner.Hold(ctx, d, tags...)
	}
	return nil
}

// Close stops the Guard's loop. Pending purges are abandoned.
func (g *Guard) Close() error {
	g.closeOnce.Do(func() {
		close(g.stop)
		<-g.done
	})
	return nil
}

// do runs op through the breaker with the Guard's timeout, unless the
// breaker is open and its next probe is not due. The inner store must
// honour its context's deadline, as go-redis does with
// ContextTimeoutEnabled (cmd/proxy sets it): the Guard calls it directly,
// so that a closed breaker costs no goroutine, allocation or lock per call.
func (g *Guard) do(ctx context.Context, name string, op func(context.Context) error) error {
	if at := g.probeAt.Load(); at != nil && g.now().Before(*at) {
		g.skipped.Add(1)
		return ErrUnavailable
	}
	_, err := g.breaker.Execute(func() (struct{}, error) {
		opCtx, cancel := context.WithTimeout(ctx, g.timeout)
		defer cancel()
		start := time.Now()
		err := op(opCtx)
		g.observeCall(ctx, name, start, err)
		if err != nil {
			return struct{}{}, g.failure(ctx, err)
		}
		return struct{}{}, nil
	})
	switch {
	case isSuccessful(err), errors.Is(err, ErrUnavailable):
		return err
	case errors.Is(err, gobreaker.ErrOpenState), errors.Is(err, gobreaker.ErrTooManyRequests):
		g.skipped.Add(1)
		return ErrUnavailable
	default:
		// The caller's context.Canceled stays visible, so that the proxy
		// can tell a client that went away from a store that failed.
		return fmt.Errorf("%w: %w", ErrUnavailable, err)
	}
}

// observeCall reports a call that reached the store to OnCall: its
// duration, and whether it failed (not a miss, a fence, a hold, nor a call
// its caller gave up on).
func (g *Guard) observeCall(ctx context.Context, name string, start time.Time, err error) {
	if g.onCall != nil {
		g.onCall(name, time.Since(start), err != nil && !isSuccessful(err) && ctx.Err() == nil)
	}
}

// failure notes err, returned by the store for a call on ctx, before the
// breaker counts it, and returns it as the breaker must see it.
func (g *Guard) failure(ctx context.Context, err error) error {
	switch {
	case isSuccessful(err):
		return err
	case ctx.Err() != nil:
		// The caller went away, or its own deadline passed (a fill near
		// the end of its upstream timeout), during the call. The store may
		// report that as some other error (a read cut short), which must
		// not count against it: the breaker excludes context.Canceled.
		if !errors.Is(err, context.Canceled) {
			err = fmt.Errorf("%w: %w", context.Canceled, err)
		}
		return err
	}
	g.failed.Add(1)
	e := err // e, not err, escapes, so that only failures allocate.
	g.lastErr.Store(&e)
	return err
}

// changed follows the breaker from one state to the next: it times the
// next probe, and reports an outage's start and end. gobreaker calls it
// with the breaker locked.
func (g *Guard) changed(from, to gobreaker.State) {
	g.state.Store(int32(to))
	now := g.now()
	g.omu.Lock()
	switch {
	case from == gobreaker.StateClosed: // Failures consecutive failures.
		g.outage = outageState{
			start:       now,
			failed:      g.failed.Load(),
			skipped:     g.skipped.Load(),
			wait:        g.retry,
			nextSummary: now.Add(g.every),
		}
		if err := g.lastErr.Load(); err != nil {
			g.outage.err = *err
		}
		g.probeAt.Store(new(now.Add(g.outage.wait)))
		if g.onStart != nil {
			g.onStart(g.report(now))
		}
	case to == gobreaker.StateOpen: // A probe failed.
		if g.outage.wait > g.maxWait/2 {
			g.outage.wait = g.maxWait
		} else {
			g.outage.wait = min(2*g.outage.wait, g.maxWait)
		}
		g.probeAt.Store(new(now.Add(g.outage.wait)))
	case to == gobreaker.StateClosed: // A probe succeeded.
		g.probeAt.Store(nil)
		if g.onEnd != nil {
			g.onEnd(g.report(now))
		}
		g.outage = outageState{}
	}
	g.omu.Unlock()
	if g.onStateChange != nil {
		g.onStateChange(from.String(), to.String())
	}
}

// report describes the current outage as of now. g.omu must be held.
func (g *Guard) report(now time.Time) Outage {
	return Outage{
		Start:    g.outage.start,
		Duration: now.Sub(g.outage.start),
		Err:      g.outage.err,
		Failed:   g.failed.Load() - g.outage.failed,
		Skipped:  g.skipped.Load() - g.outage.skipped,
		Backoff:  g.outage.wait,
	}
}

// summarize reports the current outage, if any, when a summary is due.
func (g *Guard) summarize() {
	now := g.now()
	g.omu.Lock()
	defer g.omu.Unlock()
	o := &g.outage
	if o.start.IsZero() || now.Before(o.nextSummary) {
		return
	}
	// Summaries keep their cadence from the start; those a stalled loop
	// missed are not made up for.
	o.nextSummary = o.nextSummary.Add((now.Sub(o.nextSummary)/g.every + 1) * g.every)
	if g.onSummary != nil {
		g.onSummary(g.report(now))
	}
}

// flush retries the pending purges, if any, and returns ErrUnavailable
// unless none remain. Concurrent callers share one retry.
func (g *Guard) flush(ctx context.Context) error {
	g.mu.Lock()
	n := len(g.pending)
	g.mu.Unlock()
	if n == 0 {
		return nil
	}
	_, err, _ := g.flights.Do("", func() (any, error) {
		g.mu.Lock()
		pending := maps.Clone(g.pending)
		g.mu.Unlock()
		if len(pending) == 0 {
			return nil, nil
		}
		// The retry serves every waiter, so one caller's cancellation
		// must not end it; the Guard's timeout still bounds it.
		ctx := context.WithoutCancel(ctx)
		if err := g.do(ctx, "purge", func(ctx context.Context) error { return g.replay(ctx, pending, 0) }); err != nil {
			return nil, err
		}
		g.forget(pending)
		return nil, nil
	})
	if err != nil {
		return fmt.Errorf("retrying pending purge: %w", err)
	}
	return nil
}

// remember adds tags to the pending purges, held for d if d > 0. A tag
// already pending keeps the later of its two hold ends.
func (g *Guard) remember(tags []string, d time.Duration) {
	var until time.Time
	if d > 0 {
		until = g.now().Add(d)
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	g.seq++
	for _, t := range tags {
		p := pendingPurge{seq: g.seq, until: until}
		if old := g.pending[t]; old.until.After(until) {
			p.until = old.until
		}
		g.pending[t] = p
	}
}

// forget removes the purged tags from the pending set, unless a purge of
// the same tag failed again since the snapshot was taken.
func (g *Guard) forget(purged map[string]pendingPurge) {
	g.mu.Lock()
	defer g.mu.Unlock()
	for t, p := range purged {
		if g.pending[t].seq == p.seq {
			delete(g.pending, t)
		}
	}
}

// retryLoop runs tick every OpenTimeout until Close.
func (g *Guard) retryLoop() {
	defer close(g.done)
	t := time.NewTicker(g.retry)
	defer t.Stop()
	for {
		select {
		case <-g.stop:
			return
		case <-t.C:
			g.tick()
		}
	}
}

// tick retries pending purges, probes the store if a probe is due, and
// reports on a continuing outage. The probe matters when no call comes to
// make it: a gateway taken out of service because its store is unusable
// (see UnusableSince) gets no traffic, and would otherwise never see the
// store come back.
func (g *Guard) tick() {
	ctx := context.Background()
	if err := g.flush(ctx); err == nil {
		if at := g.probeAt.Load(); at != nil && !g.now().Before(*at) {
			_ = g.do(ctx, "fence", func(ctx context.Context) error {
				_, err := g.inner.Fence(ctx)
				return err
			})
		}
	}
	g.summarize()
}
