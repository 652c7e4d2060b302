package proxy

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/rzpgate/rzpgate/internal/limiter"
)

// TransportConfig sizes the connection pool to the upstream. Zero fields take
// the defaults noted on them.
type TransportConfig struct {
	DialTimeout           time.Duration // 5s
	TLSHandshakeTimeout   time.Duration // 5s
	ResponseHeaderTimeout time.Duration // 30s
	IdleConnTimeout       time.Duration // 90s
	MaxIdleConnsPerHost   int           // 512: keep-alive pool for high concurrency
	MaxConnsPerHost       int           // 0: unlimited
}

// NewTransport returns the HTTP transport to the upstream: connect and
// response-header timeouts, and a keep-alive pool sized for a gateway that
// many services share.
func NewTransport(c TransportConfig) *http.Transport {
	def := func(d *time.Duration, v time.Duration) {
		if *d == 0 {
			*d = v
		}
	}
	def(&c.DialTimeout, 5*time.Second)
	def(&c.TLSHandshakeTimeout, 5*time.Second)
	def(&c.ResponseHeaderTimeout, 30*time.Second)
	def(&c.IdleConnTimeout, 90*time.Second)
	if c.MaxIdleConnsPerHost == 0 {
		c.MaxIdleConnsPerHost = 512
	}
	return &http.Transport{
		Proxy:                 http.ProxyFromEnvironment,
		DialContext:           (&net.Dialer{Timeout: c.DialTimeout, KeepAlive: 30 * time.Second}).DialContext,
		ForceAttemptHTTP2:     true,
		MaxIdleConns:          0, // bounded per host below
		MaxIdleConnsPerHost:   c.MaxIdleConnsPerHost,
		MaxConnsPerHost:       c.MaxConnsPerHost,
		IdleConnTimeout:       c.IdleConnTimeout,
		TLSHandshakeTimeout:   c.TLSHandshakeTimeout,
		ResponseHeaderTimeout: c.ResponseHeaderTimeout,
		ExpectContinueTimeout: time.Second,
	}
}

// newReverseProxy returns a ReverseProxy to target. Its Rewrite sets the
// upstream URL (keeping the request's path and query as sent) and Host, and
// X-Forwarded-*; ReverseProxy itself drops hop-by-hop headers. identity asks
// the upstream for an uncompressed body, which the gateway reads (to store
// it, or to find a PATCHed QR code's customer): Razorpay's bodies are a few
// KiB, so compressing them costs more time on both ends than it saves.
//
// strip, if not empty, names a request header that is never forwarded: the
// tenant header, which is for the gateway alone.
func (h *Handler) newReverseProxy(target *url.URL, rt http.RoundTripper, identity bool, strip string) *httputil.ReverseProxy {
	strip = http.CanonicalHeaderKey(strip)
	return &httputil.ReverseProxy{
		Rewrite: func(pr *httputil.ProxyRequest) {
			if strip != "" {
				delete(pr.Out.Header, strip)
			}
			// ReverseProxy re-encodes a query holding a raw ';' or a bad
			// escape before Rewrite, dropping and re-sorting pairs. Razorpay
			// must get the query exactly as the client sent it, which is
			// what the cache key was derived from (issue #6).
			pr.Out.URL.RawQuery = pr.In.URL.RawQuery
			pr.SetURL(target)
			pr.SetXForwarded()
			if identity {
				pr.Out.Header["Accept-Encoding"] = identityEncoding
			}
		},
		Transport:    rt,
		ErrorHandler: h.upstreamError,
		ErrorLog:     slog.NewLogLogger(h.log.Handler(), slog.LevelWarn),
		BufferPool:   copyBuffers,
	}
}

var identityEncoding = []string{"identity"}

// copyBuffers lends ReverseProxy its 32 KiB copy buffers instead of it
// allocating one per response.
var copyBuffers = &bufferPool{pool: sync.Pool{New: func() any { b := make([]byte, 32<<10); return &b }}}

type bufferPool struct{ pool sync.Pool }

func (p *bufferPool) Get() []byte  { return *p.pool.Get().(*[]byte) }
func (p *bufferPool) Put(b []byte) { p.pool.Put(&b) }

