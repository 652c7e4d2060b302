package fakerazorpay

import (
	"encoding/json"
	"maps"
	"net/http"
	"reflect"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
)

// docWithout returns doc with the top-level key removed.
func docWithout(t *testing.T, doc, key string) []byte {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal([]byte(doc), &m); err != nil {
		t.Fatal(err)
	}
	delete(m, key)
	b, err := json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// listOf returns the documented collection envelope around the docs.
func listOf(docs ...string) []byte {
	return []byte(`{"entity":"collection","count":` + strconv.Itoa(len(docs)) +
		`,"items":[` + strings.Join(docs, ",") + `]}`)
}

func TestGetEndpoints(t *testing.T) {
	_, ts := start(t)
	tests := []struct {
		desc, path string
		want       []byte
	}{
		{"QR code", "/v1/payments/qr_codes/qr_HMsgvioW64f0vh", []byte(docQRCode)},
		{"QR code, trailing slash", "/v1/payments/qr_codes/qr_HMsVL8HOpbMcjU/", []byte(docPatchedQRCode)},
		{"QR codes of customer", "/v1/payments/qr_codes?customer_id=cust_HKsR5se84c5LTO",
			listOf(docPatchedQRCode, docQRCode)},
		{"QR codes of customer, trailing slash", "/v1/payments/qr_codes/?customer_id=cust_HKsR5se84c5LTO",
			listOf(docPatchedQRCode, docQRCode)},
		{"QR codes of customer without any", "/v1/payments/qr_codes?customer_id=cust_BBsR5se84c5LTO", listOf()},
		{"all QR codes", "/v1/payments/qr_codes", listOf(docPatchedQRCode, docQRCode)},
		{"payment link", "/v1/payment_links/plink_Fo48rl281ENAg9", []byte(docPaymentLink)},
		{"payment link, trailing slash", "/v1/payment_links/plink_Fo48rl281ENAg9/", []byte(docPaymentLink)},
		{"payment, expanded", "/v1/payments/pay_DG4ZdRK8ZnXC3k/?expand[]=upi", []byte(docPayment)},
		{"payment", "/v1/payments/pay_DG4ZdRK8ZnXC3k", docWithout(t, docPayment, "upi")},
	}
	for _, tt := range tests {
		t.Run(tt.desc, func(t *testing.T) {
			res := do(t, ts, call{method: "GET", path: tt.path, auth: authA})
			if res.status != http.StatusOK {
				t.Errorf("status = %d, want 200", res.status)
			}
			if !jsonEqual(t, res.body, tt.want) {
				t.Errorf("body = %s\nwant %s", res.body, tt.want)
			}
		})
	}
}

func TestRoutingErrors(t *testing.T) {
	_, ts := start(t)
	tests := []struct {
		desc, method, path  string
		wantStatus          int
		wantDesc, wantAllow string
	}{
		{"unknown path", "GET", "/v1/customers/cust_HKsR5se84c5LTO", http.StatusNotFound, msgNotFoundURL, ""},
		{"no id", "GET", "/v1/payments/", http.StatusNotFound, msgNotFoundURL, ""},
		{"nested path", "GET", "/v1/payments/pay_DG4ZdRK8ZnXC3k/refunds", http.StatusNotFound, msgNotFoundURL, ""},
		{"root", "GET", "/", http.StatusNotFound, msgNotFoundURL, ""},
		{"POST to QR code", "POST", "/v1/payments/qr_codes/qr_HMsgvioW64f0vh", http.StatusMethodNotAllowed,
			"The requested method POST is not allowed for this URL.", "GET, PATCH"},
		{"PATCH to payment", "PATCH", "/v1/payments/pay_DG4ZdRK8ZnXC3k", http.StatusMethodNotAllowed,
			"The requested method PATCH is not allowed for this URL.", "GET"},
		{"GET orders", "GET", "/v1/orders", http.StatusMethodNotAllowed,
			"The requested method GET is not allowed for this URL.", "POST"},
		{"DELETE QR codes", "DELETE", "/v1/payments/qr_codes/", http.StatusMethodNotAllowed,
			"The requested method DELETE is not allowed for this URL.", "GET, POST"},
	}
	for _, tt := range tests {
		t.Run(tt.desc, func(t *testing.T) {
			res := do(t, ts, call{method: tt.method, path: tt.path, auth: authA})
			wantError(t, res, tt.wantStatus, codeBadRequest, tt.wantDesc, "")
			if got := res.header.Get("Allow"); got != tt.wantAllow {
				t.Errorf("Allow = %q, want %q", got, tt.wantAllow)
			}
		})
	}
}

func TestOwnership(t *testing.T) {
	s, ts := start(t)
	tests := []struct {
		desc, method, path, body string
		auth                     [2]string
		wantOK                   bool
	}{
		{"B reads A's payment", "GET", "/v1/payments/pay_DG4ZdRK8ZnXC3k", "", authB, false},
		{"B reads A's QR code", "GET", "/v1/payments/qr_codes/qr_HMsgvioW64f0vh", "", authB, false},
		{"B reads A's payment link", "GET", "/v1/payment_links/plink_Fo48rl281ENAg9", "", authB, false},
		{"B patches A's QR code", "PATCH", "/v1/payments/qr_codes/qr_HMsgvioW64f0vh", `{"notes":{}}`, authB, false},
		{"A reads B's payment", "GET", "/v1/payments/pay_BB4ZdRK8ZnXC3k", "", authA, false},
		{"B reads its payment", "GET", "/v1/payments/pay_BB4ZdRK8ZnXC3k", "", authB, true},
		{"B reads its QR code", "GET", "/v1/payments/qr_codes/qr_BBsVL8HOpbMcjU", "", authB, true},
		{"B reads its payment link", "GET", "/v1/payment_links/plink_BB48rl281ENAg9", "", authB, true},
	}
	for _, tt := range tests {
		t.Run(tt.desc, func(t *testing.T) {
			res := do(t, ts, call{method: tt.method, path: tt.path, body: tt.body, auth: tt.auth})
			if !tt.wantOK {
				wantError(t, res, http.StatusBadRequest, codeBadRequest, msgNoSuchID, "")
				return
			}
			if res.status != http.StatusOK {
				t.Errorf("status = %d, want 200", res.status)
			}
			var got struct{ ID string }
			json.Unmarshal(res.body, &got)
			if want := tt.path[strings.LastIndex(tt.path, "/")+1:]; got.ID != want {
				t.Errorf("id = %q, want %q", got.ID, want)
			}
		})
	}
	if got, want := s.QRNotes("rzp_test_A", "qr_HMsgvioW64f0vh"), map[string]string{"purpose": "Test UPI QR Code notes"}; !reflect.DeepEqual(got, want) {
		t.Errorf("A's notes after B's PATCH = %v, want %v", got, want)
	}
}

func TestListQRCodesRejectsInvalidCustomer(t *testing.T) {
	_, ts := start(t)
	for _, id := range []string{"cust_", "cus_HKsR5se84c5LTO", "cust_HKs-R5", "HKsR5se84c5LTO", ""} {
		t.Run(id, func(t *testing.T) {
			res := do(t, ts, call{method: "GET", path: "/v1/payments/qr_codes?customer_id=" + id, auth: authA})
			wantError(t, res, http.StatusBadRequest, codeBadRequest, id+" is not a valid id", "customer_id")
		})
	}
}

func TestPaymentExpand(t *testing.T) {
	_, ts := start(t)
	tests := []struct {
		desc, query string
		wantUPI     bool
	}{
		{"raw brackets", "expand[]=upi", true},
		{"encoded brackets", "expand%5B%5D=upi", true},
		{"among others", "expand%5B%5D=card&expand%5B%5D=upi", true},
		{"no query", "", false},
		{"other expansion", "expand[]=card", false},
		{"no brackets", "expand=upi", false},
	}
	for _, tt := range tests {
		t.Run(tt.desc, func(t *testing.T) {
			res := do(t, ts, call{method: "GET", path: "/v1/payments/pay_DG4ZdRK8ZnXC3k?" + tt.query, auth: authA})
			var got map[string]any
			if err := json.Unmarshal(res.body, &got); err != nil {
				t.Fatal(err)
			}
			if _, has := got["upi"]; has != tt.wantUPI {
				t.Errorf("has upi = %t, want %t (body %s)", has, tt.wantUPI, res.body)
			}
			if got["id"] != "pay_DG4ZdRK8ZnXC3k" {
				t.Errorf("id = %v, want pay_DG4ZdRK8ZnXC3k", got["id"])
			}
		})
	}
}

func TestPatchQRCode(t *testing.T) {
	s, ts := start(t)
	const path = "/v1/payments/qr_codes/qr_HMsVL8HOpbMcjU/"
	res := do(t, ts, call{method: "PATCH", path: path, auth: authA, body: `{"notes":{"key1":"new","key3":"value3"}}`})
	var patched qrCode
	if err := json.Unmarshal(res.body, &patched); err != nil {
		t.Fatalf("decoding %s: %v", res.body, err)
	}
	want := map[string]string{"key1": "new", "key3": "value3"}
	if res.status != http.StatusOK || !reflect.DeepEqual(patched.Notes, want) {
		t.Errorf("PATCH = %d with notes %v, want 200 with %v", res.status, patched.Notes, want)
	}
	if got := do(t, ts, call{method: "GET", path: path, auth: authA}); !jsonEqual(t, got.body, res.body) {
		t.Errorf("GET after PATCH = %s, want the PATCH response %s", got.body, res.body)
	}
	if got := s.QRNotes("rzp_test_A", "qr_HMsVL8HOpbMcjU"); !reflect.DeepEqual(got, want) {
		t.Errorf("QRNotes = %v, want %v", got, want)
	}
	if got := s.QRNotes("rzp_test_B", "qr_HMsVL8HOpbMcjU"); got != nil {
		t.Errorf("QRNotes for B = %v, want nil", got)
	}
}

func TestPatchQRCodeValidation(t *testing.T) {
	manyNotes := make([]string, 16)
	for i := range manyNotes {
		manyNotes[i] = `"k` + string(rune('a'+i)) + `":"v"`
	}
	tests := []struct {
		desc, path, body string
		wantDesc, field  string
	}{
		{"invalid JSON", "qr_HMsVL8HOpbMcjU", `{"notes":`, "The request body must be a JSON object with notes.", "notes"},
		{"empty body", "qr_HMsVL8HOpbMcjU", ``, "The request body must be a JSON object with notes.", "notes"},
		{"missing notes", "qr_HMsVL8HOpbMcjU", `{"name":"x"}`, "The notes field is required.", "notes"},
		{"null notes", "qr_HMsVL8HOpbMcjU", `{"notes":null}`, "The notes field must be a JSON object.", "notes"},
		{"array notes", "qr_HMsVL8HOpbMcjU", `{"notes":["a"]}`, "The notes field must be a JSON object.", "notes"},
		{"number value", "qr_HMsVL8HOpbMcjU", `{"notes":{"a":1}}`, "The notes values must be strings.", "notes"},
		{"too many", "qr_HMsVL8HOpbMcjU", `{"notes":{` + strings.Join(manyNotes, ",") + `}}`,
			"Number of fields in notes should be less than or equal to 15", "notes"},
		{"too long", "qr_HMsVL8HOpbMcjU", `{"notes":{"a":"` + strings.Repeat("x", 257) + `"}}`,
			"The notes.a may not be greater than 256 characters.", "notes"},
		{"unknown id", "qr_XXXXXXXXXXXXXX", `{"notes":{}}`, msgNoSuchID, ""},
	}
	for _, tt := range tests {
		t.Run(tt.desc, func(t *testing.T) {
			s, ts := start(t)
			res := do(t, ts, call{method: "PATCH", path: "/v1/payments/qr_codes/" + tt.path, auth: authA, body: tt.body})
			wantError(t, res, http.StatusBadRequest, codeBadRequest, tt.wantDesc, tt.field)
			if got, want := s.QRNotes("rzp_test_A", "qr_HMsVL8HOpbMcjU"), map[string]string{"key1": "value1", "key2": "value2"}; !reflect.DeepEqual(got, want) {
				t.Errorf("notes after a rejected PATCH = %v, want %v", got, want)
			}
		})
	}
}

func TestCreateOrder(t *testing.T) {
	_, ts := start(t)
	res := do(t, ts, call{method: "POST", path: "/v1/orders", auth: authA,
		body: `{"amount":50000,"currency":"INR","receipt":"receipt#1","notes":{"key1":"value3"}}`})
	if res.status != http.StatusOK {
		t.Fatalf("status = %d, want 200 (body %s)", res.status, res.body)
	}
	var got map[string]any
	if err := json.Unmarshal(res.body, &got); err != nil {
		t.Fatal(err)
	}
	if id, _ := got["id"].(string); !regexp.MustCompile(`^order_[A-Za-z0-9]{14}$`).MatchString(id) {
		t.Errorf("id = %q, want order_ and 14 letters or digits", id)
	}
	for k, want := range map[string]any{
		"entity": "order", "amount": 50000.0, "amount_due": 50000.0, "amount_paid": 0.0,
		"currency": "INR", "receipt": "receipt#1", "status": "created",
		"notes": map[string]any{"key1": "value3"},
	} {
		if !reflect.DeepEqual(got[k], want) {
			t.Errorf("%s = %v, want %v", k, got[k], want)
		}
	}

	res2 := do(t, ts, call{method: "POST", path: "/v1/orders/", auth: authA, body: `{"amount":100,"currency":"INR"}`})
	var second map[string]any
	json.Unmarshal(res2.body, &second)
	if second["id"] == got["id"] {
		t.Errorf("two orders share id %v", got["id"])
	}
	if !reflect.DeepEqual(second["notes"], []any{}) || second["receipt"] != nil {
		t.Errorf("order without notes or receipt: notes = %v, receipt = %v, want [] and null", second["notes"], second["receipt"])
	}
}

func TestCreateOrderValidation(t *testing.T) {
	_, ts := start(t)
	tests := []struct {
		desc, body      string
		wantDesc, field string
	}{
		{"invalid JSON", `{`, "The request body must be a JSON object.", ""},
		{"no amount", `{"currency":"INR"}`, "The amount field is required.", "amount"},
		{"fractional amount", `{"amount":1.5,"currency":"INR"}`, "The amount must be an integer.", "amount"},
		{"small amount", `{"amount":99,"currency":"INR"}`, "The amount must be atleast INR 1.00", "amount"},
		{"no currency", `{"amount":100}`, "The currency field is required.", "currency"},
		{"numeric receipt", `{"amount":100,"currency":"INR","receipt":7}`, "The receipt must be a string.", "receipt"},
		{"array notes", `{"amount":100,"currency":"INR","notes":[1]}`, "The notes field must be a JSON object.", "notes"},
	}
	for _, tt := range tests {
		t.Run(tt.desc, func(t *testing.T) {
			res := do(t, ts, call{method: "POST", path: "/v1/orders", auth: authA, body: tt.body})
			wantError(t, res, http.StatusBadRequest, codeBadRequest, tt.wantDesc, tt.field)
		})
	}
}

// TestSeedsDiffer checks that B's entities share A's shapes but none of its
// ids, so that a response leaked across accounts is detectable.
func TestSeedsDiffer(t *testing.T) {
	_, ts := start(t)
	pairs := []struct{ pathA, pathB string }{
		{"/v1/payments/qr_codes/qr_HMsgvioW64f0vh", "/v1/payments/qr_codes/qr_BBsgvioW64f0vh"},
		{"/v1/payments/qr_codes/qr_HMsVL8HOpbMcjU", "/v1/payments/qr_codes/qr_BBsVL8HOpbMcjU"},
		{"/v1/payment_links/plink_Fo48rl281ENAg9", "/v1/payment_links/plink_BB48rl281ENAg9"},
		{"/v1/payments/pay_DG4ZdRK8ZnXC3k?expand[]=upi", "/v1/payments/pay_BB4ZdRK8ZnXC3k?expand[]=upi"},
	}
	idPattern := regexp.MustCompile(`"(?:qr|cust|plink|pay|order)_[A-Za-z0-9]{14}"`)
	for _, p := range pairs {
		t.Run(p.pathB, func(t *testing.T) {
			a := do(t, ts, call{method: "GET", path: p.pathA, auth: authA})
			b := do(t, ts, call{method: "GET", path: p.pathB, auth: authB})
			var ma, mb map[string]any
			json.Unmarshal(a.body, &ma)
			json.Unmarshal(b.body, &mb)
			if ka, kb := slices.Sorted(maps.Keys(ma)), slices.Sorted(maps.Keys(mb)); !slices.Equal(ka, kb) {
				t.Errorf("B's keys = %v, want A's %v", kb, ka)
			}
			for _, id := range idPattern.FindAll(b.body, -1) {
				if strings.Contains(string(a.body), string(id)) {
					t.Errorf("B's entity shares id %s with A's", id)
				}
			}
		})
	}
}
