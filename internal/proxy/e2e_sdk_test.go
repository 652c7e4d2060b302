package proxy_test

import (
	"errors"
	"net/http/httptest"
	"net/url"
	"reflect"
	"strings"
	"testing"

	razorpay "github.com/razorpay/razorpay-go"
	rzperrors "github.com/razorpay/razorpay-go/errors"

	"github.com/rzpgate/rzpgate/internal/fakerazorpay"
	"github.com/rzpgate/rzpgate/internal/proxy"
)

// sdkClient returns a razorpay-go client that sends its requests to baseURL.
func sdkClient(keyID, secret, baseURL string) *razorpay.Client {
	c := razorpay.NewClient(keyID, secret)
	c.Request.BaseURL = baseURL
	return c
}

// sdkCall is one SDK call of an endpoint the gateway caches or purges for.
type sdkCall struct {
	desc string
	path string // the path the upstream sees, for fake.Count
	call func(c *razorpay.Client) (map[string]any, error)
}

var (
	sdkPayment = sdkCall{"payment with expanded upi", payA, func(c *razorpay.Client) (map[string]any, error) {
		return c.Payment.Fetch("pay_DG4ZdRK8ZnXC3k", map[string]any{"expand[]": "upi"}, nil)
	}}
	sdkPaymentLink = sdkCall{"payment link", plinkA, func(c *razorpay.Client) (map[string]any, error) {
		return c.PaymentLink.Fetch("plink_Fo48rl281ENAg9", nil, nil)
	}}
	sdkQRList = sdkCall{"qr codes of a customer", "/v1/payments/qr_codes", func(c *razorpay.Client) (map[string]any, error) {
		return c.QrCode.All(map[string]any{"customer_id": "cust_HKsR5se84c5LTO"}, nil)
	}}
	// sdkQRPatch is how an app PATCHes a QR code with razorpay-go, which has
	// no method for it: the generic request helper.
	sdkQRPatch = sdkCall{"qr code patch", qrPatchA, func(c *razorpay.Client) (map[string]any, error) {
		return c.Request.Patch(qrPatchA, map[string]any{"notes": map[string]any{"by": "sdk"}}, nil)
	}}
)

