package fakerazorpay

import (
	"encoding/json"
	"maps"
	"net/http"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"testing"
)

// docCreateQRBody is the request body of the "Create a QR Code" example.
const docCreateQRBody = `{
  "type": "upi_qr",
  "name": "Store Front Display",
  "usage": "single_use",
  "fixed_amount": true,
  "payment_amount": 300,
  "description": "For Store 1",
  "customer_id": "cust_HKsR5se84c5LTO",
  "close_by": 1681615838,
  "notes": {
    "purpose": "Test UPI QR Code notes"
  }
}`

func TestCreateQRCode(t *testing.T) {
	s, ts := start(t)
	res := do(t, ts, call{method: "POST", path: "/v1/payments/qr_codes", auth: authA, body: docCreateQRBody})
	if res.status != http.StatusOK {
		t.Fatalf("status = %d, want 200 (body %s)", res.status, res.body)
	}
	var got map[string]any
	if err := json.Unmarshal(res.body, &got); err != nil {
		t.Fatal(err)
	}
	id, _ := got["id"].(string)
	if !regexp.MustCompile(`^qr_[A-Za-z0-9]{14}$`).MatchString(id) {
		t.Errorf("id = %q, want qr_ and 14 letters or digits", id)
	}
	for k, want := range map[string]any{
		"entity": "qr_code", "name": "Store Front Display", "usage": "single_use", "type": "upi_qr",
		"payment_amount": 300.0, "status": "active", "description": "For Store 1", "fixed_amount": true,
		"payments_amount_received": 0.0, "payments_count_received": 0.0,
		"notes":       map[string]any{"purpose": "Test UPI QR Code notes"},
		"customer_id": "cust_HKsR5se84c5LTO", "close_by": 1681615838.0,
	} {
		if !reflect.DeepEqual(got[k], want) {
			t.Errorf("%s = %v, want %v", k, got[k], want)
		}
	}
	var seeded map[string]any
	json.Unmarshal([]byte(docQRCode), &seeded)
	if gotKeys, wantKeys := slices.Sorted(maps.Keys(got)), slices.Sorted(maps.Keys(seeded)); !slices.Equal(gotKeys, wantKeys) {
		t.Errorf("keys = %v, want the seeded QR code's %v", gotKeys, wantKeys)
	}

	if fetched := do(t, ts, call{method: "GET", path: "/v1/payments/qr_codes/" + id, auth: authA}); !jsonEqual(t, fetched.body, res.body) {
		t.Errorf("GET of the new QR code = %s, want the creation response %s", fetched.body, res.body)
	}
	list := do(t, ts, call{method: "GET", path: "/v1/payments/qr_codes?customer_id=cust_HKsR5se84c5LTO", auth: authA})
	var items collection[qrCode]
	if err := json.Unmarshal(list.body, &items); err != nil {
		t.Fatal(err)
	}
	if got, want := items.Count, 3; got != want || !slices.ContainsFunc(items.Items, func(qr qrCode) bool { return qr.ID == id }) {
		t.Errorf("customer's list has %d items, want %d including %s (body %s)", got, want, id, list.body)
	}
	if got, want := s.QRNotes("rzp_test_A", id), map[string]string{"purpose": "Test UPI QR Code notes"}; !reflect.DeepEqual(got, want) {
		t.Errorf("QRNotes = %v, want %v", got, want)
	}
	other := do(t, ts, call{method: "GET", path: "/v1/payments/qr_codes/" + id, auth: authB})
	wantError(t, other, http.StatusBadRequest, codeBadRequest, msgNoSuchID, "")

	again := do(t, ts, call{method: "POST", path: "/v1/payments/qr_codes/", auth: authA, body: docCreateQRBody})
	var second qrCode
	json.Unmarshal(again.body, &second)
	if second.ID == id {
		t.Errorf("two QR codes share id %s", id)
	}
}

