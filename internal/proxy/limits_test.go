package proxy_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/rzpgate/rzpgate/internal/fakerazorpay"
	"github.com/rzpgate/rzpgate/internal/limiter"
	"github.com/rzpgate/rzpgate/internal/proxy"
	"github.com/rzpgate/rzpgate/internal/redistest"
)

// Tests of issue #7: tenants, their limits, the upstream budget, the
// upstream breakers and stale answers.

func withLimits(l proxy.Limits) func(*proxy.Config) {
	return func(c *proxy.Config) { c.Limits = l }
}

func localLimits(def limiter.Limit) proxy.Limits {
	return proxy.Limits{Limiter: limiter.NewLocal(limiter.LocalConfig{}), Default: proxy.TenantLimit{Limit: def}}
}

// razorpayError decodes a gateway error body and checks its shape.
func razorpayError(t *testing.T, body string) (code, description string) {
	t.Helper()
	var e struct {
		Error struct {
			Code        string         `json:"code"`
			Description string         `json:"description"`
			Source      string         `json:"source"`
			Metadata    map[string]any `json:"metadata"`
		} `json:"error"`
	}
	if err := json.Unmarshal([]byte(body), &e); err != nil || e.Error.Code == "" || e.Error.Description == "" || e.Error.Metadata == nil {
		t.Fatalf("body %q is not Razorpay's error shape (%v)", body, err)
	}
	return e.Error.Code, e.Error.Description
}

var (
	rateLimitRE  = regexp.MustCompile(`^"tenant";r=(\d+);t=(\d+)$`)
	policyRE     = regexp.MustCompile(`^"tenant";q=(\d+);w=(\d+)$`)
	budgetLimRE  = regexp.MustCompile(`^"upstream-budget";r=0;t=[1-9]\d*$`)
	budgetPolRE  = regexp.MustCompile(`^"upstream-budget";q=\d+;w=\d+$`)
	staleStatusR = regexp.MustCompile(`^rzpgate; hit; stale; ttl=-\d+; detail=([a-z-]+)$`)
)

// TestTenantIsolation: tenant A over its limit gets 429s while tenant B at
// its own rate gets none (counts, not timings).
func TestTenantIsolation(t *testing.T) {
	e := newEnv(t, withLimits(localLimits(limiter.Limit{Rate: 1, Burst: 5, Period: time.Hour})))
	var limitedA, okA int
	for i := range 20 {
		// Distinct payment links miss, so only the limit can refuse them.
		r := e.get(t, fmt.Sprintf("/v1/payment_links/plink_A%013d", i), credsA)
		switch r.status {
		case http.StatusTooManyRequests:
			limitedA++
			code, desc := razorpayError(t, r.body)
			if code != "BAD_REQUEST_ERROR" || !strings.Contains(desc, "1 requests per 1h0m0s") {
				t.Errorf("429 body: %s %q; want BAD_REQUEST_ERROR naming the limit", code, desc)
			}
			if ra, err := strconv.Atoi(r.header.Get("Retry-After")); err != nil || ra < 3599 {
				t.Errorf("Retry-After %q; want the hour until the next token", r.header.Get("Retry-After"))
			}
			if m := rateLimitRE.FindStringSubmatch(r.header.Get("RateLimit")); m == nil || m[1] != "0" {
				t.Errorf("RateLimit on a 429: %q; want r=0", r.header.Get("RateLimit"))
			}
		default:
			okA++
		}
		if m := policyRE.FindStringSubmatch(r.header.Get("RateLimit-Policy")); m == nil || m[1] != "5" || m[2] != "18000" {
			t.Errorf("RateLimit-Policy %q; want q=5 per w=18000 (5 per hour)", r.header.Get("RateLimit-Policy"))
		}
	}
	if okA != 5 || limitedA != 15 {
		t.Errorf("tenant A: %d allowed, %d limited; want 5 and 15", okA, limitedA)
	}
	for i := range 5 {
		r := e.get(t, payA, credsB)
		if r.status == http.StatusTooManyRequests {
			t.Fatalf("tenant B's request %d was limited by tenant A's traffic", i)
		}
		m := rateLimitRE.FindStringSubmatch(r.header.Get("RateLimit"))
		if want := strconv.Itoa(4 - i); m == nil || m[1] != want {
			t.Errorf("tenant B request %d RateLimit %q; want r=%s", i, r.header.Get("RateLimit"), want)
		}
	}
	if n := counter(t, e, "rzpgate_rate_limited_requests_total", "tenant", "other", "policy", "tenant"); n != 15 {
		t.Errorf("rate_limited_requests_total{other,tenant} = %v; want 15", n)
	}
}

