// Command proxy runs rzpgate, a caching gateway for the Razorpay API.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/signal"
	"runtime/debug"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/redis/go-redis/v9"

	"github.com/rzpgate/rzpgate/internal/config"
	"github.com/rzpgate/rzpgate/internal/proxy"
	"github.com/rzpgate/rzpgate/internal/webhook"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.LookupEnv, os.Stdout, os.Stderr); err != nil {
		if !errors.Is(err, flag.ErrHelp) {
			fmt.Fprintln(os.Stderr, "rzpgate:", err)
		}
		os.Exit(1)
	}
}

// run starts the gateway and blocks until ctx is done, then drains. Logs go
// to stdout as JSON; a fatal error is returned for main to print.
func run(ctx context.Context, args []string, lookup func(string) (string, bool), stdout, stderr io.Writer) error {
	cfg, check, err := loadConfig(args, lookup, stderr)
	if err != nil {
		return err
	}
	if check {
		fmt.Fprintln(stdout, "config ok")
		return nil
	}

	var level slog.Level
	level.UnmarshalText([]byte(cfg.Log.Level)) // validated
	logs := newLogWriter(stdout)
	defer logs.Close()
	logger := slog.New(slog.NewJSONHandler(logs, &slog.HandlerOptions{Level: level}))

	// A soft memory limit sized to the cache keeps a full cache within the
	// container limit the README recommends (see Config.MemoryLimit); a
	// GOMEMLIMIT of the operator's own wins (the runtime reads an empty one
	// as none).
	if v, _ := lookup("GOMEMLIMIT"); v == "" && cfg.MemoryLimit() > 0 {
		debug.SetMemoryLimit(cfg.MemoryLimit())
	}
	memLimit := debug.SetMemoryLimit(-1)
	floor := setHeapFloor(lookup)

	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	newLogDropCounter(reg, logs)
	registerBuildInfo(reg)
	bm := newBreakerMetrics(reg)
	redis.SetLogger(redisLogger(logger)) // so that every line printed is JSON

	store, err := newStore(ctx, cfg, logger, reg, bm)
	if err != nil {
		return err
	}
	defer store.close()

	upstream, _ := url.Parse(cfg.Upstream.URL) // validated
	var secret []byte
	if cfg.Cache.KeySecret != "" {
		secret = []byte(cfg.Cache.KeySecret)
	}
	transport, breakers, err := newBreakers(cfg.Upstream.Breaker, proxy.NewTransport(proxy.TransportConfig{
		DialTimeout:           cfg.Upstream.DialTimeout.D(),
		TLSHandshakeTimeout:   cfg.Upstream.TLSHandshakeTimeout.D(),
		ResponseHeaderTimeout: cfg.Upstream.ResponseHeaderTimeout.D(),
		IdleConnTimeout:       cfg.Upstream.IdleConnTimeout.D(),
		MaxIdleConnsPerHost:   cfg.Upstream.MaxIdleConnsPerHost,
		MaxConnsPerHost:       cfg.Upstream.MaxConnsPerHost,
	}), logger, bm)
	if err != nil {
		return err
	}
	limits, err := newLimits(cfg.Limits, store.client, cfg.Redis.KeyPrefix+"rl:", logger, bm)
	if err != nil {
		return err
	}
	var accessLog io.Writer
	if level <= slog.LevelInfo {
		accessLog = logs // request lines, built by the gateway itself
	}
	h, err := proxy.New(proxy.Config{
		Upstream:  upstream,
		Transport: transport,
		Breakers:  breakers,
		Limits:    limits,
		Store:     store.Store,
		TTL: proxy.TTL{
			Payments:     cfg.Cache.TTL.Payments.D(),
			PaymentLinks: cfg.Cache.TTL.PaymentLinks.D(),
			QRCodes:      cfg.Cache.TTL.QRCodes.D(),
		},
		StaleIfError:         perRoute(cfg.Cache.StaleIfError),
		StaleWhileRevalidate: perRoute(cfg.Cache.StaleWhileRevalidate),
		KeySecret:            secret,
		MaxBodyBytes:         cfg.MaxBodyBytes.Int64(),
		MaxEntryBytes:        cfg.Cache.MaxEntryBytes.Int64(),
		UpstreamTimeout:      cfg.Upstream.Timeout.D(),
		WriteHold:            cfg.EffectiveWriteHold(),
		Logger:               logger,
		AccessLog:            accessLog,
		Registerer:           reg,
	})
	if err != nil {
		return fmt.Errorf("creating gateway: %w", err)
	}
	var wh *webhook.Handler
	if cfg.Webhooks.Enabled() {
		claimer, _ := store.Store.(webhook.Claimer)
		wh, err = webhook.New(webhook.Config{
			Secrets:           cfg.Webhooks.Secrets,
			MaxBodyBytes:      cfg.Webhooks.MaxBodyBytes.Int64(),
			Purger:            h,
			Claimer:           claimer,
			DedupWindow:       cfg.Webhooks.DedupWindow.D(),
			Forward:           cfg.Webhooks.Forward,
			ForwardTimeout:    cfg.Webhooks.ForwardTimeout.D(),
			ForwardRetries:    cfg.Webhooks.ForwardRetries,
			ForwardBackoff:    cfg.Webhooks.ForwardBackoff.D(),
			ForwardMaxElapsed: cfg.Webhooks.ForwardMaxElapsed.D(),
			Logger:            logger,
			Registerer:        reg,
		})
		if err != nil {
			return fmt.Errorf("creating webhook receiver: %w", err)
		}
		h.HandleWebhooks(cfg.Webhooks.Path, wh)
	}

	// Slow clients are bounded: headers, then the whole request, then the
	// response (which may stream from Razorpay for up to upstream.timeout).
	var serving, draining atomic.Bool
	gateway := &http.Server{
		Handler:           closeWhen(&draining, h),
		ReadHeaderTimeout: cfg.ReadHeaderTimeout.D(),
		ReadTimeout:       cfg.ReadTimeout.D(),
		WriteTimeout:      cfg.EffectiveWriteTimeout(),
		IdleTimeout:       cfg.IdleTimeout.D(),
		ErrorLog:          slog.NewLogLogger(logger.Handler(), slog.LevelWarn),
	}
	ready := func() bool { return serving.Load() && store.ready(time.Now()) }
	admin := &http.Server{Handler: proxy.Admin(reg, ready), ReadHeaderTimeout: 10 * time.Second}
	gl, err := net.Listen("tcp", cfg.Listen)
	if err != nil {
		return fmt.Errorf("listening on %s: %w", cfg.Listen, err)
	}
	al, err := net.Listen("tcp", cfg.AdminListen)
	if err != nil {
		gl.Close()
		return fmt.Errorf("listening on %s (admin): %w", cfg.AdminListen, err)
	}
	errc := make(chan error, 2)
	go func() { errc <- gateway.Serve(gl) }()
	go func() { errc <- admin.Serve(al) }()
	serving.Store(true)
	logger.Info("rzpgate started", slog.String("listen", gl.Addr().String()), slog.String("admin_listen", al.Addr().String()),
		slog.String("upstream", cfg.Upstream.URL), slog.String("cache", storeName(cfg)), slog.Int64("memory_limit_bytes", memLimit),
		slog.Int64("heap_floor_bytes", floor))

	select {
	case <-ctx.Done():
	case err := <-errc:
		return fmt.Errorf("serving: %w", err)
	}

	// Drain: readiness fails first, and for ShutdownDelay the gateway goes
	// on serving, closing each connection after its response, so that load
	// balancers see it unready and keep-alive clients move off before the
	// listener closes. Then in-flight requests get up to ShutdownTimeout.
	serving.Store(false)
	draining.Store(true)
	logger.Info("shutting down", slog.String("delay", cfg.ShutdownDelay.D().String()), slog.String("timeout", cfg.ShutdownTimeout.D().String()))
	time.Sleep(cfg.ShutdownDelay.D())
	sctx, cancel := context.WithTimeout(context.Background(), cfg.ShutdownTimeout.D())
	defer cancel()
	if err := gateway.Shutdown(sctx); err != nil {
		logger.Warn("drain timed out; closing remaining connections", slog.Any("error", err))
		gateway.Close()
	}
	if wh != nil {
		wh.Shutdown(sctx) // forwarding still under way gets what is left of the drain
	}
	admin.Shutdown(sctx)
	logger.Info("stopped")
	return nil
}

