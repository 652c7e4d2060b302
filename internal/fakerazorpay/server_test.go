package fakerazorpay

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"
)

// Credentials of the seeded accounts.
var (
	authA = [2]string{"rzp_test_A", "secretA"}
	authB = [2]string{"rzp_test_B", "secretB"}
)

// start serves a new seeded Server on a real HTTP server.
func start(t *testing.T) (*Server, *httptest.Server) {
	t.Helper()
	s := New()
	ts := httptest.NewServer(s)
	t.Cleanup(ts.Close)
	return s, ts
}

// call is one request to the fake. A zero auth sends no credentials.
type call struct {
	method, path, body string
	auth               [2]string
	header             map[string]string
}

// result is a response with its body read and, if gzip-encoded, decoded.
type result struct {
	status int
	header http.Header
	body   []byte
}

// do sends c to ts. Compression is disabled in the transport so that the
// test sees Content-Encoding exactly as the fake sent it, and keep-alives
// so that a dropped connection is never retried.
func do(t *testing.T, ts *httptest.Server, c call) result {
	t.Helper()
	res, err := send(ts, c)
	if err != nil {
		t.Fatalf("%s %s: %v", c.method, c.path, err)
	}
	return res
}

func send(ts *httptest.Server, c call) (result, error) {
	req, err := http.NewRequest(c.method, ts.URL+c.path, strings.NewReader(c.body))
	if err != nil {
		return result{}, err
	}
	if c.auth != [2]string{} {
		req.SetBasicAuth(c.auth[0], c.auth[1])
	}
	for k, v := range c.header {
		req.Header.Set(k, v)
	}
	client := &http.Client{Transport: &http.Transport{DisableCompression: true, DisableKeepAlives: true}}
	resp, err := client.Do(req)
	if err != nil {
		return result{}, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return result{}, err
	}
	if resp.Header.Get("Content-Encoding") == "gzip" {
		zr, err := gzip.NewReader(bytes.NewReader(body))
		if err != nil {
			return result{}, err
		}
		if body, err = io.ReadAll(zr); err != nil {
			return result{}, err
		}
	}
	return result{status: resp.StatusCode, header: resp.Header, body: body}, nil
}

// wantError checks that res is a Razorpay error with the given status,
// code, description and field, in exactly Razorpay's shape.
func wantError(t *testing.T, res result, status int, code, description, field string) {
	t.Helper()
	if res.status != status {
		t.Errorf("status = %d, want %d (body %s)", res.status, status, res.body)
	}
	var got map[string]map[string]any
	if err := json.Unmarshal(res.body, &got); err != nil {
		t.Fatalf("error body %s: %v", res.body, err)
	}
	want := map[string]any{
		"code": code, "description": description,
		"source": "NA", "step": "NA", "reason": "NA", "metadata": map[string]any{},
	}
	if field != "" {
		want["field"] = field
	}
	if !reflect.DeepEqual(got["error"], want) || len(got) != 1 {
		t.Errorf("error body = %s, want {\"error\":%v}", res.body, want)
	}
}

// jsonEqual reports whether a and b hold the same JSON value.
func jsonEqual(t *testing.T, a, b []byte) bool {
	t.Helper()
	var va, vb any
	if err := json.Unmarshal(a, &va); err != nil {
		t.Fatalf("decoding %s: %v", a, err)
	}
	if err := json.Unmarshal(b, &vb); err != nil {
		t.Fatalf("decoding %s: %v", b, err)
	}
	return reflect.DeepEqual(va, vb)
}

