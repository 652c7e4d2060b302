package proxy_test

import (
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/rzpgate/rzpgate/internal/fakerazorpay"
	"github.com/rzpgate/rzpgate/internal/proxy"
)

// benchTarget is the request every benchmark makes: the payment with its
// UPI details expanded, the bench README's target.
const benchTarget = payA + "?expand[]=upi"

// benchSetup is one way of running the gateway, so that the cost of access
// logging and of metrics shows as the difference between two setups.
type benchSetup struct {
	desc    string
	logger  func() *slog.Logger // nil means Config.Logger nil (discarded)
	metrics bool                // register the metrics on a registry
}

// hitSetups go from the bare handler to the production configuration at
// the default info level; json-warn is production at -log-level warn, where
// the access log line is built but not written.
var hitSetups = []benchSetup{
	{desc: "nolog", logger: nil, metrics: false},
	{desc: "nolog+metrics", logger: nil, metrics: true},
	{desc: "json-warn+metrics", logger: jsonLogger(slog.LevelWarn), metrics: true},
	{desc: "json-info", logger: jsonLogger(slog.LevelInfo), metrics: false},
	{desc: "json-info+metrics", logger: jsonLogger(slog.LevelInfo), metrics: true},
}

func jsonLogger(level slog.Level) func() *slog.Logger {
	return func() *slog.Logger {
		return slog.New(slog.NewJSONHandler(io.Discard, &slog.HandlerOptions{Level: level}))
	}
}

// newBenchHandler returns a gateway in front of a fake Razorpay served over
// loopback. Payments stay fresh for an hour, so no benchmark outlives its
// entry.
func newBenchHandler(b *testing.B, s benchSetup) (*proxy.Handler, *fakerazorpay.Server, *httptest.Server) {
	b.Helper()
	fake := fakerazorpay.New()
	up := httptest.NewServer(fake)
	b.Cleanup(up.Close)
	u, err := url.Parse(up.URL)
	if err != nil {
		b.Fatal(err)
	}
	cfg := proxy.Config{
		Upstream:  u,
		KeySecret: []byte("bench-secret-bench-secret-bench-secret"),
		TTL:       proxy.TTL{Payments: time.Hour},
	}
	if s.logger != nil {
		cfg.Logger = s.logger()
	}
	if s.metrics {
		cfg.Registerer = prometheus.NewRegistry()
	}
	h, err := proxy.New(cfg)
	if err != nil {
		b.Fatal(err)
	}
	return h, fake, up
}

// discardWriter is the least a ResponseWriter can do: its header map is
// reused across requests and its body discarded, so a benchmark through it
// measures the handler and nothing of net/http.
type discardWriter struct {
	header http.Header
	status int
	n      int
}

func newDiscardWriter() *discardWriter { return &discardWriter{header: make(http.Header)} }

func (w *discardWriter) Header() http.Header { return w.header }

func (w *discardWriter) WriteHeader(code int) {
	if w.status == 0 {
		w.status = code
	}
}

func (w *discardWriter) Write(p []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	w.n += len(p)
	return len(p), nil
}

func (w *discardWriter) reset() {
	clear(w.header)
	w.status, w.n = 0, 0
}

// newHitRequest returns the request of a wrk client: Basic credentials and
// nothing else of note (no X-Request-Id, no Accept-Encoding).
func newHitRequest() *http.Request {
	r := httptest.NewRequest(http.MethodGet, benchTarget, nil)
	id, secret, _ := strings.Cut(credsA, ":")
	r.SetBasicAuth(id, secret)
	return r
}

// serveHit serves r once through w. The handler writes the X-Request-Id it
// generates into r.Header, so it is deleted first: every request pays for
// a new id, as a client that sends none does.
func serveHit(h http.Handler, w *discardWriter, r *http.Request) {
	w.reset()
	delete(r.Header, "X-Request-Id")
	h.ServeHTTP(w, r)
}

// warm stores the benchmark's entry and checks that the next request hits.
func warm(b *testing.B, h http.Handler) {
	b.Helper()
	w, r := newDiscardWriter(), newHitRequest()
	serveHit(h, w, r)
	if w.status != http.StatusOK {
		b.Fatalf("warming GET: status %d; want 200", w.status)
	}
	serveHit(h, w, r)
	checkHit(b, w)
}

