package proxy_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rzpgate/rzpgate/internal/fakerazorpay"
	"github.com/rzpgate/rzpgate/internal/proxy"
)

// Tests of issue #6, each at the level where its bug showed: a real gateway
// in front of a fake Razorpay that misbehaves on cue.

const jsonType = "application/json"

// patchNotes PATCHes qrA's notes to {"k": v} through e.
func patchNotes(t *testing.T, e *env, v string) response {
	t.Helper()
	return e.do(t, http.MethodPatch, qrPatchA, credsA, `{"notes":{"k":"`+v+`"}}`, "Content-Type", jsonType)
}

// listNote returns qrA's note k in a QR code list body.
func listNote(t *testing.T, body string) string {
	t.Helper()
	var list struct {
		Items []struct {
			ID    string            `json:"id"`
			Notes map[string]string `json:"notes"`
		} `json:"items"`
	}
	if err := json.Unmarshal([]byte(body), &list); err != nil {
		t.Fatalf("QR code list %q: %v", body, err)
	}
	for _, it := range list.Items {
		if it.ID == qrA {
			return it.Notes["k"]
		}
	}
	t.Fatalf("QR code list lacks %s: %s", qrA, body)
	return ""
}

// eventually polls cond every 10ms until it holds, failing the test after
// limit. It bounds waits for background work; it asserts no duration.
func eventually(t *testing.T, limit time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(limit)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("gave up waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestUnknownWriteHoldsItsTags: a PATCH that times out at the gateway but
// commits later at Razorpay must not let a read in between fill the cache
// with the old notes (issue #6, item 1).
func TestUnknownWriteHoldsItsTags(t *testing.T) {
	const hold = 2 * time.Second
	e := newEnv(t, func(c *proxy.Config) {
		c.UpstreamTimeout = 200 * time.Millisecond
		c.WriteHold = hold
	})
	if r := e.get(t, qrListA, credsA); !strings.HasSuffix(r.cacheStatus(), "stored") {
		t.Fatalf("first list read: %q; want stored", r.cacheStatus())
	}
	e.fake.SetCommitDelay(500 * time.Millisecond)
	if r := patchNotes(t, e, "late"); r.status != http.StatusGatewayTimeout {
		t.Fatalf("PATCH that outlives the upstream timeout: %d %s; want 504", r.status, r.body)
	}
	held := time.Now()
	// Before and after the late commit, reads go upstream and are not kept.
	before := e.get(t, qrListA, credsA)
	if before.cacheStatus() != "rzpgate; fwd=miss; fwd-status=200; detail=held" {
		t.Errorf("read during the hold: %q; want a held miss", before.cacheStatus())
	}
	e.fake.WaitCommits()
	after := e.get(t, qrListA, credsA)
	if got := listNote(t, after.body); got != "late" {
		t.Errorf("read after Razorpay committed the write: note %q (%s); want late", got, after.cacheStatus())
	}
	if time.Since(held) < hold && !strings.Contains(after.cacheStatus(), "detail=held") {
		t.Errorf("read within the hold: %q; want it held", after.cacheStatus())
	}
	// Once the hold is over, the list is cached again, with the new notes.
	eventually(t, 3*hold, "the hold to end", func() bool {
		return strings.HasSuffix(e.get(t, qrListA, credsA).cacheStatus(), "stored")
	})
	if r := e.get(t, qrListA, credsA); !hitStatus.MatchString(r.cacheStatus()) || listNote(t, r.body) != "late" {
		t.Errorf("read after the hold: %q, note %q; want a hit with late", r.cacheStatus(), listNote(t, r.body))
	}
	if n := counter(t, e, "rzpgate_cache_purges_total", "result", "held"); n != 1 {
		t.Errorf("held purges = %v; want 1", n)
	}
}

// TestWriteOutlivesItsClient: a client that gives up on a PATCH must not
// cancel it upstream; its outcome purges when it arrives (issue #6, item 1).
func TestWriteOutlivesItsClient(t *testing.T) {
	e := newEnv(t)
	e.get(t, qrListA, credsA)
	e.fake.SetCommitDelay(400 * time.Millisecond)
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodPatch, e.gateway.URL+qrPatchA, strings.NewReader(`{"notes":{"k":"abandoned"}}`))
	req.SetBasicAuth("rzp_test_A", "secretA")
	req.Header.Set("Content-Type", jsonType)
	if resp, err := http.DefaultClient.Do(req); err == nil {
		resp.Body.Close()
		t.Fatalf("PATCH with a 100ms client deadline answered %d; want the client to give up", resp.StatusCode)
	}
	// A read while the write is in flight may see the old notes and fill.
	if got := listNote(t, e.get(t, qrListA, credsA).body); got != "" {
		t.Fatalf("note before the commit = %q; want none", got)
	}
	e.fake.WaitCommits()
	eventually(t, 5*time.Second, "the write's purge", func() bool {
		return counter(t, e, "rzpgate_cache_purges_total", "result", "ok") == 1
	})
	if r := e.get(t, qrListA, credsA); listNote(t, r.body) != "abandoned" {
		t.Errorf("read after the abandoned write committed: note %q (%s); want abandoned", listNote(t, r.body), r.cacheStatus())
	}
}

// TestUnknownWriteHoldsAcrossReplicas: the hold lives in Redis, so a read
// through another replica is not stored either (issue #6, item 1).
func TestUnknownWriteHoldsAcrossReplicas(t *testing.T) {
	c := newCluster(t, clusterOpts{replicas: 2, configure: func(cfg *proxy.Config) {
		cfg.UpstreamTimeout = 200 * time.Millisecond
		cfg.WriteHold = time.Minute
	}})
	a, b := c.replicas[0], c.replicas[1]
	b.get(t, qrListA, credsA)
	c.fake.SetCommitDelay(400 * time.Millisecond)
	if r := patchNotes(t, a, "late"); r.status != http.StatusGatewayTimeout {
		t.Fatalf("PATCH through replica A: %d; want 504", r.status)
	}
	if r := b.get(t, qrListA, credsA); !strings.HasSuffix(r.cacheStatus(), "detail=held") {
		t.Errorf("read through replica B during the hold: %q; want held", r.cacheStatus())
	}
	c.fake.WaitCommits()
	if r := b.get(t, qrListA, credsA); listNote(t, r.body) != "late" {
		t.Errorf("read through replica B after the commit: note %q (%s); want late", listNote(t, r.body), r.cacheStatus())
	}
}

// TestQRCreationPurgesCustomerList (issue #6, item 2).
func TestQRCreationPurgesCustomerList(t *testing.T) {
	e := newEnv(t)
	before := e.get(t, qrListA, credsA)
	if !strings.HasSuffix(before.cacheStatus(), "stored") {
		t.Fatalf("list read: %q; want stored", before.cacheStatus())
	}
	created := e.do(t, http.MethodPost, "/v1/payments/qr_codes", credsA,
		`{"type":"upi_qr","name":"Store","usage":"single_use","fixed_amount":true,"payment_amount":300,"customer_id":"cust_HKsR5se84c5LTO"}`,
		"Content-Type", jsonType)
	var qr struct{ ID string }
	if err := json.Unmarshal([]byte(created.body), &qr); created.status != 200 || err != nil || qr.ID == "" {
		t.Fatalf("creating a QR code: %d %s", created.status, created.body)
	}
	after := e.get(t, qrListA, credsA)
	if hitStatus.MatchString(after.cacheStatus()) || !strings.Contains(after.body, qr.ID) {
		t.Errorf("list read after creating %s: %q, body %s; want a fresh list with it", qr.ID, after.cacheStatus(), after.body)
	}
}

// TestOnlyWholeJSONBodiesAreStored (issue #6, item 3).
func TestOnlyWholeJSONBodiesAreStored(t *testing.T) {
	tests := []struct {
		desc   string
		fault  fakerazorpay.BodyFault
		detail string // "" means stored
	}{
		{"close-delimited and cut short", fakerazorpay.BodyFault{CloseDelimited: true, Truncate: true}, "incomplete"},
		{"close-delimited, whole", fakerazorpay.BodyFault{CloseDelimited: true}, "incomplete"},
		{"shorter Content-Length", fakerazorpay.BodyFault{Truncate: true}, "not-json"},
		{"an HTML page", fakerazorpay.BodyFault{HTML: true}, "not-json"},
		{"dripped but whole", fakerazorpay.BodyFault{DripEvery: time.Millisecond, DripBytes: 256}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.desc, func(t *testing.T) {
			e := newEnv(t)
			e.fake.SetBodyFault(tt.fault)
			first := e.get(t, plinkA, credsA)
			second := e.get(t, plinkA, credsA)
			if tt.detail == "" {
				if !hitStatus.MatchString(second.cacheStatus()) || second.body != first.body {
					t.Errorf("second read: %q; want a hit with the first body", second.cacheStatus())
				}
				return
			}
			want := "rzpgate; fwd=miss; fwd-status=200; detail=" + tt.detail
			if first.status != 200 || first.cacheStatus() != want {
				t.Errorf("first read: %d %q; want 200 %q, served once", first.status, first.cacheStatus(), want)
			}
			if second.cacheStatus() != want {
				t.Errorf("second read: %q; want %q (not stored)", second.cacheStatus(), want)
			}
			if n := e.upstream("GET", plinkA); n != 2 {
				t.Errorf("upstream saw %d reads; want 2", n)
			}
		})
	}
}

// TestUpstreamFreshness honours RFC 9111 as a shared cache (issue #6,
// item 4).
func TestUpstreamFreshness(t *testing.T) {
	tests := []struct {
		header, value string
		detail        string // "" means stored
		maxTTL        int    // for stored entries: the hit's ttl is at most this
	}{
		{"Cache-Control", "no-cache", "cache-control", 0},
		{"Cache-Control", "max-age=0", "stale", 0},
		{"Cache-Control", "public, s-maxage=0", "stale", 0},
		{"Cache-Control", "must-revalidate", "cache-control", 0},
		{"Cache-Control", "private", "cache-control", 0},
		{"Vary", "Origin", "vary", 0},
		{"Vary", "*", "vary", 0},
		{"Expires", "0", "expires", 0},
		{"Cache-Control", "max-age=5", "", 5},
		{"Cache-Control", "max-age=3600, s-maxage=3", "", 3},
		{"Vary", "Accept-Encoding", "", 30},
	}
	for _, tt := range tests {
		t.Run(tt.header+": "+tt.value, func(t *testing.T) {
			e := newEnv(t)
			e.fake.SetResponseHeader(tt.header, tt.value)
			first := e.get(t, plinkA, credsA)
			second := e.get(t, plinkA, credsA)
			if tt.detail != "" {
				want := "rzpgate; fwd=miss; fwd-status=200; detail=" + tt.detail
				if first.cacheStatus() != want || second.cacheStatus() != want {
					t.Errorf("reads: %q, %q; want %q twice", first.cacheStatus(), second.cacheStatus(), want)
				}
				return
			}
			var ttl int
			if _, err := fmtSscanf(second.cacheStatus(), &ttl); err != nil || ttl > tt.maxTTL {
				t.Errorf("second read: %q; want a hit with ttl <= %d", second.cacheStatus(), tt.maxTTL)
			}
		})
	}
}

// TestQuerySentAsKeyed: the query reaches Razorpay exactly as the client
// sent it, which is what the key was derived from, and names PHP would
// rewrite bypass the cache (issue #6, item 5).
func TestQuerySentAsKeyed(t *testing.T) {
	e := newEnv(t)
	for _, q := range []string{"expand[]=upi;x=1", "expand[]=upi&a=%zz", "expand%5B%5D=upi&b=1;2"} {
		e.get(t, payA+"?"+q, credsA)
		reqs := e.fake.Requests()
		if got := reqs[len(reqs)-1].RawQuery; got != q {
			t.Errorf("upstream query = %q; want %q as sent", got, q)
		}
	}
	// To PHP a raw ';' is data, as %3B is: one parameter, one entry.
	first := e.get(t, payA+"?expand[]=upi&note=a;b", credsA)
	second := e.get(t, payA+"?expand[]=upi&note=a%3Bb", credsA)
	if !strings.HasSuffix(first.cacheStatus(), "stored") || !hitStatus.MatchString(second.cacheStatus()) {
		t.Errorf("reads: %q, %q; want stored, then a hit", first.cacheStatus(), second.cacheStatus())
	}
	for _, q := range []string{"expand[]=upi&a.b[]=1", "expand[]=upi&a_b[]=1&a+b[]=2", "expand[]=upi&x[y=1"} {
		if r := e.get(t, payA+"?"+q, credsA); r.cacheStatus() != "rzpgate; fwd=bypass" {
			t.Errorf("GET ?%s: %q; want a bypass", q, r.cacheStatus())
		}
	}
}

// TestOversizeFetchedOnce: a response over max_entry_bytes is streamed to
// its client from the one fetch (issue #6, item 8).
func TestOversizeFetchedOnce(t *testing.T) {
	e := newEnv(t, func(c *proxy.Config) { c.MaxEntryBytes = 64 })
	for i := range 3 {
		r := e.get(t, payA+"?expand[]=upi", credsA)
		if r.status != 200 || !json.Valid([]byte(r.body)) || len(r.body) <= 64 {
			t.Fatalf("read %d: %d, %d bytes; want the whole payment", i, r.status, len(r.body))
		}
		if got, want := r.cacheStatus(), "rzpgate; fwd=miss; fwd-status=200; detail=too-large"; got != want {
			t.Errorf("read %d: Cache-Status %q; want %q", i, got, want)
		}
	}
	if n := e.upstream("GET", payA); n != 3 {
		t.Errorf("upstream saw %d reads for 3 client reads; want 3", n)
	}
	// Concurrent misses: still never more than one fetch per client read.
	e.fake.ResetCounts()
	e.fake.SetLatency(50 * time.Millisecond)
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			if r := e.get(t, payA+"?expand[]=upi", credsA); r.status != 200 || !json.Valid([]byte(r.body)) {
				t.Errorf("concurrent read: %d %q", r.status, r.body)
			}
		})
	}
	wg.Wait()
	if n := e.upstream("GET", payA); n > 8 {
		t.Errorf("upstream saw %d reads for 8 client reads; want at most 8", n)
	}
}

