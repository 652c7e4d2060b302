package harness

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"
)

// fillTimeout bounds any one fill, whatever its size.
const fillTimeout = 15 * time.Minute

// fillKeys stores entries for keys [from, to) of the payment through gw,
// and returns the run as a Measure. Fill failures and entries not stored
// are problems of sc.
func (l *lab) fillKeys(ctx context.Context, sc *Scenario, gw *server, from, to int) (Measure, error) {
	before, err := readCounters(ctx, gw.Admin+"/metrics")
	if err != nil {
		return Measure{}, err
	}
	cpu0, err := gw.CPU()
	if err != nil {
		return Measure{}, err
	}
	w := Workload{Path: paymentPath, KeyParam: "k", Sequential: true, First: from, Conns: l.cfg.FillConns, MaxRequests: int64(to - from)}
	res, err := l.fill.Run(ctx, gw.URL, w, fillTimeout)
	if err != nil {
		return Measure{}, fmt.Errorf("filling keys %d to %d: %w", from, to, err)
	}
	cpu1, err := gw.CPU()
	if err != nil {
		return Measure{}, err
	}
	after, err := readCounters(ctx, gw.Admin+"/metrics")
	if err != nil {
		return Measure{}, err
	}
	if res.Requests != int64(to-from) || res.Non2xx > 0 || res.Errors > 0 {
		sc.problem("filling keys %d to %d: %d answered, %d non-2xx, %d errors", from, to, res.Requests, res.Non2xx, res.Errors)
	}
	if stored := after.sub(before).stored; stored != float64(to-from) {
		sc.problem("filling keys %d to %d: %.0f stored", from, to, stored)
	}
	m := measureOf(res, cpu1-cpu0)
	if rss, err := gw.RSS(); err == nil {
		m.RSSMiB = float64(rss) / (1 << 20)
	}
	return m, nil
}

func (l *lab) rss(ctx context.Context, sc *Scenario) error {
	gw, err := l.startGateway(ctx, "rzpgate-default-bounds", l.fake.URL)
	if err != nil {
		return err
	}
	n := l.cfg.RSSEntries
	m, err := l.fillKeys(ctx, sc, gw, 0, n)
	if err != nil {
		return err
	}
	sc.Targets = append(sc.Targets, &TargetResult{Name: "fill " + count(n), Rounds: []Measure{m}})
	time.Sleep(time.Second) // let the last fills' garbage be collected
	rss, err := gw.RSS()
	if err != nil {
		return err
	}
	sc.Checks = append(sc.Checks, single("RSS", float64(rss)/(1<<20), "MiB", "<=", 150))
	return nil
}

