package proxy_test

import (
	"context"
	"encoding/base64"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/rzpgate/rzpgate/internal/fakerazorpay"
	"github.com/rzpgate/rzpgate/internal/limiter"
	"github.com/rzpgate/rzpgate/internal/proxy"
)

// Regression tests for what a hostile review of issues #6 and #7 found.

// A known key id with a wrong secret spends a bucket of its own, never the
// real tenant's: key ids are public.
func TestWrongSecretCannotSpendTenantLimit(t *testing.T) {
	e := newEnv(t, withLimits(localLimits(limiter.Limit{Rate: 1, Burst: 3, Period: time.Hour})))
	for range 3 {
		if r := e.get(t, "/v1/orders", "rzp_test_A:not-the-secret"); r.status != http.StatusUnauthorized {
			t.Fatalf("wrong secret: %d; want Razorpay's 401", r.status)
		}
	}
	if r := e.get(t, payA, credsA); r.status != 200 {
		t.Errorf("the real tenant after an attacker's 3 requests: %d; want 200", r.status)
	}
}

// A tenant whose hits are exempt is still limited on requests that bypass
// the cache.
func TestExemptHitsStillLimitsBypasses(t *testing.T) {
	l := localLimits(limiter.Limit{Rate: 1, Burst: 2, Period: time.Hour})
	l.Default.ExemptHits = true
	e := newEnv(t, withLimits(l))
	limited := 0
	for range 10 {
		if r := e.get(t, payA, credsA, "Cache-Control", "no-store"); r.status == http.StatusTooManyRequests {
			limited++
		}
	}
	if limited != 8 {
		t.Errorf("%d of 10 no-store requests limited; want 8 (burst 2)", limited)
	}
}

// Tenant header values are bounded: long or odd values are no tenant.
func TestTenantHeaderBounded(t *testing.T) {
	l := localLimits(limiter.Limit{Rate: 1, Burst: 1, Period: time.Hour})
	l.TenantHeader = "X-Rzpgate-Tenant"
	loc := limiter.NewLocal(limiter.LocalConfig{})
	l.Limiter = loc
	e := newEnv(t, withLimits(l))
	for i := range 50 {
		e.get(t, payA, credsA, "X-Rzpgate-Tenant", strings.Repeat("x", 1000)+fmt.Sprint(i))
	}
	if n := loc.Len(); n > 1 {
		t.Errorf("%d buckets after 50 over-long tenant values; want them all one (no tenant)", n)
	}
}

