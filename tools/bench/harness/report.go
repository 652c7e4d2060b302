package harness

import (
	"encoding/json"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"strings"
	"time"
	"unicode/utf8"
)

// Report is everything one run measured; it is written as results.json.
type Report struct {
	Started  time.Time `json:"started"`
	Seconds  float64   `json:"seconds"`
	Loader   string    `json:"loader"` // wrk or go
	Rounds   int       `json:"rounds"`
	Duration string    `json:"duration"` // of each run in a round
	Conns    int       `json:"conns"`
	Nginx    bool      `json:"nginx"` // nginx was installed and compared
	Redis    bool      `json:"redis"` // redis-server was installed
	Quick    bool      `json:"quick"` // a smoke run: the figures mean nothing
	// Cores and the 1-minute load averages at the start and the end say
	// how busy the machine was: other work on it makes the figures noisy.
	Cores     int         `json:"cores"`
	LoadStart float64     `json:"load_avg_start"`
	LoadEnd   float64     `json:"load_avg_end"`
	Scenarios []*Scenario `json:"scenarios"`
}

// Scenario is one row of issue 11's table, or one of its extra scenarios.
type Scenario struct {
	Name    string          `json:"name"`
	Title   string          `json:"title"`
	Targets []*TargetResult `json:"targets"`
	Checks  []*Check        `json:"checks"`
	// Facts are other figures the scenario measured, e.g. upstream
	// requests.
	Facts map[string]float64 `json:"facts,omitempty"`
	// Problems make the scenario invalid: errors, non-2xx answers, misses
	// in a hit scenario, store errors.
	Problems []string `json:"problems,omitempty"`
	// Notes say what was skipped and why.
	Notes []string `json:"notes,omitempty"`
	Valid bool     `json:"valid"`
}

// TargetResult is one target's measures, one per round, and their medians.
type TargetResult struct {
	Name   string    `json:"name"`
	Rounds []Measure `json:"rounds"`
	Median Measure   `json:"median"` // each field's median; Requests is the total
}

// Measure is one run of one target.
type Measure struct {
	Requests int64   `json:"requests"`
	Seconds  float64 `json:"seconds"`
	RPS      float64 `json:"rps"`
	P50us    float64 `json:"p50_us"`
	P99us    float64 `json:"p99_us"`
	CPUus    float64 `json:"cpu_us_per_request"` // user+system CPU of the process under test
	RSSMiB   float64 `json:"rss_mib,omitempty"`  // after the run
	Non2xx   int64   `json:"non_2xx"`
	Errors   int64   `json:"errors"`
	// HitShare is the share of the gateway's requests served from its
	// cache during the run; nil for other servers.
	HitShare *float64 `json:"hit_share,omitempty"`
}

// Check is one target of the issue: the median of a per-round ratio (or
// difference, or a single measurement), its spread, and the verdict.
type Check struct {
	Name   string  `json:"name"`
	Value  float64 `json:"value"`
	Min    float64 `json:"min"`
	Max    float64 `json:"max"`
	Unit   string  `json:"unit"`           // x (a ratio), us, MiB, %, count, /s
	Op     string  `json:"op,omitempty"`   // >=, <=, <, ==; empty: information only
	Goal   float64 `json:"goal,omitempty"` // the target
	Status string  `json:"status"`         // see the status constants
	Note   string  `json:"note,omitempty"`

	perRound []float64
}

// Check statuses.
const (
	statusPass    = "pass"
	statusFail    = "fail"
	statusInfo    = "info"    // no target: shown for context
	statusSkipped = "skipped" // a target was missing (nginx not installed)
	statusInvalid = "invalid" // the scenario had errors: its figures are not a measurement
)

// problem records why sc is invalid.
func (sc *Scenario) problem(format string, args ...any) {
	sc.Problems = append(sc.Problems, fmt.Sprintf(format, args...))
}