func TestSDKEndToEnd(t *testing.T) {
	e := newEnv(t)
	a := sdkClient("rzp_test_A", "secretA", e.gateway.URL)
	// want answers each call straight from a fake of its own with the same
	// seed, so the gateway's answers are compared with Razorpay's, decoded by
	// the same SDK.
	ref := httptest.NewServer(fakerazorpay.New())
	t.Cleanup(ref.Close)
	want := sdkClient("rzp_test_A", "secretA", ref.URL)

	tests := []struct {
		sdkCall
		check func(t *testing.T, got map[string]any)
	}{
		{sdkPayment, func(t *testing.T, got map[string]any) {
			if got["id"] != "pay_DG4ZdRK8ZnXC3k" || got["entity"] != "payment" {
				t.Errorf("id, entity = %v, %v; want pay_DG4ZdRK8ZnXC3k, payment", got["id"], got["entity"])
			}
			upi, ok := got["upi"].(map[string]any)
			if !ok || upi["vpa"] != "gaurav.kumar@upi" || upi["payer_account_type"] != "credit_card" {
				t.Errorf("upi = %v; want the expanded upi object", got["upi"])
			}
		}},
		{sdkPaymentLink, func(t *testing.T, got map[string]any) {
			if got["id"] != "plink_Fo48rl281ENAg9" {
				t.Errorf("id = %v; want plink_Fo48rl281ENAg9", got["id"])
			}
			if n, _ := got["notes"].(map[string]any); n["policy_name"] != "Life Insurance Policy" {
				t.Errorf("notes = %v; want policy_name Life Insurance Policy", got["notes"])
			}
		}},
		{sdkQRList, func(t *testing.T, got map[string]any) {
			if got := sdkNotes(t, got, qrA); got["purpose"] != "Test UPI QR Code notes" {
				t.Errorf("notes of %s = %v; want the seeded purpose", qrA, got)
			}
			items, _ := got["items"].([]any)
			if got["entity"] != "collection" || len(items) != 2 {
				t.Errorf("entity %v with %d items; want a collection of 2", got["entity"], len(items))
			}
			for _, it := range items {
				if qr, _ := it.(map[string]any); qr["customer_id"] != "cust_HKsR5se84c5LTO" {
					t.Errorf("item %v of another customer", qr["id"])
				}
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.desc, func(t *testing.T) {
			wantBody, err := tt.call(want)
			if err != nil {
				t.Fatalf("reference fake: %v", err)
			}
			for i := range 2 {
				got, err := tt.call(a)
				if err != nil {
					t.Fatalf("fetch %d: %v", i+1, err)
				}
				if !reflect.DeepEqual(got, wantBody) {
					t.Errorf("fetch %d through the gateway =\n%v\nwant Razorpay's\n%v", i+1, got, wantBody)
				}
				tt.check(t, got)
			}
			if n := e.fake.Count("GET", tt.path); n != 1 {
				t.Errorf("upstream saw %d GETs for two fetches; want 1 (the second from the cache)", n)
			}
		})
	}

	t.Run("patch purges the list", func(t *testing.T) {
		before := e.fake.Count("GET", "/v1/payments/qr_codes")
		if before != 1 {
			t.Fatalf("upstream saw %d list GETs before the PATCH; want 1 (the list is cached)", before)
		}
		got, err := sdkQRPatch.call(a)
		if err != nil {
			t.Fatalf("PATCH: %v", err)
		}
		wantNotes := map[string]any{"by": "sdk"}
		if got["id"] != qrA || !reflect.DeepEqual(got["notes"], wantNotes) {
			t.Errorf("PATCH answered id %v notes %v; want %s with %v", got["id"], got["notes"], qrA, wantNotes)
		}
		if n := e.fake.Count("PATCH", qrPatchA); n != 1 {
			t.Errorf("upstream saw %d PATCHes; want 1", n)
		}
		if n := e.fake.QRNotes("rzp_test_A", qrA); !reflect.DeepEqual(n, map[string]string{"by": "sdk"}) {
			t.Errorf("fake's notes after the PATCH = %v; want by=sdk", n)
		}
		for i := range 2 {
			list, err := sdkQRList.call(a)
			if err != nil {
				t.Fatalf("list %d after the PATCH: %v", i+1, err)
			}
			if n := sdkNotes(t, list, qrA); !reflect.DeepEqual(n, wantNotes) {
				t.Errorf("list %d after the PATCH: notes of %s = %v; want %v", i+1, qrA, n, wantNotes)
			}
		}
		if n := e.fake.Count("GET", "/v1/payments/qr_codes"); n != 2 {
			t.Errorf("upstream saw %d list GETs in all; want 2 (the PATCH purged the list once)", n)
		}
	})

	t.Run("other credentials never get the cached body", func(t *testing.T) {
		tests := []struct {
			desc, keyID, secret, wantMsg string
		}{
			{"another account", "rzp_test_B", "secretB", "does not exist"},
			{"right key id, wrong secret", "rzp_test_A", "wrong", "secret"},
		}
		for _, tt := range tests {
			t.Run(tt.desc, func(t *testing.T) {
				c := sdkClient(tt.keyID, tt.secret, e.gateway.URL)
				before := e.fake.Count("GET", payA)
				got, err := sdkPayment.call(c)
				var bad *rzperrors.BadRequestError
				if !errors.As(err, &bad) {
					t.Fatalf("Payment.Fetch = %v, %v (%T); want a BadRequestError", got, err, err)
				}
				if got != nil || !strings.Contains(err.Error(), tt.wantMsg) {
					t.Errorf("Payment.Fetch = %v, %q; want nil and an error saying %q", got, err, tt.wantMsg)
				}
				if n := e.fake.Count("GET", payA) - before; n != 1 {
					t.Errorf("upstream saw %d GETs; want 1 (not answered from A's entry)", n)
				}
			})
		}
		// B's own payment is B's, whatever A has cached.
		b := sdkClient("rzp_test_B", "secretB", e.gateway.URL)
		got, err := b.Payment.Fetch("pay_BB4ZdRK8ZnXC3k", map[string]any{"expand[]": "upi"}, nil)
		if err != nil || got["id"] != "pay_BB4ZdRK8ZnXC3k" {
			t.Errorf("B's own payment: %v, %v; want pay_BB4ZdRK8ZnXC3k", got["id"], err)
		}
	})
}

func TestSDKSeesGatewayErrors(t *testing.T) {
	e := newEnv(t, func(c *proxy.Config) { c.Upstream, _ = url.Parse("http://127.0.0.1:1") })
	a := sdkClient("rzp_test_A", "secretA", e.gateway.URL)
	for _, tt := range []sdkCall{sdkPayment, sdkPaymentLink, sdkQRList, sdkQRPatch} {
		t.Run(tt.desc, func(t *testing.T) {
			got, err := tt.call(a)
			if err == nil {
				t.Fatalf("SDK reported success %v for an unreachable upstream; want an error", got)
			}
			want := " Please try again shortly."
			if tt.desc == sdkQRPatch.desc {
				want = " The write may or may not have been applied: check its state before retrying."
			}
			if got != nil || !strings.Contains(err.Error(), "could not reach Razorpay") || !strings.Contains(err.Error(), want) {
				t.Errorf("SDK got %v, %q (%T); want nil and the gateway's description", got, err, err)
			}
		})
	}
}

// sdkNotes returns the notes of QR code id in a QR code list the SDK decoded.
func sdkNotes(t *testing.T, list map[string]any, id string) map[string]any {
	t.Helper()
	items, _ := list["items"].([]any)
	for _, it := range items {
		if qr, _ := it.(map[string]any); qr["id"] == id {
			n, _ := qr["notes"].(map[string]any)
			return n
		}
	}
	t.Fatalf("no QR code %s in %v", id, list)
	return nil
}
