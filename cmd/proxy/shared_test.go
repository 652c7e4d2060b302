package main

import (
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/rzpgate/rzpgate/internal/fakerazorpay"
	"github.com/rzpgate/rzpgate/internal/redistest"
)

// TestBinarySharedMode runs two gateway processes on one Redis, configured
// only by environment as a user would: a fill through one is a hit through
// the other, a PATCH through either purges both. It starts them while
// Redis is down: they are ready and serve from the upstream, log the
// breaker's state changes once each, and cache again once Redis is up.
func TestBinarySharedMode(t *testing.T) {
	srv := redistest.Start(t)
	if srv.Shared() {
		t.Skip("RZPGATE_TEST_REDIS_URL is a shared server this test cannot stop")
	}
	srv.Stop()
	bin := buildGateway(t)
	fake := fakerazorpay.New()
	up := httptest.NewServer(fake)
	defer up.Close()
	environ := []string{"RZPGATE_UPSTREAM_URL=" + up.URL, "RZPGATE_REDIS_URL=" + srv.URL(),
		"RZPGATE_CACHE_KEY_SECRET=0123456789abcdef0123456789abcdef-test"}
	a, b := startGateway(t, bin, environ...), startGateway(t, bin, environ...)
	// c fails readiness once Redis has been unusable for a while.
	c := startGateway(t, bin, append(environ, "RZPGATE_REDIS_UNREADY_AFTER=500ms")...)
	waitFor(t, "http://"+a.admin+"/readyz", 200)
	waitFor(t, "http://"+b.admin+"/readyz", 200)
	waitFor(t, "http://"+c.admin+"/readyz", 200)
	for range 5 {
		get(t, "http://"+c.listen+"/v1/payment_links/plink_Fo48rl281ENAg9")
	}
	waitFor(t, "http://"+c.admin+"/readyz", http.StatusServiceUnavailable)

	link := "/v1/payment_links/plink_Fo48rl281ENAg9"
	for range 10 { // Redis is down: every request still succeeds
		if status, _ := get(t, "http://"+a.listen+link); status != 200 {
			t.Fatalf("GET with Redis down: status %d; want 200", status)
		}
	}
	if status, _ := get(t, "http://"+a.admin+"/readyz"); status != 200 {
		t.Errorf("/readyz with Redis down: %d; want 200 (the gateway still serves)", status)
	}
	_, body := get(t, "http://"+a.admin+"/metrics")
	for _, want := range []string{`rzpgate_breaker_state{breaker="redis_cache"} 2`, "rzpgate_redis_up 0", `rzpgate_redis_operation_errors_total{op="get"}`} {
		if !strings.Contains(body, want) {
			t.Errorf("/metrics with Redis down lacks %s", want)
		}
	}

	srv.Restart()
	waitFor(t, "http://"+c.admin+"/readyz", 200) // the Guard probes without traffic
	deadline := time.Now().Add(10 * time.Second)
	hit := false
	for !hit && time.Now().Before(deadline) {
		// Refill through A until A stores again (its breaker probes Redis
		// after breaker.open_timeout), then B must hit A's entry.
		if strings.Contains(getWith(t, "http://"+a.listen+link, "Cache-Control", "no-cache").Header.Get("Cache-Status"), "stored") {
			hit = strings.HasPrefix(getWith(t, "http://"+b.listen+link).Header.Get("Cache-Status"), "rzpgate; hit")
		}
		time.Sleep(100 * time.Millisecond)
	}
	if !hit {
		t.Fatalf("no hit through B of an entry filled through A within 10s of Redis starting")
	}

	// A PATCH through B purges what A serves.
	qrs := "/v1/payments/qr_codes?customer_id=cust_HKsR5se84c5LTO"
	getWith(t, "http://"+a.listen+qrs)
	if r := getWith(t, "http://"+a.listen+qrs); !strings.HasPrefix(r.Header.Get("Cache-Status"), "rzpgate; hit") {
		t.Fatalf("second QR list GET through A: Cache-Status %q; want a hit", r.Header.Get("Cache-Status"))
	}
	req, _ := http.NewRequest("PATCH", "http://"+b.listen+"/v1/payments/qr_codes/qr_HMsgvioW64f0vh",
		strings.NewReader(`{"notes":{"via":"b"}}`))
	req.SetBasicAuth("rzp_test_A", "secretA")
	resp, err := http.DefaultClient.Do(req)
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("PATCH through B: %v %v", resp, err)
	}
	resp.Body.Close()
	if r := getWith(t, "http://"+a.listen+qrs); !strings.Contains(r.Header.Get("Cache-Status"), "fwd=miss") {
		t.Errorf("QR list through A after a PATCH through B: Cache-Status %q; want a miss", r.Header.Get("Cache-Status"))
	}

	// The outage is logged when it starts and when it ends, once each,
	// never per request or per probe, and every line is JSON.
	a.cmd.Process.Kill()
	a.cmd.Wait()
	var outage []string
	for m := range a.lines {
		switch m["msg"] {
		case "redis cache unavailable; serving from the upstream", "redis cache still unavailable", "redis cache available again":
			outage = append(outage, m["msg"].(string))
		case "cache store failed":
			t.Errorf("a per-request store failure was logged: %v", m)
		}
	}
	if len(outage) < 2 || outage[0] != "redis cache unavailable; serving from the upstream" || outage[len(outage)-1] != "redis cache available again" ||
		slices.Index(outage, "redis cache available again") != len(outage)-1 {
		t.Errorf("outage lines logged: %q; want one start, then one end", outage)
	}
}

