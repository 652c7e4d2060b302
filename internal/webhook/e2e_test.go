package webhook_test

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/rzpgate/rzpgate/internal/cache"
	"github.com/rzpgate/rzpgate/internal/fakerazorpay"
	"github.com/rzpgate/rzpgate/internal/proxy"
	"github.com/rzpgate/rzpgate/internal/redistest"
	"github.com/rzpgate/rzpgate/internal/webhook"
)

const webhookPath = "/_rzpgate/webhooks/razorpay"

// gateway is one replica: the proxy, with the receiver on webhookPath, as
// cmd/proxy wires them, on a real server.
type gateway struct {
	srv *httptest.Server
}

// newGateway starts a replica on store, in front of upstream, with TTLs of
// an hour: only a purge can make a cached read fresh again.
func newGateway(t *testing.T, upstream string, store interface {
	cache.Store
	cache.Claimer
}) *gateway {
	t.Helper()
	up, _ := url.Parse(upstream)
	gw, err := proxy.New(proxy.Config{
		Upstream:  up,
		Store:     store,
		TTL:       proxy.TTL{Payments: time.Hour, PaymentLinks: time.Hour, QRCodes: time.Hour},
		KeySecret: []byte(strings.Repeat("k", 32)),
	})
	if err != nil {
		t.Fatal(err)
	}
	wh, err := webhook.New(webhook.Config{Secrets: []string{secret}, Purger: store, Claimer: store})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { wh.Close() })
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == webhookPath {
			wh.ServeHTTP(w, r)
			return
		}
		gw.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	return &gateway{srv: srv}
}

// read GETs path as account A and returns the member field of the answer,
// or of the item whose id is field's prefix before a colon in a list
// ("qr_X:status"), and its Cache-Status.
func (g *gateway) read(t *testing.T, path, field string) (string, string) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, g.srv.URL+path, nil)
	req.SetBasicAuth("rzp_test_A", "secretA")
	resp, err := g.srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %d %s", path, resp.StatusCode, b)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	if id, f, ok := strings.Cut(field, ":"); ok {
		field = f
		items, _ := m["items"].([]any)
		for _, it := range items {
			if it := it.(map[string]any); it["id"] == id {
				m = it
			}
		}
	}
	v, _ := m[field].(string)
	return v, resp.Header.Get("Cache-Status")
}

// TestEndToEnd caches reads through one gateway, changes the entities
// inside the fake Razorpay, which sends its webhooks to the gateway, and
// checks that the next read shows the change.
func TestEndToEnd(t *testing.T) {
	fake := fakerazorpay.New()
	up := httptest.NewServer(fake)
	defer up.Close()
	store, err := cache.NewMemory(cache.MemoryConfig{})
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	gw := newGateway(t, up.URL, store)
	fake.SetWebhook(gw.srv.URL+webhookPath, secret)
	fake.AddPayment("rzp_test_A", "pay_E2EPayment00001")
	fake.AddPaymentLink("rzp_test_A", "plink_E2ELink000001")

	tests := []struct {
		desc, path, field string
		before, after     string
		change            func() (int, error)
	}{
		{"payment captured", "/v1/payments/pay_E2EPayment00001?expand[]=upi", "status", "authorized", "captured",
			func() (int, error) { return fake.CapturePayment("rzp_test_A", "pay_E2EPayment00001") }},
		{"payment link paid", "/v1/payment_links/plink_E2ELink000001", "status", "created", "paid",
			func() (int, error) { return fake.PayPaymentLink("rzp_test_A", "plink_E2ELink000001") }},
		{"QR code closed", "/v1/payments/qr_codes?customer_id=cust_HKsR5se84c5LTO", "qr_HMsgvioW64f0vh:status", "active", "closed",
			func() (int, error) { return fake.CloseQRCode("rzp_test_A", "qr_HMsgvioW64f0vh") }},
	}
	for _, tt := range tests {
		t.Run(tt.desc, func(t *testing.T) {
			gw.read(t, tt.path, tt.field)
			got, cs := gw.read(t, tt.path, tt.field)
			if got != tt.before || !strings.Contains(cs, "hit") {
				t.Fatalf("before: %q (%s), want a hit showing %q", got, cs, tt.before)
			}
			status, err := tt.change()
			if err != nil || status != http.StatusOK {
				t.Fatalf("change: webhook answered %d, %v; want 200", status, err)
			}
			got, cs = gw.read(t, tt.path, tt.field)
			if got != tt.after || !strings.Contains(cs, "fwd=miss") {
				t.Errorf("after the webhook: %q (%s), want a miss showing %q", got, cs, tt.after)
			}
			if status, err := fake.ResendLastEvent(); err != nil || status != http.StatusOK {
				t.Errorf("redelivery answered %d, %v; want 200", status, err)
			}
			if got, cs = gw.read(t, tt.path, tt.field); got != tt.after || !strings.Contains(cs, "hit") {
				t.Errorf("after the redelivery: %q (%s), want a hit showing %q: a duplicate purges nothing", got, cs, tt.after)
			}
		})
	}
}

// TestEndToEndReplicas runs two replicas sharing a Redis, each with the
// store chain cmd/proxy builds (Redis behind a Guard): the webhook reaches
// one, and a read through the other shows the change at once.
func TestEndToEndReplicas(t *testing.T) {
	fake := fakerazorpay.New()
	up := httptest.NewServer(fake)
	defer up.Close()
	srv := redistest.Start(t)
	var gws []*gateway
	for range 2 {
		client := redis.NewClient(&redis.Options{Addr: srv.Addr(), ContextTimeoutEnabled: true})
		t.Cleanup(func() { client.Close() })
		rs, err := cache.NewRedis(client, cache.RedisConfig{})
		if err != nil {
			t.Fatal(err)
		}
		g := cache.NewGuard(rs, cache.GuardConfig{Timeout: time.Second})
		t.Cleanup(func() { g.Close() })
		gws = append(gws, newGateway(t, up.URL, g))
	}
	fake.SetWebhook(gws[0].srv.URL+webhookPath, secret)
	fake.AddPayment("rzp_test_A", "pay_E2EPayment00002")
	const path = "/v1/payments/pay_E2EPayment00002"
	gws[1].read(t, path, "status")
	if got, cs := gws[1].read(t, path, "status"); got != "authorized" || !strings.Contains(cs, "hit") {
		t.Fatalf("replica 1 before: %q (%s), want a hit showing authorized", got, cs)
	}
	if status, err := fake.CapturePayment("rzp_test_A", "pay_E2EPayment00002"); err != nil || status != http.StatusOK {
		t.Fatalf("webhook to replica 0 answered %d, %v; want 200", status, err)
	}
	if got, cs := gws[1].read(t, path, "status"); got != "captured" {
		t.Errorf("replica 1 after the webhook: %q (%s), want captured", got, cs)
	}
	// Razorpay's retry reaching the other replica is a duplicate there.
	fake.SetWebhook(gws[1].srv.URL+webhookPath, secret)
	gws[1].read(t, path, "status")
	if status, err := fake.ResendLastEvent(); err != nil || status != http.StatusOK {
		t.Fatalf("redelivery to replica 1 answered %d, %v; want 200", status, err)
	}
	if _, cs := gws[1].read(t, path, "status"); !strings.Contains(cs, "hit") {
		t.Errorf("replica 1 after the redelivery: %s, want a hit: a duplicate purges nothing", cs)
	}
}
