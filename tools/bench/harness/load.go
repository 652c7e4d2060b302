package harness

import (
	"bufio"
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"net/url"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Workload is what a load generator sends to one target: GETs of one path,
// each with its own key when KeyParam is set, optionally mixed with PATCHes.
// Every generator (wrk or the Go one) sends the same requests for it.
type Workload struct {
	// Path is the path and query of every GET, e.g.
	// /v1/payments/pay_DG4ZdRK8ZnXC3k?expand[]=upi.
	Path string
	// KeyParam, when set, appends KeyParam=N to each GET's query, so that N
	// picks the cache entry (every query parameter is in the cache key).
	KeyParam string
	// Keys, when positive and Sequential is false, draws N at random from
	// [0, Keys).
	Keys int
	// Sequential makes N count up from First: every request a new key.
	Sequential bool
	First      int
	// Creds are the Basic credentials ("key_id:secret") of the requests,
	// taken in turn; empty means rzp_test_A's.
	Creds []string
	// PatchPercent of the requests, drawn at random, are PATCHes of
	// PatchPath with PatchBody (JSON) instead of GETs.
	PatchPercent int
	PatchPath    string
	PatchBody    string
	// Conns is the number of keep-alive connections; zero means 64.
	Conns int
	// MaxRequests, when positive, stops the run after that many requests
	// (the Go generator only; wrk runs for its duration).
	MaxRequests int64
}

// static reports whether every request of w is the same GET, which wrk
// sends without a script.
func (w Workload) static() bool {
	return w.KeyParam == "" && len(w.Creds) <= 1 && w.PatchPercent == 0
}

// conns returns w.Conns or its default.
func (w Workload) conns() int {
	if w.Conns > 0 {
		return w.Conns
	}
	return 64
}

// creds returns w.Creds or the default account's.
func (w Workload) creds() []string {
	if len(w.Creds) > 0 {
		return w.Creds
	}
	return []string{defaultCred}
}

// defaultCred is the fake's seeded account that owns the entities the
// scenarios read.
const defaultCred = "rzp_test_A:secretA"

// basicAuth returns the Authorization header value for cred.
func basicAuth(cred string) string {
	return "Basic " + base64.StdEncoding.EncodeToString([]byte(cred))
}

// keyed returns the GET path for key n.
func (w Workload) keyed(n int) string {
	if w.KeyParam == "" {
		return w.Path
	}
	sep := "?"
	if strings.Contains(w.Path, "?") {
		sep = "&"
	}
	return w.Path + sep + w.KeyParam + "=" + strconv.Itoa(n)
}

// Result is what one run of a load generator measured.
type Result struct {
	Requests int64         // responses received
	Elapsed  time.Duration // wall time of the run
	RPS      float64       // responses per second
	P50, P99 time.Duration // latency percentiles
	Non2xx   int64         // responses with a status of 400 or more (wrk's count)
	Errors   int64         // connection errors and timeouts
}

// loader drives one run of a workload against a base URL.
type loader interface {
	// Run sends w to base (scheme://host:port) for d, or until
	// w.MaxRequests responses when that is set, whichever comes first.
	Run(ctx context.Context, base string, w Workload, d time.Duration) (Result, error)
	// Name says which generator it is, for the report.
	Name() string
}

// goLoader is the load generator used when wrk is missing, and for runs
// that must stop after a count (fills): one goroutine per keep-alive
// connection writing prepared HTTP/1.1 requests and reading responses.
type goLoader struct{}

func (goLoader) Name() string { return "go" }

// maxSamples bounds the latencies one run keeps, and with them its memory.
const maxSamples = 4 << 20

func (goLoader) Run(ctx context.Context, base string, w Workload, d time.Duration) (Result, error) {
	u, err := url.Parse(base)
	if err != nil {
		return Result{}, fmt.Errorf("parsing target %q: %w", base, err)
	}
	creds := w.creds()
	auths := make([]string, len(creds))
	for i, c := range creds {
		auths[i] = basicAuth(c)
	}
	ctx, cancel := context.WithTimeout(ctx, d)
	defer cancel()

	var (
		next    atomic.Int64 // index of the next request
		non2xx  atomic.Int64
		errs    atomic.Int64
		mu      sync.Mutex // guards samples
		samples []time.Duration
		wg      sync.WaitGroup
	)
	// Connections are opened before the clock starts, as wrk does, so that
	// a short run measures requests rather than handshakes.
	conns := make([]net.Conn, w.conns())
	for c := range conns {
		wg.Go(func() {
			conn, err := (&net.Dialer{}).DialContext(ctx, "tcp", u.Host)
			if err != nil {
				errs.Add(1)
				return
			}
			conns[c] = conn
		})
	}
	wg.Wait()
	start := time.Now()
	for c, conn := range conns {
		wg.Go(func() {
			rng := rand.New(rand.NewPCG(uint64(start.UnixNano()), uint64(c)))
			lat := make([]time.Duration, 0, 1024)
			var br *bufio.Reader
			if conn != nil {
				br = bufio.NewReaderSize(conn, 16<<10)
			}
			defer func() {
				if conn != nil {
					conn.Close()
				}
				mu.Lock()
				if room := maxSamples - len(samples); room > 0 {
					samples = append(samples, lat[:min(room, len(lat))]...)
				}
				mu.Unlock()
			}()
			var buf []byte
			for ctx.Err() == nil {
				i := next.Add(1) - 1
				if w.MaxRequests > 0 && i >= w.MaxRequests {
					return
				}
				if conn == nil {
					var err error
					if conn, err = (&net.Dialer{}).DialContext(ctx, "tcp", u.Host); err != nil {
						if ended(ctx, err) {
							return
						}
						errs.Add(1)
						time.Sleep(10 * time.Millisecond) // bounded by ctx: the loop re-checks it
						continue
					}
					br = bufio.NewReaderSize(conn, 16<<10)
				}
				buf = w.appendRequest(buf[:0], u.Host, auths[i%int64(len(auths))], i, rng)
				t0 := time.Now()
				status, keep, err := roundTrip(ctx, conn, br, buf)
				if err != nil {
					conn.Close()
					conn = nil
					if ended(ctx, err) {
						return
					}
					errs.Add(1)
					continue
				}
				lat = append(lat, time.Since(t0))
				if status >= 400 {
					non2xx.Add(1)
				}
				if !keep {
					conn.Close()
					conn = nil
				}
			}
		})
	}
	wg.Wait()
	elapsed := time.Since(start)
	slices.Sort(samples)
	n := int64(len(samples))
	return Result{
		Requests: n,
		Elapsed:  elapsed,
		RPS:      float64(n) / elapsed.Seconds(),
		P50:      percentile(samples, 50),
		P99:      percentile(samples, 99),
		Non2xx:   non2xx.Load(),
		Errors:   errs.Load(),
	}, nil
}

// ended reports whether err is the end of the run rather than a failure:
// connections' deadlines are the run's end, which may pass a moment before
// ctx reports it.
func ended(ctx context.Context, err error) bool {
	return ctx.Err() != nil || errors.Is(err, os.ErrDeadlineExceeded) || errors.Is(err, context.DeadlineExceeded)
}

// appendRequest appends request number i of w to buf.
func (w Workload) appendRequest(buf []byte, host, auth string, i int64, rng *rand.Rand) []byte {
	method, path, body := "GET", "", ""
	switch {
	case w.PatchPercent > 0 && rng.IntN(100) < w.PatchPercent:
		method, path, body = "PATCH", w.PatchPath, w.PatchBody
	case w.Sequential:
		path = w.keyed(w.First + int(i))
	case w.Keys > 0:
		path = w.keyed(rng.IntN(w.Keys))
	default:
		path = w.Path
	}
	buf = fmt.Appendf(buf, "%s %s HTTP/1.1\r\nHost: %s\r\nAuthorization: %s\r\n", method, path, host, auth)
	if method != "GET" {
		buf = fmt.Appendf(buf, "Content-Type: application/json\r\nContent-Length: %d\r\n", len(body))
	}
	buf = append(buf, "\r\n"...)
	return append(buf, body...)
}

// roundTrip writes req on conn and reads the whole response, within ctx's
// deadline. keep reports whether the connection can carry another request.
func roundTrip(ctx context.Context, conn net.Conn, br *bufio.Reader, req []byte) (status int, keep bool, err error) {
	if dl, ok := ctx.Deadline(); ok {
		conn.SetDeadline(dl)
	}
	if _, err := conn.Write(req); err != nil {
		return 0, false, err
	}
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		return 0, false, err
	}
	_, err = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode, !resp.Close, err
}