func TestAuthentication(t *testing.T) {
	_, ts := start(t)
	const path = "/v1/payments/pay_DG4ZdRK8ZnXC3k"
	tests := []struct {
		desc     string
		auth     [2]string
		wantDesc string // empty: success
	}{
		{"no credentials", [2]string{}, "Please provide your api key for authentication purposes."},
		{"unknown key", [2]string{"rzp_test_X", "secretA"}, "The api key provided is invalid"},
		{"wrong secret", [2]string{"rzp_test_A", "secretB"}, "The api secret provided is invalid"},
		{"empty secret", [2]string{"rzp_test_A", ""}, "The api secret provided is invalid"},
		{"valid", authA, ""},
	}
	for _, tt := range tests {
		t.Run(tt.desc, func(t *testing.T) {
			res := do(t, ts, call{method: "GET", path: path, auth: tt.auth})
			if tt.wantDesc == "" {
				if res.status != http.StatusOK {
					t.Errorf("status = %d, want 200 (body %s)", res.status, res.body)
				}
				return
			}
			wantError(t, res, http.StatusUnauthorized, codeBadRequest, tt.wantDesc, "")
		})
	}
}

func TestZeroServerRejectsEverything(t *testing.T) {
	ts := httptest.NewServer(&Server{})
	defer ts.Close()
	res := do(t, ts, call{method: "GET", path: "/v1/payments/pay_DG4ZdRK8ZnXC3k", auth: authA})
	wantError(t, res, http.StatusUnauthorized, codeBadRequest, "The api key provided is invalid", "")
}

func TestAccounts(t *testing.T) {
	s, ts := start(t)
	s.AddAccount("rzp_test_C", "secretC")
	authC := [2]string{"rzp_test_C", "secretC"}
	s.AddQRCode("rzp_test_C", "qr_CC2", "cust_CC")
	s.AddQRCode("rzp_test_C", "qr_CC1", "cust_CC")

	res := do(t, ts, call{method: "GET", path: "/v1/payments/qr_codes", auth: authC})
	var list collection[qrCode]
	if err := json.Unmarshal(res.body, &list); err != nil {
		t.Fatalf("decoding %s: %v", res.body, err)
	}
	if got, want := len(list.Items), 2; got != want || list.Count != want {
		t.Fatalf("account C lists %d items (count %d), want %d", got, list.Count, want)
	}
	if got, want := list.Items[0].ID, "qr_CC1"; got != want {
		t.Errorf("first item = %s, want %s", got, want)
	}
	if got := list.Items[0].Notes; got == nil || len(got) != 0 {
		t.Errorf("added QR code notes = %v, want {}", got)
	}
	if got, want := list.Items[0].Name, "Store_1"; got != want {
		t.Errorf("added QR code name = %q, want the seed's %q", got, want)
	}

	s.AddAccount("rzp_test_A", "rotated")
	res = do(t, ts, call{method: "GET", path: "/v1/payments/pay_DG4ZdRK8ZnXC3k", auth: [2]string{"rzp_test_A", "rotated"}})
	if res.status != http.StatusOK {
		t.Errorf("after rotating A's secret, status = %d, want 200 with A's entities kept", res.status)
	}

	s.RemoveAccount("rzp_test_C")
	res = do(t, ts, call{method: "GET", path: "/v1/payments/qr_codes", auth: authC})
	wantError(t, res, http.StatusUnauthorized, codeBadRequest, "The api key provided is invalid", "")
}

func TestGzip(t *testing.T) {
	_, ts := start(t)
	const path = "/v1/payments/qr_codes/qr_HMsgvioW64f0vh"
	tests := []struct {
		desc, acceptEncoding string
		wantGzip             bool
	}{
		{"absent", "", false},
		{"gzip", "gzip", true},
		{"razorpay-go", "gzip, deflate", true},
		{"weighted", "br;q=1.0, gzip;q=0.5", true},
		{"refused", "gzip;q=0", false},
		{"star", "*", true},
		{"star refused but gzip named", "gzip, *;q=0", true},
		{"gzip refused despite star", "*, gzip;q=0", false},
		{"other coding", "br", false},
		{"identity", "identity", false},
	}
	for _, tt := range tests {
		t.Run(tt.desc, func(t *testing.T) {
			res := do(t, ts, call{method: "GET", path: path, auth: authA,
				header: map[string]string{"Accept-Encoding": tt.acceptEncoding}})
			if got := res.header.Get("Content-Encoding") == "gzip"; got != tt.wantGzip {
				t.Errorf("gzip-encoded = %t, want %t", got, tt.wantGzip)
			}
			if got, want := res.header.Get("Vary"), "Accept-Encoding"; got != want {
				t.Errorf("Vary = %q, want %q", got, want)
			}
			if got, want := res.header.Get("Content-Type"), "application/json; charset=UTF-8"; got != want {
				t.Errorf("Content-Type = %q, want %q", got, want)
			}
			if !tt.wantGzip && res.header.Get("Content-Length") == "" {
				t.Errorf("identity response has no Content-Length")
			}
			if !jsonEqual(t, res.body, []byte(docQRCode)) {
				t.Errorf("decoded body = %s, want the documented QR code", res.body)
			}
		})
	}
}

