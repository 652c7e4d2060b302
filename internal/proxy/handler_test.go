package proxy_test

import (
	"compress/gzip"
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/rzpgate/rzpgate/internal/fakerazorpay"
	"github.com/rzpgate/rzpgate/internal/proxy"
)

var hitStatus = regexp.MustCompile(`^rzpgate; hit; ttl=\d+$`)

func TestMissThenHit(t *testing.T) {
	routes := []struct {
		desc, target string
		ttl          int
	}{
		{"payment", payA + "?expand[]=upi", 10},
		{"payment link", plinkA, 30},
		{"qr codes of a customer", qrListA, 30},
	}
	for _, tt := range routes {
		t.Run(tt.desc, func(t *testing.T) {
			e := newEnv(t)
			first := e.get(t, tt.target, credsA)
			if first.status != 200 || first.cacheStatus() != "rzpgate; fwd=miss; fwd-status=200; stored" {
				t.Fatalf("first GET: %d %q; want 200 and a stored miss", first.status, first.cacheStatus())
			}
			second := e.get(t, tt.target, credsA)
			if !hitStatus.MatchString(second.cacheStatus()) {
				t.Errorf("second GET Cache-Status = %q; want a hit", second.cacheStatus())
			}
			if second.body != first.body {
				t.Errorf("hit body differs from the miss body:\n%s\n%s", second.body, first.body)
			}
			if ct := second.header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
				t.Errorf("hit Content-Type = %q; want application/json", ct)
			}
			if age := second.header.Get("Age"); age != "0" && age != "1" {
				t.Errorf("hit Age = %q; want 0 or 1", age)
			}
			var ttl int
			if _, err := fmtSscanf(second.cacheStatus(), &ttl); err != nil || ttl > tt.ttl || ttl < tt.ttl-2 {
				t.Errorf("hit ttl = %d (%v); want about %d", ttl, err, tt.ttl)
			}
			if n := e.upstream("GET", tt.target); n != 1 {
				t.Errorf("upstream saw %d requests; want 1", n)
			}
		})
	}
}

func TestKeyUsesEveryQueryParameter(t *testing.T) {
	e := newEnv(t)
	withUPI := e.get(t, payA+"?expand[]=upi", credsA)
	plain := e.get(t, payA, credsA)
	hasUPI := func(body string) bool {
		var p map[string]any
		if err := json.Unmarshal([]byte(body), &p); err != nil {
			t.Fatalf("payment body %q: %v", body, err)
		}
		_, ok := p["upi"]
		return ok
	}
	if !hasUPI(withUPI.body) || hasUPI(plain.body) {
		t.Fatalf("expand[]=upi body has upi = %t, plain body has upi = %t; want true, false", hasUPI(withUPI.body), hasUPI(plain.body))
	}
	encoded := e.get(t, payA+"?expand%5B%5D=upi", credsA)
	if !hitStatus.MatchString(encoded.cacheStatus()) || encoded.body != withUPI.body {
		t.Errorf("expand%%5B%%5D=upi: Cache-Status %q; want a hit on the expand[]=upi entry", encoded.cacheStatus())
	}
	slash := e.get(t, payA+"/?expand[]=upi", credsA)
	if !hitStatus.MatchString(slash.cacheStatus()) {
		t.Errorf("trailing slash: Cache-Status %q; want a hit", slash.cacheStatus())
	}
	if n := e.upstream("GET", payA); n != 2 {
		t.Errorf("upstream saw %d requests; want 2 (one per distinct query)", n)
	}
}