// TestTenantHeaderAndRejection: a tenant named by a header, which never
// reaches Razorpay; unknown tenants refused when configured so.
func TestTenantHeaderAndRejection(t *testing.T) {
	l := localLimits(limiter.Limit{Rate: 100, Burst: 100})
	l.TenantHeader = "X-Rzpgate-Tenant"
	l.RejectUnknown = true
	l.Tenants = map[string]proxy.TenantLimit{"checkout": {Limit: limiter.Limit{Rate: 1, Burst: 2, Period: time.Hour}}}
	e := newEnv(t, withLimits(l))
	for i, want := range []int{200, 200, 429} {
		r := e.get(t, fmt.Sprintf("/v1/payments/pay_C%013d", i), credsA, "X-Rzpgate-Tenant", "checkout")
		if r.status == 400 { // the fake does not know the id: fine, it reached it
			r.status = 200
		}
		if r.status != want {
			t.Errorf("checkout request %d: %d; want %d", i, r.status, want)
		}
	}
	for _, req := range e.fake.Requests() {
		if req.Header.Get("X-Rzpgate-Tenant") != "" {
			t.Errorf("the tenant header reached Razorpay: %v", req.Header)
		}
	}
	if r := e.get(t, payA, credsA, "X-Rzpgate-Tenant", "stranger"); r.status != http.StatusForbidden || r.cacheStatus() != "rzpgate; detail=unknown-tenant" {
		t.Errorf("unknown tenant: %d; want 403", r.status)
	} else if code, _ := razorpayError(t, r.body); code != "BAD_REQUEST_ERROR" {
		t.Errorf("403 code %s; want BAD_REQUEST_ERROR", code)
	}
	if r := e.get(t, payA, credsA); r.status != http.StatusForbidden {
		t.Errorf("no tenant header: %d; want 403", r.status)
	}
	if n := counter(t, e, "rzpgate_rate_limited_requests_total", "tenant", "checkout", "policy", "tenant"); n != 1 {
		t.Errorf("rate_limited_requests_total{checkout} = %v; want 1", n)
	}
}

// TestExemptHits: a tenant whose hits are exempt is limited on misses only.
func TestExemptHits(t *testing.T) {
	l := localLimits(limiter.Limit{Rate: 1, Burst: 2, Period: time.Hour})
	l.Default.ExemptHits = true
	e := newEnv(t, withLimits(l))
	for i := range 10 {
		if r := e.get(t, plinkA, credsA); r.status != 200 {
			t.Fatalf("read %d of one cached link: %d; want every hit served", i, r.status)
		}
	}
	if r := e.get(t, payA, credsA); r.status != 200 {
		t.Fatalf("second miss: %d; want 200 (burst 2)", r.status)
	}
	if r := e.get(t, qrListA, credsA); r.status != http.StatusTooManyRequests {
		t.Errorf("third miss: %d; want 429", r.status)
	}
}

