// Package webhook receives Razorpay's webhooks, purges from the gateway's
// cache what each event changed inside Razorpay, and forwards the event to
// the apps behind the gateway (issue #8).
package webhook

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Purger purges cache entries by tag. The gateway's cache store satisfies
// it: a purge deletes every entry tagged with one of tags in every
// caller's partition and, in shared mode, on every replica, and fences
// fills in flight, exactly as a write's purge does.
type Purger interface {
	Purge(ctx context.Context, tags ...string) error
}

// Claimer records which events were processed, so that replicas agree;
// cache.Memory, cache.Redis, cache.Near and cache.Guard satisfy it.
type Claimer interface {
	// Claim claims key for ttl and reports whether this call claimed it.
	Claim(ctx context.Context, key string, ttl time.Duration) (bool, error)
	// Claimed reports whether key is claimed.
	Claimed(ctx context.Context, key string) (bool, error)
}

// Config configures a Handler. Zero fields take the defaults noted on them.
type Config struct {
	// Secrets are the webhook secrets set in the Razorpay Dashboard. A
	// delivery is accepted when its signature verifies under any of them,
	// so that a secret can be rotated: list the new one with the old, then
	// change it in the Dashboard, then drop the old one once Razorpay has
	// stopped retrying the events it signed (24 hours). At least one is
	// required, and none may be empty. They are never logged nor put in an
	// error.
	Secrets []string
	// MaxBodyBytes bounds a delivery's body; a larger one is answered 413.
	// Zero means 1 MiB.
	MaxBodyBytes int64
	// Purger purges the ids an event names. Required.
	Purger Purger
	// PurgeTimeout bounds the purge and the calls to the Claimer of one
	// delivery; a purge that takes longer fails, is answered 503, and is
	// delivered again. Zero means 5 s.
	PurgeTimeout time.Duration
	// Claimer deduplicates deliveries by their X-Razorpay-Event-Id; nil
	// means every delivery is processed, repeats included.
	Claimer Claimer
	// DedupWindow is how long a processed event is remembered. Zero means
	// 24 hours: Razorpay retries a delivery it saw fail for 24 hours after
	// the event was created, and an event is claimed after it was created,
	// so its claim outlives every retry. A later repeat (a replay asked for
	// in the Dashboard) is processed again: it purges, which is harmless,
	// and is forwarded, which a replay is for.
	DedupWindow time.Duration

	// Forward lists absolute http(s) URLs to which each verified event is
	// delivered after its purge, with its body and Razorpay's headers
	// unchanged, so that the apps' own signature checks pass. Empty means
	// none.
	Forward []string
	// Client sends the deliveries; nil means a client that does not
	// follow redirects (a redirect counts as a failure).
	Client *http.Client
	// ForwardTimeout bounds each attempt of a delivery. Zero means 10 s.
	ForwardTimeout time.Duration
	// ForwardRetries is how many times a failed attempt (a non-2xx answer,
	// a timeout, a connection error) is retried. Zero means none.
	ForwardRetries int
	// ForwardBackoff is the wait before the first retry, doubled before
	// each next one up to a minute, with jitter. Zero means 1 s.
	ForwardBackoff time.Duration
	// ForwardMaxElapsed bounds a delivery, from the event's receipt to its
	// last attempt's end, time in the queue included. Zero means 5 min.
	ForwardMaxElapsed time.Duration
	// QueueSize bounds the deliveries waiting for each target; more are
	// dropped and counted. Zero means 1024.
	QueueSize int
	// Workers is how many deliveries to each target are under way at
	// once. Zero means 4.
	Workers int

	// Logger receives one line per delivery received and per forwarding
	// outcome, never with a body, a signature or a secret; nil discards.
	Logger *slog.Logger
	// Registerer registers the receiver's metrics; nil registers none.
	Registerer prometheus.Registerer
	// Clock tells the time for forwarding deadlines; nil means time.Now.
	Clock func() time.Time
}

// Handler is the webhook receiver, an http.Handler for the path Razorpay
// is configured to deliver to. Close or Shutdown it to stop forwarding.
type Handler struct {
	secrets [][]byte
	maxBody int64
	// slots bounds the deliveries read and processed at once: the path is
	// public, and each holds up to maxBody of memory before its signature
	// can be checked.
	slots        chan struct{}
	purger       Purger
	purgeTimeout time.Duration
	claimer      Claimer
	window       time.Duration
	fwd          *forwarder // nil without Forward
	log          *slog.Logger
	metrics      *metrics
}

// maxConcurrent bounds the deliveries handled at once, and bodyTimeout how
// long one may take to arrive; Razorpay's deliveries are a few KiB.
const (
	maxConcurrent = 32
	bodyTimeout   = 10 * time.Second
)

