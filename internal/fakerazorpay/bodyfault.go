package fakerazorpay

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"time"
)

// BodyFault garbles the body of successful (2xx) responses; error responses
// are never garbled. The zero BodyFault means healthy. Its kinds combine,
// applied in this order: HTML chooses the body, Truncate cuts it, gzip
// encodes it when the client accepts gzip, CloseDelimited chooses how it
// is framed and DripEvery how fast it is sent.
type BodyFault struct {
	// HTML, when true, sends an HTML page (a maintenance notice of the
	// kind a CDN or captive portal serves) instead of the JSON, with
	// Content-Type: text/html; charset=UTF-8. The status stays 200.
	HTML bool

	// Truncate, when true, sends only the first half of the body, rounded
	// down, or the first TruncateBytes bytes. The body is cut before gzip
	// encoding, so a gzip-encoded body is a complete gzip stream of a cut
	// document, and Content-Length is the length of what is sent: the
	// framing says the body is complete although the JSON is cut.
	Truncate bool
	// TruncateBytes, when positive, is how many bytes Truncate keeps
	// instead of half. It is capped at one byte short of the whole body,
	// so that a truncated body is always cut.
	TruncateBytes int

	// CloseDelimited, when true, sends the response the way HTTP/1.0 did:
	// the status line "HTTP/1.1 200 OK", the headers with Connection: close
	// and neither Content-Length nor Transfer-Encoding, the body, and then
	// the Server closes the connection, which is the only end-of-body
	// marker (RFC 9112, 6.3, rule 8). With Truncate, a client therefore
	// cannot tell that the body is incomplete. Over HTTP/2, whose frames
	// always delimit the body, the response is sent without Content-Length
	// and ends with its stream.
	CloseDelimited bool

	// DripEvery, when positive, makes the Server send the status line and
	// headers at once but the body DripBytes at a time, waiting DripEvery
	// before each piece and flushing each to the wire, so that the whole
	// body takes DripEvery times the number of pieces. Dripping stops as
	// soon as the client goes away.
	DripEvery time.Duration
	// DripBytes is the size of the pieces DripEvery sends; zero or
	// negative means one byte.
	DripBytes int

	// Only limits the fault to the requests it matches; its zero value
	// matches every request.
	Only Match
}

// active reports whether f changes anything.
func (f BodyFault) active() bool {
	return f.HTML || f.Truncate || f.CloseDelimited || f.DripEvery > 0
}

// SetBodyFault garbles the bodies of every later successful response to a
// request that f.Only matches as f says; the zero BodyFault restores
// healthy bodies. It applies to requests that arrive after it returns.
func (s *Server) SetBodyFault(f BodyFault) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.bodyFault = f
}

// htmlPage is the body BodyFault.HTML sends.
const htmlPage = `<!DOCTYPE html>
<html lang="en">
<head><meta charset="utf-8"><title>Razorpay</title></head>
<body>
<h1>We&rsquo;ll be back soon</h1>
<p>Razorpay is undergoing scheduled maintenance. Please try again shortly.</p>
</body>
</html>
`

// cut returns the prefix of body that BodyFault.Truncate keeps: n bytes
// when n is positive and half otherwise, but never the whole of a
// non-empty body.
func cut(body []byte, n int) []byte {
	if n <= 0 {
		n = len(body) / 2
	}
	return body[:min(n, max(len(body)-1, 0))]
}

// writeCloseDelimited sends a response whose body ends where the
// connection does. net/http frames every HTTP/1.1 response it writes, with
// Content-Length or chunking, so the fake takes the connection over and
// writes the response itself. The headers are w's.
func writeCloseDelimited(w http.ResponseWriter, r *http.Request, status int, body []byte, f BodyFault) {
	h := w.Header().Clone()
	rc := http.NewResponseController(w)
	conn, brw, err := rc.Hijack()
	if err != nil {
		// HTTP/2: without Content-Length the body ends with the stream.
		w.Header().Del("Content-Length")
		w.WriteHeader(status)
		writeBody(r.Context(), w, rc.Flush, body, f)
		return
	}
	defer conn.Close()

	// Once hijacked, the connection is no longer watched for the client
	// going away, so a reader does that here to stop a drip early.
	ctx, cancel := context.WithCancel(r.Context())
	defer cancel()
	go func() {
		io.Copy(io.Discard, brw.Reader) // Returns when either side closes.
		cancel()
	}()

	h.Del("Content-Length")
	h.Del("Transfer-Encoding")
	h.Set("Connection", "close")
	if h.Get("Date") == "" {
		h.Set("Date", time.Now().UTC().Format(http.TimeFormat))
	}
	var head bytes.Buffer
	fmt.Fprintf(&head, "HTTP/1.1 %03d %s\r\n", status, http.StatusText(status))
	h.Write(&head)
	head.WriteString("\r\n")
	if _, err := conn.Write(head.Bytes()); err != nil {
		return
	}
	writeBody(ctx, conn, func() error { return nil }, body, f)
}

// writeBody writes body to w, at once or, when f drips, in pieces of
// f.DripBytes each preceded by a wait of f.DripEvery and followed by
// flush. It stops at the first failed write or flush, or when ctx ends.
func writeBody(ctx context.Context, w io.Writer, flush func() error, body []byte, f BodyFault) {
	if f.DripEvery <= 0 {
		w.Write(body) // The client may be gone; there is no one to tell.
		return
	}
	if flush() != nil { // The headers go first, leaving the client waiting on the body.
		return
	}
	n := max(f.DripBytes, 1)
	for len(body) > 0 {
		if !wait(ctx, f.DripEvery) {
			return
		}
		piece := body[:min(n, len(body))]
		if _, err := w.Write(piece); err != nil || flush() != nil {
			return
		}
		body = body[len(piece):]
	}
}
