package harness

import (
	"context"
	"fmt"
	"strings"
)

// Paths the scenarios read and write: the fake's seeded entities of
// rzp_test_A, which -any-key lends to every credential.
const (
	paymentPath = "/v1/payments/pay_DG4ZdRK8ZnXC3k?expand[]=upi"
	qrListPath  = "/v1/payments/qr_codes?customer_id=cust_HKsR5se84c5LTO"
	qrPatchPath = "/v1/payments/qr_codes/qr_HMsgvioW64f0vh"
	qrPatchBody = `{"notes":{"purpose":"rzpbench"}}`
)

// Target names shared by scenarios and their checks.
const (
	nameBare         = "bare net/http"
	nameBareProxy    = "bare net/http reverse proxy"
	nameBareTimeouts = "bare net/http, gateway's timeouts"
	nameNginx        = "nginx proxy_cache"
)

// scenarioRun runs one or more scenarios that share their setup.
type scenarioRun struct {
	names []string
	run   func(ctx context.Context) ([]*Scenario, error)
}

// scenarios returns every scenario in the order they run: the short
// comparisons first, the fills of a million entries last.
func (l *lab) scenarios() []scenarioRun {
	one := func(name, title string, f func(context.Context, *Scenario) error) scenarioRun {
		return scenarioRun{names: []string{name}, run: func(ctx context.Context) ([]*Scenario, error) {
			sc := &Scenario{Name: name, Title: title}
			return []*Scenario{sc}, f(ctx, sc)
		}}
	}
	return []scenarioRun{
		one("hit-memory", "cache hit, memory store, info and error log levels, against a bare net/http server and nginx", l.hitMemory),
		one("hit-long-query", "cache hit, long query (1.9 KB, 46 params), against nginx", l.hitLongQuery),
		one("hit-redis", "cache hit, Redis store, without and with the near cache, against memory-store hits", l.hitRedis),
		one("miss", "miss path, 1 connection, upstream with no delay, against calling the upstream directly, a bare reverse proxy and nginx", l.miss),
		one("many-creds", fmt.Sprintf("cache hits of %d Basic credentials round-robin, against one credential", l.cfg.Creds), l.manyCreds),
		one("patch-mix", fmt.Sprintf("%d%% PATCH of a QR code, the rest GETs of its customer's QR codes", l.cfg.PatchPercent), l.patchMix),
		one("rate-limited", "cache hits of a tenant under its limit, against an unlimited gateway", l.rateLimited),
		one("cold-key", fmt.Sprintf("%d clients at once on one cold key, upstream answering after %s", l.cfg.ColdClients, l.cfg.ColdLatency), l.coldKey),
		one("rss-100k", fmt.Sprintf("RSS with %s entries at the default bounds", count(l.cfg.RSSEntries)), l.rss),
		{names: []string{"fill", "hit-1m", "idle-1m"}, run: l.million},
	}
}

// count writes n the way the issue does: 1k, 100k, 1M.
func count(n int) string {
	switch {
	case n >= 1_000_000 && n%1_000_000 == 0:
		return fmt.Sprintf("%dM", n/1_000_000)
	case n >= 1000 && n%1000 == 0:
		return fmt.Sprintf("%dk", n/1000)
	}
	return fmt.Sprint(n)
}

// hits is the workload of the hit scenarios: one payment, expanded.
func (l *lab) hits() Workload {
	return Workload{Path: paymentPath, Conns: l.cfg.Conns}
}

// withNginx adds nginx in front of the fake to targets when it is
// installed, or notes that it is not.
func (l *lab) withNginx(ctx context.Context, sc *Scenario, targets []target, w Workload) ([]target, error) {
	if l.nginx == "" {
		sc.Notes = append(sc.Notes, "nginx not installed (or -no-nginx): its comparisons are skipped")
		return targets, nil
	}
	ng, err := l.startNginx(ctx, l.fake.URL)
	if err != nil {
		return nil, err
	}
	return append(targets, target{name: nameNginx, srv: ng, work: w}), nil
}

