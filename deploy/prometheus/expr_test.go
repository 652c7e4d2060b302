package prometheus

import (
	"encoding/json"
	"fmt"
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/prometheus/prometheus/promql/parser"
)

// dashboardFile is the committed dashboard, which the grafana package's
// test keeps equal to what its code generates.
const dashboardFile = "../grafana/rzpgate.json"

// expression is a PromQL expression shipped in the dashboard or the rules.
type expression struct {
	// source says where it is: "panel <title> <refId>" or "alert <name>".
	source string
	// panel is the title of the panel it belongs to; "" for an alert.
	panel string
	// expr is the expression as shipped, Grafana variables included.
	expr string
}

// dashboardPanel is what the tests read of a panel of the committed JSON.
type dashboardPanel struct {
	Type    string           `json:"type"`
	Title   string           `json:"title"`
	Panels  []dashboardPanel `json:"panels"` // a collapsed row's
	Targets []struct {
		Expr  string `json:"expr"`
		RefID string `json:"refId"`
	} `json:"targets"`
}

// committedDashboard is what the tests read of the committed JSON.
type committedDashboard struct {
	Panels     []dashboardPanel `json:"panels"`
	Templating struct {
		List []struct {
			Name  string `json:"name"`
			Type  string `json:"type"`
			Query any    `json:"query"`
		} `json:"list"`
	} `json:"templating"`
}

func readDashboard(tb testing.TB) committedDashboard {
	tb.Helper()
	b, err := os.ReadFile(dashboardFile)
	if err != nil {
		tb.Fatalf("reading the dashboard: %v", err)
	}
	var d committedDashboard
	if err := json.Unmarshal(b, &d); err != nil {
		tb.Fatalf("decoding %s: %v", dashboardFile, err)
	}
	return d
}

// dashboardExpressions returns every target of every panel, rows' panels
// included.
func dashboardExpressions(tb testing.TB) []expression {
	tb.Helper()
	var out []expression
	var walk func([]dashboardPanel)
	walk = func(ps []dashboardPanel) {
		for _, p := range ps {
			walk(p.Panels)
			for _, t := range p.Targets {
				out = append(out, expression{source: fmt.Sprintf("panel %q %s", p.Title, t.RefID), panel: p.Title, expr: t.Expr})
			}
		}
	}
	walk(readDashboard(tb).Panels)
	if len(out) == 0 {
		tb.Fatalf("%s has no panel targets", dashboardFile)
	}
	return out
}

// ruleExpressions returns the expression of every alerting rule.
func ruleExpressions(tb testing.TB) []expression {
	tb.Helper()
	var out []expression
	for _, r := range parseRules(tb) {
		out = append(out, expression{source: "alert " + r.Alert, expr: r.Expr})
	}
	return out
}

// labelValuesQuery is a query variable's label_values(selector, label).
type labelValuesQuery struct {
	variable, selector, label string
}

var labelValuesCall = regexp.MustCompile(`^label_values\((.+),\s*(\w+)\)$`)

// dashboardVariables returns the dashboard's query variables.
func dashboardVariables(tb testing.TB) []labelValuesQuery {
	tb.Helper()
	var out []labelValuesQuery
	for _, v := range readDashboard(tb).Templating.List {
		if v.Type != "query" {
			continue
		}
		q, _ := v.Query.(string)
		m := labelValuesCall.FindStringSubmatch(q)
		if m == nil {
			tb.Fatalf("variable %s: query %q is not label_values(selector, label)", v.Name, v.Query)
		}
		out = append(out, labelValuesQuery{variable: v.Name, selector: m[1], label: m[2]})
	}
	return out
}

// Values the Grafana variables take in the tests: every multi-valued
// variable is All, whose value is ".*", and the intervals are what Grafana
// would pick for a short range scraped every second.
var grafanaValues = map[string]string{
	"job":             ".*",
	"instance":        ".*",
	"route":           ".*",
	"tenant":          ".*",
	"__rate_interval": "1m",
	"__interval":      "15s",
	"__range":         "5m",
}