func FuzzAcceptsGzip(f *testing.F) {
	for _, s := range []string{"gzip", "gzip;q=0", "*;q=0.5", "br, gzip ; q = 0.1", "gzip;q=NaN"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		got := acceptsGzip([]string{s})
		lower := strings.ToLower(s)
		if got && !strings.Contains(lower, "gzip") && !strings.Contains(s, "*") {
			t.Errorf("acceptsGzip(%q) = true without naming gzip or *", s)
		}
	})
}

func TestLatency(t *testing.T) {
	s, ts := start(t)
	const latency = 150 * time.Millisecond
	s.SetLatency(latency)
	began := time.Now()
	res := do(t, ts, call{method: "GET", path: "/v1/payment_links/plink_Fo48rl281ENAg9", auth: authA})
	if elapsed := time.Since(began); elapsed < latency {
		t.Errorf("response took %v, want at least %v", elapsed, latency)
	}
	if res.status != http.StatusOK {
		t.Errorf("status = %d, want 200", res.status)
	}
}

// TestLatencyFollowsStateRead checks that the wait comes after the state is
// read: a GET that read the old notes answers with them even though a PATCH
// changed them during its wait.
func TestLatencyFollowsStateRead(t *testing.T) {
	s, ts := start(t)
	const path = "/v1/payments/qr_codes/qr_HMsgvioW64f0vh"
	s.SetLatency(200 * time.Millisecond)
	got := make(chan result, 1)
	go func() {
		res, err := send(ts, call{method: "GET", path: path, auth: authA})
		if err != nil {
			t.Error(err)
		}
		got <- res
	}()
	// The request is recorded in the same critical section as the state read.
	for deadline := time.Now().Add(10 * time.Second); s.Count("GET", path) == 0; time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the slow GET was never recorded")
		}
	}
	s.SetLatency(0) // The PATCH must land while the GET is still waiting.
	do(t, ts, call{method: "PATCH", path: path, auth: authA, body: `{"notes":{"v":"2"}}`})

	var qr qrCode
	if err := json.Unmarshal((<-got).body, &qr); err != nil {
		t.Fatal(err)
	}
	if want := map[string]string{"purpose": "Test UPI QR Code notes"}; !reflect.DeepEqual(qr.Notes, want) {
		t.Errorf("slow GET notes = %v, want the notes before the PATCH %v", qr.Notes, want)
	}
	if got, want := s.QRNotes("rzp_test_A", "qr_HMsgvioW64f0vh"), map[string]string{"v": "2"}; !reflect.DeepEqual(got, want) {
		t.Errorf("QRNotes = %v, want %v", got, want)
	}
}

func TestLatencyHonoursContext(t *testing.T) {
	s := New()
	s.SetLatency(time.Hour)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	req := httptest.NewRequestWithContext(ctx, "GET", "/v1/payments/pay_DG4ZdRK8ZnXC3k", nil)
	req.SetBasicAuth(authA[0], authA[1])
	rec := httptest.NewRecorder()
	done := make(chan struct{})
	go func() {
		s.ServeHTTP(rec, req)
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("ServeHTTP still waiting after its context was cancelled")
	}
	if rec.Body.Len() != 0 {
		t.Errorf("cancelled request got body %s, want none", rec.Body)
	}
}

