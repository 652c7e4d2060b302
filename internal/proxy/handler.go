// Package proxy is the gateway: a reverse proxy to the Razorpay API that
// caches the responses of a few read endpoints and purges them on writes.
package proxy

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	mrand "math/rand/v2"
	"net/http"
	"net/http/httputil"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"golang.org/x/sync/singleflight"

	"github.com/rzpgate/rzpgate/internal/cache"
	"github.com/rzpgate/rzpgate/internal/limiter"
)

// Config configures a Handler. Zero fields take the defaults noted on them.
type Config struct {
	// Upstream is Razorpay's base URL, e.g. https://api.razorpay.com. Required.
	Upstream *url.URL
	// Transport carries requests to the upstream; nil means
	// NewTransport(TransportConfig{}). Upstream middleware (such as a
	// circuit breaker) wraps it.
	Transport http.RoundTripper
	// Store caches responses; nil means an in-memory store of 64 MiB.
	Store cache.Store
	// TTL is the freshness lifetime per cacheable route.
	TTL TTL
	// KeySecret keys the HMAC that partitions cache keys by credentials; nil
	// means 32 random bytes, which only suits a store no other process shares.
	KeySecret []byte
	// MaxBodyBytes bounds request bodies; larger ones get 413. Zero means 1 MiB.
	MaxBodyBytes int64
	// MaxEntryBytes bounds a cacheable response body; larger ones are passed
	// through uncached. Zero means 1 MiB.
	MaxEntryBytes int64
	// UpstreamTimeout bounds every upstream exchange, body included. Zero
	// means 60 s.
	UpstreamTimeout time.Duration
	// StaleIfError is how long past its TTL an entry of each route is kept
	// to answer when the upstream fails (5xx, a timeout, a connection
	// error, an open breaker) or the budget is spent; zero fields disable
	// it for their route.
	StaleIfError PerRoute
	// StaleWhileRevalidate is how long past its TTL an entry of each route
	// is served at once while one background fetch refreshes it; zero
	// fields disable it. Each is capped at the route's StaleIfError.
	StaleWhileRevalidate PerRoute
	// Limits configures tenants, their rate limits and the upstream
	// budget; the zero value limits nothing.
	Limits Limits
	// Breakers, if not nil, are the circuit breakers that Transport goes
	// through (Breakers.Transport with GroupOf): a request refused by an
	// open breaker is answered 503, or from a stale copy, with a
	// Retry-After from its breaker.
	Breakers *limiter.Breakers
	// WriteHold is how long entries tagged by a write whose outcome is
	// unknown (a timeout, a dropped connection, a 5xx) are neither served
	// nor stored, since Razorpay may still commit it. Zero means
	// UpstreamTimeout plus one minute.
	WriteHold time.Duration
	// Logger receives the gateway's warnings, and one line per request at
	// info level unless AccessLog is set; nil discards them.
	Logger *slog.Logger
	// AccessLog, if not nil, receives one JSON line per request, in the
	// shape Logger's lines would have with slog's JSONHandler, built by hand
	// because it runs on every request. Its Write must not keep the slice.
	AccessLog io.Writer
	// Registerer registers the gateway's metrics; nil registers none.
	Registerer prometheus.Registerer
	// Clock returns the current time; nil means time.Now.
	Clock func() time.Time
}

// TTL holds the freshness lifetime of each cacheable route. Zero fields mean
// payments 10 s, payment links 30 s, QR code lists 30 s.
type TTL = PerRoute

// PerRoute holds one duration per cacheable route.
type PerRoute struct {
	Payments     time.Duration
	PaymentLinks time.Duration
	QRCodes      time.Duration
}

// byRoute returns p indexed by route; other routes get zero.
func (p PerRoute) byRoute() [routeCount]time.Duration {
	var d [routeCount]time.Duration
	d[routePayment], d[routePaymentLink], d[routeQRCodes] = p.Payments, p.PaymentLinks, p.QRCodes
	return d
}

