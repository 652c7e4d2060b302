package main

import (
	"runtime"
	"runtime/debug"
	"slices"
	"sync"

	"github.com/prometheus/client_golang/prometheus"
)

// version is the gateway's version, stamped in at build time with
// -ldflags "-X main.version=..."; "dev" otherwise.
var version = "dev"

// registerBuildInfo registers rzpgate_build_info: 1, labelled with the
// version, the VCS revision the binary was built from, and the Go version.
func registerBuildInfo(reg prometheus.Registerer) {
	revision := "unknown"
	if bi, ok := debug.ReadBuildInfo(); ok {
		for _, s := range bi.Settings {
			if s.Key == "vcs.revision" {
				revision = s.Value
			}
		}
	}
	g := prometheus.NewGauge(prometheus.GaugeOpts{
		Name:        "rzpgate_build_info",
		Help:        "Always 1; the labels say which build of rzpgate is running.",
		ConstLabels: prometheus.Labels{"version": version, "revision": revision, "goversion": runtime.Version()},
	})
	g.Set(1)
	reg.MustRegister(g)
}

// breakerMetrics export every circuit breaker of the process, by name:
// redis_cache (the shared cache's), redis_limiter (the shared rate
// limiter's) and upstream_<group> (Razorpay's, per route group).
type breakerMetrics struct {
	state       *prometheus.GaugeVec
	transitions *prometheus.CounterVec
	// polls bring breakers' states up to date when scraped: gobreaker
	// moves an open breaker on only when asked, so with no traffic its
	// gauge would read open for ever after the upstream recovered.
	mu    sync.Mutex // guards polls
	polls []func()
}

// poll adds f to what a scrape runs first.
func (m *breakerMetrics) poll(f func()) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.polls = append(m.polls, f)
}

// Describe and Collect make breakerMetrics the collector of both vectors,
// polling the breakers before each collection.
func (m *breakerMetrics) Describe(ch chan<- *prometheus.Desc) {
	m.state.Describe(ch)
	m.transitions.Describe(ch)
}

func (m *breakerMetrics) Collect(ch chan<- prometheus.Metric) {
	m.mu.Lock()
	polls := slices.Clone(m.polls)
	m.mu.Unlock()
	for _, f := range polls {
		f()
	}
	m.state.Collect(ch)
	m.transitions.Collect(ch)
}

func newBreakerMetrics(reg prometheus.Registerer) *breakerMetrics {
	m := &breakerMetrics{
		state: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "rzpgate_breaker_state",
			Help: "State of each circuit breaker: 0 closed, 1 half-open, 2 open. redis_cache and redis_limiter open while Redis fails (the gateway then works without it); upstream_<group> while Razorpay fails.",
		}, []string{"breaker"}),
		transitions: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "rzpgate_breaker_transitions_total",
			Help: "State changes of each circuit breaker, by breaker and new state.",
		}, []string{"breaker", "to"}),
	}
	reg.MustRegister(m)
	return m
}

var breakerStates = map[string]float64{"closed": 0, "half-open": 1, "open": 2}

// add starts exporting breaker, closed.
func (m *breakerMetrics) add(breaker string) {
	m.state.WithLabelValues(breaker).Set(0)
	for to := range breakerStates {
		m.transitions.WithLabelValues(breaker, to)
	}
}

// changed records breaker's move to state to.
func (m *breakerMetrics) changed(breaker, to string) {
	m.state.WithLabelValues(breaker).Set(breakerStates[to])
	m.transitions.WithLabelValues(breaker, to).Inc()
}