// upstreamError answers a failed upstream exchange in Razorpay's error shape:
// 413 when the client's body was over the limit, 503 with Retry-After while
// the route's circuit breaker is open, 504 on a timeout, 502 when Razorpay
// could not be reached or answered garbage. Nothing is written for a client
// that has gone away. A cache fill's capture also learns why it failed, so
// that a stale copy can answer instead.
func (h *Handler) upstreamError(w http.ResponseWriter, r *http.Request, err error) {
	var tooLarge *http.MaxBytesError
	failed := "stale-if-error"
	switch {
	case errors.As(err, &tooLarge):
		tooLargeError(w, tooLarge.Limit)
		failed = ""
	case errors.Is(err, context.Canceled) && r.Context().Err() != nil:
		// The client went away; it reads no answer. 499 is for the log only.
		w.WriteHeader(statusClientClosed)
		failed = ""
	case errors.Is(err, limiter.ErrOpen):
		failed = "breaker-open"
		if h.breakers != nil {
			w.Header()["Retry-After"] = []string{strconv.FormatInt(ceilSeconds(h.breakers.RetryAfter(GroupOf(r))), 10)}
		}
		writeError(w, http.StatusServiceUnavailable, codeServer, "Razorpay is failing; the gateway is not sending it requests for a few seconds. Please try again shortly.")
	case errors.Is(err, context.DeadlineExceeded) || isTimeout(err):
		writeError(w, http.StatusGatewayTimeout, codeServer, "Razorpay did not answer in time."+retryAdvice(r))
	default:
		writeError(w, http.StatusBadGateway, codeServer, "The gateway could not reach Razorpay or read its answer."+retryAdvice(r))
	}
	if c, ok := w.(*capture); ok {
		c.failed = failed
	}
}

// isBreakerOpen reports whether err is an open breaker's refusal: the
// request never left the gateway.
func isBreakerOpen(err error) bool { return errors.Is(err, limiter.ErrOpen) }

// retryAdvice ends an error's description: a read may simply be retried,
// but a write that failed this way may have been applied (a capture, a
// refund), so its client must check before sending it again.
func retryAdvice(r *http.Request) string {
	if r.Context().Value(writeKey{}) != nil {
		return " The write may or may not have been applied: check its state before retrying."
	}
	return " Please try again shortly."
}

// groupKey carries a request's breaker group in its context.
type groupKey struct{}

// Breaker groups: each has its own circuit breaker, so that one failing
// endpoint does not cut the others off.
const (
	groupPayments     = "payments"
	groupPaymentLinks = "payment_links"
	groupQRCodes      = "qr_codes"
	groupOther        = "other"
)

// Groups lists the breaker groups, for limiter.NewBreakers.
var Groups = []string{groupPayments, groupPaymentLinks, groupQRCodes, groupOther}

// GroupOf returns the breaker group of an upstream request the Handler
// sends; it is the group function for limiter.Breakers.Transport.
func GroupOf(r *http.Request) string {
	if g, ok := r.Context().Value(groupKey{}).(string); ok {
		return g
	}
	return groupOther
}

func withGroup(ctx context.Context, group string) context.Context {
	return context.WithValue(ctx, groupKey{}, group)
}

// groupOf returns a cacheable route's breaker group.
func groupOf(rt route) string {
	switch rt {
	case routePayment:
		return groupPayments
	case routePaymentLink:
		return groupPaymentLinks
	case routeQRCodes, routeQRWrite:
		return groupQRCodes
	}
	return groupOther
}

// groupOfPath returns the breaker group of any other request, by its path.
func groupOfPath(p string) string {
	switch {
	case strings.HasPrefix(p, "/v1/payments/qr_codes"):
		return groupQRCodes
	case strings.HasPrefix(p, "/v1/payment_links"):
		return groupPaymentLinks
	case strings.HasPrefix(p, "/v1/payments"):
		return groupPayments
	}
	return groupOther
}

// tooLargeError answers a request whose body is over limit bytes, and
// returns the status.
func tooLargeError(w http.ResponseWriter, limit int64) int {
	writeError(w, http.StatusRequestEntityTooLarge, codeBadRequest,
		"The request body is larger than "+strconv.FormatInt(limit, 10)+" bytes.")
	return http.StatusRequestEntityTooLarge
}

// statusClientClosed is the status logged when the client went away before
// the answer (nginx's 499).
const statusClientClosed = 499

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

// capture is a ResponseWriter that keeps an upstream response in memory so
// one fetch can answer every coalesced request and fill the cache. readFill
// reads the upstream body into it, up to limit bytes, or keeps a larger
// body as a stream; Write only sees errors written by the ErrorHandler.
type capture struct {
	header http.Header
	status int
	body   []byte
	limit  int
	// framed is whether the body's end was marked (Content-Length,
	// chunked, HTTP/2) rather than by the connection closing.
	framed bool
	// stream, when the body exceeded limit, holds all of it, unread.
	stream io.ReadCloser
	// failed is set by upstreamError when the fetch failed in a way a
	// stale copy may answer: see fillResult.failed.
	failed string
}

func newCapture(limit int) *capture {
	return &capture{header: make(http.Header), limit: limit}
}

func (c *capture) Header() http.Header { return c.header }

func (c *capture) WriteHeader(status int) {
	if status < 200 || c.status != 0 { // 1xx are interim; only the first final counts
		return
	}
	c.status = status
}

func (c *capture) Write(p []byte) (int, error) {
	if c.status == 0 {
		c.status = http.StatusOK
	}
	c.body = append(c.body, p...)
	return len(p), nil
}

// Flush lets ReverseProxy flush streamed responses; there is nothing to do.
func (c *capture) Flush() {}