func checkHit(b *testing.B, w *discardWriter) {
	b.Helper()
	if cs := w.header.Get("Cache-Status"); w.status != http.StatusOK || !strings.HasPrefix(cs, "rzpgate; hit") || w.n == 0 {
		b.Fatalf("got %d %q with %d body bytes; want a 200 hit with a body", w.status, cs, w.n)
	}
}

// BenchmarkHit measures the gateway's own cost of a cache hit: ServeHTTP
// called directly, with no network and a ResponseWriter that costs nothing.
func BenchmarkHit(b *testing.B) {
	for _, s := range hitSetups {
		b.Run(s.desc, func(b *testing.B) {
			h, _, _ := newBenchHandler(b, s)
			warm(b, h)
			w, r := newDiscardWriter(), newHitRequest()
			b.ReportAllocs()
			for b.Loop() {
				serveHit(h, w, r)
			}
			checkHit(b, w)
		})
	}
}

// BenchmarkHitParallel is BenchmarkHit from GOMAXPROCS goroutines, which
// shows contention on shared state (metric series, the key pool, the store).
func BenchmarkHitParallel(b *testing.B) {
	for _, s := range hitSetups {
		b.Run(s.desc, func(b *testing.B) {
			h, _, _ := newBenchHandler(b, s)
			warm(b, h)
			b.ReportAllocs()
			b.RunParallel(func(pb *testing.PB) {
				// Each goroutine has its own request: the handler writes
				// into its header.
				w, r := newDiscardWriter(), newHitRequest()
				for pb.Next() {
					serveHit(h, w, r)
				}
				if cs := w.header.Get("Cache-Status"); w.status != 0 && !strings.HasPrefix(cs, "rzpgate; hit") {
					b.Errorf("last response Cache-Status = %q; want a hit", cs)
				}
			})
		})
	}
}

// benchClient returns a keep-alive client for loopback benchmarks that, like
// wrk, asks for no compression.
func benchClient(b *testing.B) *http.Client {
	tr := &http.Transport{MaxIdleConnsPerHost: 64, DisableCompression: true}
	b.Cleanup(tr.CloseIdleConnections)
	return &http.Client{Transport: tr}
}

// getOnce sends one GET with credsA and extra headers (name, value pairs),
// reads the whole body and returns the response's Cache-Status. It is safe
// for concurrent use; its errors are for the caller to report, since only
// the benchmark's own goroutine may call b.Fatal.
func getOnce(c *http.Client, target string, hdr ...string) (string, error) {
	req, err := http.NewRequest(http.MethodGet, target, nil)
	if err != nil {
		return "", err
	}
	id, secret, _ := strings.Cut(credsA, ":")
	req.SetBasicAuth(id, secret)
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := c.Do(req)
	if err != nil {
		return "", err
	}
	_, err = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if err != nil {
		return "", fmt.Errorf("reading body: %w", err)
	}
	if resp.StatusCode != http.StatusOK {
		return "", fmt.Errorf("GET %s: status %d; want 200", target, resp.StatusCode)
	}
	return resp.Header.Get("Cache-Status"), nil
}

// mustGet is getOnce for the benchmark's own goroutine.
func mustGet(b *testing.B, c *http.Client, target string, hdr ...string) string {
	b.Helper()
	cs, err := getOnce(c, target, hdr...)
	if err != nil {
		b.Fatal(err)
	}
	return cs
}

// BenchmarkHitHTTP measures a hit over real loopback HTTP with a keep-alive
// client in the same process, for context: client, server and gateway share
// the machine's cores. static is the floor: a bare handler writing a body
// of the same size with the same content type, as bench/peers/gostatic.go.
func BenchmarkHitHTTP(b *testing.B) {
	setups := []benchSetup{hitSetups[1], hitSetups[2], hitSetups[4]} // nolog+metrics, json-warn+metrics, json-info+metrics
	for _, s := range setups {
		b.Run(s.desc, func(b *testing.B) {
			h, _, _ := newBenchHandler(b, s)
			srv := httptest.NewServer(h)
			b.Cleanup(srv.Close)
			runHTTP(b, srv.URL+benchTarget, true)
		})
	}
	b.Run("static", func(b *testing.B) {
		h, _, _ := newBenchHandler(b, hitSetups[0])
		w := newDiscardWriter()
		serveHit(h, w, newHitRequest())
		body := make([]byte, w.n) // the size of the payment's body
		for i := range body {
			body[i] = 'x'
		}
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "application/json; charset=UTF-8")
			w.Write(body)
		}))
		b.Cleanup(srv.Close)
		runHTTP(b, srv.URL+benchTarget, false)
	})
}

