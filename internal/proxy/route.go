package proxy

import (
	"net/http"
	"path"
	"slices"
	"strings"
)

// route identifies what the gateway does with a request. Its names are the
// closed label set of metrics and logs.
type route uint8

const (
	routePassthrough route = iota // any other read: forwarded unchanged, never cached
	routePayment                  // GET /v1/payments/{pay_id}
	routePaymentLink              // GET /v1/payment_links/{plink_id}
	routeQRCodes                  // GET /v1/payments/qr_codes?customer_id={cust_id}
	routeQRWrite                  // any write to /v1/payments/qr_codes or below: create, PATCH, close
	routeWrite                    // any other write (POST, PATCH, PUT, DELETE, ...)
	routeGateway                  // the gateway's own paths, /_rzpgate/...: webhooks
	routeCount
)

var routeNames = [routeCount]string{"passthrough", "payment", "payment_link", "qr_codes", "qr_code_write", "write", "gateway"}

// gatewayPrefix starts the paths the gateway answers itself. No Razorpay
// API path has it, so such a request is never forwarded.
const gatewayPrefix = "/_rzpgate/"

func (rt route) String() string { return routeNames[rt] }

// cacheable reports whether the route's responses may be stored.
func (rt route) cacheable() bool {
	return rt == routePayment || rt == routePaymentLink || rt == routeQRCodes
}

// write reports whether the route's requests may change what Razorpay
// returns, and so must purge what they touch.
func (rt route) write() bool { return rt == routeQRWrite || rt == routeWrite }

// match returns the route of a request and, for a cacheable route with an
// id in its path, the entity id. Trailing slashes are optional (the API
// reference shows both).
//
// Reads are matched strictly: a path with escapes beyond the default
// encoding (RawPath set, e.g. %2F or %5F) or an id that is not a Razorpay id
// of the route's entity type is never matched, so it passes through and is
// never cached under another resource's key. Writes are matched loosely, as
// Razorpay's framework would read them (any method but GET, HEAD and
// OPTIONS, in any case, and a POST overridden to another method), because a
// write that reaches Razorpay unrecognised here would skip its purge.
func match(r *http.Request) (route, string) {
	if strings.HasPrefix(r.URL.Path, gatewayPrefix) {
		return routeGateway, ""
	}
	if isWrite(r) {
		if p := path.Clean("/" + r.URL.Path); p == "/v1/payments/qr_codes" || strings.HasPrefix(p, "/v1/payments/qr_codes/") {
			return routeQRWrite, ""
		}
		return routeWrite, ""
	}
	if r.URL.RawPath != "" {
		return routePassthrough, ""
	}
	p := strings.TrimSuffix(r.URL.Path, "/")
	if r.Method == http.MethodGet {
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

// isWrite reports whether r may change state at Razorpay: any method but
// GET, HEAD and OPTIONS, in any case, and not a POST overridden to GET or
// HEAD with X-HTTP-Method-Override.
func isWrite(r *http.Request) bool {
	switch strings.ToUpper(r.Method) {
	case http.MethodGet, http.MethodHead, http.MethodOptions:
		return false
	case http.MethodPost:
		if o := strings.ToUpper(r.Header.Get("X-HTTP-Method-Override")); o == http.MethodGet || o == http.MethodHead {
			return false
		}
	}
	return true
}

// pathIDs returns the Razorpay ids among the segments of a write's path,
// decoded and cleaned as Razorpay reads it: /v1/payments/pay_X/refund names
// pay_X, /v1/payments/qr_codes/qr_Y/close names qr_Y.
func pathIDs(p string) []string {
	var ids []string
	for seg := range strings.SplitSeq(path.Clean("/"+p), "/") {
		if isAnyID(seg) && !slices.Contains(ids, seg) {
			ids = append(ids, seg)
		}
	}
	return ids
}

// isAnyID reports whether s has the shape of a Razorpay id of any entity
// type: a lower-case prefix of 2 to 12 letters, an underscore, and letters
// and digits, 14 of them or with a digit or capital among them. The last
// rule tells ids from the API's nouns (qr_codes, payment_links).
func isAnyID(s string) bool {
	u := strings.IndexByte(s, '_')
	if u < 2 || u > 12 || !isID(s, s[:u+1]) {
		return false
	}
	for i := 0; i < u; i++ {
		if s[i] < 'a' || s[i] > 'z' {
			return false
		}
	}
	rest := s[u+1:]
	return len(rest) == 14 || strings.ContainsFunc(rest, func(c rune) bool { return c < 'a' })
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