// Handler is the gateway's http.Handler.
type Handler struct {
	store    cache.Store
	ttl      [routeCount]time.Duration
	stale    [routeCount]time.Duration // stale is Config.StaleIfError by route.
	swr      [routeCount]time.Duration // swr is Config.StaleWhileRevalidate by route.
	keys     *keyer
	maxBody  int64
	maxEntry int64
	timeout  time.Duration
	// writeHold is Config.WriteHold.
	writeHold time.Duration
	// limits is Config.Limits; tenants resolves its tenants (nil without a
	// Limiter), budgetPolicy is the budget's RateLimit-Policy value.
	limits       Limits
	tenants      *tenants
	budgetPolicy []string
	breakers     *limiter.Breakers
	log          *slog.Logger
	accessLog    io.Writer
	metrics      *metrics
	clock        func() time.Time
	// realClock is set when clock is time.Now: a request's duration then
	// reads only the monotonic clock, about half of time.Now's cost on
	// virtual machines whose clock source has no vDSO fast path.
	realClock bool

	pass  *httputil.ReverseProxy // pass-through, unchanged
	fetch *httputil.ReverseProxy // cache fills: identity body read whole
	write *httputil.ReverseProxy // writes: identity body, then purge

	// webhookPath and webhooks are the webhook receiver (HandleWebhooks).
	webhookPath string
	webhooks    http.Handler

	flights singleflight.Group
	// leaders maps each flight key to the request that leads its flight
	// (see fill): it runs the fetch through flights.Do on its own goroutine,
	// while the requests that join use DoChan, which they can leave.
	leaders sync.Map
	// purges counts this process's purges. It is part of every flight key,
	// so a request that arrives after a PATCH returned never joins a fetch
	// that started before its purge (that fetch may carry the old notes).
	purges atomic.Uint64
	// unfenced numbers fills made without a fence, each its own flight.
	unfenced atomic.Uint64
	// revalidating holds the keys with a stale-while-revalidate refresh
	// under way.
	revalidating sync.Map
}

