package proxy

import (
	"context"
	"errors"
	"net/http"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// outcome is what the cache did for a request. Its names are the closed
// label set of the "cache" label.
type outcome uint8

const (
	outcomeNone      outcome = iota // not a cacheable route: passed through, or a write
	outcomeHit                      // answered from the cache
	outcomeMiss                     // fetched from the upstream
	outcomeCollapsed                // answered by another request's fetch
	outcomeRefresh                  // the client's no-cache: fetched and refreshed
	outcomeBypass                   // no-store, no credentials or unkeyable query
	outcomeStale                    // answered from an expired entry (stale-if-error, -while-revalidate)
	outcomeCount
)

var outcomeNames = [outcomeCount]string{"passthrough", "hit", "miss", "collapsed", "refresh", "bypass", "stale"}

func (o outcome) String() string { return outcomeNames[o] }

// methodIndex maps a request method to the closed "method" label set.
func methodIndex(m string) int {
	switch m {
	case http.MethodGet:
		return 0
	case http.MethodHead:
		return 1
	case http.MethodPost:
		return 2
	case http.MethodPut:
		return 3
	case http.MethodPatch:
		return 4
	case http.MethodDelete:
		return 5
	case http.MethodOptions:
		return 6
	}
	return 7
}

var methodNames = [8]string{"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "other"}

// statusClass maps a status code to the closed "status_class" label set
// (499, the client's abort, is a 4xx).
func statusClass(status int) int {
	if c := status / 100; c >= 1 && c <= 5 {
		return c
	}
	return 0
}

var classNames = [6]string{"other", "1xx", "2xx", "3xx", "4xx", "5xx"}

// Label values of the smaller vectors, resolved when the metrics are built.
var (
	fillResults  = []string{"stored", "fenced", "held", "uncacheable", "error"}
	purgeResults = []string{"ok", "held", "error", "skipped"}
	staleReasons = []string{"stale-if-error", "breaker-open", "budget", "stale-while-revalidate"}
	storeOps     = []string{"get", "fence", "set", "decode"}
)

// durationBuckets are the classic histogram's buckets, 50 µs to 30 s: a hit
// takes tens of microseconds, a write to Razorpay up to the timeout.
var durationBuckets = []float64{.00005, .0001, .00025, .0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30}

// histogramOpts returns options for a duration histogram that is both
// classic and native (sparse, exponential buckets growing by 10%).
func histogramOpts(name, help string) prometheus.HistogramOpts {
	return prometheus.HistogramOpts{
		Name:                            name,
		Help:                            help,
		Buckets:                         durationBuckets,
		NativeHistogramBucketFactor:     1.1,
		NativeHistogramMaxBucketNumber:  160,
		NativeHistogramMinResetDuration: time.Hour,
	}
}

// metrics are the gateway's Prometheus series. Labels come from closed sets
// (route names, methods, status classes, outcomes, configured tenants),
// never from paths, ids or keys. The request path does no label lookup: the
// series of a request's labels is resolved on first use and kept.
type metrics struct {
	requests  *prometheus.CounterVec
	duration  *prometheus.HistogramVec
	upstream  *prometheus.CounterVec
	upstreamD *prometheus.HistogramVec
	coalesced prometheus.Counter
	fillsVec  *prometheus.CounterVec
	purgesVec *prometheus.CounterVec
	storeVec  *prometheus.CounterVec
	staleVec  *prometheus.CounterVec
	limitedBy *prometheus.CounterVec
	// budgetDenied counts upstream requests the budget refused.
	budgetDenied prometheus.Counter

	fills  [routeCount][]prometheus.Counter // by route, then fillResults
	purges map[string]prometheus.Counter
	store  map[string]prometheus.Counter
	stale  map[string]prometheus.Counter

	// reqs and durs hold resolved series, by their labels' indexes.
	reqs [routeCount][8][6][outcomeCount]atomic.Pointer[prometheus.Counter]
	durs [routeCount][outcomeCount]atomic.Pointer[prometheus.Observer]
}

func newMetrics(reg prometheus.Registerer) *metrics {
	m := &metrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "rzpgate_requests_total",
			Help: "Requests served, by route, method, status class and cache outcome.",
		}, []string{"route", "method", "status_class", "cache"}),
		duration: prometheus.NewHistogramVec(histogramOpts("rzpgate_request_duration_seconds",
			"Time to serve a request, from its headers to the end of its response, by route and cache outcome."), []string{"route", "cache"}),
		upstream: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "rzpgate_upstream_requests_total",
			Help: "Requests sent to Razorpay, by route group and status class (error: no response).",
		}, []string{"group", "status_class"}),
		upstreamD: prometheus.NewHistogramVec(histogramOpts("rzpgate_upstream_request_duration_seconds",
			"Time Razorpay took to answer a request's headers, by route group."), []string{"group"}),
		coalesced: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "rzpgate_coalesced_requests_total",
			Help: "Cache misses answered by another request's upstream fetch instead of their own.",
		}),
		fillsVec: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "rzpgate_cache_fills_total",
			Help: "Upstream responses offered to the cache, by route and result (stored, fenced by a purge, held by an unknown write, uncacheable, error).",
		}, []string{"route", "result"}),
		purgesVec: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "rzpgate_cache_purges_total",
			Help: "Invalidations after writes, by result (ok, held after a write with an unknown outcome, error, skipped for a 4xx).",
		}, []string{"result"}),
		storeVec: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "rzpgate_cache_store_errors_total",
			Help: "Cache store operations that failed (the gateway fails open), by operation.",
		}, []string{"op"}),
		staleVec: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "rzpgate_stale_responses_total",
			Help: "Responses served from an expired entry, by reason.",
		}, []string{"reason"}),
		limitedBy: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "rzpgate_rate_limited_requests_total",
			Help: "Requests answered 429 by the gateway, by tenant (a configured name, or other) and policy (tenant, upstream-budget).",
		}, []string{"tenant", "policy"}),
		budgetDenied: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "rzpgate_upstream_budget_rejections_total",
			Help: "Upstream requests the budget refused (answered from a stale copy or with 429).",
		}),
		purges: map[string]prometheus.Counter{},
		store:  map[string]prometheus.Counter{},
		stale:  map[string]prometheus.Counter{},
	}
	for rt := range routeCount {
		if !rt.cacheable() {
			continue
		}
		for _, r := range fillResults {
			m.fills[rt] = append(m.fills[rt], m.fillsVec.WithLabelValues(rt.String(), r))
		}
	}
	for _, r := range purgeResults {
		m.purges[r] = m.purgesVec.WithLabelValues(r)
	}
	// A cacheable route's successful GETs exist from the start, at zero, for
	// every outcome: a hit ratio must read 0, not "no data", on a replica
	// that has served no hit yet, and its alert must be able to fire.
	for rt := range routeCount {
		if !rt.cacheable() {
			continue
		}
		for o := outcomeHit; o < outcomeCount; o++ {
			m.resolve(rt, methodIndex(http.MethodGet), statusClass(http.StatusOK), o)
		}
	}
	for _, op := range storeOps {
		m.store[op] = m.storeVec.WithLabelValues(op)
	}
	for _, r := range staleReasons {
		m.stale[r] = m.staleVec.WithLabelValues(r)
	}
	if reg != nil {
		reg.MustRegister(m.requests, m.duration, m.upstream, m.upstreamD, m.coalesced, m.fillsVec, m.purgesVec,
			m.storeVec, m.staleVec, m.limitedBy, m.budgetDenied)
	}
	return m
}