var grafanaVariable = regexp.MustCompile(`\$\{(\w+)\}|\$(\w+)`)

// substitute replaces the Grafana variables in expr ($name and ${name})
// with grafanaValues, and fails on any other.
func substitute(expr string) (string, error) {
	var unknown []string
	out := grafanaVariable.ReplaceAllStringFunc(expr, func(ref string) string {
		m := grafanaVariable.FindStringSubmatch(ref)
		name := m[1] + m[2]
		v, ok := grafanaValues[name]
		if !ok {
			unknown = append(unknown, ref)
		}
		return v
	})
	if len(unknown) > 0 {
		return "", fmt.Errorf("unknown Grafana variables %v in %s", unknown, expr)
	}
	return out, nil
}

// selectors parses expr and returns its vector selectors, each without
// offset or @ modifier.
func selectors(expr string) ([]*parser.VectorSelector, error) {
	e, err := parser.NewParser(parser.Options{}).ParseExpr(expr)
	if err != nil {
		return nil, err
	}
	var out []*parser.VectorSelector
	parser.Inspect(e, func(n parser.Node, _ []parser.Node) error {
		if vs, ok := n.(*parser.VectorSelector); ok {
			out = append(out, &parser.VectorSelector{Name: vs.Name, LabelMatchers: vs.LabelMatchers})
		}
		return nil
	})
	return out, nil
}

// metricNames returns the metric names expr selects, sorted.
func metricNames(expr string) ([]string, error) {
	vss, err := selectors(expr)
	if err != nil {
		return nil, err
	}
	var names []string
	for _, vs := range vss {
		if vs.Name == "" {
			return nil, fmt.Errorf("selector %s names no metric", vs)
		}
		names = append(names, vs.Name)
	}
	slices.Sort(names)
	return slices.Compact(names), nil
}

func TestSubstitute(t *testing.T) {
	tests := []struct {
		desc, in, want, err string
	}{
		{desc: "plain", in: `up`, want: `up`},
		{desc: "dollar name", in: `rate(x{route=~"$route"}[$__rate_interval])`, want: `rate(x{route=~".*"}[1m])`},
		{desc: "braces", in: `x{tenant=~"${tenant}",job=~"$job"}`, want: `x{tenant=~".*",job=~".*"}`},
		{desc: "unknown", in: `x{a=~"$nope"}`, err: "unknown Grafana variables [$nope]"},
	}
	for _, tt := range tests {
		t.Run(tt.desc, func(t *testing.T) {
			got, err := substitute(tt.in)
			if tt.err != "" {
				if err == nil || !strings.Contains(err.Error(), tt.err) {
					t.Fatalf("substitute(%q) error = %v, want %q", tt.in, err, tt.err)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Fatalf("substitute(%q) = %q, %v; want %q", tt.in, got, err, tt.want)
			}
		})
	}
}

// TestExpressionsParse parses every shipped expression with Prometheus'
// own parser, offline: the live test sends them to a real server too.
func TestExpressionsParse(t *testing.T) {
	for _, e := range append(dashboardExpressions(t), ruleExpressions(t)...) {
		expr, err := substitute(e.expr)
		if err != nil {
			t.Errorf("%s: %v", e.source, err)
			continue
		}
		names, err := metricNames(expr)
		if err != nil {
			t.Errorf("%s: %v\n%s", e.source, err, expr)
			continue
		}
		if len(names) == 0 {
			t.Errorf("%s selects no metric: %s", e.source, expr)
		}
	}
	for _, v := range dashboardVariables(t) {
		sel, err := substitute(v.selector)
		if err == nil {
			_, err = parser.NewParser(parser.Options{}).ParseMetricSelector(sel)
		}
		if err != nil {
			t.Errorf("variable %s: %v", v.variable, err)
		}
	}
}