func TestCallersNeverShareEntries(t *testing.T) {
	e := newEnv(t)
	a := e.get(t, payA, credsA)
	if a.status != 200 {
		t.Fatalf("A: status %d", a.status)
	}
	tests := []struct {
		desc, creds string
		hdr         []string
		wantStatus  int
	}{
		{"another account", credsB, nil, 400},
		{"right key id, wrong secret", "rzp_test_A:wrong", nil, 401},
		{"no credentials", "", nil, 401},
		{"same key on behalf of another account", credsA, []string{"X-Razorpay-Account", "acc_Other1234567"}, 200},
	}
	for _, tt := range tests {
		t.Run(tt.desc, func(t *testing.T) {
			before := e.upstream("GET", payA)
			got := e.get(t, payA, tt.creds, tt.hdr...)
			if got.status != tt.wantStatus {
				t.Errorf("status %d; want %d (body %s)", got.status, tt.wantStatus, got.body)
			}
			if hitStatus.MatchString(got.cacheStatus()) {
				t.Errorf("Cache-Status %q: served from another caller's entry", got.cacheStatus())
			}
			if n := e.upstream("GET", payA) - before; n != 1 {
				t.Errorf("upstream saw %d requests; want 1", n)
			}
		})
	}
	// A repeated account header is keyed whole, not by its first value.
	e.get(t, payA, credsA, "X-Razorpay-Account", "acc_One12345678901")
	twice := e.doHeaders(t, payA, credsA, http.Header{"X-Razorpay-Account": {"acc_One12345678901", "acc_Two12345678901"}})
	if hitStatus.MatchString(twice.cacheStatus()) {
		t.Errorf("two account headers hit the entry of the first alone: %q", twice.cacheStatus())
	}

	// A 4xx is never stored: a second try goes upstream again.
	before := e.upstream("GET", payA)
	e.get(t, payA, credsB)
	if n := e.upstream("GET", payA) - before; n != 1 {
		t.Errorf("error response was served from the cache")
	}
}

func TestAnyEncodingFromAnyFill(t *testing.T) {
	for _, fill := range []string{"gzip", "identity"} {
		for _, read := range []string{"gzip", "identity", "br"} {
			t.Run(fill+" fill, "+read+" read", func(t *testing.T) {
				e := newEnv(t)
				first := e.get(t, qrListA, credsA, "Accept-Encoding", fill)
				second := e.get(t, qrListA, credsA, "Accept-Encoding", read)
				if !hitStatus.MatchString(second.cacheStatus()) {
					t.Fatalf("second Cache-Status %q; want hit", second.cacheStatus())
				}
				if second.body != first.body || !json.Valid([]byte(second.body)) {
					t.Errorf("body for %s reader after %s fill = %q; want the JSON %q", read, fill, second.body, first.body)
				}
				if enc := second.header.Get("Content-Encoding"); enc != "" && read != "gzip" {
					t.Errorf("Content-Encoding %q sent to a client accepting %s", enc, read)
				}
			})
		}
	}
}

func TestClientCacheControl(t *testing.T) {
	e := newEnv(t)
	e.get(t, plinkA, credsA)
	fresh := e.get(t, plinkA, credsA, "Cache-Control", "no-cache")
	if fresh.cacheStatus() != "rzpgate; fwd=request; fwd-status=200; stored" {
		t.Errorf("no-cache Cache-Status %q; want a forwarded, stored request", fresh.cacheStatus())
	}
	if n := e.upstream("GET", plinkA); n != 2 {
		t.Errorf("upstream saw %d after no-cache; want 2", n)
	}
	bypass := e.get(t, payA, credsA, "Cache-Control", "no-store")
	if bypass.cacheStatus() != "rzpgate; fwd=bypass" || bypass.status != 200 {
		t.Errorf("no-store: %d %q; want 200 and bypass", bypass.status, bypass.cacheStatus())
	}
	after := e.get(t, payA, credsA)
	if !strings.Contains(after.cacheStatus(), "fwd=miss") {
		t.Errorf("no-store response was stored: next Cache-Status %q", after.cacheStatus())
	}
}

func TestFillDropsConditionalHeaders(t *testing.T) {
	e := newEnv(t)
	got := e.get(t, plinkA, credsA, "If-None-Match", `"abc"`, "Range", "bytes=0-10")
	if got.status != 200 || !json.Valid([]byte(got.body)) {
		t.Fatalf("conditional GET: %d %q; want the full 200", got.status, got.body)
	}
	reqs := e.fake.Requests()
	for _, k := range []string{"If-None-Match", "Range"} {
		if v := reqs[len(reqs)-1].Header.Get(k); v != "" {
			t.Errorf("fill forwarded %s: %q", k, v)
		}
	}
}