// million fills one gateway to cfg.Entries entries, measuring the fill
// rate on the way (fill), compares its hits on random keys with a gateway
// holding cfg.SmallEntries (hit-1m), then measures its CPU at rest
// (idle-1m).
func (l *lab) million(ctx context.Context) ([]*Scenario, error) {
	big, small := count(l.cfg.Entries), count(l.cfg.SmallEntries)
	fill := &Scenario{Name: "fill", Title: fmt.Sprintf("fill rate from %s to %s entries", count(max(1, l.cfg.Entries/1000)), big)}
	hits := &Scenario{Name: "hit-1m", Title: fmt.Sprintf("cache hits on random keys, %s entries against %s", big, small)}
	idle := &Scenario{Name: "idle-1m", Title: fmt.Sprintf("idle CPU of a gateway holding %s entries", big)}
	out := []*Scenario{fill, hits, idle}

	// The bound leaves room for every entry: the issue measures a full
	// cache, not eviction.
	maxBytes := max(256, l.cfg.Entries*4096>>20)
	bigGW, err := l.startGateway(ctx, "rzpgate-"+big, l.fake.URL, fmt.Sprintf("RZPGATE_CACHE_MAX_BYTES=%dMiB", maxBytes))
	if err != nil {
		return out, err
	}
	smallGW, err := l.startGateway(ctx, "rzpgate-"+small, l.fake.URL)
	if err != nil {
		return out, err
	}
	if _, err := l.fillKeys(ctx, hits, smallGW, 0, l.cfg.SmallEntries); err != nil {
		return out, err
	}

	// The rate at each mark is that of the fill's last half before it:
	// from 500 to 1k entries, 5k to 10k, and so on.
	var rates []float64
	from := 0
	for _, mark := range fillMarks(l.cfg.Entries) {
		if half := mark / 2; half > from {
			if _, err := l.fillKeys(ctx, fill, bigGW, from, half); err != nil {
				return out, err
			}
			from = half
		}
		m, err := l.fillKeys(ctx, fill, bigGW, from, mark)
		if err != nil {
			return out, err
		}
		from = mark
		fill.Targets = append(fill.Targets, &TargetResult{Name: "filling to " + count(mark), Rounds: []Measure{m}})
		rates = append(rates, m.RPS)
		fmt.Fprintf(l.cfg.Log, "  %s entries: %.0f fills/s\n", count(mark), m.RPS)
	}
	if len(rates) > 0 {
		fill.Checks = append(fill.Checks,
			single(fmt.Sprintf("rate at %s / at %s", big, count(fillMarks(l.cfg.Entries)[0])), ratio(rates[len(rates)-1], rates[0]), "x", ">=", 0.90),
			single("slowest / fastest rate", ratio(slices.Min(rates), slices.Max(rates)), "x", ">=", 0.90))
	}

	const bigName, smallName = "large cache", "small cache"
	err = l.compare(ctx, hits, []target{
		{name: bigName, srv: bigGW, work: Workload{Path: paymentPath, KeyParam: "k", Keys: l.cfg.Entries, Conns: l.cfg.Conns}, wantHits: true},
		{name: smallName, srv: smallGW, work: Workload{Path: paymentPath, KeyParam: "k", Keys: l.cfg.SmallEntries, Conns: l.cfg.Conns}, wantHits: true},
	}, []check{
		{name: big + " / " + small + ", rps", a: bigName, b: smallName, metric: rps, unit: "x", op: ">=", goal: 0.95},
		{name: big + " / " + small + ", CPU/req", a: bigName, b: smallName, metric: cpu, unit: "x"},
	})
	if err != nil {
		return out, err
	}

	// At rest: after a pause for the last run's connections to close and
	// its garbage to be collected, the CPU over cfg.Idle, stretched until
	// the window holds a collection (at most maxForcedGC). An idle process
	// collects only when the runtime forces it, two minutes after the last
	// collection or up to a minute later (its monitor sleeps that long when
	// nothing runs), and a collection over a million entries costs more
	// than everything else an idle gateway does, so a window without one
	// would flatter it.
	time.Sleep(min(2*time.Second, l.cfg.Idle))
	before, err := readCounters(ctx, bigGW.Admin+"/metrics")
	if err != nil {
		return out, err
	}
	cpu0, err := bigGW.CPU()
	if err != nil {
		return out, err
	}
	began := time.Now()
	wait := l.cfg.Idle
	for {
		select {
		case <-time.After(wait):
		case <-ctx.Done():
			return out, ctx.Err()
		}
		after, err := readCounters(ctx, bigGW.Admin+"/metrics")
		if err != nil {
			return out, err
		}
		if after.sub(before).collections > 0 || l.cfg.Quick || time.Since(began) >= max(l.cfg.Idle, maxForcedGC) {
			if after.sub(before).collections == 0 && !l.cfg.Quick {
				idle.problem("no collection within %v: the window may flatter the idle CPU", time.Since(began).Round(time.Second))
			}
			break
		}
		wait = 5 * time.Second
	}
	cpu1, err := bigGW.CPU()
	if err != nil {
		return out, err
	}
	window := time.Since(began)
	share := 100 * float64(cpu1-cpu0) / float64(window)
	idle.Notes = append(idle.Notes, fmt.Sprintf("measured over %v", window.Round(time.Second)))
	idle.Checks = append(idle.Checks, single("CPU at rest, share of a core", share, "%", "<", 1))
	if rss, err := bigGW.RSS(); err == nil {
		idle.Checks = append(idle.Checks, single("RSS holding "+big, float64(rss)/(1<<20), "MiB", "", 0))
	}
	return out, nil
}

