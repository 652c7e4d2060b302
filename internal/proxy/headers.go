package proxy

import (
	"net/http"
	"strconv"
	"strings"
	"time"
)

// cacheStatusName is the cache's name in Cache-Status (RFC 9211 section 2).
const cacheStatusName = "rzpgate"

// Cache-Status values that do not vary per response.
var (
	statusBypass  = []string{cacheStatusName + "; fwd=bypass"}
	statusBudget  = []string{cacheStatusName + "; detail=budget"}       // not forwarded: the upstream budget is spent
	statusLimited = []string{cacheStatusName + "; detail=rate-limited"} // not looked up: the tenant's limit is spent
	// statusUnknownTenant: not looked up, the tenant is not one configured.
	statusUnknownTenant = []string{cacheStatusName + "; detail=unknown-tenant"}
)

// cachedSeconds is how many ttl and Age values are built once, so that a hit
// formats no header value: TTLs are seconds to minutes.
const cachedSeconds = 3600

var (
	hitStatusValues [cachedSeconds][]string
	ageValues       [cachedSeconds][]string
)

func init() {
	for i := range cachedSeconds {
		hitStatusValues[i] = []string{cacheStatusName + "; hit; ttl=" + strconv.Itoa(i)}
		ageValues[i] = []string{strconv.Itoa(i)}
	}
}

// hitStatus returns the Cache-Status of a hit with ttl seconds of remaining
// freshness (RFC 9211 sections 2.1 and 2.4). The slice is shared: callers
// must not modify it.
func hitStatus(ttl int64) []string {
	if 0 <= ttl && ttl < cachedSeconds {
		return hitStatusValues[ttl]
	}
	return []string{cacheStatusName + "; hit; ttl=" + strconv.FormatInt(ttl, 10)}
}

// ageValue returns the Age header value for age seconds (RFC 9111 section
// 5.1), shared like hitStatus's.
func ageValue(age int64) []string {
	if 0 <= age && age < cachedSeconds {
		return ageValues[age]
	}
	return []string{strconv.FormatInt(age, 10)}
}

// fwdStatus returns the Cache-Status of a forwarded response: fwd says why
// it was forwarded ("miss", or "request" for a client's no-cache), status is
// the upstream's, and stored, collapsed and detail are RFC 9211's parameters
// (sections 2.2 to 2.8).
func fwdStatus(fwd string, status int, stored, collapsed bool, detail string) []string {
	var b strings.Builder
	b.WriteString(cacheStatusName)
	b.WriteString("; fwd=")
	b.WriteString(fwd)
	if status != 0 {
		b.WriteString("; fwd-status=")
		b.WriteString(strconv.Itoa(status))
	}
	if stored {
		b.WriteString("; stored")
	}
	if collapsed {
		b.WriteString("; collapsed")
	}
	if detail != "" {
		b.WriteString("; detail=")
		b.WriteString(detail)
	}
	return []string{b.String()}
}

// requestDirectives are the client's cache directives the gateway honours
// (RFC 9111 section 5.2.1).
type requestDirectives struct {
	noStore bool // bypass the cache entirely
	noCache bool // fetch fresh and refresh the entry
}

func parseRequestDirectives(h http.Header) requestDirectives {
	var d requestDirectives
	for _, v := range h["Cache-Control"] {
		for part := range strings.SplitSeq(v, ",") {
			name, arg, _ := strings.Cut(strings.TrimSpace(part), "=")
			switch strings.ToLower(name) {
			case "no-store":
				d.noStore = true
			case "no-cache":
				d.noCache = true
			case "max-age":
				// max-age=0 asks for a response no older than 0 s: a fresh fetch.
				if strings.Trim(arg, `"`) == "0" {
					d.noCache = true
				}
			}
		}
	}
	// Pragma: no-cache stands for no-cache when Cache-Control is absent
	// (RFC 9111 section 5.4).
	if len(h["Cache-Control"]) == 0 {
		for _, v := range h["Pragma"] {
			if strings.Contains(strings.ToLower(v), "no-cache") {
				d.noCache = true
			}
		}
	}
	return d
}

// responseLifetime returns how long a shared cache may store a response
// with header h, at most max, as RFC 9111 allows (sections 3, 4.2 and
// 5.2.2): s-maxage, else max-age, else Expires minus Date, less any Age the
// upstream reports. It returns a reason (an RFC 9211 detail) instead when
// the response must not be stored: Set-Cookie; no-store, private or
// no-cache; a lifetime of zero, or an invalid one (RFC 9111 section 4.2.1
// encourages treating those as stale); must-revalidate with no explicit
// lifetime; or a Vary on a header the cache key does not include.
//
// mustRevalidate is true when the response may not be served stale by a
// shared cache: must-revalidate, proxy-revalidate, or s-maxage, which
// implies proxy-revalidate (sections 5.2.2.2, 5.2.2.8, 5.2.2.10).
func responseLifetime(h http.Header, max time.Duration, now time.Time) (lifetime time.Duration, mustRevalidate bool, reason string) {
	lifetime, reason = freshness(h, max, now)
	for _, v := range h["Cache-Control"] {
		for part := range strings.SplitSeq(v, ",") {
			name, _, _ := strings.Cut(strings.TrimSpace(part), "=")
			switch strings.ToLower(strings.TrimSpace(name)) {
			case "must-revalidate", "proxy-revalidate", "s-maxage":
				mustRevalidate = true
			}
		}
	}
	return lifetime, mustRevalidate, reason
}

