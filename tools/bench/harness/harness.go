// Package harness measures rzpgate against nginx proxy_cache and a bare
// net/http server on loopback, scenario by scenario (issue 11), and reports
// each ratio against its target.
package harness

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Config says what to run and how long. DefaultConfig finishes in a few
// minutes on two shared cores; QuickConfig in seconds, for tests.
type Config struct {
	// Rzpgate and Fake are the gateway's and the fake Razorpay's binaries.
	Rzpgate, Fake string
	// Out is the folder the results JSON and the PNG chart are written to;
	// empty writes none.
	Out string
	// Rounds of each comparison; in each, every target runs once for
	// Duration, in an order rotated by one each round.
	Rounds   int
	Duration time.Duration
	// Warmup runs each target of a comparison once before the rounds.
	Warmup time.Duration
	// Conns is the number of keep-alive connections of the hit scenarios.
	Conns int
	// Entries is the large cache of the fill and hit-1m scenarios (1M);
	// SmallEntries the small one it is compared with (1k).
	Entries, SmallEntries int
	// RSSEntries is the cache whose resident size is checked (100k).
	RSSEntries int
	// FillConns is the connections the fills use.
	FillConns int
	// Idle is how long, at least, the idle CPU of a full gateway is
	// measured; outside quick runs the window is stretched until it holds
	// the collection the runtime forces after two minutes without one, as
	// every few minutes of a real idle gateway do.
	Idle time.Duration
	// ColdClients send one request each, at once, for one cold key whose
	// upstream answer takes ColdLatency.
	ColdClients int
	ColdLatency time.Duration
	// Creds is the number of credentials of the many-creds scenario.
	Creds int
	// PatchPercent of the patch-mix scenario's requests are PATCHes.
	PatchPercent int
	// Only names the scenarios to run; empty runs all.
	Only []string
	// Loader is "wrk", "go" or "" (wrk when installed).
	Loader string
	// NoNginx skips nginx even when installed.
	NoNginx bool
	// CI makes a missing wrk or redis-server an error instead of a
	// fallback or a skip. A missing nginx is never an error.
	CI bool
	// Keep leaves the temp folder (every process's log, the gateways'
	// JSON logs included, wrk scripts, nginx's configuration) in place for
	// diagnosis. Without it the gateways' stdout is discarded.
	Keep bool
	// Quick marks a smoke run of tiny sizes (QuickConfig): the report says
	// its figures mean nothing.
	Quick bool
	// Log receives progress lines; nil discards them.
	Log io.Writer
}

// DefaultConfig returns the full run.
func DefaultConfig() Config {
	return Config{
		Rounds: 3, Duration: 2 * time.Second, Warmup: 500 * time.Millisecond, Conns: 64,
		Entries: 1_000_000, SmallEntries: 1000, RSSEntries: 100_000, FillConns: 32,
		Idle: time.Minute, ColdClients: 1000, ColdLatency: 100 * time.Millisecond,
		Creds: 1000, PatchPercent: 5,
	}
}

// QuickConfig returns a run of tiny sizes and durations that exercises
// every scenario end to end; its ratios mean nothing.
func QuickConfig() Config {
	c := DefaultConfig()
	c.Rounds, c.Duration, c.Warmup = 1, time.Second, 200*time.Millisecond
	c.Entries, c.SmallEntries, c.RSSEntries = 4000, 100, 2000
	c.Idle = time.Second
	c.Creds = 50
	c.Quick = true
	return c
}

// scenarioNames lists every scenario in the order they run.
var scenarioNames = []string{
	"hit-memory", "hit-long-query", "hit-redis", "miss", "many-creds", "patch-mix", "rate-limited",
	"cold-key", "rss-100k", "fill", "hit-1m", "idle-1m",
}

// lab holds what one run has started and found.
type lab struct {
	cfg     Config
	dir     string     // world-readable temp folder for logs, scripts and nginx
	procs   []*Process // started and not yet stopped
	load    loader     // drives the comparisons
	fill    loader     // drives fills and warm-ups: the Go generator, which stops after a count
	nginx   string     // nginx's path, empty when missing or disabled
	redis   string     // redis-server's path, empty when missing
	fake    *server    // the upstream without delay shared by most scenarios
	keyBase int        // the next unused key number of sequential workloads
}