// maxForcedGC bounds how long an idle process goes without a collection:
// two minutes, and up to a minute more for the runtime's monitor, which
// sleeps that long when nothing runs, and some slack.
const maxForcedGC = 200 * time.Second

// fillMarks are the sizes at which the fill rate is reported: 1k, 10k,
// 100k and 1M for a million entries.
func fillMarks(entries int) []int {
	var marks []int
	for _, d := range []int{1000, 100, 10, 1} {
		if m := entries / d; m >= 2 && !slices.Contains(marks, m) {
			marks = append(marks, m)
		}
	}
	return marks
}

func (l *lab) coldKey(ctx context.Context, sc *Scenario) error {
	slow, err := l.startFake(ctx, "fake-slow", l.cfg.ColdLatency)
	if err != nil {
		return err
	}
	gw, err := l.startGateway(ctx, "rzpgate", slow.URL)
	if err != nil {
		return err
	}
	before, err := readCounters(ctx, gw.Admin+"/metrics")
	if err != nil {
		return err
	}
	cpu0, err := gw.CPU()
	if err != nil {
		return err
	}
	res, err := stampede(ctx, gw.URL, paymentPath+"&k=cold", l.cfg.ColdClients)
	if err != nil {
		return err
	}
	cpu1, err := gw.CPU()
	if err != nil {
		return err
	}
	after, err := readCounters(ctx, gw.Admin+"/metrics")
	if err != nil {
		return err
	}
	if res.Requests != int64(l.cfg.ColdClients) || res.Non2xx > 0 || res.Errors > 0 {
		sc.problem("%d of %d clients answered, %d non-2xx, %d errors", res.Requests, l.cfg.ColdClients, res.Non2xx, res.Errors)
	}
	upstream := after.sub(before).upstream
	sc.Targets = append(sc.Targets, &TargetResult{Name: fmt.Sprintf("%d clients", l.cfg.ColdClients), Rounds: []Measure{measureOf(res, cpu1-cpu0)}})
	sc.Checks = append(sc.Checks, single("upstream requests", upstream, "count", "==", 1))
	sc.Facts = map[string]float64{"upstream_requests": upstream}
	return nil
}

// stampede opens n connections to base, then sends one GET of path on
// each at once and reads the answers. Latencies count from the release.
func stampede(ctx context.Context, base, path string, n int) (Result, error) {
	host := strings.TrimPrefix(base, "http://")
	ctx, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	conns := make([]net.Conn, 0, n)
	defer func() {
		for _, c := range conns {
			c.Close()
		}
	}()
	var d net.Dialer
	for range n {
		c, err := d.DialContext(ctx, "tcp", host)
		if err != nil {
			return Result{}, fmt.Errorf("opening connection %d of %d: %w", len(conns)+1, n, err)
		}
		conns = append(conns, c)
	}
	req := fmt.Appendf(nil, "GET %s HTTP/1.1\r\nHost: %s\r\nAuthorization: %s\r\n\r\n", path, host, basicAuth(defaultCred))
	deadline, _ := ctx.Deadline()
	var (
		wg      sync.WaitGroup
		mu      sync.Mutex // guards lat and res
		lat     []time.Duration
		res     Result
		release = make(chan struct{})
	)
	for _, c := range conns {
		wg.Go(func() {
			c.SetDeadline(deadline)
			<-release
			t0 := time.Now()
			status, _, err := roundTrip(ctx, c, bufio.NewReader(c), req)
			d := time.Since(t0)
			mu.Lock()
			defer mu.Unlock()
			switch {
			case err != nil:
				res.Errors++
			case status != http.StatusOK:
				res.Non2xx++
				res.Requests++
			default:
				res.Requests++
				lat = append(lat, d)
			}
		})
	}
	began := time.Now()
	close(release)
	wg.Wait()
	res.Elapsed = time.Since(began)
	res.RPS = float64(res.Requests) / res.Elapsed.Seconds()
	slices.Sort(lat)
	res.P50, res.P99 = percentile(lat, 50), percentile(lat, 99)
	return res, nil
}