// New returns a Handler for cfg.
func New(cfg Config) (*Handler, error) {
	if cfg.Upstream == nil || cfg.Upstream.Scheme == "" || cfg.Upstream.Host == "" {
		return nil, errors.New("upstream: must be an absolute URL")
	}
	if cfg.Transport == nil {
		cfg.Transport = NewTransport(TransportConfig{})
	}
	if cfg.Store == nil {
		m, err := cache.NewMemory(cache.MemoryConfig{})
		if err != nil {
			return nil, fmt.Errorf("creating memory store: %w", err)
		}
		cfg.Store = m
	}
	if cfg.KeySecret == nil {
		cfg.KeySecret = make([]byte, 32)
		rand.Read(cfg.KeySecret)
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	realClock := cfg.Clock == nil
	if realClock {
		cfg.Clock = time.Now
	}
	h := &Handler{
		realClock: realClock,
		store:     cfg.Store,
		keys:      newKeyer(cfg.KeySecret),
		maxBody:   orDefault(cfg.MaxBodyBytes, 1<<20),
		maxEntry:  orDefault(cfg.MaxEntryBytes, 1<<20),
		timeout:   orDefault(cfg.UpstreamTimeout, 60*time.Second),
		log:       cfg.Logger,
		accessLog: cfg.AccessLog,
		metrics:   newMetrics(cfg.Registerer),
		clock:     cfg.Clock,
	}
	h.writeHold = orDefault(cfg.WriteHold, h.timeout+time.Minute)
	h.stale = cfg.StaleIfError.byRoute()
	h.swr = cfg.StaleWhileRevalidate.byRoute()
	for rt := range h.swr {
		h.swr[rt] = min(h.swr[rt], h.stale[rt])
	}
	h.limits, h.breakers = cfg.Limits, cfg.Breakers
	if cfg.Limits.Limiter != nil {
		h.tenants = newTenants(cfg.Limits, h.keys)
	}
	// The closed label sets of 429s start at zero, so that rate() sees the
	// first one after a restart.
	labels := []string{"other"}
	if h.tenants != nil {
		for _, p := range h.tenants.known {
			labels = append(labels, p.label)
		}
	}
	for _, l := range labels {
		h.metrics.limitedBy.WithLabelValues(l, policyTenant)
		h.metrics.limitedBy.WithLabelValues(l, policyBudget)
	}
	if b := cfg.Limits.Budget; b != nil {
		h.budgetPolicy = []string{policyHeader(policyBudget, b.Limit())}
	}
	h.ttl[routePayment] = orDefault(cfg.TTL.Payments, 10*time.Second)
	h.ttl[routePaymentLink] = orDefault(cfg.TTL.PaymentLinks, 30*time.Second)
	h.ttl[routeQRCodes] = orDefault(cfg.TTL.QRCodes, 30*time.Second)

	var transport http.RoundTripper = newInstrumented(cfg.Transport, h.metrics, h.clock)
	if cfg.Limits.Budget != nil && cfg.Limits.PauseOn429 {
		transport = pauseTransport{next: transport, budget: cfg.Limits.Budget}
	}
	strip := cfg.Limits.TenantHeader
	h.pass = h.newReverseProxy(cfg.Upstream, transport, false, strip)
	h.fetch = h.newReverseProxy(cfg.Upstream, transport, true, strip)
	rewrite := h.fetch.Rewrite
	h.fetch.Rewrite = func(pr *httputil.ProxyRequest) {
		rewrite(pr)
		// A fill fetches the full representation: one caller's conditional
		// or range request must not turn the response every coalesced
		// caller gets (and the entry) into a 304 or a 206.
		for _, k := range fillDroppedHeaders {
			delete(pr.Out.Header, k)
		}
	}
	h.fetch.ModifyResponse = readFill
	h.write = h.newReverseProxy(cfg.Upstream, transport, true, strip)
	h.write.ModifyResponse = h.afterWrite
	h.write.ErrorHandler = h.writeFailed
	return h, nil
}

// maxQueryLen bounds the query of a cacheable request; the endpoints take a
// few short parameters, and a longer query is passed through uncached.
const maxQueryLen = 2048

var fillDroppedHeaders = []string{"If-None-Match", "If-Modified-Since", "If-Match", "If-Unmodified-Since", "If-Range", "Range"}

func orDefault[T int64 | time.Duration](v, def T) T {
	if v == 0 {
		return def
	}
	return v
}

// ServeHTTP routes a request: a cacheable GET goes through the cache, a
// write is forwarded and then purges what it changed, anything else passes
// through.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	start := h.clock()
	id := requestID(r)
	ids := []string{id} // shared read-only by the request and the response
	w.Header()["X-Request-Id"] = ids

	rt, entity := match(r)
	if rt == routeGateway {
		// The gateway's own paths come before tenants and limits: Razorpay
		// sends webhooks with no tenant, and must not be refused. A webhook
		// keeps its headers as they came (no X-Request-Id is added): it is
		// forwarded to the apps unchanged.
		status := h.serveGateway(w, r)
		h.record(r, id, rt, outcomeNone, status, start, "")
		return
	}
	r.Header["X-Request-Id"] = ids // forwarded upstream
	outcome := outcomeNone
	defer func() {
		// ReverseProxy aborts the response (panics with ErrAbortHandler)
		// when the upstream fails or the client goes away after it began.
		// Such a request is logged and counted too, then the abort goes on
		// (issue #6).
		if p := recover(); p != nil {
			if p == http.ErrAbortHandler {
				status, reason := http.StatusBadGateway, "upstream_aborted"
				if r.Context().Err() != nil {
					status, reason = statusClientClosed, "client_gone"
				}
				h.record(r, id, rt, outcome, status, start, reason)
			}
			panic(p)
		}
	}()

	var status int
	if h.tenants != nil {
		t, known := h.tenants.of(r)
		p := t.p
		switch {
		case !known && h.tenants.reject:
			status = http.StatusForbidden
			if rt.cacheable() {
				w.Header()["Cache-Status"] = statusUnknownTenant
			}
			writeError(w, status, codeBadRequest, "This service is not allowed to use the gateway.")
			h.record(r, id, rt, outcome, status, start, "")
			return
		case !(p.exempt && rt.cacheable()) && !h.allowTenant(w, r, rt, t):
			h.record(r, id, rt, outcome, http.StatusTooManyRequests, start, "")
			return
		}
		if p.exempt && rt.cacheable() {
			// Counted after the cache lookup, only if it misses.
			r = r.WithContext(context.WithValue(r.Context(), deferredLimit{}, t))
		}
	}
	switch {
	case r.ContentLength > h.maxBody:
		if rt.cacheable() {
			w.Header()["Cache-Status"] = statusBypass
		}
		status = tooLargeError(w, h.maxBody)
	case rt.cacheable():
		status, outcome = h.serveCached(w, r, rt, entity, start)
	default:
		if r.Body != nil && r.Body != http.NoBody {
			r.Body = http.MaxBytesReader(w, r.Body, h.maxBody)
		}
		if rt.write() {
			status = h.serveWrite(w, r)
		} else {
			status = h.passthrough(w, r)
		}
	}
	h.record(r, id, rt, outcome, status, start, "")
}