func perRoute(d config.RouteDurations) proxy.PerRoute {
	return proxy.PerRoute{Payments: d.Payments.D(), PaymentLinks: d.PaymentLinks.D(), QRCodes: d.QRCodes.D()}
}

// closeWhen answers with Connection: close while draining is set, so that
// each keep-alive client moves off after its next response. Idle
// connections are left open until the listener closes: closing them at
// once would fail requests already on their way.
func closeWhen(draining *atomic.Bool, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if draining.Load() {
			w.Header()["Connection"] = []string{"close"}
		}
		next.ServeHTTP(w, r)
	})
}

// loadConfig builds the configuration: defaults, then the -config file, then
// the environment, then flags; it validates the result.
func loadConfig(args []string, lookup func(string) (string, bool), stderr io.Writer) (config.Config, bool, error) {
	fs := flag.NewFlagSet("rzpgate", flag.ContinueOnError)
	fs.SetOutput(stderr)
	path := fs.String("config", "", "YAML config file (see configs/proxy.yaml)")
	check := fs.Bool("check-config", false, "validate the configuration and exit")
	listen := fs.String("listen", "", "gateway listen address (overrides listen)")
	adminListen := fs.String("admin-listen", "", "admin listen address for /healthz, /readyz, /metrics (overrides admin_listen)")
	upstream := fs.String("upstream", "", "Razorpay base URL (overrides upstream.url)")
	logLevel := fs.String("log-level", "", "debug, info, warn or error (overrides log.level)")
	if err := fs.Parse(args); err != nil {
		return config.Config{}, false, err
	}
	if fs.NArg() > 0 {
		return config.Config{}, false, fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	cfg, err := config.Load(*path, lookup)
	if err != nil {
		return config.Config{}, false, err
	}
	fs.Visit(func(f *flag.Flag) {
		switch f.Name {
		case "listen":
			cfg.Listen = *listen
		case "admin-listen":
			cfg.AdminListen = *adminListen
		case "upstream":
			cfg.Upstream.URL = *upstream
		case "log-level":
			cfg.Log.Level = *logLevel
		}
	})
	if err := cfg.Validate(); err != nil {
		return config.Config{}, false, fmt.Errorf("invalid configuration: %w", err)
	}
	return cfg, *check, nil
}
