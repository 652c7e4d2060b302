package apierror

import (
	"encoding/json"
	"net/http/httptest"
	"testing"
)

func TestWrite(t *testing.T) {
	w := httptest.NewRecorder()
	Write(w, 429, BadRequest, "Too many requests.")
	if w.Code != 429 || w.Header().Get("Cache-Control") != "no-store" || w.Header().Get("Content-Type") != "application/json; charset=UTF-8" {
		t.Errorf("status %d, headers %v; want 429, no-store, JSON", w.Code, w.Header())
	}
	var got map[string]map[string]any
	if err := json.Unmarshal(w.Body.Bytes(), &got); err != nil {
		t.Fatal(err)
	}
	e := got["error"]
	if e["code"] != BadRequest || e["description"] != "Too many requests." || e["source"] != "NA" || e["metadata"] == nil {
		t.Errorf("body %s; want Razorpay's error shape", w.Body)
	}
	if _, ok := e["internal_error_code"]; ok {
		t.Errorf("body has internal_error_code, which razorpay-go misreads as success")
	}
}
