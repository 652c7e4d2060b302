package proxy

import (
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Cache outcomes: the closed label set of the "cache" label.
const (
	outcomeNone      = "none"      // not a cacheable route
	outcomeHit       = "hit"       // answered from the cache
	outcomeMiss      = "miss"      // fetched from the upstream
	outcomeCollapsed = "collapsed" // answered by another request's fetch
	outcomeRefresh   = "refresh"   // the client's no-cache: fetched and refreshed
	outcomeBypass    = "bypass"    // no-store, no credentials or unkeyable query
)

// metrics are the gateway's Prometheus series. Labels come from closed sets
// (route names, outcomes, status codes), never from paths, ids or keys.
type metrics struct {
	requests *prometheus.CounterVec
	duration *prometheus.HistogramVec
	fills    *prometheus.CounterVec
	purges   *prometheus.CounterVec
	storeErr *prometheus.CounterVec
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
			Help: "Invalidations after a QR code PATCH, by result (ok, error, skipped for a 4xx rejection).",
		}, []string{"result"}),
		storeErr: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "rzpgate_cache_store_errors_total",
			Help: "Cache store operations that failed (the gateway fails open), by operation.",
		}, []string{"op"}),
	}
	if reg != nil {
		reg.MustRegister(m.requests, m.duration, m.fills, m.purges, m.storeErr)
	}
	return m
}

func (m *metrics) observe(rt route, outcome string, status int, d time.Duration) {
	code := strconv.Itoa(status)
	m.requests.WithLabelValues(rt.String(), outcome, code).Inc()
	m.duration.WithLabelValues(rt.String(), outcome, code).Observe(d.Seconds())
}