func TestGetWithBodyBypasses(t *testing.T) {
	e := newEnv(t)
	for range 2 {
		got := e.do(t, "GET", payA, credsA, `{"x":1}`)
		if got.status != 200 || got.cacheStatus() != "rzpgate; fwd=bypass" {
			t.Errorf("GET with a body: %d %q; want 200 and a bypass", got.status, got.cacheStatus())
		}
	}
	if n := e.upstream("GET", payA); n != 2 {
		t.Errorf("upstream saw %d GETs with bodies; want 2 (never cached)", n)
	}
}

func TestUncacheableResponses(t *testing.T) {
	tests := []struct {
		desc  string
		setup func(*fakerazorpay.Server)
	}{
		{"set-cookie", func(f *fakerazorpay.Server) { f.SetResponseHeader("Set-Cookie", "session=1") }},
		{"no-store", func(f *fakerazorpay.Server) { f.SetResponseHeader("Cache-Control", "no-store") }},
		{"private", func(f *fakerazorpay.Server) { f.SetResponseHeader("Cache-Control", "private") }},
		{"server error", func(f *fakerazorpay.Server) { f.SetFault(fakerazorpay.Fault{Status: 500}) }},
	}
	for _, tt := range tests {
		t.Run(tt.desc, func(t *testing.T) {
			e := newEnv(t)
			tt.setup(e.fake)
			first := e.get(t, payA, credsA)
			if strings.Contains(first.cacheStatus(), "stored") {
				t.Errorf("Cache-Status %q; want not stored", first.cacheStatus())
			}
			e.get(t, payA, credsA)
			if n := e.upstream("GET", payA); n != 2 {
				t.Errorf("upstream saw %d requests; want 2 (nothing stored)", n)
			}
		})
	}
}

func TestCoalescing(t *testing.T) {
	e := newEnv(t)
	e.fake.SetLatency(300 * time.Millisecond)
	const n = 20
	var wg sync.WaitGroup
	got := make([]response, n)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			got[i] = e.get(t, qrListA, credsA)
		}()
	}
	wg.Wait()
	if c := e.upstream("GET", qrListA); c != 1 {
		t.Errorf("%d concurrent misses made %d upstream requests; want 1", n, c)
	}
	collapsed := 0
	for _, r := range got {
		if r.status != 200 || r.body != got[0].body {
			t.Errorf("a coalesced request got %d %q", r.status, r.body)
		}
		if strings.Contains(r.cacheStatus(), "collapsed") {
			collapsed++
		}
	}
	if collapsed == 0 {
		t.Errorf("no response says it was collapsed")
	}
}

func TestPatchInvalidates(t *testing.T) {
	e := newEnv(t)
	e.get(t, qrListA, credsA) // fill A's list
	e.get(t, qrListA, credsA, "X-Razorpay-Account", "acc_Other1234567")
	patched := e.do(t, "PATCH", qrPatchA, credsA, `{"notes":{"v":"2"}}`, "Content-Type", "application/json")
	if patched.status != 200 || notes(t, patched.body)["v"] != "2" {
		t.Fatalf("PATCH: %d %s", patched.status, patched.body)
	}
	after := e.get(t, qrListA, credsA)
	if !strings.Contains(after.cacheStatus(), "fwd=miss") || notes(t, after.body)["v"] != "2" {
		t.Errorf("GET after PATCH: %q notes %v; want a miss with the new notes", after.cacheStatus(), notes(t, after.body))
	}
	other := e.get(t, qrListA, credsA, "X-Razorpay-Account", "acc_Other1234567")
	if !strings.Contains(other.cacheStatus(), "fwd=miss") {
		t.Errorf("another partition's entry survived the purge: %q", other.cacheStatus())
	}
	if got := counter(t, e, "rzpgate_cache_purges_total", "result", "ok"); got != 1 {
		t.Errorf("purges ok = %v; want 1", got)
	}
}

