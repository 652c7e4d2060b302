package main

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"

	"github.com/rzpgate/rzpgate/internal/cache"
	"github.com/rzpgate/rzpgate/internal/config"
)

// storeChain is the cache store the configuration names and what main
// needs besides it.
type storeChain struct {
	cache.Store
	// close releases the store.
	close func()
	// ready reports whether the store lets the gateway count as ready at
	// now: false once a shared store has been unusable for longer than
	// redis.unready_after, if set.
	ready func(now time.Time) bool
	// client is the Redis client in shared mode, for the rate limiter;
	// nil in memory mode.
	client redis.UniversalClient
}

// newStore builds the cache store the configuration names: the in-memory
// store by default, or with redis.url set the Redis store, behind an
// optional near cache, behind a fail-open Guard.
func newStore(ctx context.Context, cfg config.Config, log *slog.Logger, reg prometheus.Registerer, bm *breakerMetrics) (storeChain, error) {
	always := func(time.Time) bool { return true }
	if cfg.Redis.URL == "" {
		m, err := cache.NewMemory(cache.MemoryConfig{
			MaxBytes:       cfg.Cache.MaxBytes.Int64(),
			FenceRetention: fenceRetention(cfg),
		})
		if err != nil {
			return storeChain{}, fmt.Errorf("creating memory cache: %w", err)
		}
		registerSize(reg, "memory", m)
		registerPurged(reg, m)
		return storeChain{Store: m, close: func() { m.Close() }, ready: always}, nil
	}

	client, err := newRedisClient(cfg.Redis)
	if err != nil {
		return storeChain{}, err
	}
	rs, err := cache.NewRedis(client, cache.RedisConfig{
		Prefix:         cfg.Redis.KeyPrefix,
		FenceRetention: fenceRetention(cfg),
	})
	if err != nil {
		client.Close()
		return storeChain{}, fmt.Errorf("creating redis cache: %w", err)
	}
	var inner cache.Store = rs
	closers := []func() error{client.Close}
	if cfg.Redis.NearCache.Enabled {
		near, err := cache.NewNear(rs, client, cache.NearConfig{
			MaxBytes: cfg.Redis.NearCache.MaxBytes.Int64(),
			TTL:      cfg.Redis.NearCache.TTL.D(),
		})
		if err != nil {
			client.Close()
			return storeChain{}, fmt.Errorf("creating near cache: %w", err)
		}
		inner = near
		closers = append(closers, near.Close)
		registerSize(reg, "near", near)
	}

	// The breaker's state is a metric. An outage is logged when it starts,
	// once a minute while it lasts, and when it ends: never per request,
	// nor per probe.
	bm.add("redis_cache")
	registerPurged(reg, rs)
	ops := newRedisOpMetrics(reg)
	guard := cache.NewGuard(inner, cache.GuardConfig{
		OnCall:         ops.observe,
		Timeout:        cfg.Redis.ReadTimeout.D() + cfg.Redis.WriteTimeout.D(),
		Failures:       cfg.Redis.Breaker.Failures,
		OpenTimeout:    cfg.Redis.Breaker.OpenTimeout.D(),
		MaxOpenTimeout: cfg.Redis.Breaker.MaxOpenTimeout.D(),
		OnStateChange:  func(_, to string) { bm.changed("redis_cache", to) },
		OnOutageStart: func(o cache.Outage) {
			log.Warn("redis cache unavailable; serving from the upstream", slog.Any("outage", o))
		},
		OnOutageSummary: func(o cache.Outage) {
			log.Warn("redis cache still unavailable", slog.Any("outage", o))
		},
		OnOutageEnd: func(o cache.Outage) {
			log.Info("redis cache available again", slog.Any("outage", o))
		},
	})
	closers = append([]func() error{guard.Close}, closers...)
	reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "rzpgate_redis_up",
		Help: "1 while the shared cache's Redis is usable, 0 while its breaker is not closed (the gateway then serves from Razorpay).",
	}, func() float64 {
		if _, down := guard.UnusableSince(); down {
			return 0
		}
		return 1
	}))
	ready := always
	if limit := cfg.Redis.UnreadyAfter.D(); limit > 0 {
		ready = func(now time.Time) bool {
			since, down := guard.UnusableSince()
			return !down || now.Sub(since) < limit
		}
	}

	pctx, cancel := context.WithTimeout(ctx, cfg.Redis.DialTimeout.D()+cfg.Redis.ReadTimeout.D())
	defer cancel()
	if err := client.Ping(pctx).Err(); err != nil {
		// Not fatal: the gateway serves from the upstream until Redis answers.
		log.Warn("redis is not answering yet; serving without the shared cache", slog.Any("error", err))
	}
	return storeChain{Store: guard, ready: ready, client: client, close: func() {
		for _, c := range closers {
			c()
		}
	}}, nil
}

