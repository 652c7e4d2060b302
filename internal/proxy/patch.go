package proxy

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
)

// patchKey carries the written QR code's id to afterPatch and patchFailed.
type patchKey struct{}

// serveQRWrite forwards a write to a QR code (the PATCH of its notes, or
// any other method match recognises as a write). The purge happens in
// afterPatch or patchFailed, before ReverseProxy writes anything to the
// client, so once the write has returned no later GET can be answered with
// what it replaced.
func (h *Handler) serveQRWrite(w http.ResponseWriter, r *http.Request, qrID string) int {
	sw := &statusWriter{ResponseWriter: w}
	h.patch.ServeHTTP(sw, r.WithContext(context.WithValue(r.Context(), patchKey{}, qrID)))
	return sw.status
}

// afterPatch is the QR write proxy's ModifyResponse. Unless Razorpay
// definitely rejected the write (4xx), it purges every entry tagged with the
// QR code and with the customer the response names.
func (h *Handler) afterPatch(resp *http.Response) error {
	qrID, _ := resp.Request.Context().Value(patchKey{}).(string)
	if resp.StatusCode >= 400 && resp.StatusCode < 500 {
		h.metrics.purges.WithLabelValues("skipped").Inc()
		return nil
	}
	tags := []string{qrID}
	if resp.StatusCode < 300 {
		// Read the head of the body for the customer id, then hand the whole
		// body on unchanged.
		head, err := io.ReadAll(io.LimitReader(resp.Body, h.maxEntry))
		if err != nil {
			return err // patchFailed purges the QR code and answers 502
		}
		resp.Body = struct {
			io.Reader
			io.Closer
		}{io.MultiReader(bytes.NewReader(head), resp.Body), resp.Body}
		var qr struct {
			CustomerID string `json:"customer_id"`
		}
		if json.Unmarshal(head, &qr) == nil && isID(qr.CustomerID, "cust_") {
			tags = append(tags, qr.CustomerID)
		}
	}
	h.purge(qrID, tags)
	return nil
}

// patchFailed is the QR write proxy's ErrorHandler. The outcome of a write
// whose exchange failed is unknown (Razorpay may have applied it), so it
// purges the QR code before answering, unless the request body was refused
// for its size and so never reached Razorpay whole.
func (h *Handler) patchFailed(w http.ResponseWriter, r *http.Request, err error) {
	var tooLarge *http.MaxBytesError
	if qrID, ok := r.Context().Value(patchKey{}).(string); ok && !errors.As(err, &tooLarge) {
		h.purge(qrID, []string{qrID})
	}
	upstreamError(w, r, err)
}

// purge deletes the entries tagged with tags in every partition. Its context
// is detached from the client's: a write applied upstream must be purged even
// if its client has gone away.
func (h *Handler) purge(qrID string, tags []string) {
	h.purges.Add(1)
	ctx, cancel := context.WithTimeout(context.Background(), h.timeout)
	defer cancel()
	if err := h.store.Purge(ctx, tags...); err != nil {
		h.metrics.purges.WithLabelValues("error").Inc()
		h.log.Error("purging after a write to a QR code failed", slog.String("qr_code", qrID), slog.Any("error", err))
		return
	}
	h.metrics.purges.WithLabelValues("ok").Inc()
}
