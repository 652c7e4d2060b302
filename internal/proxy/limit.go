package proxy

import (
	"context"
	"encoding/base64"
	"math"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/maypok86/otter/v2"

	"github.com/rzpgate/rzpgate/internal/limiter"
)

// Limits configures tenants, their rate limits and the upstream budget. The
// zero value limits nothing.
type Limits struct {
	// Limiter counts each tenant's requests; nil means tenants are not
	// limited (nor rejected).
	Limiter limiter.Limiter
	// TenantHeader names the request header that carries the tenant; empty
	// means the tenant is the Basic-auth key id (never the secret). The
	// header is never forwarded to the upstream.
	TenantHeader string
	// RejectUnknown answers 403 to a tenant not in Tenants.
	RejectUnknown bool
	// Default is the limit of each tenant not in Tenants.
	Default TenantLimit
	// Tenants maps known tenants to their limits. Only their names are
	// ever used as metric labels.
	Tenants map[string]TenantLimit
	// Budget, if not nil, limits the requests that reach the upstream,
	// whatever their tenant.
	Budget *limiter.Budget
	// PauseOn429 stops spending Budget for the Retry-After of an upstream
	// 429.
	PauseOn429 bool
}

// TenantLimit is one tenant's limit.
type TenantLimit struct {
	Limit limiter.Limit
	// ExemptHits serves the tenant's cache hits without counting them.
	ExemptHits bool
}

// Names of the rate-limit policies in RateLimit-Policy and RateLimit
// (draft-ietf-httpapi-ratelimit-headers-11).
const (
	policyTenant = "tenant"
	policyBudget = "upstream-budget"
)

// policy is one limit with its pre-built header values.
type policy struct {
	label  string // label is the tenant's metric label: its name if configured, else "other".
	limit  limiter.Limit
	exempt bool
	header []string // header is the RateLimit-Policy value.
	bucket string   // bucket is a configured tenant's bucket when tenants come from a header.
}

func newPolicy(name, label string, l TenantLimit) *policy {
	return &policy{label: label, limit: l.Limit, exempt: l.ExemptHits, header: []string{policyHeader(name, l.Limit)}}
}

// policyHeader returns a RateLimit-Policy value: q requests (the burst) per
// window w seconds, the time the rate takes to refill the burst.
func policyHeader(name string, l limiter.Limit) string {
	period := l.Period
	if period <= 0 {
		period = time.Second
	}
	w := max(1, int64(math.Ceil(float64(l.Burst)*period.Seconds()/float64(l.Rate))))
	return `"` + name + `";q=` + strconv.Itoa(l.Burst) + ";w=" + strconv.FormatInt(w, 10)
}

// tenants resolves a request's tenant and its policy.
type tenants struct {
	header   string
	reject   bool
	known    map[string]*policy
	fallback *policy
	keys     *keyer
	// callers memoises identify for key-id tenants by the raw
	// Authorization and X-Razorpay-Account values: most requests come
	// from a few services, and a limited request would otherwise decode
	// its credentials twice and build its bucket name anew (issue #11).
	// Like the partition memo it stays in this process.
	callers *otter.Cache[string, caller]
}

// caller is a key-id tenant's name and rate-limit bucket.
type caller struct{ name, bucket string }

func newTenants(l Limits, keys *keyer) *tenants {
	t := &tenants{
		keys:     keys,
		callers:  otter.Must(&otter.Options[string, caller]{MaximumSize: memoPartitions}),
		header:   http.CanonicalHeaderKey(l.TenantHeader),
		reject:   l.RejectUnknown,
		known:    make(map[string]*policy, len(l.Tenants)),
		fallback: newPolicy(policyTenant, "other", l.Default),
	}
	for name, tl := range l.Tenants {
		p := newPolicy(policyTenant, name, tl)
		p.bucket = "tenant:h:" + name
		t.known[name] = p
	}
	return t
}