// TestBudget: with a tiny budget and many tenants, Razorpay sees at most the
// budget, hits keep flowing, and stale copies answer what it refuses.
func TestBudget(t *testing.T) {
	b, err := limiter.NewBudget(limiter.NewLocal(limiter.LocalConfig{}), limiter.BudgetConfig{Limit: limiter.Limit{Rate: 1, Burst: 4, Period: time.Hour}})
	if err != nil {
		t.Fatal(err)
	}
	e := newEnv(t, withLimits(proxy.Limits{Budget: b}), func(c *proxy.Config) {
		c.TTL = proxy.TTL{PaymentLinks: 50 * time.Millisecond, Payments: time.Hour}
		c.StaleIfError = proxy.PerRoute{PaymentLinks: time.Hour}
	})
	if r := e.get(t, plinkA, credsA); r.status != 200 { // 1 of 4
		t.Fatal(r.status)
	}
	if r := e.get(t, payA, credsA); r.status != 200 { // 2 of 4
		t.Fatal(r.status)
	}
	var limited atomic.Int64
	var wg sync.WaitGroup
	for i := range 20 { // many tenants, each a distinct miss
		wg.Go(func() {
			e.fake.AddAccount(fmt.Sprintf("rzp_test_T%02d", i), "s")
			r := e.get(t, fmt.Sprintf("/v1/payments/pay_T%013d", i), fmt.Sprintf("rzp_test_T%02d:s", i))
			if r.status == http.StatusTooManyRequests {
				limited.Add(1)
				if !budgetLimRE.MatchString(r.header.Get("RateLimit")) || !budgetPolRE.MatchString(r.header.Get("RateLimit-Policy")) || r.header.Get("Retry-After") == "" {
					t.Errorf("budget 429 headers: %v", r.header)
				}
			}
		})
	}
	wg.Wait()
	if total := e.fake.Total(); total > 4 {
		t.Errorf("upstream saw %d requests; want at most the budget of 4", total)
	}
	if limited.Load() < 18 {
		t.Errorf("%d of 20 misses limited; want at least 18", limited.Load())
	}
	for range 5 {
		if r := e.get(t, payA, credsA); !hitStatus.MatchString(r.cacheStatus()) {
			t.Errorf("hit while the budget is spent: %d %q; want a hit", r.status, r.cacheStatus())
		}
	}
	time.Sleep(60 * time.Millisecond) // the link expires; its stale copy is kept
	r := e.get(t, plinkA, credsA)
	if m := staleStatusR.FindStringSubmatch(r.cacheStatus()); r.status != 200 || m == nil || m[1] != "budget" {
		t.Errorf("expired link with the budget spent: %d %q; want its stale copy (detail=budget)", r.status, r.cacheStatus())
	}
	if n := counter(t, e, "rzpgate_upstream_budget_rejections_total"); n < 19 {
		t.Errorf("budget rejections = %v; want at least 19", n)
	}
}