// runHTTP runs serial and parallel sub-benchmarks of GETs of target; hit
// says whether every response must be a cache hit.
func runHTTP(b *testing.B, target string, hit bool) {
	c := benchClient(b)
	check := func(ran bool, cs string) {
		if ran && hit && !strings.HasPrefix(cs, "rzpgate; hit") {
			b.Errorf("last response Cache-Status = %q; want a hit", cs)
		}
	}
	mustGet(b, c, target) // warm the entry and the connection
	b.Run("serial", func(b *testing.B) {
		b.ReportAllocs()
		var cs string
		for b.Loop() {
			cs = mustGet(b, c, target)
		}
		check(true, cs)
	})
	b.Run("parallel", func(b *testing.B) {
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			var cs string
			ran := false
			for pb.Next() {
				var err error
				if cs, err = getOnce(c, target); err != nil {
					b.Error(err)
					return
				}
				ran = true
			}
			check(ran, cs)
		})
	})
}

// resetEvery bounds the fake's request log, which grows with every request
// it records, so that a long miss benchmark does not measure the fake's
// memory growth.
const resetEvery = 4096

// BenchmarkMissOverhead measures what the gateway adds to a request it must
// forward: direct is a GET to the fake, gateway is the same GET through the
// gateway with Cache-Control: no-cache, so every request is fetched (and
// stored again), in the production setup (JSON access log at info, metrics).
// Both use keep-alive loopback clients that ask for no compression.
// interleaved alternates the two within one loop and reports the
// difference as overhead-ns/req, which suffers less from a noisy machine
// than subtracting two separate runs.
func BenchmarkMissOverhead(b *testing.B) {
	h, fake, up := newBenchHandler(b, hitSetups[4])
	gw := httptest.NewServer(h)
	b.Cleanup(gw.Close)
	direct, through := up.URL+benchTarget, gw.URL+benchTarget
	noCache := []string{"Cache-Control", "no-cache"}

	b.Run("direct", func(b *testing.B) {
		c := benchClient(b)
		mustGet(b, c, direct)
		b.ReportAllocs()
		i := 0
		for b.Loop() {
			mustGet(b, c, direct)
			if i++; i%resetEvery == 0 {
				fake.ResetCounts()
			}
		}
	})
	b.Run("gateway", func(b *testing.B) {
		c := benchClient(b)
		mustGet(b, c, through, noCache...)
		b.ReportAllocs()
		i := 0
		var cs string
		for b.Loop() {
			cs = mustGet(b, c, through, noCache...)
			if i++; i%resetEvery == 0 {
				fake.ResetCounts()
			}
		}
		if !strings.HasPrefix(cs, "rzpgate; fwd=request") {
			b.Errorf("Cache-Status = %q; want a forwarded request", cs)
		}
	})
	b.Run("interleaved", func(b *testing.B) {
		cd, cg := benchClient(b), benchClient(b)
		mustGet(b, cd, direct)
		mustGet(b, cg, through, noCache...)
		b.ReportAllocs()
		var dDirect, dGateway time.Duration
		n := 0
		for b.Loop() {
			t0 := time.Now()
			mustGet(b, cd, direct)
			t1 := time.Now()
			mustGet(b, cg, through, noCache...)
			dGateway += time.Since(t1)
			dDirect += t1.Sub(t0)
			if n++; n%resetEvery == 0 {
				fake.ResetCounts()
			}
		}
		b.ReportMetric(float64(dDirect.Nanoseconds())/float64(n), "direct-ns/req")
		b.ReportMetric(float64(dGateway.Nanoseconds())/float64(n), "gateway-ns/req")
		b.ReportMetric(float64((dGateway-dDirect).Nanoseconds())/float64(n), "overhead-ns/req")
	})
}