// observe counts one request and its duration.
func (m *metrics) observe(rt route, method string, o outcome, status int, d time.Duration) {
	mi, ci := methodIndex(method), statusClass(status)
	c := m.reqs[rt][mi][ci][o].Load()
	h := m.durs[rt][o].Load()
	if c == nil || h == nil {
		c, h = m.resolve(rt, mi, ci, o)
	}
	(*c).Inc()
	(*h).Observe(d.Seconds())
}

// resolve looks up, and keeps, the series of a request's labels.
func (m *metrics) resolve(rt route, mi, ci int, o outcome) (*prometheus.Counter, *prometheus.Observer) {
	c := m.requests.WithLabelValues(rt.String(), methodNames[mi], classNames[ci], o.String())
	m.reqs[rt][mi][ci][o].Store(&c)
	h := m.duration.WithLabelValues(rt.String(), o.String())
	m.durs[rt][o].Store(&h)
	return &c, &h
}

// fill counts a fill's result for a cacheable route.
func (m *metrics) fill(rt route, result string) {
	for i, r := range fillResults {
		if r == result {
			m.fills[rt][i].Inc()
			return
		}
	}
}

// limited counts a 429 for a tenant's label and a policy.
func (m *metrics) limited(tenant, policy string) {
	m.limitedBy.WithLabelValues(tenant, policy).Inc()
}

// instrumented counts the requests a transport sends to the upstream, by
// the group the request carries, with the time to its response headers.
// Requests an open breaker refused never reached the upstream and are not
// counted.
type instrumented struct {
	next    http.RoundTripper
	metrics *metrics
	clock   func() time.Time
	// series holds the resolved series by group and status class.
	series map[string]*upstreamSeries
}

type upstreamSeries struct {
	byClass  [7]prometheus.Counter // classNames, then "error"
	duration prometheus.Observer
}

func newInstrumented(next http.RoundTripper, m *metrics, clock func() time.Time) *instrumented {
	t := &instrumented{next: next, metrics: m, clock: clock, series: map[string]*upstreamSeries{}}
	for _, g := range Groups {
		s := &upstreamSeries{duration: m.upstreamD.WithLabelValues(g)}
		for i, c := range classNames {
			s.byClass[i] = m.upstream.WithLabelValues(g, c)
		}
		s.byClass[6] = m.upstream.WithLabelValues(g, "error")
		t.series[g] = s
	}
	return t
}

func (t *instrumented) RoundTrip(r *http.Request) (*http.Response, error) {
	start := t.clock()
	resp, err := t.next.RoundTrip(r)
	s := t.series[GroupOf(r)]
	switch {
	case err != nil && (isBreakerOpen(err) || r.Context().Err() != nil && errors.Is(err, context.Canceled)):
		// Refused by an open breaker, or abandoned by the client: neither
		// says anything of the upstream.
		return resp, err
	case err != nil:
		s.byClass[6].Inc()
	default:
		s.byClass[statusClass(resp.StatusCode)].Inc()
	}
	s.duration.Observe(t.clock().Sub(start).Seconds())
	return resp, err
}