// sized is a store that reports its size and evictions.
type sized interface {
	Bytes() int64
	Len() int
	Evictions() uint64
}

// registerPurged exports the entries a store's purges deleted.
func registerPurged(reg prometheus.Registerer, s interface{ Purged() uint64 }) {
	reg.MustRegister(prometheus.NewCounterFunc(prometheus.CounterOpts{
		Name: "rzpgate_cache_entries_purged_total",
		Help: "Cache entries deleted by purges (writes and webhooks), in every caller's partition.",
	}, func() float64 { return float64(s.Purged()) }))
}

// redisOpMetrics time the shared cache's calls to Redis.
type redisOpMetrics struct {
	duration map[string]prometheus.Observer
	errors   map[string]prometheus.Counter
}

func newRedisOpMetrics(reg prometheus.Registerer) *redisOpMetrics {
	d := prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name:    "rzpgate_redis_operation_duration_seconds",
		Help:    "Time of the shared cache's calls to Redis, by operation (get, fence, set, purge, claim).",
		Buckets: []float64{.0001, .00025, .0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1},
	}, []string{"op"})
	e := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "rzpgate_redis_operation_errors_total",
		Help: "The shared cache's calls to Redis that failed or timed out, by operation.",
	}, []string{"op"})
	reg.MustRegister(d, e)
	m := &redisOpMetrics{duration: map[string]prometheus.Observer{}, errors: map[string]prometheus.Counter{}}
	for _, op := range []string{"get", "fence", "set", "purge", "claim"} {
		m.duration[op], m.errors[op] = d.WithLabelValues(op), e.WithLabelValues(op)
	}
	return m
}

func (m *redisOpMetrics) observe(op string, d time.Duration, failed bool) {
	if o, ok := m.duration[op]; ok {
		o.Observe(d.Seconds())
		if failed {
			m.errors[op].Inc()
		}
	}
}

// registerSize exports the size of an in-process store: "memory" (the
// cache in memory mode) or "near" (the near cache in shared mode).
func registerSize(reg prometheus.Registerer, store string, s sized) {
	labels := prometheus.Labels{"store": store}
	reg.MustRegister(
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "rzpgate_cache_bytes", ConstLabels: labels,
			Help: "Bytes of heap an in-process cache holds, as it weighs its entries against its bound, by store (memory, near).",
		}, func() float64 { return float64(s.Bytes()) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "rzpgate_cache_entries", ConstLabels: labels,
			Help: "Entries in an in-process cache, fresh or kept stale, by store (memory, near).",
		}, func() float64 { return float64(s.Len()) }),
		prometheus.NewCounterFunc(prometheus.CounterOpts{
			Name: "rzpgate_cache_evictions_total", ConstLabels: labels,
			Help: "Entries an in-process cache evicted to make room, by store (memory, near).",
		}, func() float64 { return float64(s.Evictions()) }),
	)
}

// newRedisClient returns a go-redis UniversalClient for the configuration:
// one node, Sentinel (master_name) or Cluster (cluster: true), with the
// URL's TLS (rediss://), credentials and database unless overridden.
func newRedisClient(c config.Redis) (redis.UniversalClient, error) {
	opt, err := redis.ParseURL(c.URL)
	if err != nil {
		// ParseURL's errors may quote the URL, which may hold a password.
		return nil, fmt.Errorf("redis.url: cannot be parsed")
	}
	uo := &redis.UniversalOptions{
		Addrs:        append([]string{opt.Addr}, c.Addrs...),
		MasterName:   c.MasterName,
		Username:     opt.Username,
		Password:     opt.Password,
		DB:           opt.DB,
		TLSConfig:    opt.TLSConfig,
		PoolSize:     c.PoolSize,
		DialTimeout:  c.DialTimeout.D(),
		ReadTimeout:  c.ReadTimeout.D(),
		WriteTimeout: c.WriteTimeout.D(),
		// Honour the Guard's per-operation deadline instead of waiting out
		// the read timeout, so a paused Redis costs at most that deadline.
		ContextTimeoutEnabled: true,
		IsClusterMode:         c.Cluster,
	}
	if c.Username != "" {
		uo.Username = c.Username
	}
	if c.Password != "" {
		uo.Password = c.Password
	}
	if c.DB != 0 {
		uo.DB = c.DB
	}
	return redis.NewUniversalClient(uo), nil
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
