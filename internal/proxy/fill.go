package proxy

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/rzpgate/rzpgate/internal/cache"
	"github.com/rzpgate/rzpgate/internal/limiter"
)

// fillResult is the outcome of one upstream fetch, shared read-only by every
// request coalesced into it.
type fillResult struct {
	origin *http.Request // the request that started the fetch
	hit    *cache.Entry  // set when the re-check found a stored entry
	status int
	header http.Header
	body   []byte
	stored bool
	detail string // RFC 9211 detail when the response was not stored

	// budget is set when the upstream budget refused the fetch: nothing
	// was sent, and each request answers from its stale copy or with 429.
	budget *limiter.Result
	// failed says why the fetch failed, when it did so in a way a stale
	// copy may answer (stale-if-error): "breaker-open", or
	// "stale-if-error" for a 5xx, a timeout or a connection error.
	failed string

	// tooLarge is set when the body exceeded MaxEntryBytes. Then stream
	// holds the whole body for origin alone, which must call release once
	// done with it; every other request fetches its own copy.
	tooLarge bool
	stream   io.Reader
	release  func()
}

// fill answers a miss from an upstream fetch that concurrent misses of the
// same key share (request coalescing), and stores its response. stale, if
// not nil, is an expired entry that answers instead when the fetch fails or
// the budget refuses it.
func (h *Handler) fill(w http.ResponseWriter, r *http.Request, rt route, entity, key string, refresh bool, stale *cache.Entry) (int, outcome) {
	fence, err := h.store.Fence(r.Context())
	canStore := err == nil
	if err != nil {
		h.storeFailed(r.Context(), "fence", err)
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
	fetch := func() (any, error) {
		return h.fetchFill(r, rt, entity, key, fence, canStore, refresh), nil
	}
	var res *fillResult
	if _, led := h.leaders.LoadOrStore(flight, r); !led {
		// The first request of a flight fetches on its own goroutine:
		// DoChan would start another and hand the result back, which on
		// a miss costs about 40 µs of wake-ups (issue #11). The fetch is
		// detached from this request's client, so the requests that
		// join it get their answer even if that client goes away; this
		// request then waits for it too, holding nothing more than the
		// fetch itself holds. A request that slips in between two flights
		// just takes DoChan's path.
		v, _, _ := h.flights.Do(flight, fetch)
		h.leaders.CompareAndDelete(flight, r)
		res = v.(*fillResult)
		if r.Context().Err() != nil {
			if res.origin == r && res.release != nil {
				res.release()
			}
			return statusClientClosed, outcomeMiss
		}
	} else {
		ch := h.flights.DoChan(flight, fetch)
		select {
		case v := <-ch:
			res = v.Val.(*fillResult)
		case <-r.Context().Done():
			// A stream kept for this request would hold its upstream
			// connection until the timeout: release it as soon as it
			// comes.
			go func() {
				if res := (<-ch).Val.(*fillResult); res.origin == r && res.release != nil {
					res.release()
				}
			}()
			return statusClientClosed, outcomeMiss
		}
	}
	if res.hit != nil {
		now := h.clock()
		if status, ok := h.writeHit(w, r, res.hit, now, hitStatus(int64(res.hit.Expires().Sub(now)/time.Second))); ok {
			return status, outcomeHit
		}
		return h.bypass(w, r)
	}
	if reason := res.failed; reason != "" || res.budget != nil {
		if res.budget != nil {
			reason = "budget"
		}
		if stale != nil {
			if status, ok := h.writeStale(w, r, stale, h.clock(), reason); ok {
				return status, outcomeStale
			}
		}
		if res.budget != nil {
			w.Header()["Cache-Status"] = statusBudget
			return h.writeBudgetSpent(w, r, *res.budget), outcomeMiss
		}
	}

	fwd, outcome := "miss", outcomeMiss
	if refresh {
		fwd, outcome = "request", outcomeRefresh
	}
	collapsed := res.origin != r
	if collapsed {
		outcome = outcomeCollapsed
		h.metrics.coalesced.Inc()
	}
	if res.tooLarge {
		w.Header()["Cache-Status"] = fwdStatus(fwd, res.status, false, false, "too-large")
		if collapsed {
			// Nothing was kept to share: this request fetches its own copy.
			return h.passthrough(w, r), outcome
		}
		return h.writeStream(w, res), outcome
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

// writeStream answers the request that started a fetch whose body was too
// large to keep, from that same fetch (issue #6: never fetch twice for one
// request). A body that fails midway aborts the response, so that the
// client cannot take a cut body for a whole one.
func (h *Handler) writeStream(w http.ResponseWriter, res *fillResult) int {
	defer res.release()
	hdr := w.Header()
	for k, v := range res.header {
		hdr[k] = v
	}
	w.WriteHeader(res.status)
	buf := copyBuffers.Get()
	defer copyBuffers.Put(buf)
	if _, err := io.CopyBuffer(struct{ io.Writer }{w}, res.stream, buf); err != nil {
		panic(http.ErrAbortHandler)
	}
	return res.status
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
	ctx, cancel := context.WithTimeout(withGroup(context.WithValue(context.Background(), captureKey{}, c), groupOf(rt)), h.timeout)

	if !refresh {
		// Re-check the cache inside the flight: a flight for this key that
		// finished between this request's miss and the start of this one has
		// just stored the entry, and fetching again would be wasted.
		if e, err := h.store.Get(ctx, key); err == nil && h.clock().Before(e.Expires()) {
			cancel()
			return &fillResult{origin: r, hit: e}
		}
	}
	if res, ok := h.spend(ctx, false); !ok {
		cancel()
		return &fillResult{origin: r, budget: &res}
	}

	h.fetch.ServeHTTP(c, r.Clone(ctx))
	if c.stream != nil {
		h.metrics.fill(rt, "uncacheable")
		return &fillResult{origin: r, status: c.status, header: c.header, tooLarge: true, stream: c.stream,
			release: func() { c.stream.Close(); cancel() }}
	}
	defer cancel()
	received := h.clock()
	res := &fillResult{origin: r, status: c.status, header: c.header, body: c.body, failed: c.failed}
	c.header["Content-Length"] = []string{strconv.Itoa(len(c.body))}
	if res.failed == "" && c.status >= 500 {
		res.failed = "stale-if-error" // a 5xx from the upstream itself
	}
	if c.status != http.StatusOK {
		h.metrics.fill(rt, "uncacheable")
		return res
	}
	ttl, noStale, why := h.lifetime(c, rt, received)
	stale := h.stale[rt]
	if noStale {
		stale = 0 // the upstream forbids serving it stale
	}
	if why == "" {
		if tags, ok := extractTags([]string{entity}, c.body); ok {
			return h.store1(ctx, res, rt, key, fence, canStore, &cache.Entry{
				Status:   http.StatusOK,
				Header:   replayHeader(c.header),
				Body:     c.body,
				Tags:     tags,
				StoredAt: received,
				TTL:      ttl,
				Stale:    stale,
			})
		}
		why = "too-many-ids"
	}
	res.detail = why
	h.metrics.fill(rt, "uncacheable")
	return res
}

// store1 offers one fill's entry to the store and notes the result in res.
func (h *Handler) store1(ctx context.Context, res *fillResult, rt route, key string, fence cache.Fence, canStore bool, e *cache.Entry) *fillResult {
	if !canStore {
		res.detail = "store-unavailable"
		h.metrics.fill(rt, "error")
		return res
	}
	switch err := h.store.Set(ctx, key, e, fence); {
	case err == nil:
		res.stored = true
		h.metrics.fill(rt, "stored")
	case errors.Is(err, cache.ErrFenced):
		res.detail = "fenced"
		h.metrics.fill(rt, "fenced")
	case errors.Is(err, cache.ErrHeld):
		res.detail = "held"
		h.metrics.fill(rt, "held")
	default:
		res.detail = "store-unavailable"
		h.metrics.fill(rt, "error")
		h.storeFailed(ctx, "set", err)
	}
	return res
}

// lifetime returns how long a fill's 200 may be stored: the route's TTL,
// capped by the upstream's own freshness directives. It returns a reason
// (an RFC 9211 detail) instead when the response must not be stored: only
// a whole body (issue #6: framed by Content-Length, chunked encoding or
// HTTP/2) that is a JSON object, as every cacheable route returns, is kept.
func (h *Handler) lifetime(c *capture, rt route, now time.Time) (time.Duration, bool, string) {
	switch {
	case c.header.Get("Content-Encoding") != "":
		return 0, false, "encoded"
	case !c.framed:
		return 0, false, "incomplete"
	case !isJSONObject(c.header, c.body):
		return 0, false, "not-json"
	}
	return responseLifetime(c.header, h.ttl[rt], now)
}

// isJSONObject reports whether a response is declared JSON and its body
// parses as one JSON object.
func isJSONObject(h http.Header, body []byte) bool {
	mt, _, err := mime.ParseMediaType(h.Get("Content-Type"))
	if err != nil || (mt != "application/json" && !strings.HasSuffix(mt, "+json")) {
		return false
	}
	b := bytes.TrimLeft(body, " \t\r\n")
	return len(b) > 0 && b[0] == '{' && json.Valid(b)
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
// ErrorHandler) rather than a truncated response that could be stored. A
// body larger than the capture's limit is kept open as a stream instead,
// for the request that started the fill.
func readFill(resp *http.Response) error {
	c, ok := resp.Request.Context().Value(captureKey{}).(*capture)
	if !ok {
		return nil
	}
	// A body is whole only if its framing says where it ends: a
	// close-delimited HTTP/1 body cut short looks complete (issue #6).
	c.framed = resp.ProtoMajor >= 2 || resp.ContentLength >= 0 || slices.Contains(resp.TransferEncoding, "chunked")
	var r io.Reader = resp.Body
	if ce := resp.Header.Get("Content-Encoding"); strings.EqualFold(ce, "gzip") {
		// Asked for identity, the upstream compressed anyway: decode it,
		// so what is stored and shared suits every client.
		zr, err := gzip.NewReader(resp.Body)
		if err != nil {
			resp.Body.Close()
			return fmt.Errorf("reading upstream gzip body: %w", err)
		}
		r = zr
		resp.Header.Del("Content-Encoding")
		resp.Header.Del("Content-Length")
	}
	body, err := readBody(r, resp.ContentLength, c.limit)
	if err != nil {
		resp.Body.Close()
		return fmt.Errorf("reading upstream body: %w", err)
	}
	if len(body) > c.limit {
		c.stream = readCloser{io.MultiReader(bytes.NewReader(body), r), resp.Body}
	} else {
		c.body = body
		resp.Body.Close()
	}
	resp.Body = http.NoBody
	return nil
}

// readBody reads r to its end, or up to one byte past limit, into one
// buffer sized from the declared length when there is one (io.ReadAll
// would grow its buffer several times for a typical response).
func readBody(r io.Reader, declared int64, limit int) ([]byte, error) {
	if declared < 0 || declared > int64(limit) {
		return io.ReadAll(io.LimitReader(r, int64(limit)+1))
	}
	// One byte more than declared, so that reaching EOF costs no growth.
	buf := make([]byte, 0, declared+1)
	r = io.LimitReader(r, int64(limit)+1)
	for {
		if len(buf) == cap(buf) {
			buf = append(buf, 0)[:len(buf)] // longer than declared
		}
		n, err := r.Read(buf[len(buf):cap(buf)])
		buf = buf[:len(buf)+n]
		if err == io.EOF {
			return buf, nil
		}
		if err != nil {
			return buf, err
		}
	}
}

// readCloser reads from one reader and closes another.
type readCloser struct {
	io.Reader
	io.Closer
}

func newGzipReader(b []byte) (io.Reader, error) {
	zr, err := gzip.NewReader(bytes.NewReader(b))
	if err != nil {
		return nil, fmt.Errorf("opening stored gzip body: %w", err)
	}
	return zr, nil
}