// HandleWebhooks makes the gateway answer POSTs to path with wh, the webhook
// receiver. It must be called before the Handler serves requests; path must
// start with /_rzpgate/.
func (h *Handler) HandleWebhooks(path string, wh http.Handler) {
	h.webhookPath, h.webhooks = path, wh
}

// serveGateway answers a request for one of the gateway's own paths: the
// webhook receiver's, or 404.
func (h *Handler) serveGateway(w http.ResponseWriter, r *http.Request) int {
	if h.webhooks != nil && r.URL.Path == h.webhookPath {
		sw := &statusWriter{ResponseWriter: w}
		h.webhooks.ServeHTTP(sw, r)
		return sw.status
	}
	writeError(w, http.StatusNotFound, codeBadRequest, "The requested URL was not found on the server.")
	return http.StatusNotFound
}

// Purge deletes every entry tagged with any of tags in every caller's
// partition, fenced against fills in flight, as a write's purge does. It is
// how webhooks purge what changed inside Razorpay, counted with the writes'
// purges.
func (h *Handler) Purge(ctx context.Context, tags ...string) error {
	if len(tags) == 0 {
		return nil
	}
	h.purges.Add(1)
	if err := h.store.Purge(ctx, tags...); err != nil {
		h.metrics.purges["error"].Inc()
		return err
	}
	h.metrics.purges["ok"].Inc()
	return nil
}

// record counts a request in the metrics and writes its access-log line;
// abort, if not empty, says why its response was cut off.
func (h *Handler) record(r *http.Request, id string, rt route, o outcome, status int, start time.Time, abort string) {
	var now time.Time
	var d time.Duration
	if h.realClock {
		d = time.Since(start)
		now = start.Add(d)
	} else {
		now = h.clock()
		d = now.Sub(start)
	}
	h.metrics.observe(rt, r.Method, o, status, d)
	if h.accessLog != nil {
		writeAccessLine(h.accessLog, &accessLine{time: now, id: id, method: r.Method, route: rt.String(),
			path: r.URL.Path, status: status, cache: o.String(), duration: d, abort: abort})
		return
	}
	if !h.log.Enabled(r.Context(), slog.LevelInfo) {
		return
	}
	attrs := []slog.Attr{
		slog.String("request_id", id),
		slog.String("method", r.Method),
		slog.String("route", rt.String()),
		slog.String("path", r.URL.Path),
		slog.Int("status", status),
		slog.String("cache", o.String()),
		slog.Int64("duration_us", d.Microseconds()),
	}
	if abort != "" {
		attrs = append(attrs, slog.String("abort", abort))
	}
	h.log.LogAttrs(r.Context(), slog.LevelInfo, "request", attrs...)
}