func TestPatchOutcomes(t *testing.T) {
	tests := []struct {
		desc       string
		body       string
		fault      fakerazorpay.Fault
		wantStatus int
		wantPurge  bool
	}{
		{"rejected by razorpay", `{"notes":"not an object"}`, fakerazorpay.Fault{}, 400, false},
		{"razorpay failed", `{"notes":{"v":"3"}}`, fakerazorpay.Fault{Status: 503}, 503, true},
		{"connection dropped", `{"notes":{"v":"3"}}`, fakerazorpay.Fault{Drop: true}, 502, true},
	}
	for _, tt := range tests {
		t.Run(tt.desc, func(t *testing.T) {
			e := newEnv(t)
			e.get(t, qrListA, credsA)
			e.fake.SetFault(tt.fault)
			got := e.do(t, "PATCH", qrPatchA, credsA, tt.body)
			e.fake.SetFault(fakerazorpay.Fault{})
			if got.status != tt.wantStatus {
				t.Errorf("PATCH status %d; want %d", got.status, tt.wantStatus)
			}
			after := e.get(t, qrListA, credsA)
			if purged := !hitStatus.MatchString(after.cacheStatus()); purged != tt.wantPurge {
				t.Errorf("purged = %t (Cache-Status %q); want %t", purged, after.cacheStatus(), tt.wantPurge)
			}
		})
	}
}

func TestGatewayErrorsHaveRazorpayShape(t *testing.T) {
	tests := []struct {
		desc       string
		env        func(t *testing.T) *env
		method     string
		target     string
		body       string
		wantStatus int
		wantCode   string
	}{
		{"body too large", func(t *testing.T) *env {
			return newEnv(t, func(c *proxy.Config) { c.MaxBodyBytes = 1024 })
		}, "PATCH", qrPatchA, `{"notes":{"a":"` + strings.Repeat("x", 2000) + `"}}`, 413, "BAD_REQUEST_ERROR"},
		{"upstream timeout", func(t *testing.T) *env {
			e := newEnv(t, func(c *proxy.Config) { c.UpstreamTimeout = 100 * time.Millisecond })
			e.fake.SetLatency(2 * time.Second)
			return e
		}, "GET", payA, "", 504, "SERVER_ERROR"},
		{"upstream unreachable", func(t *testing.T) *env {
			e := newEnv(t, func(c *proxy.Config) { c.Upstream, _ = url.Parse("http://127.0.0.1:1") })
			return e
		}, "GET", plinkA, "", 502, "SERVER_ERROR"},
		{"upstream unreachable, pass-through", func(t *testing.T) *env {
			return newEnv(t, func(c *proxy.Config) { c.Upstream, _ = url.Parse("http://127.0.0.1:1") })
		}, "POST", "/v1/orders", `{"amount":100}`, 502, "SERVER_ERROR"},
	}
	for _, tt := range tests {
		t.Run(tt.desc, func(t *testing.T) {
			e := tt.env(t)
			got := e.do(t, tt.method, tt.target, credsA, tt.body)
			if got.status != tt.wantStatus {
				t.Errorf("status %d; want %d", got.status, tt.wantStatus)
			}
			var shape struct {
				Error map[string]any `json:"error"`
			}
			if err := json.Unmarshal([]byte(got.body), &shape); err != nil {
				t.Fatalf("body %q is not JSON: %v", got.body, err)
			}
			if shape.Error["code"] != tt.wantCode || shape.Error["description"] == "" {
				t.Errorf("error %v; want code %s and a description", shape.Error, tt.wantCode)
			}
			for _, f := range []string{"source", "step", "reason", "metadata"} {
				if _, ok := shape.Error[f]; !ok {
					t.Errorf("error lacks %q: %s", f, got.body)
				}
			}
			if _, ok := shape.Error["internal_error_code"]; ok {
				t.Errorf("error has internal_error_code, which razorpay-go misreads: %s", got.body)
			}
		})
	}
}

