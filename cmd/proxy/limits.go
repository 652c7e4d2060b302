package main

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"

	"github.com/redis/go-redis/v9"

	"github.com/rzpgate/rzpgate/internal/config"
	"github.com/rzpgate/rzpgate/internal/limiter"
	"github.com/rzpgate/rzpgate/internal/proxy"
)

// newLimits builds the tenants' limits and the upstream budget the
// configuration enables. Limits are kept in process, or cluster-wide in
// Redis when client is not nil, falling back to each replica's share in
// process while Redis fails.
// Its Redis keys live under redisPrefix (redis.key_prefix + "rl:"), so that
// deployments sharing a Redis do not share limits either.
func newLimits(cfg config.Limits, client redis.UniversalClient, redisPrefix string, log *slog.Logger, bm *breakerMetrics) (proxy.Limits, error) {
	if !cfg.Enabled && !cfg.Budget.Enabled {
		return proxy.Limits{}, nil
	}
	local := limiter.NewLocal(limiter.LocalConfig{})
	var l limiter.Limiter = local
	if client != nil {
		bm.add("redis_limiter")
		fb := limiter.NewFallback(limiter.NewRedis(client, limiter.RedisConfig{Prefix: redisPrefix}), local, limiter.FallbackConfig{
			ExpectedReplicas: cfg.ExpectedReplicas,
			OnStateChange: func(from, to string) {
				bm.changed("redis_limiter", to)
				level := slog.LevelWarn
				if to == "closed" {
					level = slog.LevelInfo
				}
				log.Log(context.Background(), level, "rate limiter's redis breaker changed state; while not closed each replica enforces its share of every limit",
					slog.String("from", from), slog.String("to", to))
			},
		})
		bm.poll(fb.Refresh)
		l = fb
	}
	out := proxy.Limits{TenantHeader: cfg.TenantHeader, RejectUnknown: cfg.RejectUnknown, PauseOn429: cfg.Budget.PauseOn429}
	if cfg.Enabled {
		out.Limiter = l
		out.Default = tenantLimit(cfg.Default)
		out.Tenants = make(map[string]proxy.TenantLimit, len(cfg.Tenants))
		for name, t := range cfg.Tenants {
			out.Tenants[name] = tenantLimit(t)
		}
	}
	if cfg.Budget.Enabled {
		b, err := limiter.NewBudget(l, limiter.BudgetConfig{
			Limit:        limiter.Limit{Rate: cfg.Budget.Rate, Burst: cfg.Budget.Burst, Period: cfg.Budget.Period.D()},
			WriteReserve: cfg.Budget.WriteReserve,
		})
		if err != nil {
			return proxy.Limits{}, fmt.Errorf("limits.budget: %w", err)
		}
		out.Budget = b
	}
	return out, nil
}

func tenantLimit(t config.TenantLimit) proxy.TenantLimit {
	return proxy.TenantLimit{Limit: limiter.Limit{Rate: t.Rate, Burst: t.Burst, Period: t.Period.D()}, ExemptHits: t.ExemptHits}
}

// newBreakers wraps next in the upstream circuit breakers the configuration
// enables, exporting each breaker's state and transitions and logging each
// change once.
func newBreakers(cfg config.UpstreamBreaker, next http.RoundTripper, log *slog.Logger, bm *breakerMetrics) (http.RoundTripper, *limiter.Breakers, error) {
	if !cfg.Enabled {
		return next, nil, nil
	}
	groups := proxy.Groups
	if !cfg.PerGroup {
		groups = []string{limiter.OtherGroup} // every group name falls back to it
	}
	for _, g := range groups {
		bm.add("upstream_" + g)
	}
	b, err := limiter.NewBreakers(groups, limiter.BreakerConfig{
		FailureRatio:        cfg.FailureRatio,
		ConsecutiveFailures: uint32(cfg.ConsecutiveFailures),
		MinRequests:         uint32(cfg.MinRequests),
		Interval:            cfg.Window.D(),
		BucketPeriod:        cfg.BucketPeriod.D(),
		OpenTimeout:         cfg.OpenTimeout.D(),
		HalfOpenRequests:    uint32(cfg.HalfOpenRequests),
		OnStateChange: func(group, from, to string) {
			bm.changed("upstream_"+group, to)
			level := slog.LevelWarn
			if to == "closed" {
				level = slog.LevelInfo
			}
			log.Log(context.Background(), level, "upstream circuit breaker changed state",
				slog.String("group", group), slog.String("from", from), slog.String("to", to))
		},
	})
	if err != nil {
		return nil, nil, fmt.Errorf("upstream.breaker: %w", err)
	}
	bm.poll(func() {
		for _, g := range groups {
			b.State(g) // an open breaker past its timeout turns half-open
		}
	})
	return b.Transport(next, proxy.GroupOf), b, nil
}