// serveCached answers a GET of a cacheable route: from the cache when a
// fresh entry exists, else from one coalesced upstream fetch that fills it.
func (h *Handler) serveCached(w http.ResponseWriter, r *http.Request, rt route, entity string, now time.Time) (int, outcome) {
	if len(r.URL.RawQuery) > maxQueryLen {
		return h.bypass(w, r) // keys and tag sets stay small
	}
	q := h.keys.parseCanonical(r.URL.RawQuery)
	if !q.ok {
		return h.bypass(w, r)
	}
	if rt == routeQRCodes {
		if !isID(q.customer, "cust_") {
			return h.bypass(w, r)
		}
		entity = q.customer
	}
	auth := r.Header["Authorization"]
	if len(auth) == 0 {
		return h.bypass(w, r) // nothing to partition by; Razorpay will refuse it
	}
	if r.ContentLength != 0 {
		// A GET with a body is unusual enough not to cache: the body is not
		// in the key, and a coalesced fetch would send only one caller's.
		return h.bypass(w, r)
	}
	if len(r.Header["Connection"]) > 0 && namesHeaders(r.Header["Connection"]) {
		// ReverseProxy drops the headers Connection names, keyed ones
		// included: the fill would not send what the key says it did.
		return h.bypass(w, r)
	}
	dir := parseRequestDirectives(r.Header)
	if dir.noStore {
		return h.bypass(w, r)
	}
	// Every value of both headers is forwarded, so every value is keyed: a
	// repeated header must not share an entry with its first value alone.
	key := h.keys.key(rt, strings.Join(auth, "\n"), strings.Join(r.Header["X-Razorpay-Account"], "\n"), entity, q.canonical)

	var stale *cache.Entry
	if !dir.noCache {
		e, err := h.store.Get(r.Context(), key)
		switch {
		case err == nil && now.Before(e.Expires()):
			if status, ok := h.writeHit(w, r, e, now, hitStatus(int64(e.Expires().Sub(now)/time.Second))); ok {
				return status, outcomeHit
			}
		case err == nil:
			// Expired, but kept to answer if the upstream fails: never
			// served as fresh (issue #7).
			stale = e
			if now.Before(e.Expires().Add(h.swr[rt])) {
				if status, ok := h.writeStale(w, r, e, now, "stale-while-revalidate"); ok {
					h.revalidate(r, rt, entity, key)
					return status, outcomeStale
				}
			}
		case !errors.Is(err, cache.ErrMiss):
			h.storeFailed(r.Context(), "get", err)
		}
	}
	if t, ok := r.Context().Value(deferredLimit{}).(tenantRef); ok {
		if !h.allowTenant(w, r, rt, t) {
			return http.StatusTooManyRequests, outcomeMiss
		}
		r = r.WithContext(context.WithValue(r.Context(), deferredLimit{}, nil)) // counted once
	}
	return h.fill(w, r, rt, entity, key, dir.noCache, stale)
}

// deferredLimit carries, in a request's context, the tenant whose limit
// exempts hits: it is counted only if the cache misses.
type deferredLimit struct{}

// tenantRef is a request's tenant: its name, its rate-limit bucket (see
// tenants.of) and its policy.
type tenantRef struct {
	name, bucket string
	p            *policy
}

// writeHit writes a stored entry with the given Cache-Status: its bytes as
// stored when the client accepts their encoding, else decompressed. It
// reports false, writing nothing, if a stored body cannot be decoded.
func (h *Handler) writeHit(w http.ResponseWriter, r *http.Request, e *cache.Entry, now time.Time, cacheStatus []string) (int, bool) {
	body := e.Body
	hdr := w.Header()
	for k, v := range e.Header {
		hdr[k] = v // shared, read-only slices: the entry is immutable
	}
	if enc := e.Header["Content-Encoding"]; len(enc) > 0 && !acceptsGzip(r.Header) {
		plain, err := gunzip(e.Body, h.maxEntry)
		if err != nil {
			for k := range e.Header {
				delete(hdr, k)
			}
			h.storeFailed(r.Context(), "decode", err)
			return 0, false
		}
		body = plain
		delete(hdr, "Content-Encoding")
		hdr["Content-Length"] = []string{strconv.Itoa(len(body))}
	}
	hdr["Cache-Status"] = cacheStatus
	hdr["Age"] = ageValue(int64(max(now.Sub(e.StoredAt), 0) / time.Second))
	w.WriteHeader(e.Status)
	w.Write(body)
	return e.Status, true
}

