package harness

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// client is for the harness's own control requests (readiness, metrics,
// captures), never for load. Compression is off so that it sees the bytes
// a load generator would.
var client = &http.Client{
	Timeout:   10 * time.Second,
	Transport: &http.Transport{DisableCompression: true, MaxIdleConnsPerHost: 4},
}

// getStatus GETs url and returns its status.
func getStatus(ctx context.Context, url string) (int, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return 0, err
	}
	resp, err := client.Do(req)
	if err != nil {
		return 0, err
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode, nil
}

// series is one sample of a Prometheus text exposition.
type series struct {
	name   string
	labels string // the text between the braces, as exposed
	value  float64
}

// scrape reads the gateway's /metrics.
func scrape(ctx context.Context, url string) ([]series, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return nil, err
	}
	resp, err := client.Do(req)
	if err != nil {
		return nil, fmt.Errorf("scraping %s: %w", url, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("scraping %s: status %d", url, resp.StatusCode)
	}
	return parseMetrics(resp.Body)
}

// parseMetrics reads the samples of a Prometheus text exposition; comments
// and samples it cannot read (none in client_golang's output) are skipped.
func parseMetrics(r io.Reader) ([]series, error) {
	var out []series
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if line == "" || line[0] == '#' {
			continue
		}
		var s series
		rest := line
		if i := strings.IndexByte(line, '{'); i >= 0 {
			j := strings.LastIndexByte(line, '}')
			if j < i {
				continue
			}
			s.name, s.labels, rest = line[:i], line[i+1:j], line[j+1:]
		} else {
			name, after, ok := strings.Cut(line, " ")
			if !ok {
				continue
			}
			s.name, rest = name, " "+after
		}
		f := strings.Fields(rest)
		if len(f) == 0 {
			continue
		}
		v, err := strconv.ParseFloat(f[0], 64)
		if err != nil {
			continue
		}
		s.value = v
		out = append(out, s)
	}
	return out, sc.Err()
}

// sum adds the samples named name whose labels contain every one of
// labels (each written as name="value").
func sum(ss []series, name string, labels ...string) float64 {
	var total float64
next:
	for _, s := range ss {
		if s.name != name {
			continue
		}
		for _, l := range labels {
			if !strings.Contains(s.labels, l) {
				continue next
			}
		}
		total += s.value
	}
	return total
}

// counters is the part of a gateway's metrics the harness checks.
type counters struct {
	requests, hits, upstream, storeErrors, stored float64
	// collections is the Go runtime's count of completed collections.
	collections float64
}

// readCounters scrapes the counters the harness checks.
func readCounters(ctx context.Context, metricsURL string) (counters, error) {
	ss, err := scrape(ctx, metricsURL)
	if err != nil {
		return counters{}, err
	}
	return counters{
		requests:    sum(ss, "rzpgate_requests_total"),
		hits:        sum(ss, "rzpgate_requests_total", `cache="hit"`),
		upstream:    sum(ss, "rzpgate_upstream_requests_total"),
		storeErrors: sum(ss, "rzpgate_cache_store_errors_total"),
		stored:      sum(ss, "rzpgate_cache_fills_total", `result="stored"`),
		collections: sum(ss, "go_gc_duration_seconds_count"),
	}, nil
}

// sub returns c - o, field by field.
func (c counters) sub(o counters) counters {
	return counters{c.requests - o.requests, c.hits - o.hits, c.upstream - o.upstream, c.storeErrors - o.storeErrors, c.stored - o.stored,
		c.collections - o.collections}
}