// TestUpstreamTimeoutBoundsEveryExchange: a body that drips forever is cut
// at the upstream timeout on every path, not only on cache fills (issue #6,
// item 9), and a cut-off response is logged and counted (item 12).
func TestUpstreamTimeoutBoundsEveryExchange(t *testing.T) {
	drip := func(method, path string) fakerazorpay.BodyFault {
		return fakerazorpay.BodyFault{DripEvery: 50 * time.Millisecond, Only: fakerazorpay.Match{Method: method, Path: path}}
	}
	qrGet := "/v1/payments/qr_codes/" + qrA
	tests := []struct {
		desc       string
		fault      fakerazorpay.BodyFault
		method     string
		target     string
		hdr        []string
		body       string
		wantStatus int    // 0: the response is cut after its headers
		route      string // the route label of the metric
	}{
		{"pass-through", drip("GET", qrGet), "GET", qrGet, nil, "", 0, "passthrough"},
		{"bypass", drip("GET", "/v1/payment_links/plink_Fo48rl281ENAg9"), "GET", plinkA, []string{"Cache-Control", "no-store"}, "", 0, "payment_link"},
		{"cache fill", drip("GET", "/v1/payment_links/plink_Fo48rl281ENAg9"), "GET", plinkA, nil, "", http.StatusGatewayTimeout, "payment_link"},
		{"write", drip("PATCH", qrPatchA), "PATCH", qrPatchA, []string{"Content-Type", jsonType}, `{"notes":{"k":"x"}}`, http.StatusGatewayTimeout, "qr_code_write"},
	}
	for _, tt := range tests {
		t.Run(tt.desc, func(t *testing.T) {
			e := newEnv(t, func(c *proxy.Config) { c.UpstreamTimeout = 300 * time.Millisecond })
			e.fake.SetBodyFault(tt.fault)
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second) // a guard, not an assertion
			defer cancel()
			var rd io.Reader
			if tt.body != "" {
				rd = strings.NewReader(tt.body)
			}
			req, _ := http.NewRequestWithContext(ctx, tt.method, e.gateway.URL+tt.target, rd)
			req.SetBasicAuth("rzp_test_A", "secretA")
			for i := 0; i+1 < len(tt.hdr); i += 2 {
				req.Header.Set(tt.hdr[i], tt.hdr[i+1])
			}
			// The gateway buffers a response with a Content-Length until it
			// is complete, so a cut one may end before or after its headers
			// reached the client: either way the client must see an error.
			var status int
			var body []byte
			resp, err := http.DefaultTransport.RoundTrip(req)
			if err == nil {
				status = resp.StatusCode
				body, err = io.ReadAll(resp.Body)
				resp.Body.Close()
			}
			if ctx.Err() != nil {
				t.Fatal("the exchange outlived the test's guard: the upstream timeout did not end it")
			}
			code := "502"
			if tt.wantStatus == 0 {
				if err == nil {
					t.Errorf("%d and the whole body (%d bytes) from a dripping upstream; want the response cut", status, len(body))
				}
				eventually(t, 5*time.Second, "the aborted request's log line", func() bool {
					return strings.Contains(e.logs.String(), `"abort":"upstream_aborted"`)
				})
			} else {
				if err != nil || status != tt.wantStatus {
					t.Errorf("status %d %s (%v); want %d", status, body, err, tt.wantStatus)
				}
				code = "504"
			}
			if n := counter(t, e, "rzpgate_requests_total", "route", tt.route, "status_class", "5xx"); n != 1 {
				t.Errorf("requests_total{route=%s,status_class=5xx} = %v; want 1 (a %s)", tt.route, n, code)
			}
		})
	}
}

