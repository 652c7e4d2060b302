package fakerazorpay

import (
	"net/http"
	"testing"
)

func TestSetAnyKey(t *testing.T) {
	s, ts := start(t)
	s.SetAnyKey("rzp_test_A")
	const path = "/v1/payments/pay_DG4ZdRK8ZnXC3k"
	tests := []struct {
		desc     string
		auth     [2]string
		wantDesc string // empty: success
	}{
		{"unknown key answered as A", [2]string{"rzp_test_load42", "anything"}, ""},
		{"another unknown key", [2]string{"rzp_test_load43", "x"}, ""},
		{"unknown key without secret", [2]string{"rzp_test_load42", ""}, "The api key provided is invalid"},
		{"known key, wrong secret", [2]string{"rzp_test_B", "secretA"}, "The api secret provided is invalid"},
		{"known key", authA, ""},
	}
	for _, tt := range tests {
		t.Run(tt.desc, func(t *testing.T) {
			res := do(t, ts, call{method: "GET", path: path, auth: tt.auth})
			if tt.wantDesc == "" {
				if res.status != http.StatusOK {
					t.Errorf("status = %d, want 200 (body %s)", res.status, res.body)
				}
				return
			}
			wantError(t, res, http.StatusUnauthorized, codeBadRequest, tt.wantDesc, "")
		})
	}

	// A write through an unknown key changes the shared account's state.
	res := do(t, ts, call{method: "PATCH", path: "/v1/payments/qr_codes/qr_HMsgvioW64f0vh",
		body: `{"notes":{"by":"load"}}`, auth: [2]string{"rzp_test_load7", "s"}})
	if res.status != http.StatusOK {
		t.Fatalf("PATCH status = %d, want 200 (body %s)", res.status, res.body)
	}
	if got := s.QRNotes("rzp_test_A", "qr_HMsgvioW64f0vh")["by"]; got != "load" {
		t.Errorf("A's QR code notes[by] = %q, want %q", got, "load")
	}

	s.SetAnyKey("")
	res = do(t, ts, call{method: "GET", path: path, auth: [2]string{"rzp_test_load42", "anything"}})
	wantError(t, res, http.StatusUnauthorized, codeBadRequest, "The api key provided is invalid", "")
}

func TestSetKeepRequests(t *testing.T) {
	s, ts := start(t)
	const path = "/v1/payments/pay_DG4ZdRK8ZnXC3k"
	do(t, ts, call{method: "GET", path: path, auth: authA})
	s.SetKeepRequests(false)
	do(t, ts, call{method: "GET", path: path, auth: authA})
	do(t, ts, call{method: "GET", path: path})
	s.SetKeepRequests(true)
	do(t, ts, call{method: "GET", path: path + "?expand[]=upi", auth: authA})

	if got, want := s.Total(), 4; got != want {
		t.Errorf("Total = %d, want %d", got, want)
	}
	if got, want := s.Count("GET", path), 4; got != want {
		t.Errorf("Count = %d, want %d", got, want)
	}
	reqs := s.Requests()
	if len(reqs) != 2 || reqs[0].RawQuery != "" || reqs[1].RawQuery != "expand[]=upi" {
		t.Errorf("Requests = %+v, want only the first and the last", reqs)
	}
	s.ResetCounts()
	if got := s.Total(); got != 0 {
		t.Errorf("Total after ResetCounts = %d, want 0", got)
	}
}
