package webhook_test

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"time"

	"github.com/rzpgate/rzpgate/internal/cache"
	"github.com/rzpgate/rzpgate/internal/webhook"
)

// Example shows a qr_code.closed event purging the cached list of its
// customer's QR codes, and Razorpay's redelivery of it being recognised.
func Example() {
	store, _ := cache.NewMemory(cache.MemoryConfig{})
	defer store.Close()
	f, _ := store.Fence(context.Background())
	store.Set(context.Background(), "qr-list", &cache.Entry{
		Status: 200, Body: []byte(`{"entity":"collection"}`), Tags: []string{"cust_HKsR5se84c5LTO"},
		StoredAt: time.Now(), TTL: time.Hour,
	}, f)

	h, err := webhook.New(webhook.Config{Secrets: []string{"whsec"}, Purger: store, Claimer: store})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer h.Close()

	body := `{"entity":"event","account_id":"acc_BFQ7uQEaa7j2z7","event":"qr_code.closed","contains":["qr_code"],` +
		`"payload":{"qr_code":{"entity":{"id":"qr_HMsgvioW64f0vh","entity":"qr_code","status":"closed",` +
		`"customer_id":"cust_HKsR5se84c5LTO","close_reason":"on_demand"}}},"created_at":1623661100}`
	mac := hmac.New(sha256.New, []byte("whsec"))
	mac.Write([]byte(body))
	for range 2 {
		req := httptest.NewRequest(http.MethodPost, "/_rzpgate/webhooks/razorpay", strings.NewReader(body))
		req.Header.Set("X-Razorpay-Signature", hex.EncodeToString(mac.Sum(nil)))
		req.Header.Set("X-Razorpay-Event-Id", "KXq3b5Y1LCpOTU")
		w := httptest.NewRecorder()
		h.ServeHTTP(w, req)
		_, err := store.Get(context.Background(), "qr-list")
		fmt.Println(w.Code, w.Body.String(), "cached:", err == nil)
	}
	// Output:
	// 200 {"status":"ok"} cached: false
	// 200 {"status":"duplicate"} cached: false
}
