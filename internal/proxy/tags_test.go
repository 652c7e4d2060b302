package proxy

import (
	"slices"
	"testing"
)

func TestExtractTags(t *testing.T) {
	tests := []struct {
		desc string
		body string
		want []string
	}{
		{"qr list", `{"entity":"collection","count":1,"items":[{"id":"qr_HMsgvioW64f0vh","usage":"single_use","type":"upi_qr","customer_id":"cust_HKsR5se84c5LTO"}]}`,
			[]string{"seed", "qr_HMsgvioW64f0vh", "cust_HKsR5se84c5LTO"}},
		{"escaped quote before an id", `{"notes":{"a":"x\"y"},"id":"qr_HMsgvioW64f0vh"}`, []string{"seed", "qr_HMsgvioW64f0vh"}},
		{"escaped backslash then quote", `{"notes":{"a":"x\\"},"id":"qr_HMsgvioW64f0vh"}`, []string{"seed", "qr_HMsgvioW64f0vh"}},
		{"words are not ids", `{"usage":"single_use","flow":"in_app","payer_account_type":"credit_card"}`, []string{"seed"}},
		{"duplicates once", `{"a":"pay_DG4ZdRK8ZnXC3k","b":"pay_DG4ZdRK8ZnXC3k"}`, []string{"seed", "pay_DG4ZdRK8ZnXC3k"}},
		{"seed not repeated", `{"id":"seed"}`, []string{"seed"}},
		{"unterminated", `{"id":"qr_HMsgvioW64f0vh`, []string{"seed"}},
	}
	for _, tt := range tests {
		t.Run(tt.desc, func(t *testing.T) {
			got, ok := extractTags([]string{"seed"}, []byte(tt.body))
			if !ok || !slices.Equal(got, tt.want) {
				t.Errorf("extractTags(%s) = %q, %t; want %q, true", tt.body, got, ok, tt.want)
			}
		})
	}
}

func TestExtractTagsBounded(t *testing.T) {
	body := []byte(`[`)
	for i := 0; i <= maxTags; i++ {
		body = append(body, []byte(`"qr_`+idSuffix(i)+`",`)...)
	}
	body = append(body, ']')
	if _, ok := extractTags(nil, body); ok {
		t.Errorf("extractTags of %d ids reported ok; want false past %d", maxTags+1, maxTags)
	}
}

// idSuffix returns 14 base62 characters that differ for each i.
func idSuffix(i int) string {
	const digits = "0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
	b := []byte("00000000000000")
	for j := len(b) - 1; i > 0; j-- {
		b[j] = digits[i%62]
		i /= 62
	}
	return string(b)
}
