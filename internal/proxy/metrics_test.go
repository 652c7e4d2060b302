package proxy_test

import (
	"fmt"
	"math/rand/v2"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil/promlint"

	"github.com/rzpgate/rzpgate/internal/limiter"
	"github.com/rzpgate/rzpgate/internal/proxy"
)

// seriesCount returns how many series the registry holds, all families.
func seriesCount(t *testing.T, e *env) int {
	t.Helper()
	mfs, err := e.reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, mf := range mfs {
		n += len(mf.GetMetric())
	}
	return n
}

// seriesNames returns every series by its name and labels.
func seriesNames(t *testing.T, e *env) map[string]bool {
	t.Helper()
	mfs, err := e.reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	names := map[string]bool{}
	for _, mf := range mfs {
		for _, m := range mf.GetMetric() {
			names[mf.GetName()+fmt.Sprint(m.GetLabel())] = true
		}
	}
	return names
}

// TestMetricCardinality: thousands of random ids, key ids and paths add no
// series once each kind of request has been seen (issue #9).
func TestMetricCardinality(t *testing.T) {
	l := localLimits(limiter.Limit{Rate: 1, Burst: 1, Period: time.Hour})
	l.Tenants = map[string]proxy.TenantLimit{"rzp_test_A": {Limit: limiter.Limit{Rate: 100000, Burst: 100000}}}
	e := newEnv(t, withLimits(l))
	e.fake.AddAccount("rzp_test_Z", "z")
	round := func(n int) {
		for i := range n {
			id := fmt.Sprintf("%014d", rand.Int64N(1e14))
			key := fmt.Sprintf("rzp_test_%x:secret", rand.Int64())
			for _, target := range []string{
				"/v1/payments/pay_" + id,
				"/v1/payment_links/plink_" + id + "?x=" + id,
				"/v1/payments/qr_codes?customer_id=cust_" + id,
				"/v1/" + id + "/" + id,
				"/v1/payments/pay_" + id + "/../../x" + id,
			} {
				e.get(t, target, credsA)
				e.get(t, target, key)
			}
			e.do(t, http.MethodPost, "/v1/orders/"+id, "rzp_test_Z:z", `{}`, "Content-Type", jsonType)
			e.do(t, "PURGE"+fmt.Sprint(i%3), "/v1/x/"+id, credsA, "")
		}
	}
	round(50)
	before, names := seriesCount(t, e), seriesNames(t, e)
	round(500)
	if after := seriesCount(t, e); after != before {
		t.Errorf("series: %d after 50 rounds, %d after 550; want no growth", before, after)
		for n := range seriesNames(t, e) {
			if !names[n] {
				t.Errorf("new series %s", n)
			}
		}
	}
	// Unknown tenants are one label value.
	if n := counter(t, e, "rzpgate_rate_limited_requests_total", "tenant", "other"); n == 0 {
		t.Errorf("no rate-limited requests counted for tenant other")
	}
	mfs, _ := e.reg.Gather()
	for _, mf := range mfs {
		for _, m := range mf.GetMetric() {
			for _, lp := range m.GetLabel() {
				if v := lp.GetValue(); strings.Contains(v, "rzp_test_") && v != "rzp_test_A" || strings.Contains(v, "/") {
					t.Errorf("%s has a label value from a request: %s=%q", mf.GetName(), lp.GetName(), v)
				}
			}
		}
	}
}

// TestMetricsLint runs client_golang's promlint over every family the
// gateway registers.
func TestMetricsLint(t *testing.T) {
	e := newEnv(t)
	e.get(t, payA, credsA)
	e.get(t, payA, credsA)
	mfs, err := e.reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	problems, err := promlint.NewWithMetricFamilies(mfs).Lint()
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range problems {
		t.Errorf("promlint: %s: %s", p.Metric, p.Text)
	}
}
