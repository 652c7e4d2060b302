package prometheus

import (
	"log/slog"
	"slices"
	"testing"
	"time"

	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/model/rulefmt"
	"github.com/prometheus/prometheus/promql/parser"
)

// Files under test, in this package's directory.
const (
	rulesFile     = "rzpgate-rules.yaml"
	rulesTestFile = "rzpgate-rules_test.yaml"
)

// alerts are the alerts the rules must define, in their order in the file
// (issue 9): breaker open, upstream error ratio high, Redis unusable, hit
// ratio collapsed, a tenant rate-limited for a sustained period, budget
// exhausted, webhook signature failures, log lines dropped.
var alerts = []string{
	"RzpgateUpstreamBreakerOpen",
	"RzpgateUpstreamErrorRatioHigh",
	"RzpgateRedisUnusable",
	"RzpgateHitRatioCollapsed",
	"RzpgateTenantRateLimited",
	"RzpgateBudgetExhausted",
	"RzpgateWebhookSignatureFailures",
	"RzpgateLogLinesDropped",
}

func TestPromtoolCheckRules(t *testing.T) {
	promtool := tool(t, "promtool")
	out, err := run(t, time.Minute, promtool, "check", "rules", rulesFile)
	if err != nil {
		t.Fatalf("promtool check rules %s: %v\n%s", rulesFile, err, out)
	}
	t.Log(out)
}

// TestPromtoolTestRules runs the rules' unit tests: input series and the
// alerts, with their labels and expanded annotations, expected from them.
func TestPromtoolTestRules(t *testing.T) {
	promtool := tool(t, "promtool")
	out, err := run(t, time.Minute, promtool, "test", "rules", rulesTestFile)
	if err != nil {
		t.Fatalf("promtool test rules %s: %v\n%s", rulesTestFile, err, out)
	}
	t.Log(out)
}

// parseRules returns the alerting rules of rulesFile, validated as
// Prometheus validates them.
func parseRules(tb testing.TB) []rulefmt.Rule {
	tb.Helper()
	groups, errs := rulefmt.ParseFile(rulesFile, false, model.UTF8Validation, parser.NewParser(parser.Options{}), slog.New(slog.DiscardHandler))
	if len(errs) > 0 {
		tb.Fatalf("parsing %s: %v", rulesFile, errs)
	}
	var rules []rulefmt.Rule
	for _, g := range groups.Groups {
		rules = append(rules, g.Rules...)
	}
	return rules
}

// TestRulesDocumented checks that every alert is there and tells whoever
// is paged what happened and what to check.
func TestRulesDocumented(t *testing.T) {
	rules := parseRules(t)
	var names []string
	for _, r := range rules {
		names = append(names, r.Alert)
		t.Run(r.Alert, func(t *testing.T) {
			if r.Alert == "" {
				t.Fatalf("recording rule %q: this file holds alerts only", r.Record)
			}
			for _, a := range []string{"summary", "description", "runbook"} {
				if r.Annotations[a] == "" {
					t.Errorf("no %s annotation", a)
				}
			}
			if s := r.Labels["severity"]; !slices.Contains([]string{"critical", "warning", "info"}, s) {
				t.Errorf("severity = %q, want critical, warning or info", s)
			}
			if r.For == 0 {
				t.Error("no for: a single bad evaluation would page")
			}
		})
	}
	if !slices.Equal(names, alerts) {
		t.Errorf("alerts = %v, want %v", names, alerts)
	}
}
