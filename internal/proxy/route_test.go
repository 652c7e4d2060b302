package proxy

import (
	"net/http/httptest"
	"slices"
	"testing"
)

func TestMatch(t *testing.T) {
	tests := []struct {
		desc, method, target string
		want                 route
		wantID               string
	}{
		{"payment", "GET", "/v1/payments/pay_DG4ZdRK8ZnXC3k?expand[]=upi", routePayment, "pay_DG4ZdRK8ZnXC3k"},
		{"payment trailing slash", "GET", "/v1/payments/pay_DG4ZdRK8ZnXC3k/?expand[]=upi", routePayment, "pay_DG4ZdRK8ZnXC3k"},
		{"payment link", "GET", "/v1/payment_links/plink_Fo48rl281ENAg9", routePaymentLink, "plink_Fo48rl281ENAg9"},
		{"payment link trailing slash", "GET", "/v1/payment_links/plink_Fo48rl281ENAg9/", routePaymentLink, "plink_Fo48rl281ENAg9"},
		{"qr list", "GET", "/v1/payments/qr_codes?customer_id=cust_HKsR5se84c5LTO", routeQRCodes, ""},
		{"qr list trailing slash", "GET", "/v1/payments/qr_codes/?customer_id=cust_HKsR5se84c5LTO", routeQRCodes, ""},
		{"qr patch", "PATCH", "/v1/payments/qr_codes/qr_HMsVL8HOpbMcjU", routeQRWrite, ""},
		{"qr patch trailing slash", "PATCH", "/v1/payments/qr_codes/qr_HMsVL8HOpbMcjU/", routeQRWrite, ""},
		{"qr patch, escaped id", "PATCH", "/v1/payments/qr_codes/qr_%48MsVL8HOpbMcjU", routeQRWrite, ""},
		{"qr patch, lower-case method", "patch", "/v1/payments/qr_codes/qr_HMsVL8HOpbMcjU", routeQRWrite, ""},
		{"qr patch, unclean path", "PATCH", "//v1/payments/./qr_codes/qr_HMsVL8HOpbMcjU", routeQRWrite, ""},
		{"qr close", "POST", "/v1/payments/qr_codes/qr_HMsVL8HOpbMcjU/close", routeQRWrite, ""},
		{"qr put", "PUT", "/v1/payments/qr_codes/qr_HMsVL8HOpbMcjU", routeQRWrite, ""},
		{"qr options", "OPTIONS", "/v1/payments/qr_codes/qr_HMsVL8HOpbMcjU", routePassthrough, ""},
		{"webhook", "POST", "/_rzpgate/webhooks/razorpay", routeGateway, ""},
		{"gateway path read", "GET", "/_rzpgate/anything", routeGateway, ""},
		{"qr create", "POST", "/v1/payments/qr_codes", routeQRWrite, ""},
		{"qr read through a POST override", "POST", "/v1/payments/qr_codes", routeQRWrite, ""},
		{"single qr get is pass-through", "GET", "/v1/payments/qr_codes/qr_HMsVL8HOpbMcjU", routePassthrough, ""},
		{"downtimes is not a payment id", "GET", "/v1/payments/downtimes", routePassthrough, ""},
		{"payment sub-resource", "GET", "/v1/payments/pay_DG4ZdRK8ZnXC3k/refunds", routePassthrough, ""},
		{"payment with wrong prefix", "GET", "/v1/payments/order_DG4ZdRK8ZnXC3k", routePassthrough, ""},
		{"bare prefix", "GET", "/v1/payments/pay_", routePassthrough, ""},
		{"encoded slash", "GET", "/v1/payments/pay_abc%2F..%2Fpay_def", routePassthrough, ""},
		{"encoded underscore", "GET", "/v1/payments/pay%5FDG4ZdRK8ZnXC3k", routePassthrough, ""},
		{"dot in id", "GET", "/v1/payments/pay_abc.json", routePassthrough, ""},
		{"dot segment", "GET", "/v1/payment_links/..", routePassthrough, ""},
		{"double slash", "GET", "/v1/payments//pay_DG4ZdRK8ZnXC3k", routePassthrough, ""},
		{"two trailing slashes", "GET", "/v1/payments/pay_DG4ZdRK8ZnXC3k//", routePassthrough, ""},
		{"underscore in id tail", "GET", "/v1/payments/pay_DG4Zd_K8ZnXC3k", routePassthrough, ""},
		{"head is pass-through", "HEAD", "/v1/payments/pay_DG4ZdRK8ZnXC3k", routePassthrough, ""},
		{"post is a write", "POST", "/v1/payments/pay_DG4ZdRK8ZnXC3k", routeWrite, ""},
		{"patch of a payment", "PATCH", "/v1/payments/pay_DG4ZdRK8ZnXC3k", routeWrite, ""},
		{"payment capture", "POST", "/v1/payments/pay_DG4ZdRK8ZnXC3k/capture", routeWrite, ""},
		{"patch with bad qr id", "PATCH", "/v1/payments/qr_codes/qr_bad-id", routeQRWrite, ""},
		{"patch with double-escaped id", "PATCH", "/v1/payments/qr_codes/qr_%2548MsVL8HOpbMcjU", routeQRWrite, ""},
		{"orders", "POST", "/v1/orders", routeWrite, ""},
		{"delete", "DELETE", "/v1/items/item_7Oxp4hmm6T4SCn", routeWrite, ""},
		{"too long id", "GET", "/v1/payments/pay_" + string(make([]byte, 0)) + "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", routePassthrough, ""},
	}
	for _, tt := range tests {
		t.Run(tt.desc, func(t *testing.T) {
			r := httptest.NewRequest(tt.method, tt.target, nil)
			if tt.desc == "qr read through a POST override" {
				r.Header.Set("X-HTTP-Method-Override", "PATCH")
			}
			got, id := match(r)
			if got != tt.want || id != tt.wantID {
				t.Errorf("match(%s %s) = %v, %q; want %v, %q", tt.method, tt.target, got, id, tt.want, tt.wantID)
			}
		})
	}
}

func TestPathIDs(t *testing.T) {
	tests := []struct {
		desc, path string
		want       []string
	}{
		{"qr code", "/v1/payments/qr_codes/qr_HMsVL8HOpbMcjU", []string{"qr_HMsVL8HOpbMcjU"}},
		{"qr close", "/v1/payments/qr_codes/qr_HMsVL8HOpbMcjU/close", []string{"qr_HMsVL8HOpbMcjU"}},
		{"qr create", "/v1/payments/qr_codes", nil},
		{"capture", "/v1/payments/pay_DG4ZdRK8ZnXC3k/capture", []string{"pay_DG4ZdRK8ZnXC3k"}},
		{"unclean", "//v1/payments/./pay_DG4ZdRK8ZnXC3k/../pay_DG4ZdRK8ZnXC3k/refund", []string{"pay_DG4ZdRK8ZnXC3k"}},
		{"two ids", "/v1/customers/cust_HKsR5se84c5LTO/tokens/token_4lsdksD31GaZ09", []string{"cust_HKsR5se84c5LTO", "token_4lsdksD31GaZ09"}},
		{"not ids", "/v1/payment_links/x_/A_b/_abc/toolongprefixx_a", nil},
	}
	for _, tt := range tests {
		t.Run(tt.desc, func(t *testing.T) {
			if got := pathIDs(tt.path); !slices.Equal(got, tt.want) {
				t.Errorf("pathIDs(%q) = %q; want %q", tt.path, got, tt.want)
			}
		})
	}
}
