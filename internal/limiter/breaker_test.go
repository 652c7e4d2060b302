package limiter_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/rzpgate/rzpgate/internal/limiter"
)

// Upstream modes: how the fake Razorpay answers.
const (
	answer200   = "200"
	answer500   = "500"
	answer400   = "400"
	answer429   = "429"
	hang        = "hang"        // Answers nothing until the client gives up.
	resetInBody = "resetInBody" // Sends the headers and part of the body, then drops the connection.
	hangInBody  = "hangInBody"  // Sends the headers and part of the body, then waits for the client to give up.
	wait200     = "wait200"     // Answers 200 once release is closed.
)

// upstream is a fake Razorpay whose answers a test switches.
type upstream struct {
	*httptest.Server
	mode    atomic.Value  // mode is one of the modes above.
	hits    atomic.Int64  // hits counts the requests that reached it.
	release chan struct{} // release lets wait200 requests answer.
}

func newUpstream(t *testing.T, mode string) *upstream {
	t.Helper()
	u := &upstream{release: make(chan struct{})}
	u.mode.Store(mode)
	u.Server = httptest.NewServer(http.HandlerFunc(u.serve))
	t.Cleanup(u.Close)
	return u
}

func (u *upstream) set(mode string) { u.mode.Store(mode) }

func (u *upstream) serve(w http.ResponseWriter, r *http.Request) {
	u.hits.Add(1)
	switch mode := u.mode.Load().(string); mode {
	case answer200, answer500, answer400, answer429:
		code := map[string]int{answer200: 200, answer500: 500, answer400: 400, answer429: 429}[mode]
		w.WriteHeader(code)
		_, _ = io.WriteString(w, `{"ok":true}`)
	case hang:
		select {
		case <-r.Context().Done():
		case <-time.After(10 * time.Second):
		}
	case resetInBody, hangInBody:
		w.Header().Set("Content-Length", "1000")
		w.WriteHeader(http.StatusOK)
		_, _ = w.Write(make([]byte, 10))
		w.(http.Flusher).Flush()
		if mode == resetInBody {
			panic(http.ErrAbortHandler) // Drops the connection.
		}
		select {
		case <-r.Context().Done():
		case <-time.After(10 * time.Second):
		}
	case wait200:
		<-u.release
		_, _ = io.WriteString(w, `{"ok":true}`)
	}
}

// groupKey is the context key of the route group in these tests.
type groupKey struct{}

func groupOf(r *http.Request) string {
	g, _ := r.Context().Value(groupKey{}).(string)
	return g
}

// gateway is the client side: the breakers' transport in front of a real
// http.Transport.
type gateway struct {
	*limiter.Breakers
	client *http.Client
	mu     sync.Mutex // guards changes
	// changes records state changes as "group: from->to".
	changes []string
}

func newGateway(t *testing.T, groups []string, cfg limiter.BreakerConfig) *gateway {
	t.Helper()
	g := &gateway{}
	cfg.OnStateChange = func(group, from, to string) {
		g.mu.Lock()
		defer g.mu.Unlock()
		g.changes = append(g.changes, fmt.Sprintf("%s: %s->%s", group, from, to))
	}
	var err error
	g.Breakers, err = limiter.NewBreakers(groups, cfg)
	if err != nil {
		t.Fatalf("NewBreakers: %v", err)
	}
	tr := http.DefaultTransport.(*http.Transport).Clone()
	t.Cleanup(tr.CloseIdleConnections)
	g.client = &http.Client{Transport: g.Transport(tr, groupOf)}
	return g
}

