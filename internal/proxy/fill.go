package proxy

import (
	"bytes"
	"compress/gzip"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"

	"github.com/rzpgate/rzpgate/internal/cache"
)

// fillResult is the outcome of one upstream fetch, shared read-only by every
// request coalesced into it.
type fillResult struct {
	origin   *http.Request // the request that started the fetch
	hit      *cache.Entry  // set when the re-check found a stored entry
	status   int
	header   http.Header
	body     []byte
	stored   bool
	detail   string // RFC 9211 detail when the response was not stored
	tooLarge bool   // the body exceeded MaxEntryBytes: each request refetches
}

// fill answers a miss from an upstream fetch that concurrent misses of the
// same key share (request coalescing), and stores its response.
func (h *Handler) fill(w http.ResponseWriter, r *http.Request, rt route, entity, key string, refresh bool) (int, outcome) {
	fence, err := h.store.Fence(r.Context())
	canStore := err == nil
	if err != nil {
		h.storeFailed("fence", err)
	}
	// The flight key carries both purge counters: requests that arrive after
	// a purge start a new fetch instead of joining one that may predate it.
	// A refresh (client no-cache) never joins a plain miss, whose re-check
	// could answer it from the cache.
	flight := key + "|" + strconv.FormatUint(fence.Epoch, 10) + "|" + strconv.FormatUint(h.purges.Load(), 10)
	if refresh {
		flight += "|refresh"
	}
	if !canStore {
		// Without a fence this replica cannot tell whether another replica
		// purged since a flight started, so it coalesces nothing: each
		// request fetches for itself until the store answers again.
		flight += "|" + strconv.FormatUint(h.unfenced.Add(1), 10)
	}
	ch := h.flights.DoChan(flight, func() (any, error) {
		return h.fetchFill(r, rt, entity, key, fence, canStore, refresh), nil
	})
	var res *fillResult
	select {
	case v := <-ch:
		res = v.Val.(*fillResult)
	case <-r.Context().Done():
		return statusClientClosed, outcomeMiss
	}
	if res.hit != nil {
		if status, ok := h.writeHit(w, r, res.hit, h.clock()); ok {
			return status, outcomeHit
		}
		return h.bypass(w, r)
	}

	fwd, outcome := "miss", outcomeMiss
	if refresh {
		fwd, outcome = "request", outcomeRefresh
	}
	collapsed := res.origin != r
	if collapsed {
		outcome = outcomeCollapsed
	}
	if res.tooLarge {
		// Nothing was kept to share: each request streams its own copy.
		w.Header()["Cache-Status"] = fwdStatus(fwd, 0, false, false, "too-large")
		return h.passthrough(w, r), outcome
	}
	hdr := w.Header()
	for k, v := range res.header {
		hdr[k] = v // shared, read-only slices
	}
	hdr["Cache-Status"] = fwdStatus(fwd, res.status, res.stored, collapsed, res.detail)
	w.WriteHeader(res.status)
	w.Write(res.body)
	return res.status, outcome
}