// The Basic scheme is matched in any case, and unpadded base64 decodes:
// neither escapes the tenant's limit.
func TestTenantFromAnyBasicForm(t *testing.T) {
	l := localLimits(limiter.Limit{Rate: 100, Burst: 100})
	l.Tenants = map[string]proxy.TenantLimit{"rzp_test_A": {Limit: limiter.Limit{Rate: 1, Burst: 1, Period: time.Hour}}}
	e := newEnv(t, withLimits(l))
	e.get(t, payA, credsA)
	enc := base64.StdEncoding.EncodeToString([]byte(credsA))
	for _, auth := range []string{"basic " + enc, "BASIC " + enc} {
		req, _ := http.NewRequest(http.MethodGet, e.gateway.URL+payA, nil)
		req.Header.Set("Authorization", auth)
		resp, err := http.DefaultTransport.RoundTrip(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusTooManyRequests {
			t.Errorf("Authorization %q after the tenant's limit: %d; want 429", auth[:8], resp.StatusCode)
		}
	}
}

// Stale hits during a slow refresh start one refresh, not one goroutine
// each.
func TestRevalidateOncePerKey(t *testing.T) {
	e := newEnv(t, func(c *proxy.Config) {
		c.TTL = proxy.TTL{PaymentLinks: 50 * time.Millisecond}
		c.StaleIfError = proxy.PerRoute{PaymentLinks: time.Minute}
		c.StaleWhileRevalidate = proxy.PerRoute{PaymentLinks: time.Minute}
	})
	e.get(t, plinkA, credsA)
	time.Sleep(60 * time.Millisecond)
	e.fake.SetLatency(time.Second)
	before := runtime.NumGoroutine()
	for range 100 {
		e.get(t, plinkA, credsA)
	}
	if grew := runtime.NumGoroutine() - before; grew > 20 {
		t.Errorf("goroutines grew by %d over 100 stale hits; want one refresh", grew)
	}
}

// An upstream that forbids stale reuse (must-revalidate, proxy-revalidate,
// s-maxage) is never answered stale.
func TestNoStaleWhenUpstreamForbids(t *testing.T) {
	for _, cc := range []string{"max-age=1, must-revalidate", "s-maxage=1", "max-age=1, proxy-revalidate"} {
		t.Run(cc, func(t *testing.T) {
			e := newEnv(t, func(c *proxy.Config) { c.StaleIfError = proxy.PerRoute{PaymentLinks: time.Hour} })
			e.fake.SetResponseHeader("Cache-Control", cc)
			e.get(t, plinkA, credsA)
			time.Sleep(1100 * time.Millisecond)
			e.fake.SetFault(fakerazorpay.Fault{Status: 500})
			if r := e.get(t, plinkA, credsA); r.status != 500 || strings.Contains(r.cacheStatus(), "stale") {
				t.Errorf("expired %q entry, upstream failing: %d %q; want the 500", cc, r.status, r.cacheStatus())
			}
		})
	}
}

// An escaped customer id in a QR creation with an unknown outcome is still
// held.
func TestEscapedCustomerIDHeld(t *testing.T) {
	e := newEnv(t, func(c *proxy.Config) { c.UpstreamTimeout = 200 * time.Millisecond; c.WriteHold = time.Minute })
	e.get(t, qrListA, credsA)
	e.fake.SetCommitDelay(400 * time.Millisecond)
	body := `{"type":"upi_qr","name":"x","usage":"single_use","fixed_amount":true,"payment_amount":300,"customer_id":"cust\u005fHKsR5se84c5LTO"}`
	if r := e.do(t, http.MethodPost, "/v1/payments/qr_codes", credsA, body, "Content-Type", jsonType); r.status != http.StatusGatewayTimeout {
		t.Fatalf("creation: %d; want 504", r.status)
	}
	if r := e.get(t, qrListA, credsA); !strings.HasSuffix(r.cacheStatus(), "detail=held") {
		t.Errorf("list after a creation with an unknown outcome: %q; want held", r.cacheStatus())
	}
}

// A write naming many ids purges at most a bounded number of tags; notes
// are free text and name none.
func TestWriteTagsBounded(t *testing.T) {
	e := newEnv(t)
	var notes []string
	for i := range 15 {
		notes = append(notes, fmt.Sprintf(`"n%d":"pay_%014d cust_%014d"`, i, i, i))
	}
	r := e.do(t, http.MethodPatch, qrPatchA, credsA, `{"notes":{`+strings.Join(notes, ",")+`}}`, "Content-Type", jsonType)
	if r.status != 200 {
		t.Fatalf("PATCH: %d %s", r.status, r.body)
	}
	// The list is still purged: its QR code's id names it.
	if got := e.get(t, qrListA, credsA); hitStatus.MatchString(got.cacheStatus()) {
		t.Errorf("list after the PATCH: %q; want a miss", got.cacheStatus())
	}
}

// A webhook delivery reaches the receiver with Razorpay's headers as they
// came: the gateway adds no X-Request-Id of its own.
func TestWebhookHeadersUntouched(t *testing.T) {
	var got http.Header
	e := newEnv(t)
	up, _ := url.Parse(e.gateway.URL)
	gw, err := proxy.New(proxy.Config{Upstream: up})
	if err != nil {
		t.Fatal(err)
	}
	gw.HandleWebhooks("/_rzpgate/webhooks/razorpay", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got = r.Header.Clone()
	}))
	srv := httptest.NewServer(gw)
	defer srv.Close()
	req, _ := http.NewRequest(http.MethodPost, srv.URL+"/_rzpgate/webhooks/razorpay", strings.NewReader("{}"))
	req.Header.Set("X-Request-Id", "not a plain id!")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if v := got.Values("X-Request-Id"); len(v) != 1 || v[0] != "not a plain id!" {
		t.Errorf("X-Request-Id at the receiver %q; want the sender's, unchanged", v)
	}
}

// A client that goes away mid-request is no upstream error: it would
// raise the upstream error ratio alert for Razorpay's sake.
func TestClientAbortIsNoUpstreamError(t *testing.T) {
	e := newEnv(t)
	e.fake.SetLatency(500 * time.Millisecond)
	for range 5 {
		ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, e.gateway.URL+"/v1/payments/qr_codes/"+qrA, nil)
		req.SetBasicAuth("rzp_test_A", "secretA")
		if resp, err := http.DefaultClient.Do(req); err == nil {
			resp.Body.Close()
		}
		cancel()
	}
	eventually(t, 5*time.Second, "five 499s", func() bool {
		return counter(t, e, "rzpgate_requests_total", "route", "passthrough", "status_class", "4xx") == 5
	})
	if n := counter(t, e, "rzpgate_upstream_requests_total", "status_class", "error"); n != 0 {
		t.Errorf("upstream errors after 5 client aborts = %v; want 0", n)
	}
}
