package harness

import (
	"math"
	"reflect"
	"testing"
	"time"
)

func TestMedian(t *testing.T) {
	tests := []struct {
		desc string
		in   []float64
		want float64
	}{
		{"one", []float64{3}, 3},
		{"odd", []float64{5, 1, 3}, 3},
		{"even", []float64{4, 1, 3, 2}, 2.5},
		{"repeated", []float64{1, 1, 9}, 1},
	}
	for _, tt := range tests {
		t.Run(tt.desc, func(t *testing.T) {
			in := append([]float64(nil), tt.in...)
			if got := median(in); got != tt.want {
				t.Errorf("median(%v) = %v, want %v", tt.in, got, tt.want)
			}
			if !reflect.DeepEqual(in, tt.in) {
				t.Errorf("median reordered its input: %v", in)
			}
		})
	}
	if got := median(nil); !math.IsNaN(got) {
		t.Errorf("median(nil) = %v, want NaN", got)
	}
}

func TestSpread(t *testing.T) {
	if lo, hi := spread([]float64{0.9, 0.8, 1.1}); lo != 0.8 || hi != 1.1 {
		t.Errorf("spread = %v..%v, want 0.8..1.1", lo, hi)
	}
	if lo, hi := spread(nil); !math.IsNaN(lo) || !math.IsNaN(hi) {
		t.Errorf("spread(nil) = %v..%v, want NaN", lo, hi)
	}
}

func TestRatio(t *testing.T) {
	tests := []struct {
		a, b, want float64 // want NaN: no ratio
	}{
		{3, 4, 0.75},
		{0, 4, 0},
		{3, 0, math.NaN()},
		{math.NaN(), 4, math.NaN()},
	}
	for _, tt := range tests {
		got := ratio(tt.a, tt.b)
		if math.IsNaN(tt.want) != math.IsNaN(got) || !math.IsNaN(got) && got != tt.want {
			t.Errorf("ratio(%v, %v) = %v, want %v", tt.a, tt.b, got, tt.want)
		}
	}
}

func TestPercentile(t *testing.T) {
	var d []time.Duration
	for i := 1; i <= 100; i++ {
		d = append(d, time.Duration(i)*time.Millisecond)
	}
	tests := []struct {
		p    float64
		want time.Duration
	}{{50, 50 * time.Millisecond}, {99, 99 * time.Millisecond}, {100, 100 * time.Millisecond}, {0.1, time.Millisecond}}
	for _, tt := range tests {
		if got := percentile(d, tt.p); got != tt.want {
			t.Errorf("percentile(1..100ms, %v) = %v, want %v", tt.p, got, tt.want)
		}
	}
	if got := percentile(nil, 50); got != 0 {
		t.Errorf("percentile(nil) = %v, want 0", got)
	}
	if got := percentile([]time.Duration{7}, 99); got != 7 {
		t.Errorf("percentile of one = %v, want it", got)
	}
}

func TestRotate(t *testing.T) {
	tests := []struct {
		n, r int
		want []int
	}{
		{3, 0, []int{0, 1, 2}},
		{3, 1, []int{1, 2, 0}},
		{3, 2, []int{2, 0, 1}},
		{3, 3, []int{0, 1, 2}},
		{1, 5, []int{0}},
	}
	for _, tt := range tests {
		if got := rotate(tt.n, tt.r); !reflect.DeepEqual(got, tt.want) {
			t.Errorf("rotate(%d, %d) = %v, want %v", tt.n, tt.r, got, tt.want)
		}
	}
	// Every target runs first exactly once over n rounds.
	first := map[int]bool{}
	for r := range 4 {
		first[rotate(4, r)[0]] = true
	}
	if len(first) != 4 {
		t.Errorf("over 4 rounds, the first targets were %v, want all 4", first)
	}
}

