package webhook

import (
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"
)

// maxBackoff caps the wait between two attempts of one delivery.
const maxBackoff = time.Minute

// hopHeaders are the hop-by-hop headers (RFC 9110, 7.6.1), which describe
// the connection from Razorpay to the gateway and are not forwarded.
// Every other header of the delivery is, unchanged.
var hopHeaders = []string{
	"Connection", "Proxy-Connection", "Keep-Alive", "Proxy-Authenticate",
	"Proxy-Authorization", "Te", "Trailer", "Transfer-Encoding", "Upgrade",
}

// delivery is one verified event, to be forwarded to every target.
type delivery struct {
	typ, id  string      // the event's type and X-Razorpay-Event-Id, for logs
	header   http.Header // Razorpay's headers, minus hop-by-hop ones; read-only
	body     []byte      // the body as Razorpay signed it; read-only
	received time.Time
}

// forwarder delivers events to the targets in the background: each target
// has its own bounded queue and workers, so a target that is down delays
// and drops only its own deliveries.
type forwarder struct {
	targets    []*target
	client     *http.Client
	timeout    time.Duration
	retries    int
	backoff    time.Duration
	maxElapsed time.Duration
	now        func() time.Time
	log        *slog.Logger
	metrics    *metrics

	// ctx ends attempts and the waits between them when the forwarder
	// gives up on what is left (Close, or Shutdown's deadline).
	ctx    context.Context
	cancel context.CancelFunc

	mu     sync.RWMutex // guards closed, and orders sends to queues before their close
	closed bool
	wg     sync.WaitGroup // wg counts the workers.
}

// target is one forwarding URL.
type target struct {
	url   string
	name  string // name is the URL without credentials or query, for logs.
	queue chan *delivery
}

func newForwarder(cfg Config, urls []*url.URL, m *metrics) *forwarder {
	ctx, cancel := context.WithCancel(context.Background())
	f := &forwarder{
		client:     cfg.Client,
		timeout:    cfg.ForwardTimeout,
		retries:    max(cfg.ForwardRetries, 0),
		backoff:    cfg.ForwardBackoff,
		maxElapsed: cfg.ForwardMaxElapsed,
		now:        cfg.Clock,
		log:        cfg.Logger,
		metrics:    m,
		ctx:        ctx,
		cancel:     cancel,
	}
	for _, u := range urls {
		t := &target{url: u.String(), name: logName(u), queue: make(chan *delivery, cfg.QueueSize)}
		f.targets = append(f.targets, t)
		for range cfg.Workers {
			f.wg.Go(func() { f.work(t) })
		}
	}
	return f
}

// logName returns u without credentials, query or fragment, which may
// hold secrets (a token in the query).
func logName(u *url.URL) string {
	return (&url.URL{Scheme: u.Scheme, Host: u.Host, Path: u.Path}).String()
}

// enqueue queues d for every target, never blocking: a target whose queue
// is full drops it.
func (f *forwarder) enqueue(d *delivery) {
	f.mu.RLock()
	defer f.mu.RUnlock()
	for _, t := range f.targets {
		if f.closed {
			f.drop(t, d, "shutting down")
			continue
		}
		select {
		case t.queue <- d:
		default:
			f.drop(t, d, "queue full")
		}
	}
}

func (f *forwarder) drop(t *target, d *delivery, why string) {
	f.metrics.delivery(deliveryDropped)
	f.log.Warn("webhook delivery dropped", slog.String("target", t.name), slog.String("event", d.typ),
		slog.String("event_id", d.id), slog.String("reason", why))
}

// work delivers t's queue until it is closed.
func (f *forwarder) work(t *target) {
	for d := range t.queue {
		f.deliver(t, d)
	}
}

// deliver sends d to t, retrying a failure (a non-2xx answer, a timeout,
// a connection error) up to f.retries times with exponential backoff and
// jitter, until f.maxElapsed after d was received.
func (f *forwarder) deliver(t *target, d *delivery) {
	deadline := d.received.Add(f.maxElapsed)
	wait := f.backoff
	for attempt := 1; ; attempt++ {
		if f.ctx.Err() != nil {
			f.drop(t, d, "shutting down")
			return
		}
		status, err := f.attempt(t, d, deadline)
		if err == nil && status >= 200 && status < 300 {
			f.metrics.delivery(deliveryOK)
			f.log.Info("webhook delivered", slog.String("target", t.name), slog.String("event", d.typ),
				slog.String("event_id", d.id), slog.Int("status", status), slog.Int("attempts", attempt))
			return
		}
		if f.ctx.Err() != nil {
			f.drop(t, d, "shutting down")
			return
		}
		// Equal jitter: between half and all of the backoff, so that
		// deliveries failed together do not retry together.
		delay := wait/2 + rand.N(wait/2+1)
		wait = min(2*wait, maxBackoff)
		if attempt > f.retries || !f.now().Add(delay).Before(deadline) {
			f.metrics.delivery(deliveryFailed)
			f.log.Warn("webhook delivery failed; giving up", slog.String("target", t.name), slog.String("event", d.typ),
				slog.String("event_id", d.id), slog.Int("attempts", attempt), outcome(status, err))
			return
		}
		f.metrics.delivery(deliveryRetry)
		f.log.Debug("webhook delivery failed; retrying", slog.String("target", t.name), slog.String("event", d.typ),
			slog.String("event_id", d.id), slog.Int("attempt", attempt), slog.Duration("backoff", delay), outcome(status, err))
		timer := time.NewTimer(delay)
		select {
		case <-timer.C:
		case <-f.ctx.Done():
			timer.Stop()
		}
	}
}

// attempt POSTs d's body with its headers to t once, within f.timeout and
// the deadline, and returns the status.
func (f *forwarder) attempt(t *target, d *delivery, deadline time.Time) (int, error) {
	timeout := min(f.timeout, deadline.Sub(f.now()))
	if timeout <= 0 {
		return 0, context.DeadlineExceeded
	}
	ctx, cancel := context.WithTimeout(f.ctx, timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, t.url, bytes.NewReader(d.body))
	if err != nil {
		return 0, err
	}
	req.Header = d.header.Clone()
	resp, err := f.client.Do(req)
	if err != nil {
		// A *url.Error quotes the URL, which may hold a token.
		if ue, ok := errors.AsType[*url.Error](err); ok {
			err = ue.Err
		}
		return 0, err
	}
	// Read a little so that the connection can be reused.
	io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	resp.Body.Close()
	return resp.StatusCode, nil
}

// outcome describes a failed attempt for a log line.
func outcome(status int, err error) slog.Attr {
	if err != nil {
		return slog.String("error", err.Error())
	}
	return slog.Int("status", status)
}

// close stops taking deliveries; the workers finish what is queued.
func (f *forwarder) close() {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.closed {
		return
	}
	f.closed = true
	for _, t := range f.targets {
		close(t.queue)
	}
}

// shutdown stops taking deliveries and waits for the queued ones until
// ctx is done, then abandons the rest (counted as dropped) and returns
// ctx's error.
func (f *forwarder) shutdown(ctx context.Context) error {
	f.close()
	done := make(chan struct{})
	go func() {
		f.wg.Wait()
		close(done)
	}()
	select {
	case <-done:
		f.cancel()
		return nil
	case <-ctx.Done():
		f.cancel()
		<-done
		return ctx.Err()
	}
}

// splitList splits a comma-separated header value into its trimmed,
// non-empty elements.
func splitList(v string) []string {
	var out []string
	for s := range strings.SplitSeq(v, ",") {
		if s = strings.TrimSpace(s); s != "" {
			out = append(out, s)
		}
	}
	return out
}