// newBreakerEnv is a gateway whose transport goes through breakers that open
// after 3 consecutive failures for 300ms.
func newBreakerEnv(t *testing.T, opts ...func(*proxy.Config)) (*env, *limiter.Breakers) {
	t.Helper()
	b, err := limiter.NewBreakers(proxy.Groups, limiter.BreakerConfig{ConsecutiveFailures: 3, OpenTimeout: 300 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	e := newEnv(t, append([]func(*proxy.Config){func(c *proxy.Config) {
		c.Breakers = b
		c.Transport = b.Transport(proxy.NewTransport(proxy.TransportConfig{}), proxy.GroupOf)
		c.TTL = proxy.TTL{Payments: 50 * time.Millisecond, PaymentLinks: 50 * time.Millisecond, QRCodes: 50 * time.Millisecond}
		c.StaleIfError = proxy.PerRoute{PaymentLinks: time.Hour}
	}}, opts...)...)
	return e, b
}

// TestBreakerServesStale: a burst of 5xx opens the breaker; while open the
// upstream sees nothing beyond probes, stale copies answer with their true
// Age, other reads and writes get 503; it closes when the upstream recovers.
func TestBreakerServesStale(t *testing.T) {
	e, b := newBreakerEnv(t)
	if r := e.get(t, plinkA, credsA); r.status != 200 {
		t.Fatal(r.status)
	}
	time.Sleep(1100 * time.Millisecond) // stale by at least a second
	e.fake.SetFault(fakerazorpay.Fault{Status: 502})
	for i := range 3 {
		r := e.get(t, plinkA, credsA)
		if m := staleStatusR.FindStringSubmatch(r.cacheStatus()); r.status != 200 || m == nil || m[1] != "stale-if-error" {
			t.Fatalf("read %d while the upstream fails: %d %q; want the stale copy (stale-if-error)", i, r.status, r.cacheStatus())
		}
		if age, _ := strconv.Atoi(r.header.Get("Age")); age < 1 {
			t.Errorf("stale Age %q; want its true age, at least 1", r.header.Get("Age"))
		}
	}
	if got := b.State("payment_links"); got != "open" {
		t.Fatalf("breaker after 3 failures: %s; want open", got)
	}
	seen := e.fake.Total()
	r := e.get(t, plinkA, credsA)
	if m := staleStatusR.FindStringSubmatch(r.cacheStatus()); m == nil || m[1] != "breaker-open" {
		t.Errorf("read while open: %q; want the stale copy (breaker-open)", r.cacheStatus())
	}
	other := e.get(t, "/v1/payment_links/plink_Fo48rl281ENAg8", credsA)
	if other.status != http.StatusServiceUnavailable || other.header.Get("Retry-After") == "" {
		t.Errorf("read without a stale copy while open: %d, Retry-After %q; want 503 with Retry-After", other.status, other.header.Get("Retry-After"))
	} else if code, _ := razorpayError(t, other.body); code != "SERVER_ERROR" {
		t.Errorf("503 code %s; want SERVER_ERROR", code)
	}
	if n := e.fake.Total(); n != seen {
		t.Errorf("upstream saw %d requests while the breaker was open; want none", n-seen)
	}
	// Other groups are untouched.
	if r := e.get(t, payA, credsA); r.status != 502 {
		t.Errorf("payment read through its own closed breaker: %d; want the upstream's 502", r.status)
	}

	e.fake.SetFault(fakerazorpay.Fault{})
	time.Sleep(350 * time.Millisecond) // open_timeout: the next request probes
	if r := e.get(t, plinkA, credsA); r.status != 200 || !strings.HasSuffix(r.cacheStatus(), "stored") {
		t.Errorf("read after recovery: %d %q; want a fresh fill", r.status, r.cacheStatus())
	}
	if got := b.State("payment_links"); got != "closed" {
		t.Errorf("breaker after a good probe: %s; want closed", got)
	}
}

// TestWriteWhileBreakerOpen: a write refused by an open breaker gets 503,
// never reaches Razorpay, and purges and holds nothing.
func TestWriteWhileBreakerOpen(t *testing.T) {
	e, _ := newBreakerEnv(t)
	e.fake.SetFault(fakerazorpay.Fault{Status: 500})
	for range 3 {
		e.get(t, qrListA, credsA)
	}
	e.fake.SetFault(fakerazorpay.Fault{})
	seen := e.fake.Total()
	r := patchNotes(t, e, "refused")
	if r.status != http.StatusServiceUnavailable || r.header.Get("Retry-After") == "" {
		t.Fatalf("PATCH while the qr_codes breaker is open: %d %s; want 503 with Retry-After", r.status, r.body)
	}
	if e.fake.Total() != seen {
		t.Errorf("the refused write reached Razorpay")
	}
	for _, result := range []string{"ok", "held", "error"} {
		if n := counter(t, e, "rzpgate_cache_purges_total", "result", result); n != 0 {
			t.Errorf("purges{%s} = %v; want 0", result, n)
		}
	}
}

// TestStaleWhileRevalidate: an expired entry is served at once while one
// background fetch refreshes it.
func TestStaleWhileRevalidate(t *testing.T) {
	e := newEnv(t, func(c *proxy.Config) {
		c.TTL = proxy.TTL{PaymentLinks: 50 * time.Millisecond}
		c.StaleIfError = proxy.PerRoute{PaymentLinks: time.Minute}
		c.StaleWhileRevalidate = proxy.PerRoute{PaymentLinks: time.Minute}
	})
	e.get(t, plinkA, credsA)
	time.Sleep(60 * time.Millisecond)
	r := e.get(t, plinkA, credsA)
	if m := staleStatusR.FindStringSubmatch(r.cacheStatus()); m == nil || m[1] != "stale-while-revalidate" {
		t.Fatalf("read after expiry: %q; want the stale copy while revalidating", r.cacheStatus())
	}
	eventually(t, 5*time.Second, "the background refresh", func() bool {
		return hitStatus.MatchString(e.get(t, plinkA, credsA).cacheStatus())
	})
	if n := e.upstream("GET", plinkA); n != 2 {
		t.Errorf("upstream saw %d reads; want 2 (the fill and one refresh)", n)
	}
}

// TestPurgeRemovesStaleCopies: a stale answer is never older than the last
// write the gateway saw.
func TestPurgeRemovesStaleCopies(t *testing.T) {
	e := newEnv(t, func(c *proxy.Config) {
		c.TTL = proxy.TTL{QRCodes: 50 * time.Millisecond}
		c.StaleIfError = proxy.PerRoute{QRCodes: time.Hour}
	})
	e.get(t, qrListA, credsA)
	if r := patchNotes(t, e, "new"); r.status != 200 {
		t.Fatal(r.status)
	}
	time.Sleep(60 * time.Millisecond)
	e.fake.SetFault(fakerazorpay.Fault{Status: 500})
	if r := e.get(t, qrListA, credsA); r.status != 500 || strings.Contains(r.cacheStatus(), "stale") {
		t.Errorf("read after a PATCH, upstream failing: %d %q; want the 500, no pre-PATCH stale copy", r.status, r.cacheStatus())
	}
}

// TestUpstream429: Razorpay's 429 passes through unchanged, is never cached,
// does not trip the breaker, and pauses the budget for its Retry-After.
func TestUpstream429(t *testing.T) {
	bud, err := limiter.NewBudget(limiter.NewLocal(limiter.LocalConfig{}), limiter.BudgetConfig{Limit: limiter.Limit{Rate: 1000, Burst: 1000}})
	if err != nil {
		t.Fatal(err)
	}
	e, b := newBreakerEnv(t, withLimits(proxy.Limits{Budget: bud, PauseOn429: true}))
	e.fake.SetFault(fakerazorpay.Fault{Status: 429})
	e.fake.SetResponseHeader("Retry-After", "60")
	r := e.get(t, plinkA, credsA)
	if r.status != 429 || r.header.Get("Retry-After") != "60" || r.cacheStatus() != "rzpgate; fwd=miss; fwd-status=429" || r.header.Get("RateLimit") != "" {
		t.Errorf("Razorpay's 429: %d, Retry-After %q, %q; want it passed through as it is, not stored", r.status, r.header.Get("Retry-After"), r.cacheStatus())
	}
	if code, _ := razorpayError(t, r.body); code != "SERVER_ERROR" { // the fake's fault body
		t.Errorf("429 body code %s; want Razorpay's own", code)
	}
	if got := b.State("payment_links"); got != "closed" {
		t.Errorf("breaker after upstream 429s: %s; want closed", got)
	}
	seen := e.fake.Total()
	e.fake.SetFault(fakerazorpay.Fault{})
	r = e.get(t, payA, credsA)
	if r.status != 429 || !budgetLimRE.MatchString(r.header.Get("RateLimit")) || r.cacheStatus() != "rzpgate; detail=budget" {
		t.Errorf("read after Razorpay's 429: %d %q %q; want the paused budget's 429", r.status, r.header.Get("RateLimit"), r.cacheStatus())
	}
	if ra, _ := strconv.Atoi(r.header.Get("Retry-After")); ra < 55 {
		t.Errorf("Retry-After %q during the pause; want about 60", r.header.Get("Retry-After"))
	}
	if e.fake.Total() != seen {
		t.Errorf("a request reached Razorpay during the pause")
	}
}

// TestSDKSeesLimitErrors: razorpay-go reports the gateway's 429 and 503 as
// errors, not as a nil error with an empty map.
func TestSDKSeesLimitErrors(t *testing.T) {
	e, _ := newBreakerEnv(t, withLimits(localLimits(limiter.Limit{Rate: 1, Burst: 1, Period: time.Hour})))
	a := sdkClient("rzp_test_A", "secretA", e.gateway.URL)
	if _, err := sdkPaymentLink.call(a); err != nil {
		t.Fatalf("first call: %v", err)
	}
	got, err := sdkPayment.call(a)
	if err == nil || got != nil || !strings.Contains(err.Error(), "rate limit") {
		t.Errorf("SDK on a 429: %v, %v; want an error naming the rate limit", got, err)
	}

	e2, _ := newBreakerEnv(t)
	b := sdkClient("rzp_test_A", "secretA", e2.gateway.URL)
	e2.fake.SetFault(fakerazorpay.Fault{Status: 500})
	for range 3 {
		sdkQRList.call(b)
	}
	got, err = sdkQRList.call(b)
	if err == nil || got != nil || !strings.Contains(err.Error(), "Razorpay is failing") {
		t.Errorf("SDK on a 503: %v, %v; want the gateway's error", got, err)
	}
}

// TestSharedLimits: two gateways on one Redis together admit the configured
// rate; with Redis stopped each falls back to its share and no request
// fails for it.
func TestSharedLimits(t *testing.T) {
	srv := redistest.Start(t)
	if srv.Shared() {
		t.Skip("RZPGATE_TEST_REDIS_URL is a shared server this test cannot stop")
	}
	fake := fakerazorpay.New()
	up := httptest.NewServer(fake)
	t.Cleanup(up.Close)
	var gws []*env
	for range 2 { // each replica with its own client, as separate processes have
		client := redis.NewClient(&redis.Options{Addr: srv.Addr(), ContextTimeoutEnabled: true})
		t.Cleanup(func() { client.Close() })
		fb := limiter.NewFallback(limiter.NewRedis(client, limiter.RedisConfig{}), limiter.NewLocal(limiter.LocalConfig{}),
			limiter.FallbackConfig{ExpectedReplicas: 2, Timeout: 250 * time.Millisecond})
		l := proxy.Limits{Limiter: fb, Default: proxy.TenantLimit{Limit: limiter.Limit{Rate: 1, Burst: 10, Period: time.Hour}}}
		gws = append(gws, newEnvWith(t, fake, up.URL, withLimits(l)))
	}
	count := func(creds string) (ok, limited int) {
		for i := range 40 {
			r := gws[i%2].get(t, fmt.Sprintf("/v1/payments/pay_S%013d", i), creds)
			if r.status == http.StatusTooManyRequests {
				limited++
			} else {
				ok++
			}
		}
		return ok, limited
	}
	if ok, limited := count(credsA); ok != 10 || limited != 30 {
		t.Errorf("two replicas on Redis: %d allowed, %d limited; want 10 and 30 (the limit, cluster-wide)", ok, limited)
	}
	srv.Stop()
	// Each replica enforces half the burst on its own, 5 + 5, and no
	// request fails for Redis being down.
	if ok, limited := count(credsB); ok != 10 || limited != 30 {
		t.Errorf("with Redis stopped: %d allowed, %d limited; want 10 and 30 (each replica its share)", ok, limited)
	}
}

// TestSharedStaleCopies: entries outlive their TTL in Redis and in the near
// cache, so another replica answers from a stale copy when the upstream
// fails, and never as fresh.
func TestSharedStaleCopies(t *testing.T) {
	for _, near := range []time.Duration{0, time.Second} {
		t.Run(fmt.Sprintf("near cache %v", near), func(t *testing.T) {
			c := newCluster(t, clusterOpts{replicas: 2, near: near, configure: func(cfg *proxy.Config) {
				cfg.TTL = proxy.TTL{PaymentLinks: 100 * time.Millisecond}
				cfg.StaleIfError = proxy.PerRoute{PaymentLinks: time.Minute}
			}})
			a, b := c.replicas[0], c.replicas[1]
			if r := a.get(t, plinkA, credsA); !strings.HasSuffix(r.cacheStatus(), "stored") {
				t.Fatalf("fill through A: %q", r.cacheStatus())
			}
			time.Sleep(150 * time.Millisecond)
			c.fake.SetFault(fakerazorpay.Fault{Status: 503})
			r := b.get(t, plinkA, credsA)
			if m := staleStatusR.FindStringSubmatch(r.cacheStatus()); r.status != 200 || m == nil || m[1] != "stale-if-error" {
				t.Errorf("read through B, upstream failing: %d %q; want A's stale copy", r.status, r.cacheStatus())
			}
		})
	}
}