func TestFault(t *testing.T) {
	s, ts := start(t)
	const path = "/v1/payments/pay_DG4ZdRK8ZnXC3k"
	for _, status := range []int{http.StatusInternalServerError, http.StatusServiceUnavailable} {
		s.SetFault(Fault{Status: status})
		for _, auth := range [][2]string{authA, {}} {
			res := do(t, ts, call{method: "GET", path: path, auth: auth})
			wantError(t, res, status, codeServerError, msgServerError, "")
		}
	}

	s.SetFault(Fault{Drop: true})
	s.ResetCounts()
	if res, err := send(ts, call{method: "GET", path: path, auth: authA}); err == nil {
		t.Errorf("dropped request got status %d, want a connection error", res.status)
	}
	if got, want := s.Count("GET", path), 1; got != want {
		t.Errorf("Count after a drop = %d, want %d", got, want)
	}

	s.SetFault(Fault{})
	if res := do(t, ts, call{method: "GET", path: path, auth: authA}); res.status != http.StatusOK {
		t.Errorf("after clearing the fault, status = %d, want 200", res.status)
	}
}

func TestSetResponseHeader(t *testing.T) {
	s, ts := start(t)
	s.SetResponseHeader("cache-control", "no-store")
	s.SetResponseHeader("Set-Cookie", "session=abc")
	for _, c := range []call{
		{method: "GET", path: "/v1/payments/pay_DG4ZdRK8ZnXC3k", auth: authA},
		{method: "GET", path: "/v1/payments/pay_DG4ZdRK8ZnXC3k"},
	} {
		res := do(t, ts, c)
		if got, want := res.header.Get("Cache-Control"), "no-store"; got != want {
			t.Errorf("status %d: Cache-Control = %q, want %q", res.status, got, want)
		}
		if got, want := res.header.Get("Set-Cookie"), "session=abc"; got != want {
			t.Errorf("status %d: Set-Cookie = %q, want %q", res.status, got, want)
		}
	}
	s.SetResponseHeader("Set-Cookie", "")
	res := do(t, ts, call{method: "GET", path: "/v1/payments/pay_DG4ZdRK8ZnXC3k", auth: authA})
	if got := res.header.Get("Set-Cookie"); got != "" {
		t.Errorf("after removal, Set-Cookie = %q, want none", got)
	}
}

func TestCounting(t *testing.T) {
	s, ts := start(t)
	const path = "/v1/payments/pay_DG4ZdRK8ZnXC3k"
	do(t, ts, call{method: "GET", path: path, auth: authA})
	do(t, ts, call{method: "GET", path: path + "/?expand[]=upi", auth: authA})
	do(t, ts, call{method: "GET", path: path})                                // Rejected: no credentials.
	do(t, ts, call{method: "POST", path: path, auth: authA, body: `{"x":1}`}) // Rejected: 405.
	do(t, ts, call{method: "GET", path: "/v1/nowhere", auth: authA})          // Rejected: 404.

	tests := []struct {
		desc, method, path string
		want               int
	}{
		{"GET without slash", "GET", path, 3},
		{"GET with slash", "GET", path + "/", 3},
		{"POST", "POST", path, 1},
		{"PATCH never sent", "PATCH", path, 0},
		{"unknown path", "GET", "/v1/nowhere", 1},
	}
	for _, tt := range tests {
		t.Run(tt.desc, func(t *testing.T) {
			if got := s.Count(tt.method, tt.path); got != tt.want {
				t.Errorf("Count(%s, %s) = %d, want %d", tt.method, tt.path, got, tt.want)
			}
		})
	}
	if got, want := s.Total(), 5; got != want {
		t.Errorf("Total = %d, want %d", got, want)
	}

	reqs := s.Requests()
	if len(reqs) != 5 {
		t.Fatalf("len(Requests) = %d, want 5", len(reqs))
	}
	second := Request{Method: "GET", Path: path + "/", RawQuery: "expand[]=upi"}
	if got := reqs[1]; got.Method != second.Method || got.Path != second.Path || got.RawQuery != second.RawQuery {
		t.Errorf("Requests[1] = %s %s?%s, want %s %s?%s", got.Method, got.Path, got.RawQuery, second.Method, second.Path, second.RawQuery)
	}
	if got := reqs[1].Header.Get("Authorization"); !strings.HasPrefix(got, "Basic ") {
		t.Errorf("Requests[1] Authorization = %q, want Basic credentials", got)
	}
	if got, want := string(reqs[3].Body), `{"x":1}`; got != want {
		t.Errorf("Requests[3] body = %q, want %q", got, want)
	}
	reqs[3].Body[0] = 'X'
	reqs[3].Header.Set("Authorization", "changed")
	if again := s.Requests()[3]; again.Body[0] != '{' || again.Header.Get("Authorization") == "changed" {
		t.Errorf("modifying Requests' result changed the recorded request")
	}

	s.ResetCounts()
	if got := s.Total(); got != 0 {
		t.Errorf("Total after ResetCounts = %d, want 0", got)
	}
	if got := s.Count("GET", path); got != 0 {
		t.Errorf("Count after ResetCounts = %d, want 0", got)
	}
	if got := len(s.Requests()); got != 0 {
		t.Errorf("len(Requests) after ResetCounts = %d, want 0", got)
	}
}

