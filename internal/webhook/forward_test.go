package webhook_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/razorpay/razorpay-go/utils"

	"github.com/rzpgate/rzpgate/internal/webhook"
)

// app is a service behind the gateway that receives forwarded events.
type app struct {
	srv *httptest.Server

	mu       sync.Mutex // guards received
	received []*received
	// answer, if not nil, answers the n-th request (from 1); nil means 200.
	answer func(n int, w http.ResponseWriter)
	// got receives a value per request, if not nil.
	got chan struct{}
}

type received struct {
	header http.Header
	body   []byte
}

func newApp(t *testing.T, answer func(n int, w http.ResponseWriter)) *app {
	t.Helper()
	a := &app{answer: answer, got: make(chan struct{}, 100)}
	a.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		a.mu.Lock()
		a.received = append(a.received, &received{header: r.Header.Clone(), body: body})
		n := len(a.received)
		a.mu.Unlock()
		a.got <- struct{}{}
		if a.answer != nil {
			a.answer(n, w)
		}
	}))
	t.Cleanup(a.srv.Close)
	return a
}

func (a *app) requests() []*received {
	a.mu.Lock()
	defer a.mu.Unlock()
	return append([]*received(nil), a.received...)
}

// wait waits for n requests, or fails the test after limit.
func (a *app) wait(t *testing.T, n int, limit time.Duration) {
	t.Helper()
	timeout := time.After(limit)
	for range n {
		select {
		case <-a.got:
		case <-timeout:
			t.Fatalf("app got %d requests in %v, want %d", len(a.requests()), limit, n)
		}
	}
}

func (r *rig) deliveries(result string) float64 {
	return counter(r.t, r.reg, "rzpgate_webhook_deliveries_total", map[string]string{"result": result})
}

