package webhook

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// samplesDir holds Razorpay's sample webhook bodies, shared with the fake.
const samplesDir = "../fakerazorpay/testdata/webhooks"

func readSample(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(samplesDir, name+".json"))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestParseEventSamples(t *testing.T) {
	tests := []struct {
		sample string
		want   []string
	}{
		{"payment.authorized", []string{"pay_DG4ZdRK8ZnXC3k", "order_GjCr5oKh4AVC51", "cust_K6fNE0WJZWGqtN"}},
		{"payment.captured", []string{"pay_DG4ZdRK8ZnXC3k", "order_GjCr5oKh4AVC51", "cust_K6fNE0WJZWGqtN"}},
		{"payment.failed", []string{"pay_DG4ZdRK8ZnXC3k", "order_GjCr5oKh4AVC51", "cust_K6fNE0WJZWGqtN"}},
		{"refund.created", []string{"rfnd_FP8QHiV938haTz", "pay_DG4ZdRK8ZnXC3k", "order_GjCr5oKh4AVC51", "cust_K6fNE0WJZWGqtN"}},
		{"refund.processed", []string{"rfnd_FP8QHiV938haTz", "pay_DG4ZdRK8ZnXC3k", "order_GjCr5oKh4AVC51", "cust_K6fNE0WJZWGqtN"}},
		{"order.paid", []string{"pay_DG4ZdRK8ZnXC3k", "order_GjCr5oKh4AVC51", "cust_K6fNE0WJZWGqtN"}},
		{"payment_link.paid", []string{"plink_Fo48rl281ENAg9", "order_Fo491cL6NGAjkI", "pay_Fo49sHbQ78PCMI"}},
		{"payment_link.partially_paid", []string{"plink_Fo48rl281ENAg9", "order_Fo491cL6NGAjkI", "pay_Fo49sHbQ78PCMI"}},
		{"payment_link.expired", []string{"plink_Fo48rl281ENAg9", "order_Fo491cL6NGAjkI"}},
		{"payment_link.cancelled", []string{"plink_Fo48rl281ENAg9", "order_Fo491cL6NGAjkI"}},
		{"qr_code.created", []string{"qr_HMsgvioW64f0vh", "cust_HKsR5se84c5LTO"}},
		{"qr_code.credited", []string{"qr_HMsgvioW64f0vh", "cust_HKsR5se84c5LTO", "pay_HMtDKn3TnF4D8x"}},
		{"qr_code.closed", []string{"qr_HMsgvioW64f0vh", "cust_HKsR5se84c5LTO"}},
		{"invoice.paid", []string{"inv_DEWHZlfIcdVIXL", "cust_BtQNqzmBlAXyTY", "order_DEWHZoU57pgISd", "pay_DEWHsM9ByjCjYS",
			"addr_DEVxnrfJblan6u", "li_DEWHZnz7Nd2zkk"}},
		{"subscription.charged", []string{"sub_DEX6xcJ1HSW4CR", "plan_BvrFKjSxauOH7N", "cust_C0WlbKhp3aLA7W", "pay_DEXFWroJ6LikSB",
			"order_DEXFWXOJfmbWIv", "inv_DEXFWVuM5fphFM", "card_DEXFX0KGJXEWFq", "token_DEXFX1RWwfRvzv"}},
	}
	tested := map[string]bool{}
	for _, tt := range tests {
		tested[tt.sample] = true
		t.Run(tt.sample, func(t *testing.T) {
			ev, err := parseEvent(readSample(t, tt.sample))
			if err != nil {
				t.Fatalf("parseEvent: %v", err)
			}
			if ev.Type != tt.sample {
				t.Errorf("Type = %q, want %q", ev.Type, tt.sample)
			}
			if got, want := slices.Sorted(slices.Values(ev.Tags)), slices.Sorted(slices.Values(tt.want)); !slices.Equal(got, want) {
				t.Errorf("Tags = %q, want %q", got, want)
			}
			if typeLabel(ev.Type) != ev.Type {
				t.Errorf("typeLabel(%q) = %q, want the documented type itself", ev.Type, typeLabel(ev.Type))
			}
		})
	}
	files, _ := filepath.Glob(filepath.Join(samplesDir, "*.json"))
	for _, f := range files {
		if name := strings.TrimSuffix(filepath.Base(f), ".json"); !tested[name] {
			t.Errorf("sample %s has no case here", name)
		}
	}
}

func TestParseEventRejects(t *testing.T) {
	tests := []struct{ desc, body string }{
		{"empty", ""},
		{"not JSON", "entity=event"},
		{"null", "null"},
		{"array", `[{"entity":"event","event":"payment.captured","payload":{}}]`},
		{"string", `"event"`},
		{"truncated", `{"entity":"event","event":"payment.captured","payload":{"payment":{"entity":{"id":"pay_DG4Z`},
		{"no entity", `{"event":"payment.captured","payload":{}}`},
		{"other entity", `{"entity":"payment","event":"payment.captured","payload":{}}`},
		{"entity not a string", `{"entity":1,"event":"payment.captured","payload":{}}`},
		{"no event", `{"entity":"event","payload":{}}`},
		{"event not a string", `{"entity":"event","event":["payment.captured"],"payload":{}}`},
		{"empty event", `{"entity":"event","event":"","payload":{}}`},
		{"event with spaces", `{"entity":"event","event":"payment captured","payload":{}}`},
		{"event too long", `{"entity":"event","event":"` + strings.Repeat("a", 65) + `","payload":{}}`},
		{"no payload", `{"entity":"event","event":"payment.captured"}`},
		{"null payload", `{"entity":"event","event":"payment.captured","payload":null}`},
		{"payload array", `{"entity":"event","event":"payment.captured","payload":[]}`},
		{"trailing garbage", `{"entity":"event","event":"payment.captured","payload":{}} x`},
	}
	for _, tt := range tests {
		t.Run(tt.desc, func(t *testing.T) {
			if ev, err := parseEvent([]byte(tt.body)); err == nil {
				t.Errorf("parseEvent(%q) = %+v, nil; want an error", tt.body, ev)
			}
		})
	}
}

