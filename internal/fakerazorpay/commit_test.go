package fakerazorpay

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"testing"
	"time"
)

// waitFor polls cond until it holds, failing t after ten seconds.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); !cond(); time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
	}
}

// qrCount returns how many QR codes the account keyID owns.
func qrCount(s *Server, keyID string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.accounts[keyID].qrCodes)
}

// delayedWrite is a write whose commit the tests can observe.
type delayedWrite struct {
	desc, method, path, body string
	committed                func(*Server) bool
}

var delayedWrites = []delayedWrite{
	{"PATCH QR code", "PATCH", "/v1/payments/qr_codes/qr_HMsgvioW64f0vh", `{"notes":{"v":"late"}}`,
		func(s *Server) bool {
			return reflect.DeepEqual(s.QRNotes("rzp_test_A", "qr_HMsgvioW64f0vh"), map[string]string{"v": "late"})
		}},
	{"create QR code", "POST", "/v1/payments/qr_codes", docCreateQRBody,
		func(s *Server) bool { return qrCount(s, "rzp_test_A") == 3 }},
}

func TestCommitDelay(t *testing.T) {
	const delay = 300 * time.Millisecond
	for _, tt := range delayedWrites {
		t.Run(tt.desc, func(t *testing.T) {
			s, ts := start(t)
			s.SetCommitDelay(delay)
			began := time.Now()
			got := make(chan result, 1)
			go func() {
				res, err := send(ts, call{method: tt.method, path: tt.path, auth: authA, body: tt.body})
				if err != nil {
					t.Error(err)
				}
				got <- res
			}()
			waitFor(t, "the write to arrive", func() bool { return s.Count(tt.method, tt.path) == 1 })
			if tt.committed(s) {
				t.Errorf("the write committed on arrival, want it to wait %v", delay)
			}
			if got, want := s.PendingCommits(), 1; got != want {
				t.Errorf("PendingCommits before the commit = %d, want %d", got, want)
			}

			res := <-got
			if elapsed := time.Since(began); elapsed < delay {
				t.Errorf("response after %v, want at least the commit delay %v", elapsed, delay)
			}
			if res.status != http.StatusOK {
				t.Errorf("status = %d, want 200 (body %s)", res.status, res.body)
			}
			if !tt.committed(s) {
				t.Errorf("the write has not committed by the time it was answered")
			}
			if got := s.PendingCommits(); got != 0 {
				t.Errorf("PendingCommits after the response = %d, want 0", got)
			}
		})
	}
}

// TestCommitDelaySurvivesClient checks that a write whose client cancels
// before the commit delay has passed still commits when it does.
func TestCommitDelaySurvivesClient(t *testing.T) {
	const delay = 300 * time.Millisecond
	for _, tt := range delayedWrites {
		t.Run(tt.desc, func(t *testing.T) {
			s, ts := start(t)
			s.SetCommitDelay(delay)
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			req, err := http.NewRequestWithContext(ctx, tt.method, ts.URL+tt.path, strings.NewReader(tt.body))
			if err != nil {
				t.Fatal(err)
			}
			req.SetBasicAuth(authA[0], authA[1])
			failed := make(chan error, 1)
			go func() {
				resp, err := http.DefaultClient.Do(req)
				if err == nil {
					resp.Body.Close()
				}
				failed <- err
			}()
			waitFor(t, "the write to arrive", func() bool { return s.Count(tt.method, tt.path) == 1 })
			arrived := time.Now()
			cancel()
			if err := <-failed; err == nil {
				t.Errorf("cancelled write got a response, want an error")
			}
			if tt.committed(s) {
				t.Errorf("the write committed when its client cancelled, want it to wait %v", delay)
			}

			s.WaitCommits()
			if elapsed := time.Since(arrived); elapsed < delay*9/10 {
				t.Errorf("WaitCommits returned %v after the write arrived, want about the commit delay %v", elapsed, delay)
			}
			if !tt.committed(s) {
				t.Errorf("the write did not commit after its client cancelled, want it committed at %v", delay)
			}
			if got := s.PendingCommits(); got != 0 {
				t.Errorf("PendingCommits after WaitCommits = %d, want 0", got)
			}
		})
	}
}

// TestCommitDelayLeavesReadsAlone checks that reads are not delayed, not
// even by a pending write to the entity they read, which also shows that
// the lock is free during the wait.
func TestCommitDelayLeavesReadsAlone(t *testing.T) {
	s := New()
	const delay = time.Second
	const path = "/v1/payments/qr_codes/qr_HMsgvioW64f0vh"
	s.SetCommitDelay(delay)
	// The PATCH's arrival is signalled outside the Server, as any of its
	// methods would wait for the lock were it wrongly held.
	patching := make(chan struct{})
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodPatch {
			close(patching)
		}
		s.ServeHTTP(w, r)
	}))
	defer ts.Close()
	patched := make(chan result, 1)
	go func() {
		res, err := send(ts, call{method: "PATCH", path: path, auth: authA, body: `{"notes":{"v":"late"}}`})
		if err != nil {
			t.Error(err)
		}
		patched <- res
	}()
	<-patching
	time.Sleep(50 * time.Millisecond) // Lets the PATCH reach its wait.

	for _, p := range []string{path, "/v1/payments/qr_codes?customer_id=cust_HKsR5se84c5LTO", "/v1/payments/pay_DG4ZdRK8ZnXC3k"} {
		began := time.Now()
		res := do(t, ts, call{method: "GET", path: p, auth: authA})
		if elapsed := time.Since(began); elapsed > delay/2 {
			t.Errorf("GET %s took %v during a pending write, want no commit delay", p, elapsed)
		}
		if res.status != http.StatusOK {
			t.Errorf("GET %s = %d, want 200", p, res.status)
		}
	}
	var qr qrCode
	json.Unmarshal(do(t, ts, call{method: "GET", path: path, auth: authA}).body, &qr)
	if want := map[string]string{"purpose": "Test UPI QR Code notes"}; !reflect.DeepEqual(qr.Notes, want) {
		t.Errorf("GET during the pending PATCH has notes %v, want the old %v", qr.Notes, want)
	}

	if res := <-patched; res.status != http.StatusOK {
		t.Errorf("PATCH = %d, want 200", res.status)
	}
}

// TestCommitDelaySkipsFaults checks that a write answered by a Fault is
// answered at once and commits nothing.
func TestCommitDelaySkipsFaults(t *testing.T) {
	s, ts := start(t)
	s.SetCommitDelay(time.Hour)
	s.SetFault(Fault{Status: http.StatusServiceUnavailable})
	res := do(t, ts, call{method: "POST", path: "/v1/payments/qr_codes", auth: authA, body: docCreateQRBody})
	wantError(t, res, http.StatusServiceUnavailable, codeServerError, msgServerError, "")
	if got := s.PendingCommits(); got != 0 {
		t.Errorf("PendingCommits = %d, want 0", got)
	}
	if got, want := qrCount(s, "rzp_test_A"), 2; got != want {
		t.Errorf("account A has %d QR codes after a failed creation, want %d", got, want)
	}
}