// of returns r's tenant and whether it is a configured one. A header
// tenant longer than maxTenantLen, or not a plain token, is no tenant: its
// value would become a bucket (and a Redis key).
//
// A tenant's bucket is its rate-limit bucket. A key-id tenant's bucket is
// keyed by an HMAC of its decoded credentials, secret included, so that
// only callers holding the secret can spend it: key ids are public (every
// checkout page shows one), and requests with a wrong secret land in
// buckets of their own. Other credentials (Bearer, none) are keyed by the
// whole header. A header tenant's bucket is its (bounded) name.
func (t *tenants) of(r *http.Request) (tenantRef, bool) {
	var ref tenantRef
	if t.header != "" {
		if v := r.Header[t.header]; len(v) == 1 && len(v[0]) <= maxTenantLen && isToken(v[0]) {
			ref.name = v[0]
		}
	} else {
		c := t.identify(r)
		ref.name, ref.bucket = c.name, c.bucket
	}
	p, known := t.known[ref.name]
	known = known && ref.name != ""
	if known {
		ref.p = p
	} else {
		ref.p = t.fallback
	}
	switch {
	case t.header == "":
	case known:
		ref.bucket = p.bucket
	default:
		ref.bucket = "tenant:h:" + ref.name
	}
	return ref, known
}

// maxTenantLen bounds a tenant header's value.
const maxTenantLen = 64

// isToken reports whether s is made of letters, digits and "-._~:".
func isToken(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; !isAlnum(c) && !strings.ContainsRune("-._~:", rune(c)) {
			return false
		}
	}
	return s != ""
}

// basicAuth returns the key id and the credentials ("id:secret") of a
// Basic Authorization header. The scheme is matched in any case (RFC 9110
// section 11.1), and padded or unpadded base64 both decode. It returns
// empty strings for anything else.
func basicAuth(auth []string) (id, creds string) {
	if len(auth) != 1 {
		return "", ""
	}
	scheme, enc, ok := strings.Cut(strings.TrimSpace(auth[0]), " ")
	if !ok || !strings.EqualFold(scheme, "Basic") || len(enc) > 512 {
		return "", ""
	}
	enc = strings.TrimSpace(enc)
	var buf [384]byte
	n, err := base64.StdEncoding.Decode(buf[:], []byte(enc))
	if err != nil {
		if n, err = base64.RawStdEncoding.Decode(buf[:], []byte(strings.TrimRight(enc, "="))); err != nil {
			return "", ""
		}
	}
	creds = string(buf[:n])
	id, _, ok = strings.Cut(creds, ":")
	if !ok || len(id) > maxTenantLen {
		return "", ""
	}
	return id, creds
}

// identify returns the key-id tenant of r and its bucket (see of),
// memoised.
func (t *tenants) identify(r *http.Request) caller {
	auth := strings.Join(r.Header["Authorization"], "\n")
	account := strings.Join(r.Header["X-Razorpay-Account"], "\n")
	memo := auth // header values hold no NUL: see keyer.partition
	if account != "" {
		memo = auth + "\x00" + account
	}
	if c, ok := t.callers.GetIfPresent(memo); ok {
		return c
	}
	name, creds := basicAuth(r.Header["Authorization"])
	id := auth
	if creds != "" {
		id = "basic:" + creds
	}
	p := t.keys.hmac(id, account) // memoised here, not in the partition memo too
	c := caller{name: name, bucket: "tenant:k:" + string(p[:])}
	t.callers.Set(memo, c)
	return c
}

// allowTenant counts a request against its tenant's limit, and either sets
// the RateLimit header of an allowed request or answers a 429. A limiter
// that fails lets the request through (limiter.Fallback never fails).
func (h *Handler) allowTenant(w http.ResponseWriter, r *http.Request, rt route, t tenantRef) bool {
	p := t.p
	res, err := h.limits.Limiter.Allow(r.Context(), t.bucket, p.limit)
	if err != nil {
		return true
	}
	hdr := w.Header()
	hdr["Ratelimit-Policy"] = p.header
	hdr["Ratelimit"] = []string{rateLimitHeader(policyTenant, res)}
	if res.Allowed {
		return true
	}
	h.metrics.limited(p.label, policyTenant)
	if rt.cacheable() {
		hdr["Cache-Status"] = statusLimited
	}
	writeLimited(w, res, "Too many requests: this service's rate limit of "+describe(p.limit)+" through the gateway is spent.")
	return false
}