func TestParseEventTags(t *testing.T) {
	tests := []struct {
		desc, payload string
		want          []string
	}{
		{"no entities", `{}`, nil},
		{"entity not an object", `{"payment":{"entity":"pay_DG4ZdRK8ZnXC3k"}}`, nil},
		{"member without entity", `{"payment":{"id":"pay_DG4ZdRK8ZnXC3k"}}`, nil},
		{"only id and _id members", `{"payment":{"entity":{"id":"pay_A1","description":"pay_B2","order_id":"order_C3","ids":"pay_D4"}}}`,
			[]string{"pay_A1", "order_C3"}},
		{"not id shapes", `{"x":{"entity":{"id":"Pay_A1","user_id":"FmjfFPCOUOAcSH","a_id":"a_b","b_id":"pay_","c_id":"verylongprefix_A1","d_id":"pay_A-1","e_id":7,"f_id":null}}}`,
			nil},
		{"nested objects and arrays", `{"payment_link":{"entity":{"id":"plink_A1","payments":[{"payment_id":"pay_B2"},{"payment_id":"pay_C3"}],"customer":{"id":"cust_D4"}}}}`,
			[]string{"plink_A1", "pay_B2", "pay_C3", "cust_D4"}},
		{"repeats once", `{"a":{"entity":{"id":"pay_A1","x_id":"pay_A1"}},"b":{"entity":{"payment_id":"pay_A1"}}}`, []string{"pay_A1"}},
		{"too deep", `{"a":{"entity":{"b":{"c":{"d":{"e":{"id":"pay_A1"}}}}}}}`, nil},
		{"deepest kept", `{"a":{"entity":{"b":{"c":{"d":{"id":"pay_A1"}}}}}}`, []string{"pay_A1"}},
	}
	for _, tt := range tests {
		t.Run(tt.desc, func(t *testing.T) {
			ev, err := parseEvent([]byte(`{"entity":"event","event":"x.y","payload":` + tt.payload + `}`))
			if err != nil {
				t.Fatalf("parseEvent: %v", err)
			}
			if got, want := slices.Sorted(slices.Values(ev.Tags)), slices.Sorted(slices.Values(tt.want)); !slices.Equal(got, want) {
				t.Errorf("Tags = %q, want %q", got, want)
			}
		})
	}
}

func TestParseEventTagsBounded(t *testing.T) {
	var b strings.Builder
	b.WriteString(`{"entity":"event","event":"invoice.paid","payload":{"invoice":{"entity":{"id":"inv_TOP","line_items":[`)
	for i := range 3 * maxTags {
		if i > 0 {
			b.WriteString(",")
		}
		fmt.Fprintf(&b, `{"id":"li_%d"}`, i)
	}
	b.WriteString(`]}}}}`)
	ev, err := parseEvent([]byte(b.String()))
	if err != nil {
		t.Fatal(err)
	}
	if len(ev.Tags) != maxTags {
		t.Fatalf("%d tags, want the bound %d", len(ev.Tags), maxTags)
	}
	if ev.Tags[0] != "inv_TOP" {
		t.Errorf("first tag %q, want the entity's own id inv_TOP: shallow ids come first", ev.Tags[0])
	}
}

func TestTypeLabel(t *testing.T) {
	for typ, want := range map[string]string{
		"payment.captured":        "payment.captured",
		"qr_code.closed":          "qr_code.closed",
		"payment.dispute.created": "other",
		"settlement.processed":    "other",
		"":                        "other",
	} {
		if got := typeLabel(typ); got != want {
			t.Errorf("typeLabel(%q) = %q, want %q", typ, got, want)
		}
	}
}

func FuzzParseEvent(f *testing.F) {
	files, _ := filepath.Glob(filepath.Join(samplesDir, "*.json"))
	for _, file := range files {
		b, err := os.ReadFile(file)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Add([]byte(`{"entity":"event","event":"a","payload":{"a":{"entity":{"id":"pay_A","b":[[[{"x_id":"x_y"}]]]}}}}`))
	f.Fuzz(func(t *testing.T, body []byte) {
		ev, err := parseEvent(body)
		if err != nil {
			return
		}
		if !validType(ev.Type) {
			t.Errorf("Type %q is not a valid type", ev.Type)
		}
		if len(ev.Tags) > maxTags {
			t.Errorf("%d tags, over the bound %d", len(ev.Tags), maxTags)
		}
		for i, tag := range ev.Tags {
			if !isRazorpayID(tag) || slices.Contains(ev.Tags[:i], tag) {
				t.Errorf("tag %q is not an id, or repeated", tag)
			}
		}
	})
}