func (l *lab) hitMemory(ctx context.Context, sc *Scenario) error {
	info, err := l.startGateway(ctx, "rzpgate-info", l.fake.URL)
	if err != nil {
		return err
	}
	quiet, err := l.startGateway(ctx, "rzpgate-error", l.fake.URL, "RZPGATE_LOG_LEVEL=error")
	if err != nil {
		return err
	}
	w := l.hits()
	hit, err := captureHit(ctx, info.URL, w)
	if err != nil {
		return err
	}
	bare, err := l.startBare(ctx, hit, false)
	if err != nil {
		return err
	}
	bareTimeouts, err := l.startBare(ctx, hit, true)
	if err != nil {
		return err
	}
	const infoName, errorName = "rzpgate info", "rzpgate error"
	targets := []target{
		{name: infoName, srv: info, work: w, wantHits: true},
		{name: errorName, srv: quiet, work: w, wantHits: true},
		{name: nameBare, srv: bare, work: w},
		{name: nameBareTimeouts, srv: bareTimeouts, work: w},
	}
	if targets, err = l.withNginx(ctx, sc, targets, w); err != nil {
		return err
	}
	return l.compare(ctx, sc, targets, []check{
		{name: "info / bare, rps", a: infoName, b: nameBare, metric: rps, unit: "x", op: ">=", goal: 0.95},
		{name: "info / nginx, rps", a: infoName, b: nameNginx, metric: rps, unit: "x", op: ">=", goal: 0.90},
		{name: "info / nginx, p99", a: infoName, b: nameNginx, metric: p99, unit: "x", op: "<=", goal: 1},
		{name: "error / bare, rps", a: errorName, b: nameBare, metric: rps, unit: "x", op: ">=", goal: 0.95},
		{name: "error / nginx, rps", a: errorName, b: nameNginx, metric: rps, unit: "x", op: ">=", goal: 0.90},
		{name: "error / nginx, p99", a: errorName, b: nameNginx, metric: p99, unit: "x", op: "<=", goal: 1},
		{name: "bare / nginx, rps", a: nameBare, b: nameNginx, metric: rps, unit: "x"},
		{name: "info / bare, CPU/req", a: infoName, b: nameBare, metric: cpu, unit: "x"},
		{name: "bare with timeouts / bare, rps", a: nameBareTimeouts, b: nameBare, metric: rps, unit: "x"},
		{name: "info / bare with timeouts, rps", a: infoName, b: nameBareTimeouts, metric: rps, unit: "x"},
	})
}

// longQuery is expand[]=upi and 45 filler parameters, 1902 bytes: under
// the gateway's 2 KiB limit on cacheable queries.
func longQuery() string {
	var b strings.Builder
	b.WriteString("expand[]=upi")
	for i := range 45 {
		fmt.Fprintf(&b, "&f%02d=%s", i, strings.Repeat(string(rune('a'+i%26)), 37))
	}
	return b.String()
}

func (l *lab) hitLongQuery(ctx context.Context, sc *Scenario) error {
	gw, err := l.startGateway(ctx, "rzpgate", l.fake.URL)
	if err != nil {
		return err
	}
	w := l.hits()
	w.Path = "/v1/payments/pay_DG4ZdRK8ZnXC3k?" + longQuery()
	const name = "rzpgate info"
	targets, err := l.withNginx(ctx, sc, []target{{name: name, srv: gw, work: w, wantHits: true}}, w)
	if err != nil {
		return err
	}
	return l.compare(ctx, sc, targets, []check{
		{name: "rzpgate / nginx, rps", a: name, b: nameNginx, metric: rps, unit: "x", op: ">=", goal: 0.85},
		{name: "rzpgate / nginx, p99", a: name, b: nameNginx, metric: p99, unit: "x"},
	})
}

