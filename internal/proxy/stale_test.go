package proxy_test

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/rzpgate/rzpgate/internal/cache"
	"github.com/rzpgate/rzpgate/internal/fakerazorpay"
	"github.com/rzpgate/rzpgate/internal/proxy"
)

// TestNoStaleReadAfterPatch is issue #2's acceptance test: after a PATCH
// returns to its caller, no later GET through the gateway may return the
// pre-PATCH notes.
func TestNoStaleReadAfterPatch(t *testing.T) {
	// A TTL a little longer than a few PATCHes keeps entries alive long
	// enough for hits between PATCHes, and short enough that some also
	// expire while readers are reading.
	e := newEnv(t, func(c *proxy.Config) { c.TTL.QRCodes = 100 * time.Millisecond })
	checkNoStaleReads(t, []string{e.gateway.URL}, e.fake, staleOpts{})
}

// TestNoStaleReadAcrossGateways runs the check round-robin over two
// gateways that share one store, so a PATCH through one gateway must purge
// what the other serves.
func TestNoStaleReadAcrossGateways(t *testing.T) {
	fake := fakerazorpay.New()
	up := httptest.NewServer(fake)
	t.Cleanup(up.Close)
	u, _ := url.Parse(up.URL)
	store, err := cache.NewMemory(cache.MemoryConfig{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	gateways := make([]string, 2)
	for i := range gateways {
		h, err := proxy.New(proxy.Config{
			Upstream:  u,
			Store:     store,
			TTL:       proxy.TTL{QRCodes: 100 * time.Millisecond},
			KeySecret: []byte("test-secret-test-secret-test-secret!"),
		})
		if err != nil {
			t.Fatal(err)
		}
		gw := httptest.NewServer(h)
		t.Cleanup(gw.Close)
		gateways[i] = gw.URL
	}
	checkNoStaleReads(t, gateways, fake, staleOpts{})
}

// staleOpts tunes checkNoStaleReads. Zero fields take the defaults noted.
type staleOpts struct {
	// Customers is how many customers own the QR codes; zero means 2.
	Customers int
	// QRCodes is how many QR codes are PATCHed concurrently, each by its own
	// writer, spread over the customers; zero means 3.
	QRCodes int
	// Patches is how many PATCHes each writer sends in turn; zero means 30.
	Patches int
	// Readers is how many reader goroutines read each QR code's list; zero
	// means 4.
	Readers int
	// Latency is the fake's latency during the check, restored to zero
	// after it; zero means 3 ms.
	Latency time.Duration
	// Pause is how long a writer waits between PATCHes so that readers get
	// hits in between; zero means 3 ms.
	Pause time.Duration
	// Deadline bounds the whole check; zero means 20 s.
	Deadline time.Duration
	// Window is the staleness a read may show: it must reflect every PATCH
	// that returned at least Window before the read was sent. Zero, the
	// guarantee without a near cache, means every PATCH that had returned.
	Window time.Duration
}

// staleStats counts what checkNoStaleReads's readers got.
type staleStats struct {
	Reads     int // GETs answered 200 and checked
	Hits      int // of which answered from the cache
	Misses    int // forwarded as a plain miss that started its own fetch
	Collapsed int // forwarded, joining another request's fetch
	Refreshes int // forwarded for the client's no-cache
	Other     int // any other Cache-Status
	Patches   int // PATCHes that returned 200
}

// staleRead is one reader GET, for violation reports.
type staleRead struct {
	gateway     int
	encoding    string
	noCache     bool
	cacheStatus string
	age         string
}

func (r staleRead) String() string {
	return fmt.Sprintf("gateway %d, Accept-Encoding %s, no-cache %t, Cache-Status %q, Age %q",
		r.gateway, r.encoding, r.noCache, r.cacheStatus, r.age)
}

// checkNoStaleReads checks issue #2's guarantee on the gateways at the given
// base URLs, all in front of fake: it adds QR codes to fake's account
// rzp_test_A, and for each one a writer PATCHes its notes to {"v": "n"}
// for n = 1, 2, ..., publishing n as committed once the PATCH has returned
// 200, while readers GET the customer's QR code list. Every read takes the
// committed values before it sends its GET and fails the test if a QR code's
// v in the answer is lower (missing notes count as 0). Readers and writers
// pick a gateway round-robin per request, so with several gateways a PATCH
// through one must purge what the others serve. It fails the test if no
// read was a hit, as the check would then have bypassed the cache, and
// returns what the readers saw.
func checkNoStaleReads(t *testing.T, gateways []string, fake *fakerazorpay.Server, opts staleOpts) staleStats {
	t.Helper()
	opts = opts.withDefaults()
	ctx, cancel := context.WithTimeout(context.Background(), opts.Deadline)
	defer cancel()
	fake.SetLatency(opts.Latency)
	defer fake.SetLatency(0)

	// Own connections, so that the checker's keep-alives are closed when it
	// ends; no transparent decompression, so the test controls
	// Accept-Encoding.
	tr := &http.Transport{DisableCompression: true, MaxIdleConnsPerHost: 64}
	defer tr.CloseIdleConnections()
	client := &http.Client{Transport: tr}

	// The ids are random so that checks sharing a store (Redis) or a fake
	// never see each other's QR codes.
	run := randAlnum(8)
	customers := make([]string, opts.Customers)
	for i := range customers {
		customers[i] = fmt.Sprintf("cust_St%s%d", run, i)
	}
	type qrState struct {
		id, customer string
		committed    atomic.Int64 // the v of the last PATCH that returned 200
		done         atomic.Bool  // the writer has finished
		mu           sync.Mutex   // guards returned
		returned     []time.Time  // returned[n-1]: when PATCH v=n returned
	}
	// required is the lowest v a read sent at sent may show: that of the
	// last PATCH that returned at least opts.Window before it.
	required := func(q *qrState, sent time.Time) int64 {
		if opts.Window == 0 {
			return q.committed.Load()
		}
		q.mu.Lock()
		defer q.mu.Unlock()
		n := len(q.returned)
		for n > 0 && q.returned[n-1].After(sent.Add(-opts.Window)) {
			n--
		}
		return int64(n)
	}
	qrs := make([]*qrState, opts.QRCodes)
	byCustomer := map[string][]*qrState{}
	for i := range qrs {
		q := &qrState{id: fmt.Sprintf("qr_St%s%d", run, i), customer: customers[i%len(customers)]}
		fake.AddQRCode("rzp_test_A", q.id, q.customer)
		qrs[i] = q
		byCustomer[q.customer] = append(byCustomer[q.customer], q)
	}

	var next atomic.Uint64
	pick := func() (int, string) {
		i := int(next.Add(1) % uint64(len(gateways)))
		return i, gateways[i]
	}
	var (
		mu         sync.Mutex // guards the fields below
		st         staleStats
		violations []string
		failures   []string
	)
	fail := func(format string, args ...any) {
		mu.Lock()
		defer mu.Unlock()
		failures = append(failures, fmt.Sprintf(format, args...))
	}

	var wg sync.WaitGroup
	for _, q := range qrs {
		wg.Go(func() {
			defer q.done.Store(true)
			for n := 1; n <= opts.Patches; n++ {
				_, gw := pick()
				body := fmt.Sprintf(`{"notes":{"v":%q}}`, strconv.Itoa(n))
				status, _, raw, err := staleDo(ctx, client, http.MethodPatch, gw+"/v1/payments/qr_codes/"+q.id, body, nil)
				if err != nil || status != http.StatusOK {
					fail("PATCH %s v=%d: %d %v %s", q.id, n, status, err, raw)
					return
				}
				if v, err := qrVersion(raw, q.id); err != nil || v != n {
					fail("PATCH %s v=%d answered v=%d (%v)", q.id, n, v, err)
					return
				}
				q.mu.Lock()
				q.returned = append(q.returned, time.Now())
				q.mu.Unlock()
				q.committed.Store(int64(n))
				mu.Lock()
				st.Patches++
				mu.Unlock()
				time.Sleep(time.Duration(rand.Int64N(int64(2 * opts.Pause))))
			}
		})
	}
	encodings := []string{"gzip", "identity"}
	for qi, q := range qrs {
		for r := range opts.Readers {
			wg.Go(func() {
				peers := byCustomer[q.customer]
				target := "/v1/payments/qr_codes?customer_id=" + q.customer
				for i := 0; ; i++ {
					finished := q.done.Load()
					read := staleRead{encoding: encodings[(r+i)%2], noCache: (qi+r+i)%7 == 0}
					committed := make([]int64, len(peers))
					sent := time.Now()
					for j, p := range peers {
						committed[j] = required(p, sent)
					}
					hdr := http.Header{"Accept-Encoding": {read.encoding}}
					if read.noCache {
						hdr.Set("Cache-Control", "no-cache")
					}
					var gw string
					read.gateway, gw = pick()
					status, h, raw, err := staleDo(ctx, client, http.MethodGet, gw+target, "", hdr)
					if err != nil || status != http.StatusOK {
						if ctx.Err() == nil {
							fail("GET %s (%s): %d %v %s", target, read, status, err, raw)
						}
						return
					}
					read.cacheStatus, read.age = h.Get("Cache-Status"), h.Get("Age")
					var bad []string
					for j, p := range peers {
						v, err := qrVersion(raw, p.id)
						if err != nil {
							fail("GET %s (%s): %v", target, read, err)
							return
						}
						if int64(v) < committed[j] {
							bad = append(bad, fmt.Sprintf("%s: read v=%d after v=%d had returned (%s)", p.id, v, committed[j], read))
						}
					}
					mu.Lock()
					st.Reads++
					st.count(read.cacheStatus)
					violations = append(violations, bad...)
					mu.Unlock()
					// The last round starts after the writer finished, so
					// every reader checks the final notes at least once.
					if finished {
						return
					}
				}
			})
		}
	}
	wg.Wait()

	if ctx.Err() != nil {
		t.Errorf("the check did not finish within %v: %d of %d PATCHes returned", opts.Deadline, st.Patches, opts.Patches*opts.QRCodes)
	}
	report := func(what string, lines []string) {
		t.Helper()
		if len(lines) == 0 {
			return
		}
		shown := lines[:min(len(lines), 20)]
		t.Errorf("%d %s:\n%s", len(lines), what, strings.Join(shown, "\n"))
	}
	report("stale reads", violations)
	report("failed requests", failures)
	if st.Hits == 0 {
		t.Errorf("none of %d reads was a hit (%+v); the check did not exercise the cache", st.Reads, st)
	}
	for _, q := range qrs {
		if got := fake.QRNotes("rzp_test_A", q.id)["v"]; got != strconv.Itoa(opts.Patches) && len(failures) == 0 {
			t.Errorf("%s: fake's final v = %q; want %d", q.id, got, opts.Patches)
		}
	}
	t.Logf("%d gateway(s): %d reads (%d hits, %d misses, %d collapsed, %d no-cache refreshes, %d other) across %d PATCHes",
		len(gateways), st.Reads, st.Hits, st.Misses, st.Collapsed, st.Refreshes, st.Other, st.Patches)
	return st
}

func (o staleOpts) withDefaults() staleOpts {
	def := func(v *int, d int) {
		if *v == 0 {
			*v = d
		}
	}
	def(&o.Customers, 2)
	def(&o.QRCodes, 3)
	def(&o.Patches, 30)
	def(&o.Readers, 4)
	defDur := func(v *time.Duration, d time.Duration) {
		if *v == 0 {
			*v = d
		}
	}
	defDur(&o.Latency, 3*time.Millisecond)
	defDur(&o.Pause, 3*time.Millisecond)
	defDur(&o.Deadline, 20*time.Second)
	return o
}

// count adds a read with the given Cache-Status to its outcome's count.
func (s *staleStats) count(cacheStatus string) {
	switch {
	case strings.HasPrefix(cacheStatus, "rzpgate; hit"):
		s.Hits++
	case strings.Contains(cacheStatus, "; collapsed"):
		s.Collapsed++
	case strings.HasPrefix(cacheStatus, "rzpgate; fwd=miss"):
		s.Misses++
	case strings.HasPrefix(cacheStatus, "rzpgate; fwd=request"):
		s.Refreshes++
	default:
		s.Other++
	}
}

// staleDo sends one request with rzp_test_A's credentials and returns the
// status, header and body, decompressed if the gateway sent it gzipped.
func staleDo(ctx context.Context, c *http.Client, method, url, body string, hdr http.Header) (int, http.Header, []byte, error) {
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, url, rd)
	if err != nil {
		return 0, nil, nil, err
	}
	for k, v := range hdr {
		req.Header[k] = v
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	req.SetBasicAuth("rzp_test_A", "secretA")
	resp, err := c.Do(req)
	if err != nil {
		return 0, nil, nil, err
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		return resp.StatusCode, resp.Header, nil, fmt.Errorf("reading body: %w", err)
	}
	if resp.Header.Get("Content-Encoding") == "gzip" {
		zr, err := gzip.NewReader(bytes.NewReader(raw))
		if err != nil {
			return resp.StatusCode, resp.Header, raw, fmt.Errorf("opening gzip body: %w", err)
		}
		if raw, err = io.ReadAll(zr); err != nil {
			return resp.StatusCode, resp.Header, raw, fmt.Errorf("gunzipping body: %w", err)
		}
	}
	return resp.StatusCode, resp.Header, raw, nil
}

// qrVersion returns notes.v of QR code id in a QR code list or QR code
// body: 0 when the notes have no v, an error when the QR code is absent or
// v is not a number.
func qrVersion(body []byte, id string) (int, error) {
	type qr struct {
		ID    string          `json:"id"`
		Notes json.RawMessage `json:"notes"`
	}
	var v struct {
		qr
		Items []qr `json:"items"`
	}
	if err := json.Unmarshal(body, &v); err != nil {
		return 0, fmt.Errorf("decoding %s: %w", body, err)
	}
	for _, q := range append(v.Items, v.qr) {
		if q.ID != id {
			continue
		}
		var notes map[string]string
		// Razorpay renders empty notes as [], which holds no v.
		if err := json.Unmarshal(q.Notes, &notes); err != nil && string(q.Notes) != "[]" {
			return 0, fmt.Errorf("notes of %s: %s: %w", id, q.Notes, err)
		}
		s, ok := notes["v"]
		if !ok {
			return 0, nil
		}
		n, err := strconv.Atoi(s)
		if err != nil {
			return 0, fmt.Errorf("notes.v of %s = %q: %w", id, s, err)
		}
		return n, nil
	}
	return 0, fmt.Errorf("no QR code %s in %s", id, body)
}

// randAlnum returns n random ASCII letters and digits.
func randAlnum(n int) string {
	const chars = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
	b := make([]byte, n)
	for i := range b {
		b[i] = chars[rand.IntN(len(chars))]
	}
	return string(b)
}