// do sends a request of group to u, reads the whole body, and returns the
// status and the first error, if any. timeout, if not zero, bounds the
// request; cancelAfter, if not zero, cancels it.
func (g *gateway) do(u *upstream, group string, timeout, cancelAfter time.Duration) (int, error) {
	ctx := context.WithValue(context.Background(), groupKey{}, group)
	if timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, timeout)
		defer cancel()
	}
	if cancelAfter > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithCancel(ctx)
		defer cancel()
		time.AfterFunc(cancelAfter, cancel)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.URL, nil)
	if err != nil {
		return 0, err
	}
	resp, err := g.client.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	_, err = io.ReadAll(resp.Body)
	return resp.StatusCode, err
}

func (g *gateway) sawChange(change string) bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	for _, c := range g.changes {
		if c == change {
			return true
		}
	}
	return false
}

func TestBreakerOpens(t *testing.T) {
	tests := []struct {
		desc    string
		cfg     limiter.BreakerConfig
		modes   []string // modes are the upstream's answers, in turn.
		timeout time.Duration
		trips   int // trips is how many requests open the breaker.
	}{
		{desc: "consecutive 500s", cfg: limiter.BreakerConfig{}, modes: []string{answer500}, trips: 5},
		{desc: "failure ratio", cfg: limiter.BreakerConfig{FailureRatio: 0.5, MinRequests: 10}, modes: []string{answer200, answer500}, trips: 10},
		{desc: "timeouts", cfg: limiter.BreakerConfig{ConsecutiveFailures: 3}, modes: []string{hang}, timeout: 50 * time.Millisecond, trips: 3},
		{desc: "connection reset in body", cfg: limiter.BreakerConfig{ConsecutiveFailures: 3}, modes: []string{resetInBody}, trips: 3},
		{desc: "timeout in body", cfg: limiter.BreakerConfig{ConsecutiveFailures: 3}, modes: []string{hangInBody}, timeout: 50 * time.Millisecond, trips: 3},
	}
	for _, tt := range tests {
		t.Run(tt.desc, func(t *testing.T) {
			u := newUpstream(t, tt.modes[0])
			g := newGateway(t, []string{"payments"}, tt.cfg)
			for i := range tt.trips {
				if got := g.State("payments"); got != "closed" {
					t.Fatalf("after %d requests: state %q, want closed", i, got)
				}
				u.set(tt.modes[i%len(tt.modes)])
				_, err := g.do(u, "payments", tt.timeout, 0)
				if errors.Is(err, limiter.ErrOpen) {
					t.Fatalf("request %d: %v, want it sent", i, err)
				}
			}
			if got := g.State("payments"); got != "open" {
				t.Fatalf("after %d requests: state %q, want open", tt.trips, got)
			}
			if !g.sawChange("payments: closed->open") {
				t.Errorf("state changes %v, want payments: closed->open", g.changes)
			}
			hits := u.hits.Load()
			if _, err := g.do(u, "payments", tt.timeout, 0); !errors.Is(err, limiter.ErrOpen) {
				t.Errorf("request with the breaker open: %v, want ErrOpen", err)
			}
			if got := u.hits.Load(); got != hits {
				t.Errorf("request with the breaker open reached the upstream")
			}
		})
	}
}

func TestBreakerIgnores(t *testing.T) {
	tests := []struct {
		desc        string
		mode        string
		cancelAfter time.Duration
	}{
		{desc: "400", mode: answer400},
		{desc: "429", mode: answer429},
		{desc: "cancelled before the answer", mode: hang, cancelAfter: 20 * time.Millisecond},
		{desc: "cancelled in the body", mode: hangInBody, cancelAfter: 20 * time.Millisecond},
	}
	for _, tt := range tests {
		t.Run(tt.desc, func(t *testing.T) {
			u := newUpstream(t, tt.mode)
			g := newGateway(t, []string{"payments"}, limiter.BreakerConfig{FailureRatio: 0.1, MinRequests: 2, ConsecutiveFailures: 2})
			for i := range 10 {
				_, err := g.do(u, "payments", 0, tt.cancelAfter)
				if errors.Is(err, limiter.ErrOpen) {
					t.Fatalf("request %d: %v, want it sent", i, err)
				}
			}
			if got := g.State("payments"); got != "closed" {
				t.Errorf("after 10 requests: state %q, want closed", got)
			}
		})
	}
}