// bypass passes a request of a cacheable route through without touching
// the cache.
func (h *Handler) bypass(w http.ResponseWriter, r *http.Request) (int, outcome) {
	// A tenant whose hits are exempt is counted here: a bypass is no hit.
	// (Any cacheable route stands for r's: it only selects Cache-Status.)
	if t, ok := r.Context().Value(deferredLimit{}).(tenantRef); ok && !h.allowTenant(w, r, routePayment, t) {
		return http.StatusTooManyRequests, outcomeBypass
	}
	w.Header()["Cache-Status"] = statusBypass
	return h.passthrough(w, r), outcomeBypass
}

// passthrough forwards a request unchanged, within the upstream timeout
// and the budget, and returns the status written.
func (h *Handler) passthrough(w http.ResponseWriter, r *http.Request) int {
	ctx, cancel := context.WithTimeout(r.Context(), h.timeout)
	defer cancel()
	if res, ok := h.spend(ctx, false); !ok {
		return h.writeBudgetSpent(w, r, res)
	}
	sw := &statusWriter{ResponseWriter: w}
	h.pass.ServeHTTP(sw, r.WithContext(withGroup(ctx, groupOfPath(r.URL.Path))))
	return sw.status
}

// storeFailed counts a failed store operation; the gateway carries on
// without the cache. An unavailable store (Redis down, breaker open) is not
// logged per request: the Guard logs its state changes once each. A call
// cut short because ctx's client went away says nothing about the store and
// is not counted: the request is logged as the client's abort (499).
func (h *Handler) storeFailed(ctx context.Context, op string, err error) {
	if ctx.Err() != nil {
		return
	}
	h.metrics.store[op].Inc()
	if !errors.Is(err, cache.ErrUnavailable) {
		h.log.Warn("cache store failed", slog.String("op", op), slog.Any("error", err))
	}
}

// statusWriter records the status a handler writes.
type statusWriter struct {
	http.ResponseWriter
	status int
}

func (s *statusWriter) WriteHeader(code int) {
	if s.status == 0 && code >= 200 {
		s.status = code
	}
	s.ResponseWriter.WriteHeader(code)
}

func (s *statusWriter) Write(p []byte) (int, error) {
	if s.status == 0 {
		s.status = http.StatusOK
	}
	return s.ResponseWriter.Write(p)
}

// Unwrap lets http.ResponseController reach the connection (flush, hijack).
func (s *statusWriter) Unwrap() http.ResponseWriter { return s.ResponseWriter }

// requestID returns the client's X-Request-Id when it is short and plain,
// else a new random one.
func requestID(r *http.Request) string {
	if v := r.Header["X-Request-Id"]; len(v) == 1 && validRequestID(v[0]) {
		return v[0]
	}
	var b [8]byte
	binary.LittleEndian.PutUint64(b[:], mrand.Uint64())
	return hex.EncodeToString(b[:])
}

func validRequestID(s string) bool {
	if s == "" || len(s) > 64 {
		return false
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; !isAlnum(c) && c != '-' && c != '_' && c != '.' {
			return false
		}
	}
	return true
}

// gunzip decompresses a stored body, refusing more than limit bytes.
func gunzip(b []byte, limit int64) ([]byte, error) {
	zr, err := newGzipReader(b)
	if err != nil {
		return nil, err
	}
	out, err := io.ReadAll(io.LimitReader(zr, limit+1))
	if err != nil {
		return nil, fmt.Errorf("decompressing stored body: %w", err)
	}
	if int64(len(out)) > limit {
		return nil, errors.New("decompressing stored body: larger than the entry limit")
	}
	return out, nil
}