// TestChecks computes checks from per-round measures as a comparison
// does: the median of per-round ratios, not the ratio of medians.
func TestChecks(t *testing.T) {
	results := []*TargetResult{
		{Name: "gw", Rounds: []Measure{{RPS: 90, P99us: 900}, {RPS: 100, P99us: 1000}, {RPS: 50, P99us: 2000}}},
		{Name: "bare", Rounds: []Measure{{RPS: 100, P99us: 800}, {RPS: 100, P99us: 800}, {RPS: 100, P99us: 800}}},
	}
	tests := []struct {
		desc             string
		c                check
		value, min, max  float64
		status           string
		scenarioProblems bool
	}{
		{"ratio fails", check{a: "gw", b: "bare", metric: rps, unit: "x", op: ">=", goal: 0.95}, 0.9, 0.5, 1, statusFail, false},
		{"ratio passes", check{a: "gw", b: "bare", metric: rps, unit: "x", op: ">=", goal: 0.9}, 0.9, 0.5, 1, statusPass, false},
		{"delta", check{a: "gw", b: "bare", metric: p99, delta: true, unit: "us", op: "<", goal: 500}, 200, 100, 1200, statusPass, false},
		{"information", check{a: "gw", b: "bare", metric: rps, unit: "x"}, 0.9, 0.5, 1, statusInfo, false},
		{"missing target", check{a: "gw", b: "nginx", metric: rps, unit: "x", op: ">=", goal: 0.9}, 0, 0, 0, statusSkipped, false},
		{"invalid scenario", check{a: "gw", b: "bare", metric: rps, unit: "x", op: ">=", goal: 0.9}, 0.9, 0.5, 1, statusInvalid, true},
	}
	for _, tt := range tests {
		t.Run(tt.desc, func(t *testing.T) {
			sc := &Scenario{Targets: results, Checks: []*Check{tt.c.evaluate(results)}}
			if tt.scenarioProblems {
				sc.problem("errors")
			}
			sc.settle()
			got := sc.Checks[0]
			if math.Abs(got.Value-tt.value) > 1e-9 || math.Abs(got.Min-tt.min) > 1e-9 || math.Abs(got.Max-tt.max) > 1e-9 || got.Status != tt.status {
				t.Errorf("check = %.3f [%.3f..%.3f] %s, want %.3f [%.3f..%.3f] %s",
					got.Value, got.Min, got.Max, got.Status, tt.value, tt.min, tt.max, tt.status)
			}
		})
	}
}

func TestMedianMeasure(t *testing.T) {
	a, b := 0.5, 1.0
	got := medianMeasure([]Measure{
		{Requests: 10, RPS: 5, P50us: 1, P99us: 10, CPUus: 3, Non2xx: 1, HitShare: &a},
		{Requests: 20, RPS: 7, P50us: 3, P99us: 30, CPUus: 1, Errors: 2, HitShare: &b},
		{Requests: 30, RPS: 6, P50us: 2, P99us: 20, CPUus: 2},
	})
	want := Measure{Requests: 60, RPS: 6, P50us: 2, P99us: 20, CPUus: 2, Non2xx: 1, Errors: 2}
	if got.HitShare == nil || *got.HitShare != 0.75 {
		t.Errorf("HitShare = %v, want 0.75", got.HitShare)
	}
	got.HitShare = nil
	if got != want {
		t.Errorf("medianMeasure = %+v, want %+v", got, want)
	}
}

func TestFillMarks(t *testing.T) {
	tests := []struct {
		entries int
		want    []int
	}{
		{1_000_000, []int{1000, 10_000, 100_000, 1_000_000}},
		{4000, []int{4, 40, 400, 4000}},
		{100, []int{10, 100}},
	}
	for _, tt := range tests {
		if got := fillMarks(tt.entries); !reflect.DeepEqual(got, tt.want) {
			t.Errorf("fillMarks(%d) = %v, want %v", tt.entries, got, tt.want)
		}
	}
}

func TestLongQuery(t *testing.T) {
	q := longQuery()
	if n := len(q); n < 1800 || n >= 2048 {
		t.Errorf("long query is %d bytes, want about 1.9 KB and under the gateway's 2 KiB limit", n)
	}
	params := 1
	for _, c := range q {
		if c == '&' {
			params++
		}
	}
	if params != 46 {
		t.Errorf("long query has %d parameters, want 46", params)
	}
}