func TestCreateQRCodeMinimal(t *testing.T) {
	s, ts := start(t)
	res := do(t, ts, call{method: "POST", path: "/v1/payments/qr_codes", auth: authB,
		body: `{"type":"upi_qr","usage":"multiple_use","fixed_amount":false}`})
	var qr qrCode
	if err := json.Unmarshal(res.body, &qr); err != nil {
		t.Fatal(err)
	}
	if res.status != http.StatusOK || qr.Status != "active" || qr.CustomerID != "" || qr.FixedAmount || qr.PaymentAmount != 0 {
		t.Errorf("POST = %d %s, want 200 with an active QR code without customer or amount", res.status, res.body)
	}
	if got := s.QRNotes("rzp_test_B", qr.ID); got == nil || len(got) != 0 {
		t.Errorf("QRNotes = %v, want {}", got)
	}
}

func TestCreateQRCodeValidation(t *testing.T) {
	valid := func(change string) string { // The minimal valid body with change merged in.
		return `{"type":"upi_qr","usage":"single_use"` + change + `}`
	}
	tests := []struct {
		desc, body      string
		wantDesc, field string
	}{
		{"invalid JSON", `{`, "The request body must be a JSON object.", ""},
		{"array", `[]`, "The request body must be a JSON object.", ""},
		{"null", `null`, "The request body must be a JSON object.", ""},
		{"unknown field", valid(`,"amount":300`), "amount is/are not required and should not be sent", "amount"},
		{"no type", `{"usage":"single_use"}`, "The type field is required.", "type"},
		{"bharat_qr", `{"type":"bharat_qr","usage":"single_use"}`, "The selected type is invalid.", "type"},
		{"numeric type", `{"type":1,"usage":"single_use"}`, "The type must be a string.", "type"},
		{"no usage", `{"type":"upi_qr"}`, "The usage field is required.", "usage"},
		{"bad usage", `{"type":"upi_qr","usage":"single_payment"}`, "The selected usage is invalid.", "usage"},
		{"bad customer", valid(`,"customer_id":"HKsR5se84c5LTO"`), "HKsR5se84c5LTO is not a valid id", "customer_id"},
		{"empty customer", valid(`,"customer_id":""`), " is not a valid id", "customer_id"},
		{"fixed without amount", valid(`,"fixed_amount":true`),
			"The payment amount field is required when fixed amount is true.", "payment_amount"},
		{"fixed with null amount", valid(`,"fixed_amount":true,"payment_amount":null`),
			"The payment amount field is required when fixed amount is true.", "payment_amount"},
		{"zero amount", valid(`,"fixed_amount":true,"payment_amount":0`), "The payment amount must be at least 1.", "payment_amount"},
		{"negative amount", valid(`,"payment_amount":-5`), "The payment amount must be at least 1.", "payment_amount"},
		{"fractional amount", valid(`,"payment_amount":1.5`), "The payment_amount must be an integer.", "payment_amount"},
		{"string fixed_amount", valid(`,"fixed_amount":"true"`), "The fixed_amount must be a boolean.", "fixed_amount"},
		{"string close_by", valid(`,"close_by":"soon"`), "The close_by must be an integer.", "close_by"},
		{"array notes", valid(`,"notes":["a"]`), "The notes field must be a JSON object.", "notes"},
		{"number note", valid(`,"notes":{"a":1}`), "The notes values must be strings.", "notes"},
		{"long note", valid(`,"notes":{"a":"` + strings.Repeat("x", 257) + `"}`),
			"The notes.a may not be greater than 256 characters.", "notes"},
	}
	for _, tt := range tests {
		t.Run(tt.desc, func(t *testing.T) {
			s, ts := start(t)
			res := do(t, ts, call{method: "POST", path: "/v1/payments/qr_codes", auth: authA, body: tt.body})
			wantError(t, res, http.StatusBadRequest, codeBadRequest, tt.wantDesc, tt.field)
			s.mu.Lock()
			n := len(s.accounts["rzp_test_A"].qrCodes)
			s.mu.Unlock()
			if n != 2 {
				t.Errorf("account A has %d QR codes after a rejected creation, want the 2 seeded", n)
			}
		})
	}
}
