package main

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/rzpgate/rzpgate/internal/fakerazorpay"
)

// TestBinaryWebhooks runs the gateway as a user would, with a webhook
// secret in the environment: a payment captured inside Razorpay is seen
// captured through the gateway as soon as the webhook has been answered,
// although its cached copy had not expired; the secret is never logged.
func TestBinaryWebhooks(t *testing.T) {
	const secret = "whsec-test-0123456789"
	bin := buildGateway(t)
	fake := fakerazorpay.New()
	up := httptest.NewServer(fake)
	defer up.Close()
	g := startGateway(t, bin, "RZPGATE_UPSTREAM_URL="+up.URL, "RZPGATE_WEBHOOK_SECRETS=old-secret,"+secret, "RZPGATE_TTL_PAYMENTS=1h")
	waitFor(t, "http://"+g.admin+"/readyz", 200)
	fake.SetWebhook("http://"+g.listen+"/_rzpgate/webhooks/razorpay", secret)
	fake.AddPayment("rzp_test_A", "pay_WHk0000000000a")

	status := func() string {
		_, body := get(t, "http://"+g.listen+"/v1/payments/pay_WHk0000000000a")
		var p struct{ Status string }
		json.Unmarshal([]byte(body), &p)
		return p.Status
	}
	if s := status(); s != "authorized" {
		t.Fatalf("payment before capture: %q; want authorized", s)
	}
	if s := status(); s != "authorized" { // now cached for an hour
		t.Fatalf("cached payment: %q", s)
	}
	code, err := fake.CapturePayment("rzp_test_A", "pay_WHk0000000000a")
	if err != nil || code != http.StatusOK {
		t.Fatalf("webhook delivery: %d %v; want 200", code, err)
	}
	if s := status(); s != "captured" {
		t.Errorf("payment after the webhook: %q; want captured", s)
	}
	if code, err := fake.ResendLastEvent(); err != nil || code != http.StatusOK {
		t.Errorf("redelivery: %d %v; want 200", code, err)
	}
	// A delivery with a wrong signature is refused.
	req, _ := http.NewRequest(http.MethodPost, "http://"+g.listen+"/_rzpgate/webhooks/razorpay", strings.NewReader(`{"entity":"event","event":"payment.captured","payload":{}}`))
	req.Header.Set("X-Razorpay-Signature", strings.Repeat("0", 64))
	if resp, err := http.DefaultClient.Do(req); err != nil || resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("bad signature: %v %v; want 401", resp, err)
	} else {
		resp.Body.Close()
	}
	// Other gateway paths are the gateway's: 404, never forwarded.
	if code, _ := get(t, "http://"+g.listen+"/_rzpgate/other"); code != http.StatusNotFound {
		t.Errorf("/_rzpgate/other: %d; want 404", code)
	}
	if n := fake.Count("GET", "/_rzpgate/other"); n != 0 {
		t.Errorf("a gateway path reached Razorpay")
	}
	_, metrics := get(t, "http://"+g.admin+"/metrics")
	if !strings.Contains(metrics, `rzpgate_webhook_events_total{result="ok",type="payment.captured"} 1`) {
		t.Errorf("webhook events metric missing the captured event")
	}

	g.cmd.Process.Kill()
	g.cmd.Wait()
	for m := range g.lines {
		for _, v := range m {
			if s, ok := v.(string); ok && (strings.Contains(s, secret) || strings.Contains(s, "old-secret")) {
				t.Errorf("a log line carries a webhook secret: %v", m)
			}
		}
	}
}
