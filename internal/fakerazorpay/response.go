package fakerazorpay

import (
	"bytes"
	"compress/gzip"
	"encoding/json"
	"net/http"
	"strconv"
	"strings"
)

// Razorpay's error codes used by the fake.
const (
	codeBadRequest  = "BAD_REQUEST_ERROR"
	codeServerError = "SERVER_ERROR"
)

// Error descriptions the real API uses, shared by several handlers.
const (
	msgNotFoundURL = "The requested URL was not found on the server."
	msgNoSuchID    = "The id provided does not exist"
	msgServerError = "We are facing some trouble completing your request at the moment. Please try again shortly."
)

// response is what a handler decided to answer, computed under the state
// lock and written after it is released and the latency has passed.
type response struct {
	status int
	body   []byte      // JSON, identity-encoded.
	header http.Header // Extra headers such as Allow; may be nil.
}

// errorBody is Razorpay's error envelope. It deliberately has no
// internal_error_code: razorpay-go misreads an error carrying one as a
// success (see shared/seeds/README.md).
type errorBody struct {
	Error errorDetail `json:"error"`
}

// errorDetail is the object inside errorBody.
type errorDetail struct {
	Code        string   `json:"code"`
	Description string   `json:"description"`
	Source      string   `json:"source"`
	Step        string   `json:"step"`
	Reason      string   `json:"reason"`
	Metadata    struct{} `json:"metadata"`
	Field       string   `json:"field,omitempty"`
}

// jsonResponse returns a response with v marshalled as its body.
func jsonResponse(status int, v any) response {
	body, err := json.Marshal(v)
	if err != nil {
		panic("fakerazorpay: marshalling response: " + err.Error()) // Only our own types are marshalled.
	}
	return response{status: status, body: body}
}

// errorResponse returns a Razorpay error with the given code; field names
// the offending request parameter and may be empty.
func errorResponse(status int, code, description, field string) response {
	return jsonResponse(status, errorBody{Error: errorDetail{
		Code:        code,
		Description: description,
		Source:      "NA",
		Step:        "NA",
		Reason:      "NA",
		Field:       field,
	}})
}

// badRequest returns a 400 BAD_REQUEST_ERROR, the status and code Razorpay
// uses for nearly every client error.
func badRequest(description, field string) response {
	return errorResponse(http.StatusBadRequest, codeBadRequest, description, field)
}

// write sends resp, gzip-compressed when the client accepts it, with extra
// added last so that it can override the fake's own headers. f garbles the
// body if resp is a success.
func (resp response) write(w http.ResponseWriter, r *http.Request, extra map[string]string, f BodyFault) {
	if resp.status < 200 || resp.status > 299 {
		f = BodyFault{}
	}
	body, contentType := resp.body, "application/json; charset=UTF-8"
	if f.HTML {
		body, contentType = []byte(htmlPage), "text/html; charset=UTF-8"
	}
	if f.Truncate {
		body = cut(body, f.TruncateBytes)
	}
	h := w.Header()
	for k, vs := range resp.header {
		h[k] = vs
	}
	h.Set("Content-Type", contentType)
	// The representation depends on Accept-Encoding whichever coding is
	// chosen, so Vary goes on identity responses too (RFC 9110, 12.5.5).
	h.Set("Vary", "Accept-Encoding")
	if acceptsGzip(r.Header.Values("Accept-Encoding")) {
		body = gzipBytes(body)
		h.Set("Content-Encoding", "gzip")
	}
	if !f.CloseDelimited {
		h.Set("Content-Length", strconv.Itoa(len(body)))
	}
	for k, v := range extra {
		h.Set(k, v)
	}
	if f.CloseDelimited {
		writeCloseDelimited(w, r, resp.status, body, f)
		return
	}
	w.WriteHeader(resp.status)
	writeBody(r.Context(), w, http.NewResponseController(w).Flush, body, f)
}

// gzipBytes returns b gzip-compressed.
func gzipBytes(b []byte) []byte {
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	zw.Write(b) // Writes to a bytes.Buffer cannot fail.
	zw.Close()
	return buf.Bytes()
}

// acceptsGzip reports whether the Accept-Encoding field values accept gzip,
// by name or through "*", with a nonzero weight (RFC 9110, 12.5.3). An
// explicit gzip entry takes precedence over "*".
func acceptsGzip(values []string) bool {
	gzipQ, starQ := -1.0, -1.0
	for _, v := range values {
		for item := range strings.SplitSeq(v, ",") {
			coding, params, _ := strings.Cut(item, ";")
			q := parseQ(params)
			switch strings.ToLower(strings.TrimSpace(coding)) {
			case "gzip", "x-gzip":
				gzipQ = max(gzipQ, q)
			case "*":
				starQ = max(starQ, q)
			}
		}
	}
	if gzipQ >= 0 {
		return gzipQ > 0
	}
	return starQ > 0
}

// parseQ returns the weight in an Accept-Encoding item's parameters, 1 when
// absent and 0 when malformed, so a garbled weight never enables a coding.
func parseQ(params string) float64 {
	for p := range strings.SplitSeq(params, ";") {
		name, value, _ := strings.Cut(p, "=")
		if !strings.EqualFold(strings.TrimSpace(name), "q") {
			continue
		}
		q, err := strconv.ParseFloat(strings.TrimSpace(value), 64)
		if err != nil || !(q >= 0 && q <= 1) { // Also rejects NaN.
			return 0
		}
		return q
	}
	return 1
}