// settle computes the medians and the verdicts once the runs are done.
func (sc *Scenario) settle() {
	sc.Valid = len(sc.Problems) == 0
	if sc.Targets == nil {
		sc.Targets = []*TargetResult{}
	}
	if sc.Checks == nil {
		sc.Checks = []*Check{}
	}
	for _, t := range sc.Targets {
		t.Median = medianMeasure(t.Rounds)
	}
	for _, c := range sc.Checks {
		if len(c.perRound) > 0 {
			c.Value = median(c.perRound)
			c.Min, c.Max = spread(c.perRound)
		}
		switch {
		case c.Status == statusSkipped:
		case math.IsNaN(c.Value) || (len(c.perRound) == 0 && c.Status == ""):
			c.Status = statusSkipped
			if c.Note == "" {
				c.Note = "nothing to compare"
			}
		case !sc.Valid:
			c.Status = statusInvalid
		case c.Op == "":
			c.Status = statusInfo
		case c.holds():
			c.Status = statusPass
		default:
			c.Status = statusFail
		}
		for _, p := range []*float64{&c.Value, &c.Min, &c.Max} {
			if math.IsNaN(*p) || math.IsInf(*p, 0) {
				*p = 0 // JSON has no NaN
			}
		}
	}
}

// holds reports whether c's value meets its goal.
func (c *Check) holds() bool {
	switch c.Op {
	case ">=":
		return c.Value >= c.Goal
	case "<=":
		return c.Value <= c.Goal
	case "<":
		return c.Value < c.Goal
	case "==":
		return c.Value == c.Goal
	}
	return false
}

// single returns a Check of one measurement (no rounds).
func single(name string, value float64, unit, op string, goal float64) *Check {
	return &Check{Name: name, Unit: unit, Op: op, Goal: goal, perRound: []float64{value}}
}

// medianMeasure returns each field's median over rounds, and the total
// requests.
func medianMeasure(rounds []Measure) Measure {
	if len(rounds) == 0 {
		return Measure{}
	}
	field := func(f func(Measure) float64) float64 {
		xs := make([]float64, len(rounds))
		for i, m := range rounds {
			xs[i] = f(m)
		}
		return median(xs)
	}
	m := Measure{
		Seconds: field(func(m Measure) float64 { return m.Seconds }),
		RPS:     field(rps),
		P50us:   field(p50),
		P99us:   field(p99),
		CPUus:   field(cpu),
		RSSMiB:  field(func(m Measure) float64 { return m.RSSMiB }),
	}
	var shares []float64
	for _, r := range rounds {
		m.Requests += r.Requests
		m.Non2xx += r.Non2xx
		m.Errors += r.Errors
		if r.HitShare != nil {
			shares = append(shares, *r.HitShare)
		}
	}
	if len(shares) > 0 {
		s := median(shares)
		m.HitShare = &s
	}
	return m
}

// WriteTable prints one table of every scenario: each target's medians,
// then each check with its spread, target and verdict; notes and problems
// follow their scenario.
func (r *Report) WriteTable(w io.Writer) {
	fmt.Fprintf(w, "rzpbench: %d round(s) of %s per target, load by %s, %d connections; nginx %s; took %s\n",
		r.Rounds, r.Duration, r.Loader, r.Conns, yesNo(r.Nginx, "compared", "NOT compared (not installed, or -no-nginx)"),
		(time.Duration(r.Seconds * float64(time.Second))).Round(time.Second))
	fmt.Fprintf(w, "machine: %d cores, 1-minute load average %.2f at the start and %.2f at the end", r.Cores, r.LoadStart, r.LoadEnd)
	if max(r.LoadStart, r.LoadEnd) > float64(r.Cores)/2 {
		fmt.Fprint(w, " (other work was running: expect a wide spread)")
	}
	fmt.Fprintln(w)
	if r.Quick {
		fmt.Fprintln(w, "quick mode: tiny sizes and durations, the figures below mean nothing")
	}
	t := &table{}
	t.row("scenario", "target", "rps", "p50", "p99", "CPU/req", "ratio", "target", "result")
	for _, sc := range r.Scenarios {
		name := sc.Name
		for _, tr := range sc.Targets {
			m := tr.Median
			t.row(name, tr.Name, fmt.Sprintf("%.0f", m.RPS), fmtUS(m.P50us), fmtUS(m.P99us), fmtUS(m.CPUus), "", "", "")
			name = ""
		}
		for _, c := range sc.Checks {
			val, goal := "-", "-"
			if c.Status != statusSkipped {
				val = c.format(c.Value)
				if c.Min != c.Max {
					val += " [" + c.format(c.Min) + ".." + c.format(c.Max) + "]"
				}
			}
			if c.Op != "" {
				goal = c.Op + " " + c.format(c.Goal)
			}
			result := strings.ToUpper(c.Status)
			if c.Note != "" {
				result += " (" + c.Note + ")"
			}
			t.row(name, "  "+c.Name, "", "", "", "", val, goal, result)
			name = ""
		}
		for _, n := range sc.Notes {
			t.line("    note: " + n)
		}
		for _, p := range sc.Problems {
			t.line("    INVALID: " + p)
		}
	}
	t.write(w)
}

