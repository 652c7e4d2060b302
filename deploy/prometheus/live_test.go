package prometheus

import (
	"context"
	"fmt"
	"io"
	"math"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	v1 "github.com/prometheus/client_golang/api/prometheus/v1"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/rzpgate/rzpgate/internal/fakerazorpay"
	"github.com/rzpgate/rzpgate/internal/redistest"
)

// gatewayConfig is the gateway's file configuration in the live test:
// tenants A and B named (so that B's label is its name), and a breaker
// that stays open for the rest of the test once it opens.
const gatewayConfig = `limits:
  tenants:
    rzp_test_A: {rate: 1000, burst: 1000}
    rzp_test_B: {rate: 1, burst: 2}
upstream:
  breaker:
    open_timeout: 1m
`

// Bounds on the live test's waits.
const (
	firstSampleTimeout = 15 * time.Second // issue 9 allows about 7 s
	dataTimeout        = 10 * time.Second // for each expression's data, after the final scrape
)

// alertsProvoked are the alerts whose conditions the traffic meets: they
// must be pending (their for has not passed) or firing.
var alertsProvoked = []string{"RzpgateUpstreamBreakerOpen", "RzpgateBudgetExhausted", "RzpgateWebhookSignatureFailures"}

// alertsQuiet are the alerts whose conditions the traffic does not meet:
// Redis stays up, no log line is dropped, and there is no hour-old hit
// ratio to compare with.
var alertsQuiet = []string{"RzpgateRedisUnusable", "RzpgateLogLinesDropped", "RzpgateHitRatioCollapsed"}

// TestAgainstPrometheus proves the dashboard and the alert rules against
// Debian's Prometheus scraping a real gateway (the binary, in shared mode
// on a real redis-server, in front of the fake Razorpay) that serves real
// traffic: every expression parses on the server, names only metrics the
// gateway exports and selects only series it has, every panel shows
// data, and the rules evaluate and go pending for what the traffic did.
func TestAgainstPrometheus(t *testing.T) {
	promBin := tool(t, "prometheus")
	promtool := tool(t, "promtool")
	redis := redistest.Start(t)
	fake := fakerazorpay.New()
	upstream := httptest.NewServer(fake)
	defer upstream.Close()
	forwardTarget := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
	}))
	defer forwardTarget.Close()

	dir := t.TempDir()
	cfg := filepath.Join(dir, "rzpgate.yaml")
	if err := os.WriteFile(cfg, []byte(gatewayConfig), 0o644); err != nil {
		t.Fatal(err)
	}
	rules, err := filepath.Abs(rulesFile)
	if err != nil {
		t.Fatal(err)
	}
	gw := startGateway(t, buildGateway(t), []string{"-config", cfg}, map[string]string{
		"RZPGATE_UPSTREAM_URL":         upstream.URL,
		"RZPGATE_REDIS_URL":            redis.URL(),
		"RZPGATE_REDIS_NEAR_CACHE":     "true",
		"RZPGATE_CACHE_KEY_SECRET":     "deploy-test-key-secret-0123456789abcdef",
		"RZPGATE_TTL_PAYMENTS":         "1s",
		"RZPGATE_LIMITS_ENABLED":       "true",
		"RZPGATE_LIMITS_DEFAULT_RATE":  "1",
		"RZPGATE_LIMITS_DEFAULT_BURST": "2",
		"RZPGATE_BUDGET_ENABLED":       "true",
		"RZPGATE_BUDGET_RATE":          "20",
		"RZPGATE_BUDGET_BURST":         "20",
		"RZPGATE_WEBHOOK_SECRETS":      webhookSecret,
		"RZPGATE_WEBHOOK_FORWARD":      forwardTarget.URL + "/razorpay",
	})
	prom := startPrometheus(t, promBin, strings.TrimPrefix(gw.admin, "http://"), rules)
	ctx := context.Background()

	start := time.Now()
	if v, err := prom.waitFor(ctx, `up{job="rzpgate"} == 1`, firstSampleTimeout); err != nil || len(v) == 0 {
		t.Fatalf("no sample of the gateway in %v: %v", firstSampleTimeout, err)
	}
	t.Logf("first sample after %v", time.Since(start).Round(time.Millisecond))

	res := sendTraffic(t, gw.url, fake)
	if !res.webhooks {
		t.Fatalf("the gateway's webhook receiver on %s answered no delivery", webhookPath)
	}

	families := scrape(t, gw.admin+"/metrics", res.webhooks)
	exported := exportedNames(families)
	checkMetrics(t, promtool, gw.admin+"/metrics")

	// Prometheus has the final scrape once it counts every request the
	// gateway had counted when the test scraped it.
	total := 0.0
	for _, m := range families["rzpgate_requests_total"].GetMetric() {
		total += m.GetCounter().GetValue()
	}
	synced := time.Now()
	if v, err := prom.waitFor(ctx, fmt.Sprintf(`sum(rzpgate_requests_total) >= %g`, total), dataTimeout); err != nil || len(v) == 0 {
		t.Fatalf("Prometheus did not scrape the traffic's %g requests in %v: %v", total, dataTimeout, err)
	}

	exempt := func(name string) bool {
		return !res.webhooks && strings.HasPrefix(name, "rzpgate_webhook_")
	}
	t.Run("expressions", func(t *testing.T) {
		for _, e := range append(dashboardExpressions(t), ruleExpressions(t)...) {
			checkExpression(ctx, t, prom, e, exported, exempt)
		}
	})
	t.Run("panels", func(t *testing.T) {
		// Every target of every panel shows a number (not only NaN).
		for _, e := range dashboardExpressions(t) {
			names, _ := metricNames(mustSubstitute(t, e.expr))
			if slices.ContainsFunc(names, exempt) {
				continue
			}
			checkData(ctx, t, prom, e)
		}
	})
	t.Run("variables", func(t *testing.T) {
		for _, v := range dashboardVariables(t) {
			values, _, _, err := prom.api.LabelValues(ctx, v.label, []string{mustSubstitute(t, v.selector)}, time.Time{}, time.Time{})
			if err != nil || len(values) == 0 {
				t.Errorf("variable %s: label_values(%s, %s) = %v, %v; want values", v.variable, v.selector, v.label, values, err)
			}
		}
	})
	t.Run("rules", func(t *testing.T) {
		provoked := alertsProvoked
		if !res.webhooks {
			provoked = slices.DeleteFunc(slices.Clone(provoked), func(a string) bool { return a == "RzpgateWebhookSignatureFailures" })
		}
		checkRules(ctx, t, prom, synced, provoked, alertsQuiet)
	})

	// Redis goes away: the gateway fails open, the Redis panel shows it
	// down and the alert goes pending.
	t.Run("redis outage", func(t *testing.T) {
		redis.Stop()
		c := &client{tb: t, base: gw.url, http: &http.Client{Timeout: 10 * time.Second}}
		down := false
		for deadline := time.Now().Add(dataTimeout); !down && time.Now().Before(deadline); {
			if r := c.do(http.MethodGet, linkPath, tenantA, "", map[string]string{"Cache-Control": "no-cache"}); r.status != http.StatusOK {
				t.Fatalf("GET %s with Redis down: %d, want 200 (the gateway fails open)", linkPath, r.status)
			}
			down = gaugeIs(t, gw.admin+"/metrics", "rzpgate_redis_up", 0)
			time.Sleep(100 * time.Millisecond)
		}
		if !down {
			t.Fatalf("rzpgate_redis_up is not 0 %v after Redis stopped", dataTimeout)
		}
		outage := time.Now()
		checkData(ctx, t, prom, expression{source: "Redis down", expr: `rzpgate_redis_up == 0`})
		checkRules(ctx, t, prom, outage, []string{"RzpgateRedisUnusable"}, nil)
	})
}