func (l *lab) hitRedis(ctx context.Context, sc *Scenario) error {
	if l.redis == "" {
		sc.Notes = append(sc.Notes, "redis-server not installed: skipped (make redis-server installs it)")
		return nil
	}
	rdb, err := l.startRedis(ctx)
	if err != nil {
		return err
	}
	mem, err := l.startGateway(ctx, "rzpgate-memory", l.fake.URL)
	if err != nil {
		return err
	}
	shared, err := l.startGateway(ctx, "rzpgate-redis", l.fake.URL, "RZPGATE_REDIS_URL="+rdb.URL, "RZPGATE_REDIS_KEY_PREFIX=bench-redis:")
	if err != nil {
		return err
	}
	near, err := l.startGateway(ctx, "rzpgate-redis-near", l.fake.URL, "RZPGATE_REDIS_URL="+rdb.URL,
		"RZPGATE_REDIS_KEY_PREFIX=bench-near:", "RZPGATE_REDIS_NEAR_CACHE=true")
	if err != nil {
		return err
	}
	w := l.hits()
	const memName, redisName, nearName = "memory store", "redis", "redis + near cache"
	return l.compare(ctx, sc, []target{
		{name: memName, srv: mem, work: w, wantHits: true},
		{name: redisName, srv: shared, work: w, wantHits: true},
		{name: nearName, srv: near, work: w, wantHits: true},
	}, []check{
		{name: "redis / memory, rps", a: redisName, b: memName, metric: rps, unit: "x", op: ">=", goal: 0.65},
		{name: "near / memory, rps", a: nearName, b: memName, metric: rps, unit: "x", op: ">=", goal: 0.90},
		{name: "redis / memory, CPU/req", a: redisName, b: memName, metric: cpu, unit: "x"},
	})
}

func (l *lab) miss(ctx context.Context, sc *Scenario) error {
	gw, err := l.startGateway(ctx, "rzpgate", l.fake.URL)
	if err != nil {
		return err
	}
	// The floor under any net/http gateway: httputil.ReverseProxy alone
	// pays the same second hop over loopback, with net/http's client and
	// server, and nothing of the cache.
	rp, err := l.startBareProxy(l.fake.URL)
	if err != nil {
		return err
	}
	// Every request a new key: each one a miss through the gateway.
	w := Workload{Path: paymentPath, KeyParam: "k", Sequential: true, Conns: 1}
	const gwName, directName = "through rzpgate", "upstream direct"
	targets := []target{
		{name: gwName, srv: gw, work: w},
		{name: nameBareProxy, srv: rp, work: w},
		{name: directName, srv: l.fake, work: w},
	}
	if targets, err = l.withNginx(ctx, sc, targets, w); err != nil {
		return err
	}
	return l.compare(ctx, sc, targets, []check{
		{name: "p50 added", a: gwName, b: directName, metric: p50, delta: true, unit: "us", op: "<", goal: 100},
		{name: "p99 added", a: gwName, b: directName, metric: p99, delta: true, unit: "us", op: "<", goal: 500},
		{name: "rzpgate / direct, rps", a: gwName, b: directName, metric: rps, unit: "x"},
		{name: "bare proxy: p50 added", a: nameBareProxy, b: directName, metric: p50, delta: true, unit: "us"},
		{name: "bare proxy: p99 added", a: nameBareProxy, b: directName, metric: p99, delta: true, unit: "us"},
		{name: "rzpgate - bare proxy, p50", a: gwName, b: nameBareProxy, metric: p50, delta: true, unit: "us"},
		{name: "rzpgate / bare proxy, CPU/req", a: gwName, b: nameBareProxy, metric: cpu, unit: "x"},
		{name: "nginx miss: p50 added", a: nameNginx, b: directName, metric: p50, delta: true, unit: "us"},
	})
}

