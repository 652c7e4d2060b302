package fakerazorpay

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"testing"
	"time"
)

const qrPath = "/v1/payments/qr_codes/qr_HMsgvioW64f0vh"

// wire is a response as the client library saw it, with its body exactly
// as sent and, when gzip-encoded, decoded.
type wire struct {
	resp    *http.Response
	raw     []byte // As sent.
	body    []byte // Decoded.
	readErr error  // From reading the body to its end.
	headers time.Duration
	total   time.Duration
}

// get fetches path as account A, asking for gzip when gzipped is true.
func get(t *testing.T, ts *httptest.Server, path string, gzipped bool) wire {
	t.Helper()
	req, err := http.NewRequest("GET", ts.URL+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	req.SetBasicAuth(authA[0], authA[1])
	if gzipped {
		req.Header.Set("Accept-Encoding", "gzip")
	}
	client := &http.Client{Transport: &http.Transport{DisableCompression: true, DisableKeepAlives: true}}
	began := time.Now()
	resp, err := client.Do(req)
	if err != nil {
		t.Fatalf("GET %s: %v", path, err)
	}
	defer resp.Body.Close()
	w := wire{resp: resp, headers: time.Since(began)}
	w.raw, w.readErr = io.ReadAll(resp.Body)
	w.total = time.Since(began)
	w.body = w.raw
	if resp.Header.Get("Content-Encoding") == "gzip" {
		zr, err := gzip.NewReader(bytes.NewReader(w.raw))
		if err != nil {
			t.Fatalf("gzip body: %v", err)
		}
		if w.body, err = io.ReadAll(zr); err != nil {
			t.Fatalf("gzip body: %v", err)
		}
	}
	return w
}

// healthyBody returns the body the fake sends for path without faults.
func healthyBody(t *testing.T, path string) []byte {
	t.Helper()
	_, ts := start(t)
	return get(t, ts, path, false).body
}

func TestBodyFaultTruncate(t *testing.T) {
	full := healthyBody(t, qrPath)
	tests := []struct {
		desc    string
		fault   BodyFault
		gzipped bool
		wantLen int
	}{
		{"half", BodyFault{Truncate: true}, false, len(full) / 2},
		{"bytes", BodyFault{Truncate: true, TruncateBytes: 10}, false, 10},
		{"bytes beyond the body", BodyFault{Truncate: true, TruncateBytes: 1 << 20}, false, len(full) - 1},
		{"gzip", BodyFault{Truncate: true}, true, len(full) / 2},
	}
	for _, tt := range tests {
		t.Run(tt.desc, func(t *testing.T) {
			s, ts := start(t)
			s.SetBodyFault(tt.fault)
			w := get(t, ts, qrPath, tt.gzipped)
			if w.resp.StatusCode != http.StatusOK || w.readErr != nil {
				t.Errorf("status = %d, read error %v; want 200 read without error", w.resp.StatusCode, w.readErr)
			}
			if got, want := w.resp.Header.Get("Content-Length"), strconv.Itoa(len(w.raw)); got != want {
				t.Errorf("Content-Length = %q, want %q, the length sent", got, want)
			}
			if want := full[:tt.wantLen]; !bytes.Equal(w.body, want) {
				t.Errorf("body = %q, want %q", w.body, want)
			}
			if json.Valid(w.body) {
				t.Errorf("truncated body %s is valid JSON", w.body)
			}
		})
	}
}

func TestBodyFaultCloseDelimited(t *testing.T) {
	full := healthyBody(t, qrPath)
	tests := []struct {
		desc    string
		fault   BodyFault
		gzipped bool
		want    []byte
	}{
		{"whole", BodyFault{CloseDelimited: true}, false, full},
		{"truncated", BodyFault{CloseDelimited: true, Truncate: true}, false, full[:len(full)/2]},
		{"gzip", BodyFault{CloseDelimited: true}, true, full},
	}
	for _, tt := range tests {
		t.Run(tt.desc, func(t *testing.T) {
			s, ts := start(t)
			s.SetBodyFault(tt.fault)
			s.SetResponseHeader("X-Extra", "kept")
			w := get(t, ts, qrPath, tt.gzipped)
			if w.resp.StatusCode != http.StatusOK || w.readErr != nil {
				t.Errorf("status = %d, read error %v; want 200 read to the connection's end without error", w.resp.StatusCode, w.readErr)
			}
			if w.resp.ContentLength != -1 || w.resp.TransferEncoding != nil || w.resp.Header.Get("Content-Length") != "" {
				t.Errorf("ContentLength = %d, TransferEncoding = %q, want no framing", w.resp.ContentLength, w.resp.TransferEncoding)
			}
			if !w.resp.Close {
				t.Errorf("response does not close the connection")
			}
			if !bytes.Equal(w.body, tt.want) {
				t.Errorf("body = %q, want %q", w.body, tt.want)
			}
			for k, want := range map[string]string{"Content-Type": "application/json; charset=UTF-8", "Vary": "Accept-Encoding", "X-Extra": "kept"} {
				if got := w.resp.Header.Get(k); got != want {
					t.Errorf("%s = %q, want %q", k, got, want)
				}
			}
		})
	}
}

func TestBodyFaultDrip(t *testing.T) {
	full := healthyBody(t, qrPath)
	const every, size = 30 * time.Millisecond, 64
	pieces := (len(full) + size - 1) / size
	tests := []struct {
		desc  string
		fault BodyFault
	}{
		{"framed", BodyFault{DripEvery: every, DripBytes: size}},
		{"close-delimited", BodyFault{DripEvery: every, DripBytes: size, CloseDelimited: true}},
	}
	for _, tt := range tests {
		t.Run(tt.desc, func(t *testing.T) {
			s, ts := start(t)
			s.SetBodyFault(tt.fault)
			w := get(t, ts, qrPath, false)
			if want := time.Duration(pieces) * every; w.total < want {
				t.Errorf("body took %v, want at least %d pieces of %v, %v", w.total, pieces, every, want)
			}
			if limit := time.Duration(pieces) * every / 2; w.headers > limit {
				t.Errorf("headers took %v, want them at once (under %v)", w.headers, limit)
			}
			if w.readErr != nil || !bytes.Equal(w.body, full) {
				t.Errorf("body = %q, %v; want %q", w.body, w.readErr, full)
			}
		})
	}
}

// TestBodyFaultDripStops checks that a drip ends when its client goes.
func TestBodyFaultDripStops(t *testing.T) {
	for _, closeDelimited := range []bool{false, true} {
		t.Run("close-delimited="+strconv.FormatBool(closeDelimited), func(t *testing.T) {
			s := New()
			s.SetBodyFault(BodyFault{DripEvery: time.Hour, CloseDelimited: closeDelimited})
			returned := make(chan struct{})
			ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				s.ServeHTTP(w, r)
				close(returned)
			}))
			defer ts.Close()

			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			req, _ := http.NewRequestWithContext(ctx, "GET", ts.URL+qrPath, nil)
			req.SetBasicAuth(authA[0], authA[1])
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatalf("headers: %v", err)
			}
			cancel()
			resp.Body.Close()
			select {
			case <-returned:
			case <-time.After(10 * time.Second):
				t.Fatal("the fake still drips after its client went away")
			}
		})
	}
}