func TestBreakerHalfOpen(t *testing.T) {
	const openTimeout = 100 * time.Millisecond
	u := newUpstream(t, answer500)
	g := newGateway(t, []string{"payments"}, limiter.BreakerConfig{ConsecutiveFailures: 3, OpenTimeout: openTimeout})
	trip := func() {
		t.Helper()
		for range 3 {
			_, _ = g.do(u, "payments", 0, 0)
		}
		if got := g.State("payments"); got != "open" {
			t.Fatalf("after 3 500s: state %q, want open", got)
		}
	}
	trip()

	// While open, nothing reaches the upstream, and a request's body is
	// closed all the same.
	hits := u.hits.Load()
	body := &closeRecorder{Reader: strings.NewReader("{}")}
	req, _ := http.NewRequestWithContext(context.WithValue(context.Background(), groupKey{}, "payments"), http.MethodPost, u.URL, body)
	if _, err := g.client.Do(req); !errors.Is(err, limiter.ErrOpen) {
		t.Errorf("POST with the breaker open: %v, want ErrOpen", err)
	}
	if !body.closed.Load() {
		t.Errorf("POST with the breaker open: request body not closed")
	}
	for range 20 {
		_, _ = g.do(u, "payments", 0, 0)
	}
	if got := u.hits.Load(); got != hits {
		t.Errorf("21 requests with the breaker open: %d reached the upstream, want 0", got-hits)
	}
	if d := g.RetryAfter("payments"); d <= 0 || d > openTimeout {
		t.Errorf("RetryAfter while open = %v, want in (0, %v]", d, openTimeout)
	}

	// A failed probe opens it again.
	time.Sleep(openTimeout + 20*time.Millisecond)
	if d := g.RetryAfter("payments"); d != 0 {
		t.Errorf("RetryAfter after the open timeout = %v, want 0", d)
	}
	if _, err := g.do(u, "payments", 0, 0); errors.Is(err, limiter.ErrOpen) {
		t.Fatalf("probe: %v, want it sent", err)
	}
	if got := g.State("payments"); got != "open" {
		t.Fatalf("after a failed probe: state %q, want open", got)
	}

	// One probe at a time: the others are refused while it is under way.
	time.Sleep(openTimeout + 20*time.Millisecond)
	u.set(wait200)
	hits = u.hits.Load()
	probe := make(chan error, 1)
	go func() {
		_, err := g.do(u, "payments", 0, 0)
		probe <- err
	}()
	for u.hits.Load() == hits {
		time.Sleep(time.Millisecond)
	}
	for range 10 {
		if _, err := g.do(u, "payments", 0, 0); !errors.Is(err, limiter.ErrOpen) {
			t.Errorf("request during the probe: %v, want ErrOpen", err)
		}
	}
	if got := u.hits.Load(); got != hits+1 {
		t.Errorf("during the probe %d requests reached the upstream, want 1", got-hits)
	}
	if got, d := g.State("payments"), g.RetryAfter("payments"); got != "half-open" || d != openTimeout {
		t.Errorf("during the probe: state %q, RetryAfter %v; want half-open, %v", got, d, openTimeout)
	}

	// The upstream has recovered: the probe succeeds and closes it.
	close(u.release)
	if err := <-probe; err != nil {
		t.Fatalf("probe: %v", err)
	}
	if got := g.State("payments"); got != "closed" {
		t.Errorf("after a successful probe: state %q, want closed", got)
	}
	if _, err := g.do(u, "payments", 0, 0); err != nil {
		t.Errorf("request after recovery: %v", err)
	}
}

// closeRecorder is a request body that records being closed.
type closeRecorder struct {
	io.Reader
	closed atomic.Bool
}

func (c *closeRecorder) Close() error { c.closed.Store(true); return nil }