// table lays out rows of cells, names left-aligned and figures
// right-aligned, with free lines between them that take no column width.
type table struct {
	rows [][]string // a row of one cell starting with NUL is a free line
}

func (t *table) row(cells ...string) { t.rows = append(t.rows, cells) }
func (t *table) line(s string)       { t.rows = append(t.rows, []string{"\x00" + s}) }

func (t *table) write(w io.Writer) {
	var width []int
	for _, r := range t.rows {
		if len(r) == 1 && strings.HasPrefix(r[0], "\x00") {
			continue
		}
		for i, c := range r {
			if i >= len(width) {
				width = append(width, 0)
			}
			width[i] = max(width[i], utf8.RuneCountInString(c))
		}
	}
	for _, r := range t.rows {
		if len(r) == 1 && strings.HasPrefix(r[0], "\x00") {
			fmt.Fprintln(w, r[0][1:])
			continue
		}
		var b strings.Builder
		for i, c := range r {
			pad := strings.Repeat(" ", width[i]-utf8.RuneCountInString(c))
			if i < 2 || i == len(r)-1 { // names and the verdict left, figures right
				b.WriteString(c + pad)
			} else {
				b.WriteString(pad + c)
			}
			b.WriteString("  ")
		}
		fmt.Fprintln(w, strings.TrimRight(b.String(), " "))
	}
}

// format writes v in c's unit.
func (c *Check) format(v float64) string {
	switch c.Unit {
	case "x":
		return fmt.Sprintf("%.2fx", v)
	case "us":
		return fmt.Sprintf("%+.0fµs", v)
	case "MiB":
		return fmt.Sprintf("%.0f MiB", v)
	case "%":
		return fmt.Sprintf("%.2f%%", v)
	case "/s":
		return fmt.Sprintf("%.0f/s", v)
	default:
		return fmt.Sprintf("%.0f", v)
	}
}

// fmtUS writes a duration given in microseconds.
func fmtUS(us float64) string {
	switch {
	case us == 0:
		return "-"
	case us >= 1000:
		return fmt.Sprintf("%.2fms", us/1000)
	case us >= 10:
		return fmt.Sprintf("%.0fµs", us)
	default:
		return fmt.Sprintf("%.1fµs", us)
	}
}

func yesNo(b bool, yes, no string) string {
	if b {
		return yes
	}
	return no
}

// Save writes results.json and results.png to dir.
func (r *Report) Save(dir string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("creating %s: %w", dir, err)
	}
	b, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return fmt.Errorf("encoding results: %w", err)
	}
	if err := os.WriteFile(filepath.Join(dir, "results.json"), append(b, '\n'), 0o644); err != nil {
		return fmt.Errorf("writing results: %w", err)
	}
	if err := r.Chart(filepath.Join(dir, "results.png")); err != nil {
		return fmt.Errorf("drawing the chart: %w", err)
	}
	return nil
}