// New returns a Handler for cfg, which starts forwarding workers when
// cfg.Forward is set. Its errors never quote a secret or a URL.
func New(cfg Config) (*Handler, error) {
	if len(cfg.Secrets) == 0 {
		return nil, errors.New("creating webhook receiver: no secret")
	}
	secrets := make([][]byte, len(cfg.Secrets))
	for i, s := range cfg.Secrets {
		if s == "" {
			return nil, fmt.Errorf("creating webhook receiver: secret %d is empty", i)
		}
		secrets[i] = []byte(s)
	}
	if cfg.Purger == nil {
		return nil, errors.New("creating webhook receiver: no Purger")
	}
	for _, v := range []struct {
		name string
		neg  bool
	}{
		{"MaxBodyBytes", cfg.MaxBodyBytes < 0},
		{"PurgeTimeout", cfg.PurgeTimeout < 0},
		{"DedupWindow", cfg.DedupWindow < 0},
		{"ForwardTimeout", cfg.ForwardTimeout < 0},
		{"ForwardBackoff", cfg.ForwardBackoff < 0},
		{"ForwardMaxElapsed", cfg.ForwardMaxElapsed < 0},
		{"QueueSize", cfg.QueueSize < 0},
		{"Workers", cfg.Workers < 0},
	} {
		if v.neg {
			return nil, fmt.Errorf("creating webhook receiver: %s is negative", v.name)
		}
	}
	targets := make([]*url.URL, len(cfg.Forward))
	for i, raw := range cfg.Forward {
		u, err := url.Parse(raw)
		// url.Error quotes the URL, which may hold credentials: not wrapped.
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return nil, fmt.Errorf("creating webhook receiver: forward target %d is not an absolute http(s) URL", i)
		}
		targets[i] = u
	}
	cfg.MaxBodyBytes = orDefault(cfg.MaxBodyBytes, 256<<10)
	cfg.PurgeTimeout = orDefault(cfg.PurgeTimeout, 5*time.Second)
	cfg.DedupWindow = orDefault(cfg.DedupWindow, 24*time.Hour)
	cfg.ForwardTimeout = orDefault(cfg.ForwardTimeout, 10*time.Second)
	cfg.ForwardBackoff = orDefault(cfg.ForwardBackoff, time.Second)
	cfg.ForwardMaxElapsed = orDefault(cfg.ForwardMaxElapsed, 5*time.Minute)
	cfg.QueueSize = orDefault(cfg.QueueSize, 1024)
	cfg.Workers = orDefault(cfg.Workers, 4)
	if cfg.Client == nil {
		cfg.Client = &http.Client{
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		}
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Clock == nil {
		cfg.Clock = time.Now
	}
	h := &Handler{
		secrets:      secrets,
		maxBody:      cfg.MaxBodyBytes,
		slots:        make(chan struct{}, maxConcurrent),
		purger:       cfg.Purger,
		purgeTimeout: cfg.PurgeTimeout,
		claimer:      cfg.Claimer,
		window:       cfg.DedupWindow,
		log:          cfg.Logger,
		metrics:      newMetrics(cfg.Registerer),
	}
	if len(targets) > 0 {
		h.fwd = newForwarder(cfg, targets, h.metrics)
	}
	return h, nil
}

func orDefault[T int | int64 | time.Duration](v, def T) T {
	if v == 0 {
		return def
	}
	return v
}

