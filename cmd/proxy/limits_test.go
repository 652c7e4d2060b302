package main

import (
	"context"
	"io"
	"log/slog"
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