// TestClientAbortLogged: a client that goes away mid-response is logged and
// counted as 499 (issue #6, item 12).
func TestClientAbortLogged(t *testing.T) {
	e := newEnv(t)
	// The upstream sends its headers at once and then drips the body; the
	// client gives up while the gateway is copying it.
	e.fake.SetBodyFault(fakerazorpay.BodyFault{DripEvery: 20 * time.Millisecond})
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, e.gateway.URL+"/v1/payments/qr_codes/"+qrA, nil)
	req.SetBasicAuth("rzp_test_A", "secretA")
	if resp, err := http.DefaultTransport.RoundTrip(req); err == nil {
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
	}
	deadline := time.Now().Add(5 * time.Second)
	for !strings.Contains(e.logs.String(), `"abort":"client_gone"`) {
		if time.Now().After(deadline) {
			t.Fatalf("no client_gone line in:\n%s", e.logs.String())
		}
		time.Sleep(10 * time.Millisecond)
	}
	if n := counter(t, e, "rzpgate_requests_total", "route", "passthrough", "status_class", "4xx"); n != 1 {
		t.Errorf("requests_total{passthrough,4xx} = %v; want 1 (the 499)", n)
	}
}

// TestClientAbortIsNoStoreError: a client that goes away while Redis is
// slow is the client's abort, not a store failure (issue #6, item 18).
func TestClientAbortIsNoStoreError(t *testing.T) {
	c := newCluster(t, clusterOpts{replicas: 1, timeout: 2 * time.Second})
	e := c.replicas[0]
	e.get(t, payA, credsA) // connect
	c.redis.Pause()
	defer c.redis.Resume()
	for range 3 {
		ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, e.gateway.URL+plinkA, nil)
		req.SetBasicAuth("rzp_test_A", "secretA")
		if resp, err := http.DefaultClient.Do(req); err == nil {
			resp.Body.Close()
		}
		cancel()
	}
	eventually(t, 10*time.Second, "three 499s", func() bool {
		return counter(t, e, "rzpgate_requests_total", "route", "payment_link", "status_class", "4xx") == 3
	})
	for _, op := range []string{"get", "fence", "set"} {
		if n := counter(t, e, "rzpgate_cache_store_errors_total", "op", op); n != 0 {
			t.Errorf("store errors{op=%s} = %v after clients went away; want 0", op, n)
		}
	}
}