// TestConcurrentUse exists for the race detector.
func TestConcurrentUse(t *testing.T) {
	s, ts := start(t)
	const path = "/v1/payments/qr_codes/qr_HMsgvioW64f0vh"
	var wg sync.WaitGroup
	errs := make(chan error, 60)
	for i := range 20 {
		wg.Go(func() {
			body := `{"notes":{"i":"` + strings.Repeat("x", i) + `"}}`
			if _, err := send(ts, call{method: "PATCH", path: path, auth: authA, body: body}); err != nil {
				errs <- err
			}
		})
		wg.Go(func() {
			if _, err := send(ts, call{method: "GET", path: "/v1/payments/qr_codes?customer_id=cust_HKsR5se84c5LTO", auth: authA}); err != nil {
				errs <- err
			}
			s.QRNotes("rzp_test_A", "qr_HMsgvioW64f0vh")
			s.Requests()
			s.SetLatency(time.Microsecond)
			s.SetCommitDelay(time.Duration(i%2) * time.Millisecond)
			s.SetBodyFault(BodyFault{Truncate: i%3 == 0})
			s.PendingCommits()
		})
		wg.Go(func() {
			if _, err := send(ts, call{method: "POST", path: "/v1/payments/qr_codes", auth: authA, body: docCreateQRBody}); err != nil {
				errs <- err
			}
		})
	}
	wg.Wait()
	s.WaitCommits()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if got, want := s.Count("PATCH", path), 20; got != want {
		t.Errorf("Count(PATCH) = %d, want %d", got, want)
	}
	if got, want := qrCount(s, "rzp_test_A"), 22; got != want {
		t.Errorf("account A has %d QR codes, want %d", got, want)
	}
}

func TestSetFaultRejectsInvalidStatus(t *testing.T) {
	defer func() {
		if recover() == nil {
			t.Error("SetFault(Fault{Status: 42}) did not panic")
		}
	}()
	New().SetFault(Fault{Status: 42})
}

// errReader fails every read, like a client that went away mid-body.
type errReader struct{}

func (errReader) Read([]byte) (int, error) { return 0, errors.New("broken") }

func TestUnreadableBody(t *testing.T) {
	s := New()
	req := httptest.NewRequest("POST", "/v1/orders", errReader{})
	req.SetBasicAuth(authA[0], authA[1])
	rec := httptest.NewRecorder()
	s.ServeHTTP(rec, req)
	res := result{status: rec.Code, header: rec.Header(), body: rec.Body.Bytes()}
	wantError(t, res, http.StatusBadRequest, codeBadRequest, "The request body could not be read or is too large.", "")
}