// gaugeIs reports whether a scrape of url has the unlabelled gauge name at
// value.
func gaugeIs(tb testing.TB, url, name string, value float64) bool {
	tb.Helper()
	f, ok := scrape(tb, url, false)[name]
	return ok && len(f.GetMetric()) == 1 && f.GetMetric()[0].GetGauge().GetValue() == value
}

// mustSubstitute is substitute for expressions TestExpressionsParse has
// already accepted.
func mustSubstitute(tb testing.TB, expr string) string {
	tb.Helper()
	s, err := substitute(expr)
	if err != nil {
		tb.Fatal(err)
	}
	return s
}

// scrape returns the metric families the gateway exports now, scraped as
// Prometheus would. When the webhooks are wired it waits (a bounded time)
// for the asynchronous forward of the signed event to be counted.
func scrape(tb testing.TB, url string, webhooks bool) map[string]*dto.MetricFamily {
	tb.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		resp, err := http.Get(url)
		if err != nil {
			tb.Fatalf("scraping %s: %v", url, err)
		}
		p := expfmt.NewTextParser(model.UTF8Validation)
		families, err := p.TextToMetricFamilies(resp.Body)
		resp.Body.Close()
		if err != nil {
			tb.Fatalf("parsing the scrape of %s: %v", url, err)
		}
		if _, ok := families["rzpgate_webhook_deliveries_total"]; ok || !webhooks || time.Now().After(deadline) {
			return families
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// exportedNames returns the names of the series in families, histograms'
// _bucket, _sum and _count and summaries' _sum and _count included.
func exportedNames(families map[string]*dto.MetricFamily) map[string]bool {
	names := map[string]bool{}
	for name, f := range families {
		names[name] = true
		switch f.GetType() {
		case dto.MetricType_HISTOGRAM, dto.MetricType_GAUGE_HISTOGRAM:
			names[name+"_bucket"], names[name+"_sum"], names[name+"_count"] = true, true, true
		case dto.MetricType_SUMMARY:
			names[name+"_sum"], names[name+"_count"] = true, true
		}
	}
	return names
}

// checkMetrics runs `promtool check metrics` on a scrape of url: the
// exposition's format and Prometheus' naming conventions.
func checkMetrics(tb testing.TB, promtool, url string) {
	tb.Helper()
	resp, err := http.Get(url)
	if err != nil {
		tb.Fatalf("scraping %s: %v", url, err)
	}
	defer resp.Body.Close()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, promtool, "check", "metrics")
	cmd.Stdin = resp.Body
	if out, err := cmd.CombinedOutput(); err != nil {
		tb.Errorf("promtool check metrics on a scrape of the gateway: %v\n%s", err, out)
	}
}

// checkExpression sends e to Prometheus, which must evaluate it without
// error; every metric it names must be one the gateway exports, and every
// selector in it must select series Prometheus scraped from the gateway,
// which catches a wrong label value as well as a wrong name.
func checkExpression(ctx context.Context, t *testing.T, prom *server, e expression, exported map[string]bool, exempt func(string) bool) {
	t.Helper()
	expr := mustSubstitute(t, e.expr)
	if _, err := prom.query(ctx, expr); err != nil {
		t.Errorf("%s: Prometheus: %v\n%s", e.source, err, expr)
		return
	}
	vss, err := selectors(expr)
	if err != nil {
		t.Errorf("%s: %v", e.source, err)
		return
	}
	for _, vs := range vss {
		if exempt(vs.Name) {
			continue
		}
		if !exported[vs.Name] {
			t.Errorf("%s names %s, which the gateway does not export", e.source, vs.Name)
			continue
		}
		v, err := prom.query(ctx, "group("+vs.String()+")")
		if err != nil || len(v) == 0 {
			t.Errorf("%s: selector %s selects no series of the gateway (%v)", e.source, vs, err)
		}
	}
}

// checkData waits (a bounded time) for e to return a sample that is a
// number.
func checkData(ctx context.Context, t *testing.T, prom *server, e expression) {
	t.Helper()
	expr := mustSubstitute(t, e.expr)
	deadline := time.Now().Add(dataTimeout)
	var last model.Vector
	for {
		v, err := prom.query(ctx, expr)
		if err != nil {
			t.Errorf("%s: %v", e.source, err)
			return
		}
		if slices.ContainsFunc(v, func(s *model.Sample) bool { return !math.IsNaN(float64(s.Value)) }) {
			return
		}
		last = v
		if time.Now().After(deadline) {
			t.Errorf("%s shows no data after the traffic (got %v):\n%s", e.source, last, expr)
			return
		}
		time.Sleep(250 * time.Millisecond)
	}
}

// checkRules checks that Prometheus has evaluated every rule of the file
// since synced without error, and that the alerts in provoked are pending
// or firing and those in quiet inactive.
func checkRules(ctx context.Context, t *testing.T, prom *server, synced time.Time, provoked, quiet []string) {
	t.Helper()
	deadline := time.Now().Add(dataTimeout)
	for {
		got, err := evaluatedRules(ctx, prom, synced)
		if err != nil {
			t.Fatal(err)
		}
		var waiting []string
		for _, name := range alerts {
			if _, ok := got[name]; !ok {
				waiting = append(waiting, name+" (not evaluated)")
			}
		}
		for _, name := range provoked {
			if r, ok := got[name]; ok && r.State == "inactive" {
				waiting = append(waiting, name+" (inactive)")
			}
		}
		if len(waiting) > 0 {
			if time.Now().After(deadline) {
				t.Fatalf("after %v, waiting for %v; states: %v", dataTimeout, waiting, ruleStates(got))
			}
			time.Sleep(250 * time.Millisecond)
			continue
		}
		for _, name := range alerts {
			if r := got[name]; r.Health != v1.RuleHealthGood || r.LastError != "" {
				t.Errorf("%s: health %s: %s", name, r.Health, r.LastError)
			}
		}
		for _, name := range quiet {
			if s := got[name].State; s != "inactive" {
				t.Errorf("%s is %s, want inactive: nothing the traffic did should trigger it", name, s)
			}
		}
		t.Logf("alert states: %v", ruleStates(got))
		return
	}
}

// evaluatedRules returns the alerting rules Prometheus has evaluated since
// t, by name.
func evaluatedRules(ctx context.Context, prom *server, since time.Time) (map[string]v1.AlertingRule, error) {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	res, err := prom.api.Rules(ctx, nil)
	if err != nil {
		return nil, fmt.Errorf("listing rules: %w", err)
	}
	out := map[string]v1.AlertingRule{}
	for _, g := range res.Groups {
		for _, r := range g.Rules {
			if a, ok := r.(v1.AlertingRule); ok && a.LastEvaluation.After(since) {
				out[a.Name] = a
			}
		}
	}
	return out, nil
}

func ruleStates(rules map[string]v1.AlertingRule) map[string]string {
	out := map[string]string{}
	for name, r := range rules {
		out[name] = r.State
	}
	return out
}
