package main

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"testing"
	"time"
)

func TestRunAnyKeyNotAnAccount(t *testing.T) {
	err := run(context.Background(), []string{"-listen", "127.0.0.1:0", "-any-key", "rzp_test_Z"}, io.Discard)
	if !errors.Is(err, errUsage) {
		t.Errorf("run with -any-key naming no account = %v, want errUsage", err)
	}
}

// TestRunAnyKey checks that with -any-key an unknown credential reads the
// named account's entities.
func TestRunAnyKey(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()

	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- run(ctx, []string{"-listen", addr, "-any-key", "rzp_test_A"}, io.Discard) }()
	defer func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("run = %v, want nil after shutdown", err)
			}
		case <-time.After(15 * time.Second):
			t.Error("run did not return after its context was cancelled")
		}
	}()

	status := func(key, secret string) int {
		req, _ := http.NewRequest("GET", "http://"+addr+"/v1/payments/pay_DG4ZdRK8ZnXC3k", nil)
		req.SetBasicAuth(key, secret)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return 0
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	for deadline := time.Now().Add(10 * time.Second); status("rzp_test_A", "secretA") == 0; time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("server never came up")
		}
	}
	tests := []struct {
		desc, key, secret string
		want              int
	}{
		{"unknown key", "rzp_test_load1", "s1", http.StatusOK},
		{"another unknown key", "rzp_test_load999", "s999", http.StatusOK},
		{"known key, wrong secret", "rzp_test_B", "wrong", http.StatusUnauthorized},
	}
	for _, tt := range tests {
		if got := status(tt.key, tt.secret); got != tt.want {
			t.Errorf("%s: status = %d, want %d", tt.desc, got, tt.want)
		}
	}
}
