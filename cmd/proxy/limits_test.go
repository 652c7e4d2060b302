package main

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/rzpgate/rzpgate/internal/config"
	"github.com/rzpgate/rzpgate/internal/limiter"
	"github.com/rzpgate/rzpgate/internal/redistest"
)

// TestLimitsKeyedByDeployment: two deployments sharing one Redis with
// different redis.key_prefix values do not share rate limits.
func TestLimitsKeyedByDeployment(t *testing.T) {
	srv := redistest.Start(t)
	client := srv.Client(t)
	cfg := config.Default().Limits
	cfg.Enabled = true
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	a, err := newLimits(cfg, client, "deploy-a:rl:", log, newBreakerMetrics(prometheus.NewRegistry()))
	if err != nil {
		t.Fatal(err)
	}
	b, err := newLimits(cfg, client, "deploy-b:rl:", log, newBreakerMetrics(prometheus.NewRegistry()))
	if err != nil {
		t.Fatal(err)
	}
	l := limiter.Limit{Rate: 1, Burst: 2, Period: time.Hour}
	ctx := context.Background()
	for range 3 {
		a.Limiter.Allow(ctx, "tenant:x", l)
	}
	if res, err := b.Limiter.Allow(ctx, "tenant:x", l); err != nil || !res.Allowed {
		t.Errorf("deployment B after A spent its bucket: %+v %v; want allowed", res, err)
	}
	if res, _ := a.Limiter.Allow(ctx, "tenant:x", l); res.Allowed {
		t.Errorf("deployment A past its burst: allowed; want denied (the limit is in Redis)")
	}
}

// TestBreakerGaugeMovesWithoutTraffic: an open upstream breaker's gauge
// leaves "open" once its timeout passed, at the next scrape, even if no
// request comes to move it.
func TestBreakerGaugeMovesWithoutTraffic(t *testing.T) {
	reg := prometheus.NewRegistry()
	bm := newBreakerMetrics(reg)
	cfg := config.Default().Upstream.Breaker
	cfg.OpenTimeout = config.Duration(200 * time.Millisecond)
	failing := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(500) }))
	defer failing.Close()
	rt, _, err := newBreakers(cfg, http.DefaultTransport, slog.New(slog.NewTextHandler(io.Discard, nil)), bm)
	if err != nil {
		t.Fatal(err)
	}
	for range 6 {
		req, _ := http.NewRequest("GET", failing.URL, nil)
		if resp, err := rt.RoundTrip(req); err == nil {
			resp.Body.Close()
		}
	}
	state := func() float64 {
		mfs, _ := reg.Gather()
		for _, mf := range mfs {
			for _, m := range mf.GetMetric() {
				if mf.GetName() == "rzpgate_breaker_state" && m.GetLabel()[0].GetValue() == "upstream_other" {
					return m.GetGauge().GetValue()
				}
			}
		}
		return -1
	}
	if s := state(); s != 2 {
		t.Fatalf("breaker state after 6 failures = %v; want 2 (open)", s)
	}
	time.Sleep(300 * time.Millisecond)
	if s := state(); s != 1 {
		t.Errorf("breaker state past its open timeout, no traffic = %v; want 1 (half-open)", s)
	}
}