func TestChunkedBodyTooLarge(t *testing.T) {
	e := newEnv(t, func(c *proxy.Config) { c.MaxBodyBytes = 1024 })
	e.get(t, qrListA, credsA)
	pr, pw := ioPipe()
	go func() {
		pw.Write([]byte(`{"notes":{"a":"` + strings.Repeat("x", 4096) + `"}}`))
		pw.Close()
	}()
	req, _ := http.NewRequest("PATCH", e.gateway.URL+qrPatchA, pr) // no length: chunked
	req.SetBasicAuth("rzp_test_A", "secretA")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 413 {
		t.Errorf("chunked oversized PATCH: status %d; want 413", resp.StatusCode)
	}
	if n := e.fake.Count("PATCH", qrPatchA); n > 1 {
		t.Errorf("upstream saw %d PATCHes", n)
	}
	if got := notes(t, e.get(t, qrListA, credsA).body); got["a"] != "" {
		t.Errorf("oversized PATCH was applied: notes %v", got)
	}
}

func TestPassThroughUnchanged(t *testing.T) {
	e := newEnv(t)
	body := `{"amount":50000,"currency":"INR","receipt":"r1"}`
	got := e.do(t, "POST", "/v1/orders?x=1", credsA, body, "Content-Type", "application/json", "X-Custom", "kept")
	if got.status != 200 || !strings.Contains(got.body, `"entity":"order"`) {
		t.Fatalf("POST /v1/orders: %d %s", got.status, got.body)
	}
	if got.cacheStatus() != "" {
		t.Errorf("pass-through response has Cache-Status %q", got.cacheStatus())
	}
	reqs := e.fake.Requests()
	last := reqs[len(reqs)-1]
	if last.Method != "POST" || last.Path != "/v1/orders" || last.RawQuery != "x=1" || string(last.Body) != body {
		t.Errorf("upstream got %s %s?%s %q; want the request unchanged", last.Method, last.Path, last.RawQuery, last.Body)
	}
	if last.Header.Get("X-Custom") != "kept" || last.Header.Get("X-Forwarded-For") == "" || last.Header.Get("X-Request-Id") == "" {
		t.Errorf("upstream headers %v; want X-Custom kept, X-Forwarded-For and X-Request-Id set", last.Header)
	}

	// Ids that do not look like Razorpay ids are passed through, uncached.
	for _, target := range []string{"/v1/payments/pay_abc.json", "/v1/payments/downtimes", "/v1/payments/pay_DG4ZdRK8ZnXC3k/refunds"} {
		p, _, _ := strings.Cut(target, "?")
		before := e.fake.Count("GET", p)
		e.get(t, target, credsA)
		r := e.get(t, target, credsA)
		if n := e.fake.Count("GET", p) - before; n != 2 || r.cacheStatus() != "" {
			t.Errorf("%s: upstream saw %d of 2, Cache-Status %q; want uncached pass-through", target, n, r.cacheStatus())
		}
	}
}

func TestLogsCarryNoCredentials(t *testing.T) {
	e := newEnv(t)
	e.get(t, payA, credsA)
	e.get(t, payA, credsA)
	e.do(t, "PATCH", qrPatchA, credsA, `{"notes":{"secret_note":"n"}}`)
	logs := e.logs.String()
	for _, secret := range []string{"secretA", "cnpwX3Rlc3RfQTpzZWNyZXRB", "secret_note"} {
		if strings.Contains(logs, secret) {
			t.Errorf("logs contain %q:\n%s", secret, logs)
		}
	}
	var line map[string]any
	first, _, _ := strings.Cut(logs, "\n")
	if err := json.Unmarshal([]byte(first), &line); err != nil {
		t.Fatalf("log line %q is not JSON: %v", first, err)
	}
	for _, k := range []string{"request_id", "route", "status", "cache", "duration_us"} {
		if _, ok := line[k]; !ok {
			t.Errorf("log line lacks %q: %s", k, first)
		}
	}
}