// freshness is responseLifetime's lifetime and reason.
func freshness(h http.Header, max time.Duration, now time.Time) (time.Duration, string) {
	if len(h["Set-Cookie"]) > 0 {
		return 0, "set-cookie"
	}
	if !varyKeyed(h["Vary"]) {
		return 0, "vary"
	}
	// Repeated directives keep the most restrictive value (section 4.2.1).
	smaxage, maxage, revalidate := time.Duration(-1), time.Duration(-1), false
	for _, v := range h["Cache-Control"] {
		for part := range strings.SplitSeq(v, ",") {
			name, arg, _ := strings.Cut(strings.TrimSpace(part), "=")
			name = strings.ToLower(strings.TrimSpace(name))
			switch name {
			case "no-store", "private", "no-cache":
				return 0, "cache-control"
			case "must-revalidate", "proxy-revalidate":
				revalidate = true
			case "s-maxage", "max-age":
				n, err := strconv.ParseUint(strings.Trim(strings.TrimSpace(arg), `"`), 10, 32)
				if err != nil {
					return 0, "cache-control"
				}
				p := &maxage
				if name == "s-maxage" {
					p = &smaxage // a shared cache prefers it (section 5.2.2.10)
				}
				if d := time.Duration(n) * time.Second; *p < 0 || d < *p {
					*p = d
				}
			}
		}
	}
	lifetime, explicit := smaxage, smaxage >= 0
	if !explicit && maxage >= 0 {
		lifetime, explicit = maxage, true
	}
	if !explicit && len(h["Expires"]) > 0 {
		exp, err := http.ParseTime(h.Get("Expires"))
		if err != nil {
			return 0, "expires" // "0" and other invalid dates mean already expired
		}
		date := now
		if d, err := http.ParseTime(h.Get("Date")); err == nil {
			date = d
		}
		lifetime, explicit = exp.Sub(date), true
	}
	if !explicit {
		if revalidate {
			return 0, "cache-control"
		}
		return max, ""
	}
	if age, err := strconv.ParseUint(h.Get("Age"), 10, 32); err == nil {
		lifetime -= time.Duration(age) * time.Second
	}
	if lifetime <= 0 {
		return 0, "stale"
	}
	return min(lifetime, max), ""
}

// varyKeyed reports whether every header a response's Vary names is one the
// cache accounts for: Authorization and X-Razorpay-Account are in the key,
// and Accept-Encoding is negotiated by the gateway itself (fills ask for
// identity, and hits are encoded for each client). "*" varies on anything.
func varyKeyed(values []string) bool {
	for _, v := range values {
		for part := range strings.SplitSeq(v, ",") {
			switch strings.ToLower(strings.TrimSpace(part)) {
			case "", "accept-encoding", "authorization", "x-razorpay-account":
			default:
				return false
			}
		}
	}
	return true
}

// namesHeaders reports whether Connection header values name any header
// (anything but the keep-alive and close options).
func namesHeaders(values []string) bool {
	for _, v := range values {
		for part := range strings.SplitSeq(v, ",") {
			switch strings.ToLower(strings.TrimSpace(part)) {
			case "", "keep-alive", "close":
			default:
				return true
			}
		}
	}
	return false
}

// acceptsGzip reports whether an Accept-Encoding header admits gzip with a
// non-zero quality (RFC 9110 section 12.5.3). An explicit gzip (or x-gzip)
// entry wins over "*".
func acceptsGzip(h http.Header) bool {
	gzip, star := -1, -1 // -1 absent, 0 refused, 1 accepted
	for _, v := range h["Accept-Encoding"] {
		for part := range strings.SplitSeq(v, ",") {
			coding, params, _ := strings.Cut(strings.TrimSpace(part), ";")
			coding = strings.ToLower(strings.TrimSpace(coding))
			ok := 1
			if q, found := strings.CutPrefix(strings.ToLower(strings.TrimSpace(params)), "q="); found {
				if f, err := strconv.ParseFloat(strings.TrimSpace(q), 64); err == nil && f == 0 {
					ok = 0
				}
			}
			switch coding {
			case "gzip", "x-gzip":
				gzip = max(gzip, ok)
			case "*":
				star = max(star, ok)
			}
		}
	}
	if gzip >= 0 {
		return gzip == 1
	}
	return star == 1
}
