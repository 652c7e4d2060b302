package proxy

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"mime"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/rzpgate/rzpgate/internal/limiter"
)

// writeKey carries a write's purge tags to afterWrite and writeFailed.
type writeKey struct{}

// serveWrite forwards a write: any method but GET, HEAD and OPTIONS. The
// entries it may change are purged before ReverseProxy writes anything to
// the client, so once the write has returned no later GET can be answered
// with what it replaced (issue #2). They are the entries tagged with the
// Razorpay ids in its path (PATCH /v1/payments/qr_codes/qr_X), in its
// request body (the customer_id of a QR code being created) and in its
// response (the customer of the PATCHed QR code).
//
// A write, once forwarded, runs to its own completion or to the upstream
// timeout, whatever its client does: Razorpay may commit it anyway, and only
// its outcome tells what to purge (issue #6).
func (h *Handler) serveWrite(w http.ResponseWriter, r *http.Request) int {
	tags := pathIDs(r.URL.Path)
	if scanBody(r.Header) && r.Body != nil && r.Body != http.NoBody {
		body, err := io.ReadAll(r.Body) // bounded by ServeHTTP's MaxBytesReader
		if err != nil {
			// Nothing was forwarded: the body was too large, or the client
			// stopped sending it.
			var tooLarge *http.MaxBytesError
			if errors.As(err, &tooLarge) {
				return tooLargeError(w, tooLarge.Limit)
			}
			writeError(w, http.StatusBadRequest, codeBadRequest, "The request body could not be read.")
			return http.StatusBadRequest
		}
		r.Body = io.NopCloser(bytes.NewReader(body))
		r.ContentLength = int64(len(body))
		tags = bodyIDs(tags, body, r.Header.Get("Content-Type"))
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(r.Context()), h.timeout)
	defer cancel()
	if res, ok := h.spend(ctx, true); !ok {
		return h.writeBudgetSpent(w, r, res) // nothing was sent: nothing to purge
	}
	ctx = withGroup(ctx, groupOfPath(r.URL.Path))
	sw := &statusWriter{ResponseWriter: w}
	h.write.ServeHTTP(sw, r.WithContext(context.WithValue(ctx, writeKey{}, tags)))
	return sw.status
}

// scanBody reports whether a request body may name entities worth purging:
// JSON or a form, as the SDKs send. Other bodies (file uploads) pass
// through as they are.
func scanBody(h http.Header) bool {
	mt, _, _ := mime.ParseMediaType(h.Get("Content-Type"))
	return mt == "application/json" || mt == "application/x-www-form-urlencoded"
}

// maxWriteTags bounds the tags one write purges: each leaves a purge mark
// for the fence retention, so a body naming thousands of ids must not cost
// thousands of marks.
const maxWriteTags = 64

// bodyIDs appends to ids the Razorpay ids a write's JSON or form body
// names in an id field: "id" or a name ending in "_id" (customer_id,
// payment_id), decoded first so that escapes (cust\u005f..., cust%5F...)
// cannot hide one. Notes are free text and are skipped. At most
// maxWriteTags ids are kept.
func bodyIDs(ids []string, body []byte, contentType string) []string {
	mt, _, _ := mime.ParseMediaType(contentType)
	if mt == "application/x-www-form-urlencoded" {
		form, err := url.ParseQuery(string(body))
		if err != nil {
			return ids
		}
		for k, vs := range form {
			if idField(k) && !strings.HasPrefix(k, "notes[") {
				for _, v := range vs {
					ids = addID(ids, v)
				}
			}
		}
		return ids
	}
	var v any
	if json.Unmarshal(body, &v) != nil {
		return ids
	}
	return jsonIDs(ids, v)
}

// jsonIDs walks a decoded JSON value for id fields.
func jsonIDs(ids []string, v any) []string {
	switch v := v.(type) {
	case map[string]any:
		for k, e := range v {
			if k == "notes" {
				continue
			}
			if s, ok := e.(string); ok && idField(k) {
				ids = addID(ids, s)
			} else {
				ids = jsonIDs(ids, e)
			}
		}
	case []any:
		for _, e := range v {
			ids = jsonIDs(ids, e)
		}
	}
	return ids
}

func idField(k string) bool { return k == "id" || strings.HasSuffix(k, "_id") }

// addID appends s to ids if it is a Razorpay id not already there, up to
// maxWriteTags.
func addID(ids []string, s string) []string {
	if len(ids) < maxWriteTags && isAnyID(s) && !slices.Contains(ids, s) {
		ids = append(ids, s)
	}
	return ids
}

// afterWrite is the write proxy's ModifyResponse. A 4xx is a definite
// rejection and purges nothing. A 5xx leaves the outcome unknown (Razorpay
// may still commit it), so it holds the write's tags. Any other answer
// purges the write's tags and the ids its response names.
func (h *Handler) afterWrite(resp *http.Response) error {
	tags, _ := resp.Request.Context().Value(writeKey{}).([]string)
	switch {
	case resp.StatusCode >= 400 && resp.StatusCode < 500:
		if len(tags) > 0 {
			h.metrics.purges["skipped"].Inc()
		}
		return nil
	case resp.StatusCode >= 500:
		h.purge(tags, h.writeHold)
		return nil
	}
	if resp.StatusCode < 300 {
		// Read the head of the body for the ids it names, then hand the
		// whole body on unchanged.
		head, err := io.ReadAll(io.LimitReader(resp.Body, h.maxEntry))
		if err != nil {
			return err // writeFailed holds the tags and answers 502 or 504
		}
		resp.Body = struct {
			io.Reader
			io.Closer
		}{io.MultiReader(bytes.NewReader(head), resp.Body), resp.Body}
		tags = bodyIDs(slices.Clip(tags), head, "application/json")
	}
	h.purge(tags, 0)
	return nil
}

// writeFailed is the write proxy's ErrorHandler. The outcome of a write
// whose exchange failed (a timeout, a reset, an unreadable answer) is
// unknown: Razorpay may have applied it, or may yet. Its tags are purged and
// held, so that no read fills them with what the write may replace until
// the write can no longer commit. A request body refused for its size never
// reached Razorpay whole, and purges nothing.
func (h *Handler) writeFailed(w http.ResponseWriter, r *http.Request, err error) {
	var tooLarge *http.MaxBytesError
	// A write refused by an open breaker never left the gateway.
	if tags, ok := r.Context().Value(writeKey{}).([]string); ok && !errors.As(err, &tooLarge) && !errors.Is(err, limiter.ErrOpen) {
		h.purge(tags, h.writeHold)
	}
	h.upstreamError(w, r, err)
}

// purge deletes the entries tagged with tags in every partition, and holds
// them for hold if it is positive. Its context is detached from the
// client's: a write applied upstream must be purged even if its client has
// gone away.
func (h *Handler) purge(tags []string, hold time.Duration) {
	if len(tags) == 0 {
		return
	}
	h.purges.Add(1)
	ctx, cancel := context.WithTimeout(context.Background(), h.timeout)
	defer cancel()
	var err error
	if hold > 0 {
		err = h.store.Hold(ctx, hold, tags...)
	} else {
		err = h.store.Purge(ctx, tags...)
	}
	if err != nil {
		h.metrics.purges["error"].Inc()
		h.log.Error("purging after a write failed", slog.Any("tags", tags), slog.Any("error", err))
		return
	}
	if hold > 0 {
		h.metrics.purges["held"].Inc()
		return
	}
	h.metrics.purges["ok"].Inc()
}