func TestMetrics(t *testing.T) {
	e := newEnv(t)
	e.get(t, payA, credsA)
	e.get(t, payA, credsA)
	if r := e.do(t, "POST", "/v1/orders", credsA, `{"amount":100,"currency":"INR"}`); r.status != 200 {
		t.Fatalf("POST /v1/orders: %d %s", r.status, r.body)
	}
	if r := e.get(t, "/v1/orders/order_DBJOWzybf0sJbb", credsA); r.status != 404 {
		t.Fatalf("GET of an unknown URL: %d %s; want 404", r.status, r.body)
	}
	tests := []struct {
		route, cache, code string
	}{
		{"payment", "miss", "2xx"},
		{"payment", "hit", "2xx"},
		{"write", "passthrough", "2xx"},
		{"passthrough", "passthrough", "4xx"},
	}
	for _, tt := range tests {
		if got := counter(t, e, "rzpgate_requests_total", "route", tt.route, "cache", tt.cache, "status_class", tt.code); got != 1 {
			t.Errorf("requests_total{%s,%s,%s} = %v; want 1", tt.route, tt.cache, tt.code, got)
		}
	}
	// 3 cacheable routes x 6 outcomes exist from the start; the write and
	// the pass-through add theirs.
	if n, err := testutil.GatherAndCount(e.reg, "rzpgate_request_duration_seconds"); err != nil || n != 3*6+2 {
		t.Errorf("duration series = %d, %v; want %d", n, err, 3*6+2)
	}
}

func TestRequestID(t *testing.T) {
	e := newEnv(t)
	got := e.get(t, payA, credsA, "X-Request-Id", "abc-123")
	if id := got.header.Get("X-Request-Id"); id != "abc-123" {
		t.Errorf("X-Request-Id = %q; want the client's abc-123", id)
	}
	got = e.get(t, payA, credsA, "X-Request-Id", "bad id!")
	if id := got.header.Get("X-Request-Id"); len(id) != 16 {
		t.Errorf("X-Request-Id = %q; want a generated 16-character id", id)
	}
}

func TestTooLargeToCache(t *testing.T) {
	e := newEnv(t, func(c *proxy.Config) { c.MaxEntryBytes = 200 })
	first := e.get(t, qrListA, credsA)
	if first.status != 200 || !json.Valid([]byte(first.body)) || !strings.Contains(first.cacheStatus(), "detail=too-large") {
		t.Fatalf("oversized response: %d %q %q", first.status, first.cacheStatus(), first.body)
	}
	second := e.get(t, qrListA, credsA)
	if hitStatus.MatchString(second.cacheStatus()) || second.body != first.body {
		t.Errorf("oversized response was cached or changed: %q", second.cacheStatus())
	}
}

// TestUpstreamCompressesAnyway: an upstream that gzips although the fill
// asked for identity still fills an entry every client can read.
func TestUpstreamCompressesAnyway(t *testing.T) {
	const body = `{"id":"pay_DG4ZdRK8ZnXC3k","entity":"payment","customer_id":"cust_K6fNE0WJZWGqtN"}`
	var seen atomic.Value
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		seen.Store(r.Header.Get("Accept-Encoding"))
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Content-Encoding", "gzip")
		zw := gzip.NewWriter(w)
		zw.Write([]byte(body))
		zw.Close()
	}))
	defer up.Close()
	u, _ := url.Parse(up.URL)
	e := newEnv(t, func(c *proxy.Config) { c.Upstream = u })
	for i, enc := range []string{"identity", "identity", "gzip"} {
		got := e.get(t, payA, credsA, "Accept-Encoding", enc)
		if got.status != 200 || got.body != body {
			t.Errorf("request %d (%s): %d %q; want 200 %q", i, enc, got.status, got.body, body)
		}
		if i > 0 && !hitStatus.MatchString(got.cacheStatus()) {
			t.Errorf("request %d: Cache-Status %q; want a hit", i, got.cacheStatus())
		}
	}
	if ae := seen.Load(); ae != "identity" {
		t.Errorf("fill sent Accept-Encoding %q; want identity", ae)
	}
}

