package proxy_test

import (
	"bytes"
	"compress/gzip"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/rzpgate/rzpgate/internal/fakerazorpay"
	"github.com/rzpgate/rzpgate/internal/proxy"
)

// Credentials the fake seeds.
const (
	credsA   = "rzp_test_A:secretA"
	credsB   = "rzp_test_B:secretB"
	payA     = "/v1/payments/pay_DG4ZdRK8ZnXC3k"
	plinkA   = "/v1/payment_links/plink_Fo48rl281ENAg9"
	qrListA  = "/v1/payments/qr_codes?customer_id=cust_HKsR5se84c5LTO"
	qrA      = "qr_HMsgvioW64f0vh"
	qrPatchA = "/v1/payments/qr_codes/qr_HMsgvioW64f0vh"
)

// env is a gateway in front of a fake Razorpay, both real HTTP servers.
type env struct {
	fake    *fakerazorpay.Server
	gateway *httptest.Server
	reg     *prometheus.Registry
	logs    *syncBuffer
}

func newEnv(t *testing.T, opts ...func(*proxy.Config)) *env {
	t.Helper()
	e := &env{fake: fakerazorpay.New(), reg: prometheus.NewRegistry(), logs: &syncBuffer{}}
	up := httptest.NewServer(e.fake)
	t.Cleanup(up.Close)
	u, _ := url.Parse(up.URL)
	cfg := proxy.Config{
		Upstream:   u,
		Registerer: e.reg,
		Logger:     slog.New(slog.NewJSONHandler(e.logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
		KeySecret:  []byte("test-secret-test-secret-test-secret!"),
	}
	for _, o := range opts {
		o(&cfg)
	}
	h, err := proxy.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	e.gateway = httptest.NewServer(h)
	t.Cleanup(e.gateway.Close)
	return e
}

// withFake makes e count against fake, the upstream it was pointed at.
func (e *env) withFake(fake *fakerazorpay.Server) *env {
	e.fake = fake
	return e
}

// response is what a test request got back.
type response struct {
	status int
	header http.Header
	body   string
}

func (r response) cacheStatus() string { return r.header.Get("Cache-Status") }

// do sends a request through the gateway with Basic credentials creds
// ("" for none) and returns the decoded response. Header values in hdr are
// set as given, so a test controls Accept-Encoding.
func (e *env) do(t testing.TB, method, target, creds, body string, hdr ...string) response {
	t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, e.gateway.URL+target, rd)
	if err != nil {
		t.Fatal(err)
	}
	if creds != "" {
		id, secret, _ := strings.Cut(creds, ":")
		req.SetBasicAuth(id, secret)
	}
	// Ask for identity unless the test says otherwise, so that the client
	// transport does not negotiate gzip behind the test's back.
	req.Header.Set("Accept-Encoding", "identity")
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := http.DefaultTransport.RoundTrip(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, target, err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("%s %s: reading body: %v", method, target, err)
	}
	if resp.Header.Get("Content-Encoding") == "gzip" {
		zr, err := gzip.NewReader(bytes.NewReader(raw))
		if err != nil {
			t.Fatalf("%s %s: gzip body: %v", method, target, err)
		}
		if raw, err = io.ReadAll(zr); err != nil {
			t.Fatalf("%s %s: gunzip: %v", method, target, err)
		}
	}
	return response{resp.StatusCode, resp.Header, string(raw)}
}

// doHeaders sends a GET whose header may repeat names.
func (e *env) doHeaders(t testing.TB, target, creds string, hdr http.Header) response {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, e.gateway.URL+target, nil)
	id, secret, _ := strings.Cut(creds, ":")
	req.SetBasicAuth(id, secret)
	req.Header.Set("Accept-Encoding", "identity")
	for k, vs := range hdr {
		req.Header[k] = vs
	}
	resp, err := http.DefaultTransport.RoundTrip(req)
	if err != nil {
		t.Fatalf("GET %s: %v", target, err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	return response{resp.StatusCode, resp.Header, string(raw)}
}

func (e *env) get(t testing.TB, target, creds string, hdr ...string) response {
	t.Helper()
	return e.do(t, http.MethodGet, target, creds, "", hdr...)
}

// upstream returns how many requests the fake saw for method and path.
func (e *env) upstream(method, path string) int {
	p, _, _ := strings.Cut(path, "?")
	return e.fake.Count(method, p)
}

// notes decodes the notes of QR code qrA from a list body or a QR code body.
func notes(t testing.TB, body string) map[string]string {
	t.Helper()
	type qr struct {
		ID    string            `json:"id"`
		Notes map[string]string `json:"notes"`
	}
	var v struct {
		qr
		Items []qr `json:"items"`
	}
	if err := json.Unmarshal([]byte(body), &v); err != nil {
		t.Fatalf("decoding %s: %v", body, err)
	}
	for _, q := range append(v.Items, v.qr) {
		if q.ID == qrA {
			return q.Notes
		}
	}
	t.Fatalf("no QR code %s in %s", qrA, body)
	return nil
}

// syncBuffer is a bytes.Buffer safe for the concurrent writes of a logger.
type syncBuffer struct {
	mu sync.Mutex // guards b
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}