// waitDeliveries waits until the deliveries counted with result reach n.
func (r *rig) waitDeliveries(result string, n float64, limit time.Duration) {
	r.t.Helper()
	deadline := time.Now().Add(limit)
	for r.deliveries(result) < n {
		if time.Now().After(deadline) {
			r.t.Fatalf("deliveries_total{result=%s} = %v after %v, want %v", result, r.deliveries(result), limit, n)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// TestForwardByteForByte checks that the app behind the gateway receives
// the event as Razorpay sent it, and that its own check, razorpay-go's,
// passes.
func TestForwardByteForByte(t *testing.T) {
	a, b := newApp(t, nil), newApp(t, nil)
	r := newRig(t, webhook.Config{Forward: []string{a.srv.URL + "/razorpay/webhook", b.srv.URL + "/hooks?token=T0KEN-S3CRET"}})
	r.forbid("T0KEN")
	body := sample(t, "payment_link.paid")
	h := razorpayHeader(body, secret, "EvtForward00001")
	h.Set("Request-Id", "req_Fo49sHbQ78")
	h.Set("Connection", "keep-alive, X-Hop")
	h.Set("X-Hop", "1")
	if status, answer := r.post(body, h); status != http.StatusOK {
		t.Fatalf("status %d (%s), want 200", status, answer)
	}
	a.wait(t, 1, 5*time.Second)
	b.wait(t, 1, 5*time.Second)
	for _, app := range []*app{a, b} {
		got := app.requests()
		if len(got) != 1 {
			t.Fatalf("app got %d requests, want 1", len(got))
		}
		if !bytes.Equal(got[0].body, body) {
			t.Errorf("app got body\n%s\nwant it byte for byte\n%s", got[0].body, body)
		}
		for _, k := range []string{"X-Razorpay-Signature", "X-Razorpay-Event-Id", "Content-Type", "User-Agent", "Request-Id"} {
			if g, w := got[0].header.Values(k), h.Values(k); len(g) != 1 || g[0] != w[0] {
				t.Errorf("app got %s %q, want %q", k, g, w)
			}
		}
		if v := got[0].header.Get("X-Hop"); v != "" {
			t.Errorf("app got the hop-by-hop X-Hop %q", v)
		}
		if !utils.VerifyWebhookSignature(string(got[0].body), got[0].header.Get("X-Razorpay-Signature"), secret) {
			t.Error("razorpay-go's VerifyWebhookSignature fails on the forwarded event")
		}
	}
	r.waitDeliveries("ok", 2, 5*time.Second)
	// A duplicate is not forwarded again.
	if status, answer := r.post(body, h); status != http.StatusOK || string(answer) != `{"status":"duplicate"}` {
		t.Fatalf("replay: %d %s, want 200 duplicate", status, answer)
	}
	r.h.Shutdown(context.Background())
	if n := len(a.requests()); n != 1 {
		t.Errorf("app got %d requests after a replay, want 1", n)
	}
}

// TestForwardRetriesThenSucceeds checks that failed attempts are retried.
func TestForwardRetriesThenSucceeds(t *testing.T) {
	a := newApp(t, func(n int, w http.ResponseWriter) {
		if n <= 2 {
			w.WriteHeader(http.StatusBadGateway)
		}
	})
	r := newRig(t, webhook.Config{Forward: []string{a.srv.URL}, ForwardRetries: 5, ForwardBackoff: 10 * time.Millisecond})
	body := sample(t, "qr_code.credited")
	if status, _ := r.post(body, razorpayHeader(body, secret, "EvtRetry0000001")); status != http.StatusOK {
		t.Fatalf("status %d, want 200", status)
	}
	r.waitDeliveries("ok", 1, 5*time.Second)
	if got := r.deliveries("retry"); got != 2 {
		t.Errorf("deliveries_total{result=retry} = %v, want 2", got)
	}
	for i, req := range a.requests() {
		if !bytes.Equal(req.body, body) {
			t.Errorf("attempt %d carried another body", i+1)
		}
	}
}

// TestForwardGivesUp checks that a target that is down is retried a
// bounded number of times, within a bounded time, while the receiver
// answers Razorpay at once and other targets get the event.
func TestForwardGivesUp(t *testing.T) {
	down := newApp(t, func(_ int, w http.ResponseWriter) { w.WriteHeader(http.StatusServiceUnavailable) })
	redirecting := newApp(t, func(_ int, w http.ResponseWriter) {
		w.Header().Set("Location", "/elsewhere")
		w.WriteHeader(http.StatusFound)
	})
	healthy := newApp(t, nil)
	refused := closedURL(t)
	const backoff = 200 * time.Millisecond
	r := newRig(t, webhook.Config{
		Forward:        []string{down.srv.URL, refused, redirecting.srv.URL, healthy.srv.URL},
		ForwardRetries: 3,
		ForwardBackoff: backoff,
	})
	body := sample(t, "payment.captured")
	if status, _ := r.post(body, razorpayHeader(body, secret, "EvtGiveUp000001")); status != http.StatusOK {
		t.Fatalf("status %d, want 200", status)
	}
	// The first retry comes at least backoff/2 after the first attempt.
	if n := len(down.requests()); n > 1 {
		t.Errorf("the down target got %d attempts before Razorpay got its answer, want at most 1", n)
	}
	healthy.wait(t, 1, 5*time.Second)
	r.waitDeliveries("failed", 3, 10*time.Second)
	if got := len(down.requests()); got != 4 {
		t.Errorf("down target got %d attempts, want 1 + 3 retries", got)
	}
	if got := len(redirecting.requests()); got != 4 {
		t.Errorf("redirecting target got %d attempts, want 1 + 3 retries (never followed)", got)
	}
	if got := r.deliveries("retry"); got != 9 {
		t.Errorf("deliveries_total{result=retry} = %v, want 3 per failing target", got)
	}
	if got := r.deliveries("ok"); got != 1 {
		t.Errorf("deliveries_total{result=ok} = %v, want 1", got)
	}
}

// TestForwardMaxElapsed checks that a delivery stops at its time bound
// whatever retries remain.
func TestForwardMaxElapsed(t *testing.T) {
	down := newApp(t, func(_ int, w http.ResponseWriter) { w.WriteHeader(http.StatusInternalServerError) })
	const maxElapsed = 300 * time.Millisecond
	r := newRig(t, webhook.Config{
		Forward:           []string{down.srv.URL},
		ForwardRetries:    1000,
		ForwardBackoff:    20 * time.Millisecond,
		ForwardMaxElapsed: maxElapsed,
	})
	body := sample(t, "refund.processed")
	start := time.Now()
	r.post(body, razorpayHeader(body, secret, "EvtElapsed00001"))
	r.waitDeliveries("failed", 1, 5*time.Second)
	if d := time.Since(start); d > maxElapsed+time.Second {
		t.Errorf("gave up after %v, want about ForwardMaxElapsed %v", d, maxElapsed)
	}
	if n := len(down.requests()); n < 3 || n > 10 {
		t.Errorf("%d attempts in %v with a 20ms backoff doubling, want a few", n, maxElapsed)
	}
}

// TestForwardSlowTarget checks that an attempt is bounded by the
// forwarding timeout.
func TestForwardSlowTarget(t *testing.T) {
	release := make(chan struct{})
	defer close(release)
	slow := newApp(t, func(_ int, w http.ResponseWriter) { <-release })
	r := newRig(t, webhook.Config{Forward: []string{slow.srv.URL}, ForwardTimeout: 100 * time.Millisecond})
	body := sample(t, "order.paid")
	start := time.Now()
	r.post(body, razorpayHeader(body, secret, "EvtSlow00000001"))
	r.waitDeliveries("failed", 1, 5*time.Second)
	if d := time.Since(start); d > time.Second {
		t.Errorf("gave up after %v, want about the 100ms timeout", d)
	}
}

// TestForwardQueueBounded checks that deliveries to a target that does
// not keep up are dropped, and counted, once its queue is full.
func TestForwardQueueBounded(t *testing.T) {
	release := make(chan struct{})
	stuck := newApp(t, func(_ int, w http.ResponseWriter) { <-release })
	r := newRig(t, webhook.Config{Forward: []string{stuck.srv.URL}, QueueSize: 2, Workers: 1, ForwardTimeout: time.Minute})
	body := sample(t, "payment.authorized")
	r.post(body, razorpayHeader(body, secret, "EvtQueue0000000"))
	stuck.wait(t, 1, 5*time.Second) // the worker is busy with it
	for i := range 5 {
		b := distinct(body, i)
		status, _ := r.post(b, razorpayHeader(b, secret, "EvtQueue000000"+string(rune('1'+i))))
		if status != http.StatusOK {
			t.Fatalf("status %d with the queue full, want 200", status)
		}
	}
	if got := r.deliveries("dropped"); got != 3 {
		t.Errorf("deliveries_total{result=dropped} = %v, want 3 (5 events, 2 queued)", got)
	}
	close(release)
	if err := r.h.Shutdown(context.Background()); err != nil {
		t.Errorf("Shutdown: %v", err)
	}
	if got := r.deliveries("ok"); got != 3 {
		t.Errorf("deliveries_total{result=ok} = %v after draining, want 3", got)
	}
}

// TestShutdownBounded checks that Shutdown abandons what it cannot
// deliver by its deadline, and that the receiver still purges afterwards
// without forwarding.
func TestShutdownBounded(t *testing.T) {
	release := make(chan struct{})
	defer close(release)
	stuck := newApp(t, func(_ int, w http.ResponseWriter) { <-release })
	r := newRig(t, webhook.Config{Forward: []string{stuck.srv.URL}, Workers: 1, ForwardTimeout: time.Minute})
	body := sample(t, "payment.captured")
	for i := range 3 {
		b := distinct(body, i)
		r.post(b, razorpayHeader(b, secret, "EvtShutdown000"+string(rune('0'+i))))
	}
	stuck.wait(t, 1, 5*time.Second)
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	start := time.Now()
	if err := r.h.Shutdown(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Shutdown = %v, want DeadlineExceeded", err)
	}
	if d := time.Since(start); d > time.Second {
		t.Errorf("Shutdown took %v, want about its 100ms deadline", d)
	}
	if got := r.deliveries("dropped"); got != 3 {
		t.Errorf("deliveries_total{result=dropped} = %v, want 3 abandoned", got)
	}
	r.put("payment", "pay_DG4ZdRK8ZnXC3k")
	last := distinct(body, 9)
	if status, _ := r.post(last, razorpayHeader(last, secret, "EvtShutdown999")); status != http.StatusOK || r.has("payment") {
		t.Errorf("after Shutdown: status %d, purged %v; want 200, true", status, !r.has("payment"))
	}
	if got := r.deliveries("dropped"); got != 4 {
		t.Errorf("deliveries_total{result=dropped} = %v, want 4 (one more after Shutdown)", got)
	}
}

// TestConcurrentDuplicates delivers one event many times at once: every
// delivery is answered 200 and the event is forwarded once.
func TestConcurrentDuplicates(t *testing.T) {
	a := newApp(t, nil)
	r := newRig(t, webhook.Config{Forward: []string{a.srv.URL}})
	body := sample(t, "payment_link.paid")
	h := razorpayHeader(body, secret, "EvtConcurrent01")
	var wg sync.WaitGroup
	for range 10 {
		wg.Go(func() {
			if status, _ := r.post(body, h); status != http.StatusOK {
				t.Errorf("status %d, want 200", status)
			}
		})
	}
	wg.Wait()
	r.h.Shutdown(context.Background())
	if n := len(a.requests()); n != 1 {
		t.Errorf("app got %d requests, want 1", n)
	}
	if ok, dup := r.events("payment_link.paid", "ok"), r.events("payment_link.paid", "duplicate"); ok != 1 || dup != 9 {
		t.Errorf("events ok %v, duplicate %v; want 1, 9", ok, dup)
	}
}

// closedURL returns the URL of a port nothing listens on.
func closedURL(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	return "http://" + addr + "/webhook"
}

// distinct returns body made a distinct delivery, as two events always are
// (each names its own created_at): JSON with trailing white space, which a
// parser ignores and the dedup digest does not.
func distinct(body []byte, i int) []byte {
	return append(bytes.Clone(body), bytes.Repeat([]byte(" "), i+1)...)
}