// TestEscapedPatchPurges: a PATCH whose path Razorpay decodes to the QR code
// (here an escaped letter) is applied upstream, so it must purge too.
func TestEscapedPatchPurges(t *testing.T) {
	e := newEnv(t)
	e.get(t, qrListA, credsA)
	got := e.do(t, "PATCH", "/v1/payments/qr_codes/qr_%48MsgvioW64f0vh", credsA, `{"notes":{"v":"escaped"}}`)
	if got.status != 200 {
		t.Fatalf("escaped PATCH: %d %s", got.status, got.body)
	}
	if v := notes(t, e.get(t, qrListA, credsA).body)["v"]; v != "escaped" {
		t.Errorf("GET after an escaped-path PATCH: notes v = %q; want escaped (the PATCH must purge)", v)
	}
}

// TestConnectionNamingHeadersBypasses: ReverseProxy drops the headers a
// client's Connection header names, so such a request must not fill the
// entry of headers the fill did not send.
func TestConnectionNamingHeadersBypasses(t *testing.T) {
	e := newEnv(t)
	got := e.get(t, payA, credsA, "X-Razorpay-Account", "acc_Two12345678901", "Connection", "X-Razorpay-Account")
	if got.cacheStatus() != "rzpgate; fwd=bypass" {
		t.Errorf("Connection naming a keyed header: Cache-Status %q; want a bypass", got.cacheStatus())
	}
	after := e.get(t, payA, credsA, "X-Razorpay-Account", "acc_Two12345678901")
	if hitStatus.MatchString(after.cacheStatus()) {
		t.Errorf("the stripped request filled the account's entry")
	}
	if keep := e.get(t, plinkA, credsA, "Connection", "keep-alive"); !strings.Contains(keep.cacheStatus(), "stored") {
		t.Errorf("Connection: keep-alive: Cache-Status %q; want it cached as usual", keep.cacheStatus())
	}
}

// TestCoalescingLeaderGoesAway: the request that leads a flight runs its
// fetch, but the requests that joined it still get their answer, from that
// one fetch, when the leader's client goes away; and a joined request whose
// client goes away returns at once.
func TestCoalescingLeaderGoesAway(t *testing.T) {
	e := newEnv(t)
	e.fake.SetLatency(500 * time.Millisecond)
	id, secret, _ := strings.Cut(credsA, ":")
	send := func(ctx context.Context) (*http.Response, error) {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, e.gateway.URL+qrListA, nil)
		req.SetBasicAuth(id, secret)
		return http.DefaultClient.Do(req)
	}

	leaderCtx, cancelLeader := context.WithCancel(context.Background())
	leaderDone := make(chan error, 1)
	go func() {
		_, err := send(leaderCtx)
		leaderDone <- err
	}()
	time.Sleep(100 * time.Millisecond) // the leader's fetch is under way

	quitterCtx, cancelQuitter := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancelQuitter()
	quitter := make(chan time.Duration, 1)
	go func() {
		start := time.Now()
		send(quitterCtx)
		quitter <- time.Since(start)
	}()
	const n = 5
	var wg sync.WaitGroup
	got := make([]response, n)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			got[i] = e.get(t, qrListA, credsA)
		}()
	}
	time.Sleep(50 * time.Millisecond)
	cancelLeader()
	if err := <-leaderDone; err == nil {
		t.Errorf("the leader's request succeeded; want it cancelled")
	}
	wg.Wait()
	if d := <-quitter; d > 400*time.Millisecond {
		t.Errorf("a joined request whose client left took %v; want it back at once", d)
	}
	for _, r := range got {
		if r.status != 200 || !strings.Contains(r.cacheStatus(), "collapsed") {
			t.Errorf("joined request: %d %q; want a collapsed 200", r.status, r.cacheStatus())
		}
	}
	if c := e.upstream("GET", qrListA); c != 1 {
		t.Errorf("upstream saw %d requests; want 1", c)
	}
	if r := e.get(t, qrListA, credsA); !hitStatus.MatchString(r.cacheStatus()) {
		t.Errorf("after the flight: %q; want a hit of the stored entry", r.cacheStatus())
	}
	e.fake.SetLatency(0)
}