func (l *lab) manyCreds(ctx context.Context, sc *Scenario) error {
	gw, err := l.startGateway(ctx, "rzpgate", l.fake.URL)
	if err != nil {
		return err
	}
	creds := make([]string, l.cfg.Creds)
	for i := range creds {
		creds[i] = fmt.Sprintf("rzp_test_load%04d:secret%04d", i, i)
	}
	// One fetch per credential first: each has its own partition.
	res, err := l.fill.Run(ctx, gw.URL, Workload{Path: paymentPath, Creds: creds, Conns: 16, MaxRequests: int64(len(creds))}, fillTimeout)
	if err != nil {
		return err
	}
	if res.Requests != int64(len(creds)) || res.Non2xx > 0 || res.Errors > 0 {
		sc.problem("filling one entry per credential: %d of %d answered, %d non-2xx, %d errors", res.Requests, len(creds), res.Non2xx, res.Errors)
	}
	many, one := fmt.Sprintf("%d credentials", len(creds)), "1 credential"
	w := l.hits()
	w.Creds = creds
	single := l.hits()
	// The same credential twice: the same script as the many, so wrk's
	// per-request cost is the same on both sides.
	single.Creds = []string{defaultCred, defaultCred}
	return l.compare(ctx, sc, []target{
		{name: many, srv: gw, work: w, wantHits: true},
		{name: one, srv: gw, work: single, wantHits: true},
	}, []check{
		{name: "many / one, rps", a: many, b: one, metric: rps, unit: "x"},
		{name: "many / one, CPU/req", a: many, b: one, metric: cpu, unit: "x"},
	})
}

func (l *lab) patchMix(ctx context.Context, sc *Scenario) error {
	gw, err := l.startGateway(ctx, "rzpgate", l.fake.URL)
	if err != nil {
		return err
	}
	creds := []string{defaultCred, defaultCred} // scripted on both sides, as in many-creds
	mix := Workload{Path: qrListPath, Creds: creds, Conns: l.cfg.Conns,
		PatchPercent: l.cfg.PatchPercent, PatchPath: qrPatchPath, PatchBody: qrPatchBody}
	gets := Workload{Path: qrListPath, Creds: creds, Conns: l.cfg.Conns}
	mixName, getName := fmt.Sprintf("%d%% PATCH", l.cfg.PatchPercent), "GET only"
	before, err := readCounters(ctx, gw.Admin+"/metrics")
	if err != nil {
		return err
	}
	err = l.compare(ctx, sc, []target{
		{name: mixName, srv: gw, work: mix},
		{name: getName, srv: gw, work: gets, wantHits: true},
	}, []check{
		{name: "mix / GET only, rps", a: mixName, b: getName, metric: rps, unit: "x"},
	})
	if err != nil {
		return err
	}
	after, err := readCounters(ctx, gw.Admin+"/metrics")
	if err != nil {
		return err
	}
	d := after.sub(before)
	sc.Facts = map[string]float64{"upstream_requests": d.upstream, "requests": d.requests}
	if d.upstream == 0 {
		sc.problem("no request reached the upstream: the PATCHes purged nothing")
	}
	return nil
}

func (l *lab) rateLimited(ctx context.Context, sc *Scenario) error {
	limited, err := l.startGateway(ctx, "rzpgate-limited", l.fake.URL, "RZPGATE_LIMITS_ENABLED=true",
		"RZPGATE_LIMITS_DEFAULT_RATE=10000000", "RZPGATE_LIMITS_DEFAULT_BURST=10000000")
	if err != nil {
		return err
	}
	unlimited, err := l.startGateway(ctx, "rzpgate-unlimited", l.fake.URL)
	if err != nil {
		return err
	}
	w := l.hits()
	const limName, unName = "tenant under its limit", "limits off"
	return l.compare(ctx, sc, []target{
		{name: limName, srv: limited, work: w, wantHits: true},
		{name: unName, srv: unlimited, work: w, wantHits: true},
	}, []check{
		{name: "limited / off, CPU/req", a: limName, b: unName, metric: cpu, unit: "x", op: "<=", goal: 1.05},
		{name: "limited / off, rps", a: limName, b: unName, metric: rps, unit: "x"},
	})
}