// fetchFill fetches from the upstream for a flight and offers a successful
// response to the store. It runs on the flight's own goroutine, detached
// from the client that started it, so that client going away does not fail
// the others waiting on the same fetch.
func (h *Handler) fetchFill(r *http.Request, rt route, entity, key string, fence cache.Fence, canStore, refresh bool) *fillResult {
	c := newCapture(int(h.maxEntry))
	// The fill's context is new, not derived from the client's: it must
	// outlive the client, and it must not carry the server's context key, or
	// ReverseProxy would panic on a body copy error instead of returning.
	ctx, cancel := context.WithTimeout(context.WithValue(context.Background(), captureKey{}, c), h.timeout)
	defer cancel()

	if !refresh {
		// Re-check the cache inside the flight: a flight for this key that
		// finished between this request's miss and the start of this one has
		// just stored the entry, and fetching again would be wasted.
		if e, err := h.store.Get(ctx, key); err == nil {
			return &fillResult{origin: r, hit: e}
		}
	}

	h.fetch.ServeHTTP(c, r.Clone(ctx))
	received := h.clock()
	res := &fillResult{origin: r, status: c.status, header: c.header, body: c.body, tooLarge: c.overflow}
	if res.tooLarge {
		h.metrics.fills.WithLabelValues(rt.String(), "uncacheable").Inc()
		return res
	}
	c.header["Content-Length"] = []string{strconv.Itoa(len(c.body))}
	if c.status != http.StatusOK || !storableResponse(c.header) || c.header.Get("Content-Encoding") != "" {
		h.metrics.fills.WithLabelValues(rt.String(), "uncacheable").Inc()
		return res
	}
	tags, ok := extractTags([]string{entity}, c.body)
	if !ok {
		res.detail = "too-many-ids"
		h.metrics.fills.WithLabelValues(rt.String(), "uncacheable").Inc()
		return res
	}
	if !canStore {
		res.detail = "store-unavailable"
		h.metrics.fills.WithLabelValues(rt.String(), "error").Inc()
		return res
	}
	e := &cache.Entry{
		Status:   http.StatusOK,
		Header:   replayHeader(c.header),
		Body:     c.body,
		Tags:     tags,
		StoredAt: received,
		TTL:      h.ttl[rt],
	}
	switch err := h.store.Set(ctx, key, e, fence); {
	case err == nil:
		res.stored = true
		h.metrics.fills.WithLabelValues(rt.String(), "stored").Inc()
	case errors.Is(err, cache.ErrFenced):
		res.detail = "fenced"
		h.metrics.fills.WithLabelValues(rt.String(), "fenced").Inc()
	default:
		res.detail = "store-unavailable"
		h.metrics.fills.WithLabelValues(rt.String(), "error").Inc()
		h.storeFailed("set", err)
	}
	return res
}

// replayHeader returns the headers of an upstream response worth replaying
// on hits: its content type and length. Anything per-response (Date,
// Set-Cookie, tracing ids) is left out.
func replayHeader(h http.Header) http.Header {
	out := http.Header{"Content-Length": h["Content-Length"]}
	if ct := h["Content-Type"]; len(ct) > 0 {
		out["Content-Type"] = ct
	}
	return out
}

// captureKey carries a fill's capture to readFill through the request context.
type captureKey struct{}

// readFill is the fill proxy's ModifyResponse: it reads the whole upstream
// body into the fill's capture before ReverseProxy copies anything, so that a
// body cut short by the upstream becomes an error (a 502 from the
// ErrorHandler) rather than a truncated response that could be stored.
func readFill(resp *http.Response) error {
	c, ok := resp.Request.Context().Value(captureKey{}).(*capture)
	if !ok {
		return nil
	}
	defer resp.Body.Close()
	var r io.Reader = resp.Body
	if ce := resp.Header.Get("Content-Encoding"); strings.EqualFold(ce, "gzip") {
		// Asked for identity, the upstream compressed anyway: decode it,
		// so what is stored and shared suits every client.
		zr, err := gzip.NewReader(resp.Body)
		if err != nil {
			return fmt.Errorf("reading upstream gzip body: %w", err)
		}
		r = zr
		resp.Header.Del("Content-Encoding")
		resp.Header.Del("Content-Length")
	}
	body, err := io.ReadAll(io.LimitReader(r, int64(c.limit)+1))
	if err != nil {
		return fmt.Errorf("reading upstream body: %w", err)
	}
	if len(body) > c.limit {
		c.overflow = true
	} else {
		c.body = body
	}
	resp.Body = http.NoBody
	return nil
}

func newGzipReader(b []byte) (io.Reader, error) {
	zr, err := gzip.NewReader(bytes.NewReader(b))
	if err != nil {
		return nil, fmt.Errorf("opening stored gzip body: %w", err)
	}
	return zr, nil
}
