package main

import (
	"context"
	"io"
	"net"
	"net/http"
	"reflect"
	"strings"
	"testing"
	"time"
)

func TestParseKeys(t *testing.T) {
	tests := []struct {
		desc, in string
		want     map[string]string // nil: an error
	}{
		{"default", "rzp_test_A:secretA,rzp_test_B:secretB", map[string]string{"rzp_test_A": "secretA", "rzp_test_B": "secretB"}},
		{"spaces", " rzp_test_C:s:c ", map[string]string{"rzp_test_C": "s:c"}},
		{"empty", "", nil},
		{"no secret", "rzp_test_A:", nil},
		{"no colon", "rzp_test_A", nil},
		{"no key id", ":secret", nil},
		{"trailing comma", "rzp_test_A:a,", nil},
		{"duplicate", "rzp_test_A:a,rzp_test_A:b", nil},
	}
	for _, tt := range tests {
		t.Run(tt.desc, func(t *testing.T) {
			got, err := parseKeys(tt.in)
			if tt.want == nil {
				if err == nil {
					t.Errorf("parseKeys(%q) = %v, want an error", tt.in, got)
				}
				return
			}
			if err != nil || !reflect.DeepEqual(got, tt.want) {
				t.Errorf("parseKeys(%q) = %v, %v; want %v", tt.in, got, err, tt.want)
			}
		})
	}
}

func FuzzParseKeys(f *testing.F) {
	f.Add("rzp_test_A:secretA,rzp_test_B:secretB")
	f.Fuzz(func(t *testing.T, s string) {
		accounts, err := parseKeys(s)
		if err != nil {
			return
		}
		for id, secret := range accounts {
			if id == "" || secret == "" || strings.Contains(id, ",") {
				t.Errorf("parseKeys(%q) accepted account %q:%q", s, id, secret)
			}
		}
	})
}

// TestRun starts the command on a free port with only a new account, checks
// that the seeded accounts were removed, and shuts it down.
func TestRun(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()

	const commitDelay = 200 * time.Millisecond
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- run(ctx, []string{"-listen", addr, "-keys", "rzp_test_C:secretC", "-commit-delay", commitDelay.String()}, io.Discard)
	}()

	status := func(key, secret string) int {
		req, _ := http.NewRequest("GET", "http://"+addr+"/v1/payments/qr_codes", nil)
		req.SetBasicAuth(key, secret)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return 0
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	for deadline := time.Now().Add(10 * time.Second); status("rzp_test_C", "secretC") == 0; time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("server never came up")
		}
	}
	if got, want := status("rzp_test_C", "secretC"), http.StatusOK; got != want {
		t.Errorf("status for C = %d, want %d", got, want)
	}
	if got, want := status("rzp_test_A", "secretA"), http.StatusUnauthorized; got != want {
		t.Errorf("status for unlisted seeded A = %d, want %d", got, want)
	}

	req, _ := http.NewRequest("POST", "http://"+addr+"/v1/payments/qr_codes", strings.NewReader(`{"type":"upi_qr","usage":"single_use"}`))
	req.SetBasicAuth("rzp_test_C", "secretC")
	began := time.Now()
	if resp, err := http.DefaultClient.Do(req); err != nil {
		t.Errorf("creating a QR code: %v", err)
	} else {
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Errorf("creating a QR code: status %d, want 200", resp.StatusCode)
		}
	}
	if elapsed := time.Since(began); elapsed < commitDelay {
		t.Errorf("creating a QR code took %v, want at least -commit-delay %v", elapsed, commitDelay)
	}

	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("run = %v, want nil after shutdown", err)
		}
	case <-time.After(15 * time.Second):
		t.Fatal("run did not return after its context was cancelled")
	}
}
