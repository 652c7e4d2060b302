package proxy

import (
	"net/http"
	"path"
	"strings"
)

// route identifies what the gateway does with a request. Its names are the
// closed label set of metrics and logs.
type route uint8

const (
	routePassthrough route = iota // any other request: forwarded unchanged, never cached
	routePayment                  // GET /v1/payments/{pay_id}
	routePaymentLink              // GET /v1/payment_links/{plink_id}
	routeQRCodes                  // GET /v1/payments/qr_codes?customer_id={cust_id}
	routeQRWrite                  // PATCH /v1/payments/qr_codes/{qr_id}, or any other write to a QR code
	routeCount
)

var routeNames = [routeCount]string{"passthrough", "payment", "payment_link", "qr_codes", "qr_code_write"}

func (rt route) String() string { return routeNames[rt] }

// cacheable reports whether the route's responses may be stored.
func (rt route) cacheable() bool {
	return rt == routePayment || rt == routePaymentLink || rt == routeQRCodes
}

// match returns the route of a request and, for an id route, the entity id
// from its path. Trailing slashes are optional (the API reference shows
// both).
//
// Reads are matched strictly: a path with escapes beyond the default
// encoding (RawPath set, e.g. %2F or %5F) or an id that is not a Razorpay id
// of the route's entity type is never matched, so it passes through and is
// never cached under another resource's key. Writes to a QR code are
// matched loosely, as Razorpay's framework would read them (decoded and
// cleaned path, any method case, POST with X-HTTP-Method-Override), because
// a write that reaches Razorpay unrecognised here would skip its purge.
func match(r *http.Request) (route, string) {
	if id, ok := qrWrite(r); ok {
		return routeQRWrite, id
	}
	if r.URL.RawPath != "" {
		return routePassthrough, ""
	}
	p := strings.TrimSuffix(r.URL.Path, "/")
	switch r.Method {
	case http.MethodGet:
		if p == "/v1/payments/qr_codes" {
			return routeQRCodes, ""
		}
		if id, ok := strings.CutPrefix(p, "/v1/payments/"); ok && isID(id, "pay_") {
			return routePayment, id
		}
		if id, ok := strings.CutPrefix(p, "/v1/payment_links/"); ok && isID(id, "plink_") {
			return routePaymentLink, id
		}
	}
	return routePassthrough, ""
}

// qrWrite reports whether r may change a QR code, and which: any method but
// GET, HEAD and OPTIONS (in any case, and a POST overridden to another
// method) on /v1/payments/qr_codes/{qr_id} or below it (such as .../close),
// after decoding and cleaning the path.
func qrWrite(r *http.Request) (string, bool) {
	switch strings.ToUpper(r.Method) {
	case http.MethodGet, http.MethodHead, http.MethodOptions:
		return "", false
	case http.MethodPost:
		if o := strings.ToUpper(r.Header.Get("X-HTTP-Method-Override")); o == http.MethodGet || o == http.MethodHead {
			return "", false
		}
	}
	rest, ok := strings.CutPrefix(path.Clean("/"+r.URL.Path), "/v1/payments/qr_codes/")
	if !ok {
		return "", false
	}
	id, _, _ := strings.Cut(rest, "/")
	return id, isID(id, "qr_")
}

// maxIDLen bounds an id's length; Razorpay ids are a short prefix and 14
// base62 characters.
const maxIDLen = 64

// isID reports whether s is prefix followed by one or more ASCII letters and
// digits, as Razorpay entity ids are (pay_DG4ZdRK8ZnXC3k).
func isID(s, prefix string) bool {
	rest, ok := strings.CutPrefix(s, prefix)
	if !ok || rest == "" || len(s) > maxIDLen {
		return false
	}
	for i := 0; i < len(rest); i++ {
		if !isAlnum(rest[i]) {
			return false
		}
	}
	return true
}

func isAlnum(c byte) bool {
	return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9'
}