// ServeHTTP processes one delivery. In order: the body is read within
// MaxBodyBytes (413); its signature is checked (401); it must be a
// Razorpay event (400); an event already processed is answered 200 and
// nothing more; otherwise the ids in its payload are purged, and a purge
// that fails is answered 503, so that Razorpay delivers it again, without
// remembering the event. Only then is the event claimed, answered 200, and
// queued for forwarding, unless a concurrent delivery of it claimed it
// first. Nothing but a verified event ever changes the cache.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		h.refuse(w, r, http.StatusMethodNotAllowed, "The webhook receiver only accepts POST.", "method")
		return
	}
	// Anyone can reach this path: bound the bodies held at once, and how
	// long a sender may take to send one, so that slow or many senders
	// cannot run the gateway out of memory. Razorpay redelivers a 503.
	select {
	case h.slots <- struct{}{}:
		defer func() { <-h.slots }()
	default:
		// Connection: close, or net/http would first try to read the body
		// the sender may be stalling on.
		w.Header().Set("Retry-After", "1")
		w.Header().Set("Connection", "close")
		h.refuse(w, r, http.StatusServiceUnavailable, "The webhook receiver is busy; deliver again shortly.", "busy")
		return
	}
	_ = http.NewResponseController(w).SetReadDeadline(time.Now().Add(bodyTimeout))
	if r.ContentLength > h.maxBody {
		h.refuse(w, r, http.StatusRequestEntityTooLarge, tooLarge(h.maxBody), "too large")
		return
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, h.maxBody))
	if err != nil {
		if _, ok := errors.AsType[*http.MaxBytesError](err); ok {
			h.refuse(w, r, http.StatusRequestEntityTooLarge, tooLarge(h.maxBody), "too large")
		} else {
			h.refuse(w, r, http.StatusBadRequest, "The request body could not be read.", "unreadable")
		}
		return
	}
	if !verified(r.Header, body, h.secrets) {
		h.metrics.event(typeOther, resultBadSignature)
		h.log.Warn("webhook refused: missing or wrong signature", slog.String("remote_addr", r.RemoteAddr))
		writeError(w, http.StatusUnauthorized, codeBadRequest, "The webhook signature is missing or does not verify.")
		return
	}
	ev, err := parseEvent(body)
	if err != nil {
		h.refuse(w, r, http.StatusBadRequest, "The request body is not a Razorpay event.", "not an event")
		return
	}
	id := eventID(r.Header)
	// The store calls and the purge run to their end even if Razorpay
	// hangs up: the event has happened, whoever waits for the answer.
	ctx, cancel := context.WithTimeout(context.WithoutCancel(r.Context()), h.purgeTimeout)
	defer cancel()
	var key string
	if h.claimer != nil {
		key = dedupKey(body)
		seen, err := h.claimer.Claimed(ctx, key)
		if err != nil {
			// Processing it again costs an idempotent purge.
			h.log.Warn("webhook dedup check failed; processing the event", slog.String("event", ev.Type),
				slog.String("event_id", id), slog.Any("error", err))
		}
		if seen {
			h.done(w, ev, id, resultDuplicate)
			return
		}
	}
	if len(ev.Tags) > 0 {
		if err := h.purger.Purge(ctx, ev.Tags...); err != nil {
			h.metrics.event(ev.Type, resultPurgeFailed)
			h.log.Error("webhook purge failed; Razorpay will redeliver", slog.String("event", ev.Type),
				slog.String("event_id", id), slog.Any("tags", ev.Tags), slog.Any("error", err))
			w.Header().Set("Retry-After", "1")
			writeError(w, http.StatusServiceUnavailable, codeServer, "The gateway could not apply the event. Please deliver it again.")
			return
		}
	}
	if key != "" {
		first, err := h.claimer.Claim(ctx, key, h.window)
		if err != nil {
			h.log.Warn("webhook claim failed; a redelivery will be processed again", slog.String("event", ev.Type),
				slog.String("event_id", id), slog.Any("error", err))
		} else if !first {
			// A concurrent delivery of the same event purged too and
			// claimed it first; it forwards the event.
			h.done(w, ev, id, resultDuplicate)
			return
		}
	}
	if h.fwd != nil {
		h.fwd.enqueue(&delivery{typ: ev.Type, id: id, header: forwardHeader(r.Header), body: body, received: h.fwd.now()})
	}
	h.done(w, ev, id, resultOK)
}

// done answers a processed delivery 200 and records it.
func (h *Handler) done(w http.ResponseWriter, ev event, id, result string) {
	h.metrics.event(ev.Type, result)
	h.log.Info("webhook", slog.String("event", ev.Type), slog.String("event_id", id),
		slog.String("result", result), slog.Int("tags", len(ev.Tags)))
	writeJSON(w, http.StatusOK, []byte(`{"status":"`+result+`"}`))
}

// refuse answers a delivery that is not a readable event, and records it.
func (h *Handler) refuse(w http.ResponseWriter, r *http.Request, status int, description, reason string) {
	h.metrics.event(typeOther, resultBadRequest)
	h.log.Warn("webhook refused", slog.String("reason", reason), slog.Int("status", status), slog.String("remote_addr", r.RemoteAddr))
	writeError(w, status, codeBadRequest, description)
}

func tooLarge(limit int64) string {
	return fmt.Sprintf("The request body is larger than the %d bytes allowed.", limit)
}

// forwardHeader returns the headers to forward: all of Razorpay's but the
// hop-by-hop ones and those the Connection header names.
func forwardHeader(in http.Header) http.Header {
	out := in.Clone()
	for _, v := range in.Values("Connection") {
		for _, name := range splitList(v) {
			out.Del(name)
		}
	}
	for _, name := range hopHeaders {
		out.Del(name)
	}
	return out
}

// Shutdown stops forwarding: events received from now on are not
// forwarded, and queued deliveries are attempted until ctx is done; those
// left then are abandoned and counted as dropped, and ctx's error is
// returned. The receiver itself keeps purging.
func (h *Handler) Shutdown(ctx context.Context) error {
	if h.fwd == nil {
		return nil
	}
	return h.fwd.shutdown(ctx)
}

// Close stops forwarding at once, abandoning queued deliveries and
// cancelling attempts under way, and waits for its goroutines to end.
func (h *Handler) Close() error {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	h.Shutdown(ctx)
	return nil
}