func TestBreakerProbeBodyClosedUnread(t *testing.T) {
	u := newUpstream(t, answer500)
	g := newGateway(t, []string{"payments"}, limiter.BreakerConfig{ConsecutiveFailures: 1, OpenTimeout: 50 * time.Millisecond})
	_, _ = g.do(u, "payments", 0, 0)
	time.Sleep(70 * time.Millisecond)
	u.set(answer200)
	req, _ := http.NewRequestWithContext(context.WithValue(context.Background(), groupKey{}, "payments"), http.MethodGet, u.URL, nil)
	resp, err := g.client.Do(req)
	if err != nil {
		t.Fatalf("probe: %v", err)
	}
	if got := g.State("payments"); got != "half-open" {
		t.Errorf("probe's body not yet read: state %q, want half-open", got)
	}
	resp.Body.Close()
	if got := g.State("payments"); got != "closed" {
		t.Errorf("probe's body closed: state %q, want closed", got)
	}
}

func TestBreakerGroupsIndependent(t *testing.T) {
	u := newUpstream(t, answer500)
	g := newGateway(t, []string{"payments", "qr"}, limiter.BreakerConfig{ConsecutiveFailures: 2})
	for range 2 {
		_, _ = g.do(u, "payments", 0, 0)
	}
	u.set(answer200)
	tests := []struct {
		desc      string
		group     string
		wantState string
	}{
		{desc: "tripped group", group: "payments", wantState: "open"},
		{desc: "other group", group: "qr", wantState: "closed"},
		{desc: "unknown group uses other", group: "refunds", wantState: "closed"},
	}
	for _, tt := range tests {
		t.Run(tt.desc, func(t *testing.T) {
			if got := g.State(tt.group); got != tt.wantState {
				t.Errorf("State(%q) = %q, want %q", tt.group, got, tt.wantState)
			}
			_, err := g.do(u, tt.group, 0, 0)
			if open := errors.Is(err, limiter.ErrOpen); open != (tt.wantState == "open") {
				t.Errorf("request of %q: %v, want ErrOpen: %v", tt.group, err, tt.wantState == "open")
			}
		})
	}
	// Unknown groups share the "other" breaker.
	for range 2 {
		u.set(answer500)
		_, _ = g.do(u, "refunds", 0, 0)
	}
	if got := g.State(limiter.OtherGroup); got != "open" {
		t.Errorf("after 2 500s of unknown groups: State(other) = %q, want open", got)
	}
	if got := g.State("qr"); got != "closed" {
		t.Errorf("State(qr) = %q, want closed", got)
	}
}

func TestNewBreakersErrors(t *testing.T) {
	tests := []struct {
		desc    string
		groups  []string
		cfg     limiter.BreakerConfig
		wantErr bool
	}{
		{desc: "zero config", groups: []string{"payments"}},
		{desc: "other listed", groups: []string{"payments", limiter.OtherGroup}},
		{desc: "ratio above 1", cfg: limiter.BreakerConfig{FailureRatio: 1.5}, wantErr: true},
		{desc: "negative ratio", cfg: limiter.BreakerConfig{FailureRatio: -0.5}, wantErr: true},
		{desc: "bucket longer than interval", cfg: limiter.BreakerConfig{Interval: time.Second, BucketPeriod: 2 * time.Second}, wantErr: true},
		{desc: "negative open timeout", cfg: limiter.BreakerConfig{OpenTimeout: -time.Second}, wantErr: true},
		{desc: "empty group", groups: []string{""}, wantErr: true},
		{desc: "repeated group", groups: []string{"qr", "qr"}, wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.desc, func(t *testing.T) {
			_, err := limiter.NewBreakers(tt.groups, tt.cfg)
			if (err != nil) != tt.wantErr {
				t.Errorf("NewBreakers = %v, want error: %v", err, tt.wantErr)
			}
		})
	}
}
