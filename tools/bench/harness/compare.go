package harness

import (
	"context"
	"fmt"
	"math"
	"time"
)

// target is one side of a comparison: a workload sent to a server whose
// CPU is measured.
type target struct {
	name string
	srv  *server
	work Workload
	// wantHits makes a run invalid unless nearly every request was a
	// cache hit (read from the gateway's metrics).
	wantHits bool
}

// check compares two targets of a comparison round by round.
type check struct {
	name   string
	a, b   string // target names: the value is metric(a) / metric(b), or a - b when delta
	metric func(Measure) float64
	delta  bool
	unit   string
	op     string  // ">=", "<=", "<" or "" for information only
	goal   float64 // the target value
}

// Metrics of a Measure that checks compare.
func rps(m Measure) float64 { return m.RPS }
func p50(m Measure) float64 { return m.P50us }
func p99(m Measure) float64 { return m.P99us }
func cpu(m Measure) float64 { return m.CPUus }

// minHitShare is the share of hits below which a hit scenario's run is
// invalid: it measured something else.
const minHitShare = 0.99

// compare runs the targets of sc in cfg.Rounds interleaved rounds, rotating
// their order each round, then computes the checks round by round. A check
// naming a target that is not there (nginx not installed) is skipped.
func (l *lab) compare(ctx context.Context, sc *Scenario, targets []target, checks []check) error {
	for _, t := range targets {
		if _, err := l.fill.Run(ctx, t.srv.URL, l.sequential(t.work), l.cfg.Warmup); err != nil {
			return fmt.Errorf("warming up %s: %w", t.name, err)
		}
	}
	results := make([]*TargetResult, len(targets))
	for i, t := range targets {
		results[i] = &TargetResult{Name: t.name}
	}
	for r := range l.cfg.Rounds {
		for _, i := range rotate(len(targets), r) {
			m, err := l.measure(ctx, sc, targets[i], r)
			if err != nil {
				return err
			}
			results[i].Rounds = append(results[i].Rounds, m)
		}
	}
	sc.Targets = append(sc.Targets, results...)
	for _, c := range checks {
		sc.Checks = append(sc.Checks, c.evaluate(results))
	}
	return nil
}

// sequential returns w with fresh keys when its keys must never repeat.
func (l *lab) sequential(w Workload) Workload {
	if w.Sequential {
		w.First = l.nextKeys()
	}
	return w
}

// evaluate computes c for each round the two targets share.
func (c check) evaluate(results []*TargetResult) *Check {
	out := &Check{Name: c.name, Unit: c.unit, Op: c.op, Goal: c.goal}
	var a, b *TargetResult
	for _, r := range results {
		switch r.Name {
		case c.a:
			a = r
		case c.b:
			b = r
		}
	}
	if a == nil || b == nil {
		out.Status = statusSkipped
		out.Note = "no " + c.a
		if b == nil {
			out.Note = "no " + c.b
		}
		return out
	}
	for i := range min(len(a.Rounds), len(b.Rounds)) {
		x, y := c.metric(a.Rounds[i]), c.metric(b.Rounds[i])
		v := ratio(x, y)
		if c.delta {
			v = x - y
		}
		out.perRound = append(out.perRound, v)
	}
	return out
}

// measure runs t once and reads what it cost its server.
func (l *lab) measure(ctx context.Context, sc *Scenario, t target, round int) (Measure, error) {
	var before counters
	if t.srv.Admin != "" {
		var err error
		if before, err = readCounters(ctx, t.srv.Admin+"/metrics"); err != nil {
			return Measure{}, err
		}
	}
	cpu0, err := t.srv.CPU()
	if err != nil {
		return Measure{}, fmt.Errorf("%s: %w", t.name, err)
	}
	res, err := l.load.Run(ctx, t.srv.URL, l.sequential(t.work), l.cfg.Duration)
	if err != nil {
		return Measure{}, fmt.Errorf("%s: %w", t.name, err)
	}
	cpu1, err := t.srv.CPU()
	if err != nil {
		return Measure{}, fmt.Errorf("%s: %w", t.name, err)
	}
	m := measureOf(res, cpu1-cpu0)
	if rss, err := t.srv.RSS(); err == nil {
		m.RSSMiB = float64(rss) / (1 << 20)
	}
	if res.Requests == 0 {
		sc.problem("%s, round %d: no request completed", t.name, round+1)
	}
	if res.Non2xx > 0 || res.Errors > 0 {
		sc.problem("%s, round %d: %d responses of 400 or more and %d connection errors or timeouts in %d requests",
			t.name, round+1, res.Non2xx, res.Errors, res.Requests)
	}
	if t.srv.Admin != "" {
		after, err := readCounters(ctx, t.srv.Admin+"/metrics")
		if err != nil {
			return Measure{}, err
		}
		d := after.sub(before)
		if d.requests > 0 {
			share := d.hits / d.requests
			m.HitShare = &share
			if t.wantHits && share < minHitShare {
				sc.problem("%s, round %d: only %.1f%% of requests were cache hits", t.name, round+1, 100*share)
			}
		}
		if d.storeErrors > 0 {
			sc.problem("%s, round %d: %.0f cache store errors", t.name, round+1, d.storeErrors)
		}
	}
	return m, nil
}

// measureOf turns a load result and the CPU its server used into a
// Measure.
func measureOf(res Result, cpu time.Duration) Measure {
	m := Measure{
		Requests: res.Requests,
		Seconds:  res.Elapsed.Seconds(),
		RPS:      res.RPS,
		P50us:    float64(res.P50) / float64(time.Microsecond),
		P99us:    float64(res.P99) / float64(time.Microsecond),
		Non2xx:   res.Non2xx,
		Errors:   res.Errors,
	}
	if res.Requests > 0 {
		m.CPUus = float64(cpu) / float64(time.Microsecond) / float64(res.Requests)
	}
	if math.IsNaN(m.RPS) || math.IsInf(m.RPS, 0) {
		m.RPS = 0
	}
	return m
}
