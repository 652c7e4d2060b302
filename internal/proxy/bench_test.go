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
	"github.com/rzpgate/rzpgate/internal/limiter"
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
	// access, if set, is Config.AccessLog: the hand-built request line, as
	// cmd/proxy configures it at info level.
	access io.Writer
	// limited puts every caller under a default limit it never reaches,
	// with the in-memory limiter, as the harness's rate-limited scenario
	// does.
	limited bool
}

// hitSetups go from the bare handler to the production configuration at
// the default info level; json-warn is production at -log-level warn, where
// the access log's attributes are built but no line is. The metrics are
// observed whether or not they are registered.
var hitSetups = []benchSetup{
	{desc: "nolog", logger: nil, metrics: false},
	{desc: "nolog+metrics", logger: nil, metrics: true},
	{desc: "json-warn+metrics", logger: jsonLogger(slog.LevelWarn), metrics: true},
	{desc: "json-info", logger: jsonLogger(slog.LevelInfo), metrics: false},
	{desc: "json-info+metrics", logger: jsonLogger(slog.LevelInfo), metrics: true},
	{desc: "access-info+metrics", logger: jsonLogger(slog.LevelInfo), metrics: true, access: io.Discard},
	{desc: "access-info+metrics+limited", logger: jsonLogger(slog.LevelInfo), metrics: true, access: io.Discard, limited: true},
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
	cfg.AccessLog = s.access
	if s.limited {
		cfg.Limits = proxy.Limits{
			Limiter: limiter.NewLocal(limiter.LocalConfig{}),
			Default: proxy.TenantLimit{Limit: limiter.Limit{Rate: 1e9, Burst: 1e9}},
		}
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

// gzipClient is benchClient asking for gzip and decompressing transparently,
// as the gateway's own transport to the upstream does.
func gzipClient(b *testing.B) *http.Client {
	tr := &http.Transport{MaxIdleConnsPerHost: 64}
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
// forward, in the production setup (JSON access log at info, metrics), over
// keep-alive loopback clients:
//
//   - direct: a GET to the upstream asking for no compression;
//   - direct-gzip: the same asking for gzip, which the client transport
//     decompresses. The gateway's fills always ask the upstream for gzip
//     (its transport negotiates it and decompresses), so this is the direct
//     request that does the same work upstream of the gateway;
//   - gateway: the GET through the gateway with Cache-Control: no-cache, so
//     every request is fetched and stored again, the client asking for no
//     compression;
//   - interleaved: the three in turn within one loop, reporting each one's
//     mean latency and the gateway's overhead over both direct requests.
//
// The upstream is the fake, or replay: a server answering with the fake's
// response bytes recorded once, identity or gzip, which shows the gateway's
// own cost without the fake's (the fake compresses every response anew, and
// its garbage makes the GC charge the next request, whichever it is).
func BenchmarkMissOverhead(b *testing.B) {
	b.Run("upstream=fake", func(b *testing.B) {
		h, fake, up := newBenchHandler(b, hitSetups[4])
		missOverhead(b, h, up.URL, fake.ResetCounts)
	})
	b.Run("upstream=replay", func(b *testing.B) {
		_, _, fake := newBenchHandler(b, hitSetups[0])
		replay := httptest.NewServer(newReplay(b, fake.URL+benchTarget))
		b.Cleanup(replay.Close)
		u, err := url.Parse(replay.URL)
		if err != nil {
			b.Fatal(err)
		}
		h, err := proxy.New(proxy.Config{
			Upstream:   u,
			KeySecret:  []byte("bench-secret-bench-secret-bench-secret"),
			Logger:     jsonLogger(slog.LevelInfo)(),
			Registerer: prometheus.NewRegistry(),
		})
		if err != nil {
			b.Fatal(err)
		}
		missOverhead(b, h, replay.URL, func() {})
	})
}

// missOverhead runs BenchmarkMissOverhead's sub-benchmarks against the
// upstream at base; reset is called every resetEvery requests.
func missOverhead(b *testing.B, h http.Handler, base string, reset func()) {
	gw := httptest.NewServer(h)
	b.Cleanup(gw.Close)
	direct, through := base+benchTarget, gw.URL+benchTarget
	noCache := []string{"Cache-Control", "no-cache"}

	loop := func(b *testing.B, c *http.Client, target string, hdr ...string) string {
		mustGet(b, c, target, hdr...)
		b.ReportAllocs()
		var cs string
		i := 0
		for b.Loop() {
			cs = mustGet(b, c, target, hdr...)
			if i++; i%resetEvery == 0 {
				reset()
			}
		}
		return cs
	}
	b.Run("direct", func(b *testing.B) { loop(b, benchClient(b), direct) })
	b.Run("direct-gzip", func(b *testing.B) { loop(b, gzipClient(b), direct) })
	b.Run("gateway", func(b *testing.B) {
		if cs := loop(b, benchClient(b), through, noCache...); !strings.HasPrefix(cs, "rzpgate; fwd=request") {
			b.Errorf("Cache-Status = %q; want a forwarded request", cs)
		}
	})
	b.Run("interleaved", func(b *testing.B) {
		cd, cz, cg := benchClient(b), gzipClient(b), benchClient(b)
		mustGet(b, cd, direct)
		mustGet(b, cz, direct)
		mustGet(b, cg, through, noCache...)
		b.ReportAllocs()
		var dDirect, dGzip, dGateway time.Duration
		n := 0
		for b.Loop() {
			t0 := time.Now()
			mustGet(b, cd, direct)
			t1 := time.Now()
			mustGet(b, cz, direct)
			t2 := time.Now()
			mustGet(b, cg, through, noCache...)
			dGateway += time.Since(t2)
			dGzip += t2.Sub(t1)
			dDirect += t1.Sub(t0)
			if n++; n%resetEvery == 0 {
				reset()
			}
		}
		per := func(d time.Duration) float64 { return float64(d.Nanoseconds()) / float64(n) }
		b.ReportMetric(per(dDirect), "direct-ns/req")
		b.ReportMetric(per(dGzip), "direct-gzip-ns/req")
		b.ReportMetric(per(dGateway), "gateway-ns/req")
		b.ReportMetric(per(dGateway-dGzip), "overhead-vs-gzip-ns/req")
		b.ReportMetric(per(dGateway-dDirect), "overhead-vs-identity-ns/req")
	})
}

// replay is an upstream that answers every request with one response
// recorded from another server, gzip-encoded when the request accepts gzip.
type replay struct {
	plain, gzipped recorded
}

type recorded struct {
	header http.Header
	body   []byte
}

// newReplay records the responses of a GET of target with credsA, identity
// and gzip.
func newReplay(b *testing.B, target string) *replay {
	b.Helper()
	get := func(enc string) recorded {
		req, err := http.NewRequest(http.MethodGet, target, nil)
		if err != nil {
			b.Fatal(err)
		}
		id, secret, _ := strings.Cut(credsA, ":")
		req.SetBasicAuth(id, secret)
		req.Header.Set("Accept-Encoding", enc)
		resp, err := http.DefaultTransport.RoundTrip(req)
		if err != nil {
			b.Fatal(err)
		}
		defer resp.Body.Close()
		body, err := io.ReadAll(resp.Body)
		if err != nil {
			b.Fatal(err)
		}
		if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Encoding") != strings.TrimPrefix(enc, "identity") {
			b.Fatalf("recording %s: %d with Content-Encoding %q", enc, resp.StatusCode, resp.Header.Get("Content-Encoding"))
		}
		h := resp.Header.Clone()
		h.Del("Date")
		return recorded{h, body}
	}
	return &replay{plain: get("identity"), gzipped: get("gzip")}
}

func (rp *replay) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	rec := rp.plain
	if strings.Contains(r.Header.Get("Accept-Encoding"), "gzip") {
		rec = rp.gzipped
	}
	h := w.Header()
	for k, v := range rec.header {
		h[k] = v
	}
	w.Write(rec.body)
}

// BenchmarkHitLongQuery is BenchmarkHit (production setup) with a 46
// parameter query of about 1.9 KB, the outside harness's long-query case:
// canonicalising it is the cost a memo saves.
func BenchmarkHitLongQuery(b *testing.B) {
	var q strings.Builder
	q.WriteString(benchTarget)
	for i := range 45 {
		fmt.Fprintf(&q, "&notes%%5Bfiller_%02d%%5D=value-%02d-abcdefghijk", i, i)
	}
	h, _, _ := newBenchHandler(b, hitSetups[len(hitSetups)-1])
	w := newDiscardWriter()
	r := httptest.NewRequest(http.MethodGet, q.String(), nil)
	id, secret, _ := strings.Cut(credsA, ":")
	r.SetBasicAuth(id, secret)
	serveHit(h, w, r)
	serveHit(h, w, r)
	checkHit(b, w)
	b.ReportAllocs()
	for b.Loop() {
		serveHit(h, w, r)
	}
	checkHit(b, w)
}
