package prometheus

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/rzpgate/rzpgate/internal/fakerazorpay"
)

// Tenants of the traffic: the fake's two accounts, A configured with a
// generous limit, B with a tiny one, and a key id the fake does not know,
// which is no configured tenant and so counts as other.
var (
	tenantA     = [2]string{"rzp_test_A", "secretA"}
	tenantB     = [2]string{"rzp_test_B", "secretB"}
	tenantOther = [2]string{"rzp_test_Unlisted", "secretX"}
)

// webhookSecret signs the webhooks the traffic delivers.
const webhookSecret = "whsec_rzpgate_deploy_test_0123456789"

// webhookPath is where the gateway receives Razorpay's webhooks.
const webhookPath = "/_rzpgate/webhooks/razorpay"

// client sends the traffic's requests to the gateway and records what
// came back.
type client struct {
	tb   testing.TB
	base string
	http *http.Client
}

// response is what the traffic looks at in an answer.
type response struct {
	status      int
	cacheStatus string
}

func (c *client) do(method, path string, creds [2]string, body string, header map[string]string) response {
	c.tb.Helper()
	req, err := http.NewRequest(method, c.base+path, strings.NewReader(body))
	if err != nil {
		c.tb.Fatal(err)
	}
	if creds[0] != "" {
		req.SetBasicAuth(creds[0], creds[1])
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	for k, v := range header {
		req.Header.Set(k, v)
	}
	resp, err := c.http.Do(req)
	if err != nil {
		c.tb.Fatalf("%s %s: %v", method, path, err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return response{status: resp.StatusCode, cacheStatus: resp.Header.Get("Cache-Status")}
}

// trafficResult is what the traffic provoked that the test checks for.
type trafficResult struct {
	// webhooks is true once the gateway's receiver answered a delivery.
	webhooks bool
}

// Cached reads of account A: a payment (TTL 1s in the test, so that it is
// stale by the time Razorpay fails), a payment link and a customer's QR
// codes.
const (
	paymentPath = "/v1/payments/pay_DG4ZdRK8ZnXC3k?expand[]=upi"
	linkPath    = "/v1/payment_links/plink_Fo48rl281ENAg9"
	qrListPath  = "/v1/payments/qr_codes?customer_id=cust_HKsR5se84c5LTO"
	qrPatchPath = "/v1/payments/qr_codes/qr_HMsgvioW64f0vh"
)

// sendTraffic makes the gateway serve what every panel and alert is
// about: misses, hits, a PATCH and its purge, 429s of a named tenant and
// of other, webhooks (signed and not), a stale answer, an open breaker
// and a spent upstream budget. Requests that Prometheus must see as an
// increase (rate over a series created by its first event) come in two
// batches with scrapes between them.
func sendTraffic(tb testing.TB, gatewayURL string, fake *fakerazorpay.Server) trafficResult {
	c := &client{tb: tb, base: gatewayURL, http: &http.Client{Timeout: 10 * time.Second}}
	var res trafficResult

	// Misses, then hits.
	for _, path := range []string{paymentPath, linkPath, qrListPath} {
		for i := range 4 {
			r := c.do(http.MethodGet, path, tenantA, "", nil)
			want := "hit"
			if i == 0 {
				want = "fwd=miss"
			}
			if r.status != http.StatusOK || !strings.Contains(r.cacheStatus, want) {
				tb.Fatalf("GET %s #%d: %d %q, want 200 and Cache-Status %s", path, i+1, r.status, r.cacheStatus, want)
			}
		}
	}
	// A write purges the QR codes it names: the list is a miss again.
	if r := c.do(http.MethodPatch, qrPatchPath, tenantA, `{"notes":{"deploy":"test"}}`, nil); r.status != http.StatusOK {
		tb.Fatalf("PATCH %s: %d, want 200", qrPatchPath, r.status)
	}
	if r := c.do(http.MethodGet, qrListPath, tenantA, "", nil); !strings.Contains(r.cacheStatus, "fwd=miss") {
		tb.Fatalf("GET %s after the PATCH: Cache-Status %q, want a miss", qrListPath, r.cacheStatus)
	}

	for batch := range 2 {
		if batch > 0 {
			// Two scrapes between the batches (and the payment's TTL of 1s
			// passes).
			time.Sleep(2500 * time.Millisecond)
		}
		// Hits in every batch, so that their latency has a rate.
		for range 2 {
			if r := c.do(http.MethodGet, linkPath, tenantA, "", nil); !strings.Contains(r.cacheStatus, "hit") {
				tb.Fatalf("GET %s: Cache-Status %q, want a hit", linkPath, r.cacheStatus)
			}
		}
		// B's limit (burst 2) and other's (the default, burst 2) run out.
		for _, creds := range [][2]string{tenantB, tenantOther} {
			limited := 0
			for range 6 {
				if r := c.do(http.MethodGet, "/v1/payment_links/plink_BB48rl281ENAg9", creds, "", nil); r.status == http.StatusTooManyRequests {
					limited++
				}
			}
			if limited == 0 {
				tb.Fatalf("tenant %s: no 429 in 6 requests at a burst of 2", creds[0])
			}
		}
		// A delivery with a wrong signature, and one signed.
		event := fmt.Sprintf(`{"entity":"event","account_id":"acc_BFQ7uQEaa7j2z7","event":"payment.captured","contains":["payment"],"payload":{"payment":{"entity":{"id":"pay_DeployWebhook1","entity":"payment","status":"captured"}}},"created_at":%d}`, time.Now().Unix())
		r := c.do(http.MethodPost, webhookPath, [2]string{}, event, map[string]string{
			"X-Razorpay-Signature": strings.Repeat("0", 64),
			"X-Razorpay-Event-Id":  fmt.Sprintf("evt_DeployBad%d", batch),
		})
		if r.status == http.StatusNotFound || fake.Count(http.MethodPost, webhookPath) > 0 {
			tb.Errorf("webhook delivery: %d (reached Razorpay: %t); want the gateway's receiver", r.status, fake.Count(http.MethodPost, webhookPath) > 0)
			continue
		}
		res.webhooks = true
		if r.status != http.StatusUnauthorized {
			tb.Errorf("webhook with a wrong signature: %d, want 401", r.status)
		}
		if r := c.do(http.MethodPost, webhookPath, [2]string{}, event, map[string]string{
			"X-Razorpay-Signature": sign(event),
			"X-Razorpay-Event-Id":  fmt.Sprintf("evt_DeployGood%d", batch),
		}); r.status != http.StatusOK {
			tb.Errorf("signed webhook: %d, want 200", r.status)
		}
	}

	// Razorpay fails: the expired payment is answered stale, misses fail
	// until the payments breaker opens, then it answers 503 itself.
	fake.SetFault(fakerazorpay.Fault{Status: http.StatusInternalServerError})
	if r := c.do(http.MethodGet, paymentPath, tenantA, "", nil); r.status != http.StatusOK || !strings.Contains(r.cacheStatus, "stale") {
		tb.Fatalf("GET %s with Razorpay failing: %d %q, want a stale 200", paymentPath, r.status, r.cacheStatus)
	}
	open := false
	for i := range 10 {
		r := c.do(http.MethodGet, fmt.Sprintf("/v1/payments/pay_DeployFail%02d", i), tenantA, "", nil)
		if r.status == http.StatusServiceUnavailable {
			open = true
			break
		}
	}
	if !open {
		tb.Fatal("the payments breaker did not open after 10 failures in a row")
	}
	if r := c.do(http.MethodGet, paymentPath, tenantA, "", nil); r.status != http.StatusOK || !strings.Contains(r.cacheStatus, "stale") {
		tb.Fatalf("GET %s with the breaker open: %d %q, want a stale 200", paymentPath, r.status, r.cacheStatus)
	}
	fake.SetFault(fakerazorpay.Fault{})

	// The upstream budget (burst 20, refilled at 20/s) runs out, in two
	// batches.
	for batch := range 2 {
		if batch > 0 {
			time.Sleep(2500 * time.Millisecond)
		}
		refused := 0
		for range 40 {
			if r := c.do(http.MethodGet, "/v1/orders", tenantA, "", nil); r.status == http.StatusTooManyRequests {
				refused++
			}
		}
		if refused == 0 {
			tb.Fatal("no request refused by an upstream budget of burst 20 in 40")
		}
	}
	return res
}

// sign returns body's X-Razorpay-Signature under webhookSecret.
func sign(body string) string {
	mac := hmac.New(sha256.New, []byte(webhookSecret))
	mac.Write([]byte(body))
	return hex.EncodeToString(mac.Sum(nil))
}
