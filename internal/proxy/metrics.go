package proxy

import (
	"net/http"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// outcome is what the cache did for a request. Its names are the closed
// label set of the "cache" label.
type outcome uint8

const (
	outcomeNone      outcome = iota // not a cacheable route
	outcomeHit                      // answered from the cache
	outcomeMiss                     // fetched from the upstream
	outcomeCollapsed                // answered by another request's fetch
	outcomeRefresh                  // the client's no-cache: fetched and refreshed
	outcomeBypass                   // no-store, no credentials or unkeyable query
	outcomeStale                    // answered from an expired entry (stale-if-error, -while-revalidate)
	outcomeCount
)

var outcomeNames = [outcomeCount]string{"none", "hit", "miss", "collapsed", "refresh", "bypass", "stale"}

func (o outcome) String() string { return outcomeNames[o] }

// series is one request counter and duration histogram, resolved once.
type series struct {
	count    prometheus.Counter
	duration prometheus.Observer
}

// metrics are the gateway's Prometheus series. Labels come from closed sets
// (route names, outcomes, status codes), never from paths, ids or keys.
type metrics struct {
	requests *prometheus.CounterVec
	duration *prometheus.HistogramVec
	fills    *prometheus.CounterVec
	purges   *prometheus.CounterVec
	storeErr *prometheus.CounterVec
	// limitedBy counts 429s by tenant label and policy; budgetDenied counts
	// upstream requests the budget refused.
	limitedBy    *prometheus.CounterVec
	budgetDenied prometheus.Counter

	// ok caches the series of status 200 for each route and outcome,
	// resolved on first use (so /metrics shows only series that happened)
	// so that the hot path does no label lookup.
	ok [routeCount][outcomeCount]atomic.Pointer[series]
}

func newMetrics(reg prometheus.Registerer) *metrics {
	m := &metrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "rzpgate_requests_total",
			Help: "Requests served, by route, cache outcome and status code.",
		}, []string{"route", "cache", "code"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "rzpgate_request_duration_seconds",
			Help:    "Time to serve a request, by route, cache outcome and status code.",
			Buckets: []float64{.0001, .00025, .0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10},
		}, []string{"route", "cache", "code"}),
		fills: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "rzpgate_cache_fills_total",
			Help: "Upstream responses offered to the cache, by route and result (stored, fenced, uncacheable, error).",
		}, []string{"route", "result"}),
		purges: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "rzpgate_cache_purges_total",
			Help: "Invalidations after a write to a QR code, by result (ok, error, skipped for a 4xx rejection).",
		}, []string{"result"}),
		storeErr: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "rzpgate_cache_store_errors_total",
			Help: "Cache store operations that failed (the gateway fails open), by operation.",
		}, []string{"op"}),
		limitedBy: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "rzpgate_rate_limited_requests_total",
			Help: "Requests answered 429 by the gateway, by tenant (a configured name, or other) and policy (tenant, upstream-budget).",
		}, []string{"tenant", "policy"}),
		budgetDenied: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "rzpgate_upstream_budget_rejections_total",
			Help: "Upstream requests the budget refused (answered from a stale copy or with 429).",
		}),
	}
	if reg != nil {
		reg.MustRegister(m.requests, m.duration, m.fills, m.purges, m.storeErr, m.limitedBy, m.budgetDenied)
	}
	return m
}

// limited counts a 429 for a tenant's label and a policy.
func (m *metrics) limited(tenant, policy string) {
	m.limitedBy.WithLabelValues(tenant, policy).Inc()
}

func (m *metrics) series(rt route, o outcome, status int) series {
	labels := []string{rt.String(), o.String(), strconv.Itoa(status)}
	return series{m.requests.WithLabelValues(labels...), m.duration.WithLabelValues(labels...)}
}

func (m *metrics) observe(rt route, o outcome, status int, d time.Duration) {
	var s series
	if status != http.StatusOK {
		s = m.series(rt, o, status)
	} else if p := m.ok[rt][o].Load(); p != nil {
		s = *p
	} else {
		s = m.series(rt, o, status)
		m.ok[rt][o].Store(&s)
	}
	s.count.Inc()
	s.duration.Observe(d.Seconds())
}