// getWith sends a GET with A's credentials and header pairs, returning the
// response with its body read and closed.
func getWith(t *testing.T, url string, hdr ...string) *http.Response {
	t.Helper()
	req, _ := http.NewRequest("GET", url, nil)
	req.SetBasicAuth("rzp_test_A", "secretA")
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("GET %s: status %d", url, resp.StatusCode)
	}
	return resp
}

// TestBinarySharedLimits: two gateway processes on one Redis together admit
// a tenant's limit, not twice it; with Redis stopped each falls back to its
// share and no request fails for it. The limit refills one request a
// second, so the tolerance is what refills while the test runs.
func TestBinarySharedLimits(t *testing.T) {
	srv := redistest.Start(t)
	if srv.Shared() {
		t.Skip("RZPGATE_TEST_REDIS_URL is a shared server this test cannot stop")
	}
	bin := buildGateway(t)
	fake := fakerazorpay.New()
	up := httptest.NewServer(fake)
	defer up.Close()
	environ := []string{"RZPGATE_UPSTREAM_URL=" + up.URL, "RZPGATE_REDIS_URL=" + srv.URL(),
		"RZPGATE_CACHE_KEY_SECRET=0123456789abcdef0123456789abcdef-test", "RZPGATE_LOG_LEVEL=warn",
		"RZPGATE_LIMITS_ENABLED=true", "RZPGATE_LIMITS_DEFAULT_RATE=1", "RZPGATE_LIMITS_DEFAULT_BURST=10",
		"RZPGATE_LIMITS_EXPECTED_REPLICAS=2"}
	a, b := startGateway(t, bin, environ...), startGateway(t, bin, environ...)
	waitFor(t, "http://"+a.admin+"/readyz", 200)
	waitFor(t, "http://"+b.admin+"/readyz", 200)
	count := func(user string) (ok int, elapsed time.Duration) {
		fake.AddAccount(user, "s")
		start := time.Now()
		for i := range 40 {
			g := []*gateway{a, b}[i%2]
			req, _ := http.NewRequest("GET", "http://"+g.listen+"/v1/payment_links/plink_Fo48rl281ENAg9", nil)
			req.SetBasicAuth(user, "s")
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatalf("request %d: %v", i, err)
			}
			resp.Body.Close()
			switch resp.StatusCode {
			case http.StatusTooManyRequests:
			case http.StatusBadRequest, http.StatusOK: // the account owns no link: Razorpay's 400
				ok++
			default:
				t.Fatalf("request %d: %d; want 429 or Razorpay's answer", i, resp.StatusCode)
			}
		}
		return ok, time.Since(start)
	}
	ok, d := count("rzp_test_S1")
	if refill := int(d/time.Second) + 1; ok < 10 || ok > 10+refill {
		t.Errorf("two replicas sharing Redis admitted %d of 40 in %v; want the burst of 10 (+%d refilled), not twice it", ok, d, refill)
	}
	srv.Stop()
	ok, d = count("rzp_test_S2")
	// Each replica enforces half: a burst of 5, refilling at half the rate.
	if refill := int(d/time.Second) + 1; ok < 10 || ok > 10+refill {
		t.Errorf("with Redis stopped, the replicas admitted %d of 40 in %v; want 5 each (+%d refilled)", ok, d, refill)
	}
}