// Run runs the configured scenarios, prints the table to stdout, and
// writes results.json and results.png to cfg.Out.
func Run(ctx context.Context, cfg Config, stdout io.Writer) (*Report, error) {
	if cfg.Log == nil {
		cfg.Log = io.Discard
	}
	for _, name := range cfg.Only {
		if !slices.Contains(scenarioNames, name) {
			return nil, fmt.Errorf("unknown scenario %q (have %s)", name, strings.Join(scenarioNames, ", "))
		}
	}
	began := time.Now()
	l, err := newLab(cfg)
	if err != nil {
		return nil, err
	}
	defer l.close()
	rep := &Report{
		Started: began, Loader: l.load.Name(), Rounds: cfg.Rounds, Duration: cfg.Duration.String(),
		Conns: cfg.Conns, Nginx: l.nginx != "", Redis: l.redis != "", Quick: cfg.Quick,
		Cores: runtime.NumCPU(), LoadStart: loadAverage(),
	}
	if l.fake, err = l.startFake(ctx, "fake", 0); err != nil {
		return nil, err
	}
	for _, s := range l.scenarios() {
		if len(cfg.Only) > 0 && !slices.ContainsFunc(s.names, func(n string) bool { return slices.Contains(cfg.Only, n) }) {
			continue
		}
		fmt.Fprintf(cfg.Log, "%s: %s\n", time.Now().Format("15:04:05"), strings.Join(s.names, ", "))
		results, err := s.run(ctx)
		if err != nil {
			return nil, fmt.Errorf("scenario %s: %w", strings.Join(s.names, ", "), err)
		}
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		for _, r := range results {
			if len(cfg.Only) == 0 || slices.Contains(cfg.Only, r.Name) {
				r.settle()
				rep.Scenarios = append(rep.Scenarios, r)
			}
		}
		l.stopAllBut(l.fake.Process)
	}
	rep.Seconds = time.Since(began).Seconds()
	rep.LoadEnd = loadAverage()
	rep.WriteTable(stdout)
	if cfg.Out != "" {
		if err := rep.Save(cfg.Out); err != nil {
			return rep, err
		}
		fmt.Fprintf(stdout, "\nwrote %s and %s\n", filepath.Join(cfg.Out, "results.json"), filepath.Join(cfg.Out, "results.png"))
	}
	return rep, nil
}

// newLab finds the tools and makes the temp folder.
func newLab(cfg Config) (*lab, error) {
	for _, bin := range []string{cfg.Rzpgate, cfg.Fake} {
		if _, err := os.Stat(bin); err != nil {
			return nil, fmt.Errorf("binary under test: %w (make bench builds bin/rzpgate and bin/fakerazorpay)", err)
		}
	}
	dir, err := os.MkdirTemp("", "rzpbench-")
	if err != nil {
		return nil, err
	}
	// nginx's workers run as nobody when started by root: they must reach
	// the folder.
	if err := os.Chmod(dir, 0o755); err != nil {
		return nil, err
	}
	l := &lab{cfg: cfg, dir: dir, fill: goLoader{}}
	wrk, wrkErr := exec.LookPath("wrk")
	switch {
	case cfg.Loader == "go":
		l.load = goLoader{}
	case wrkErr == nil:
		l.load = &wrkLoader{bin: wrk, dir: dir}
	case cfg.Loader == "wrk" || cfg.CI:
		os.RemoveAll(dir)
		return nil, errors.New("wrk is not installed (make wrk installs Debian's package)")
	default:
		fmt.Fprintln(cfg.Log, "wrk not installed: using the Go load generator")
		l.load = goLoader{}
	}
	if p, err := exec.LookPath("nginx"); err == nil && !cfg.NoNginx {
		l.nginx = p
	}
	if p, err := exec.LookPath("redis-server"); err == nil {
		l.redis = p
	} else if cfg.CI {
		os.RemoveAll(dir)
		return nil, errors.New("redis-server is not installed (make redis-server installs Debian's package)")
	}
	return l, nil
}

// spawn starts a process that close will stop.
func (l *lab) spawn(s spec) (*Process, error) {
	s.dir = l.dir
	s.quiet = s.quiet && !l.cfg.Keep
	p, err := start(s)
	if err != nil {
		return nil, err
	}
	l.procs = append(l.procs, p)
	return p, nil
}

// stopAllBut stops every process but keep, all at once.
func (l *lab) stopAllBut(keep *Process) {
	var kept []*Process
	var wg sync.WaitGroup
	for _, p := range l.procs {
		if p == keep {
			kept = append(kept, p)
			continue
		}
		wg.Go(p.Stop)
	}
	wg.Wait()
	l.procs = kept
}

// close stops every process and removes the temp folder unless it is
// kept.
func (l *lab) close() {
	l.stopAllBut(nil)
	if l.cfg.Keep {
		fmt.Fprintf(l.cfg.Log, "logs kept in %s\n", l.dir)
		return
	}
	os.RemoveAll(l.dir)
}

// nextKeys returns the first key number of a sequential run and reserves
// enough after it that no two runs share a key.
func (l *lab) nextKeys() int {
	k := l.keyBase
	l.keyBase += 1 << 26
	return k + 1<<30 // above every fill's keys
}

// loadAverage returns the machine's 1-minute load average, or 0 when it
// cannot be read.
func loadAverage() float64 {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return 0
	}
	f := strings.Fields(string(b))
	if len(f) == 0 {
		return 0
	}
	v, _ := strconv.ParseFloat(f[0], 64)
	return v
}