// spend takes one request from the upstream budget, if there is one. A
// budget that fails lets the request through.
func (h *Handler) spend(ctx context.Context, write bool) (limiter.Result, bool) {
	if h.limits.Budget == nil {
		return limiter.Result{Allowed: true}, true
	}
	res, err := h.limits.Budget.Allow(ctx, write)
	if err != nil {
		return limiter.Result{Allowed: true}, true
	}
	if !res.Allowed {
		h.metrics.budgetDenied.Inc()
	}
	return res, res.Allowed
}

// writeBudgetSpent answers a request the upstream budget refused, counted
// under its tenant's label.
func (h *Handler) writeBudgetSpent(w http.ResponseWriter, r *http.Request, res limiter.Result) int {
	label := "other"
	if h.tenants != nil {
		t, _ := h.tenants.of(r)
		label = t.p.label
	}
	h.metrics.limited(label, policyBudget)
	hdr := w.Header()
	hdr["Ratelimit-Policy"] = h.budgetPolicy
	hdr["Ratelimit"] = []string{rateLimitHeader(policyBudget, res)}
	writeLimited(w, res, "Too many requests to Razorpay through the gateway: its shared budget of upstream requests is spent.")
	return http.StatusTooManyRequests
}

// writeLimited answers 429 in Razorpay's error shape with a Retry-After in
// whole seconds, never before the quota has a request again.
func writeLimited(w http.ResponseWriter, res limiter.Result, description string) {
	w.Header()["Retry-After"] = []string{strconv.FormatInt(ceilSeconds(res.RetryAfter), 10)}
	writeError(w, http.StatusTooManyRequests, codeBadRequest, description)
}

// rateLimitHeader returns a RateLimit value: r requests remain, and the
// quota resets (is full again, or, when denied, has a request again) in t
// seconds. It is built in one allocation: it is on every limited request.
func rateLimitHeader(name string, res limiter.Result) string {
	reset := res.ResetAfter
	if !res.Allowed {
		reset = res.RetryAfter
	}
	t := ceilSeconds(reset)
	if res.Allowed && reset <= 0 {
		t = 0
	}
	var buf [64]byte
	b := append(buf[:0], '"')
	b = append(b, name...)
	b = append(b, `";r=`...)
	b = strconv.AppendInt(b, int64(max(res.Remaining, 0)), 10)
	b = append(b, ";t="...)
	b = strconv.AppendInt(b, t, 10)
	return string(b)
}

// ceilSeconds rounds d up to whole seconds, at least 1.
func ceilSeconds(d time.Duration) int64 {
	return max(1, int64((d+time.Second-1)/time.Second))
}

// describe renders a limit for an error message, such as "100 requests per
// 1s".
func describe(l limiter.Limit) string {
	period := l.Period
	if period <= 0 {
		period = time.Second
	}
	return strconv.Itoa(l.Rate) + " requests per " + period.String() + " (burst " + strconv.Itoa(l.Burst) + ")"
}

// pauseTransport pauses the budget for the Retry-After of an upstream 429:
// Razorpay is rate-limiting the account, and every request sent before the
// pause ends would be refused too.
type pauseTransport struct {
	next   http.RoundTripper
	budget *limiter.Budget
}

func (p pauseTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	resp, err := p.next.RoundTrip(r)
	if err == nil && resp.StatusCode == http.StatusTooManyRequests {
		if d := retryAfter(resp.Header.Get("Retry-After"), time.Now()); d > 0 {
			p.budget.Pause(d)
		}
	}
	return resp, err
}

// retryAfter parses a Retry-After value, delay-seconds or an HTTP date
// (RFC 9110 section 10.2.3), capped at an hour; 0 if absent or invalid.
func retryAfter(v string, now time.Time) time.Duration {
	if v == "" {
		return 0
	}
	var d time.Duration
	if n, err := strconv.ParseUint(v, 10, 32); err == nil {
		d = time.Duration(n) * time.Second
	} else if t, err := http.ParseTime(v); err == nil {
		d = t.Sub(now)
	}
	return min(max(d, 0), time.Hour)
}
