package main

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/rzpgate/rzpgate/internal/cache"
	"github.com/rzpgate/rzpgate/internal/config"
)

// newStore builds the cache store the configuration names and a function
// that releases it.
func newStore(_ context.Context, cfg config.Config, _ *slog.Logger, _ prometheus.Registerer) (cache.Store, func(), error) {
	m, err := cache.NewMemory(cache.MemoryConfig{
		MaxBytes:       cfg.Cache.MaxBytes.Int64(),
		FenceRetention: fenceRetention(cfg),
	})
	if err != nil {
		return nil, nil, fmt.Errorf("creating memory cache: %w", err)
	}
	return m, func() { m.Close() }, nil
}

// fenceRetention is how long purges are remembered: longer than any fill can
// take, so a fill that raced a purge is always refused.
func fenceRetention(cfg config.Config) time.Duration {
	return cfg.Upstream.Timeout.D() + time.Minute
}

func storeName(cfg config.Config) string {
	if cfg.Redis.URL != "" {
		return "redis"
	}
	return "memory"
}