func TestBodyFaultHTML(t *testing.T) {
	s, ts := start(t)
	s.SetBodyFault(BodyFault{HTML: true})
	w := get(t, ts, qrPath, false)
	if w.resp.StatusCode != http.StatusOK {
		t.Errorf("status = %d, want 200", w.resp.StatusCode)
	}
	if got, want := w.resp.Header.Get("Content-Type"), "text/html; charset=UTF-8"; got != want {
		t.Errorf("Content-Type = %q, want %q", got, want)
	}
	if got, want := string(w.body), htmlPage; got != want {
		t.Errorf("body = %q, want the HTML page %q", got, want)
	}
	if got, want := w.resp.ContentLength, int64(len(htmlPage)); got != want {
		t.Errorf("ContentLength = %d, want %d", got, want)
	}
}

// TestBodyFaultSparesErrors checks that only successes are garbled.
func TestBodyFaultSparesErrors(t *testing.T) {
	s, ts := start(t)
	s.SetBodyFault(BodyFault{HTML: true, Truncate: true, CloseDelimited: true, DripEvery: time.Hour})
	tests := []struct {
		desc string
		c    call
		want int
	}{
		{"unknown id", call{method: "GET", path: "/v1/payments/qr_codes/qr_XXXXXXXXXXXXXX", auth: authA}, http.StatusBadRequest},
		{"no credentials", call{method: "GET", path: qrPath}, http.StatusUnauthorized},
		{"invalid write", call{method: "PATCH", path: qrPath, auth: authA, body: `{}`}, http.StatusBadRequest},
	}
	for _, tt := range tests {
		t.Run(tt.desc, func(t *testing.T) {
			res := do(t, ts, tt.c)
			if res.status != tt.want || !json.Valid(res.body) || res.header.Get("Content-Length") == "" {
				t.Errorf("= %d %q (Content-Length %q), want an intact JSON %d", res.status, res.body, res.header.Get("Content-Length"), tt.want)
			}
		})
	}
	s.SetBodyFault(BodyFault{})
	if w := get(t, ts, qrPath, false); !json.Valid(w.body) {
		t.Errorf("after clearing the fault, body = %q, want JSON", w.body)
	}
}

func TestFaultsOnly(t *testing.T) {
	tests := []struct {
		desc      string
		only      Match
		c         call
		wantFault bool
	}{
		{"every request", Match{}, call{method: "GET", path: qrPath}, true},
		{"path", Match{Path: qrPath}, call{method: "GET", path: qrPath}, true},
		{"path with slash", Match{Path: qrPath + "/"}, call{method: "GET", path: qrPath}, true},
		{"request with slash", Match{Path: qrPath}, call{method: "GET", path: qrPath + "/"}, true},
		{"query ignored", Match{Path: "/v1/payments/qr_codes"}, call{method: "GET", path: "/v1/payments/qr_codes?customer_id=cust_HKsR5se84c5LTO"}, true},
		{"other path", Match{Path: qrPath}, call{method: "GET", path: "/v1/payments/pay_DG4ZdRK8ZnXC3k"}, false},
		{"method and path", Match{Method: "GET", Path: qrPath}, call{method: "GET", path: qrPath}, true},
		{"other method", Match{Method: "GET", Path: qrPath}, call{method: "PATCH", path: qrPath, body: `{"notes":{}}`}, false},
	}
	for _, tt := range tests {
		t.Run(tt.desc, func(t *testing.T) {
			s, ts := start(t)
			c := tt.c
			c.auth = authA

			s.SetBodyFault(BodyFault{HTML: true, Only: tt.only})
			res := do(t, ts, c)
			if got := res.header.Get("Content-Type") == "text/html; charset=UTF-8"; got != tt.wantFault {
				t.Errorf("body fault applied = %t, want %t", got, tt.wantFault)
			}
			s.SetBodyFault(BodyFault{})

			s.SetFault(Fault{Status: http.StatusBadGateway, Only: tt.only})
			res = do(t, ts, c)
			if got := res.status == http.StatusBadGateway; got != tt.wantFault {
				t.Errorf("fault applied = %t (status %d), want %t", got, res.status, tt.wantFault)
			}
		})
	}
}
