package fakerazorpay_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"time"

	"github.com/rzpgate/rzpgate/internal/fakerazorpay"
)

func Example() {
	fake := fakerazorpay.New()
	upstream := httptest.NewServer(fake)
	defer upstream.Close()

	req, _ := http.NewRequest(http.MethodPatch, upstream.URL+"/v1/payments/qr_codes/qr_HMsVL8HOpbMcjU",
		strings.NewReader(`{"notes":{"order":"42"}}`))
	req.SetBasicAuth("rzp_test_A", "secretA")
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		fmt.Println(err)
		return
	}
	defer resp.Body.Close()
	var qr struct {
		ID    string            `json:"id"`
		Notes map[string]string `json:"notes"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&qr); err != nil {
		fmt.Println(err)
		return
	}

	fmt.Println(resp.StatusCode, qr.ID, qr.Notes)
	fmt.Println(fake.QRNotes("rzp_test_A", "qr_HMsVL8HOpbMcjU"))
	fmt.Println(fake.Count("PATCH", "/v1/payments/qr_codes/qr_HMsVL8HOpbMcjU/"))
	// Output:
	// 200 qr_HMsVL8HOpbMcjU map[order:42]
	// map[order:42]
	// 1
}

// ExampleServer_SetCommitDelay shows a write that commits after its client
// has given up, as Razorpay's do.
func ExampleServer_SetCommitDelay() {
	fake := fakerazorpay.New()
	fake.SetCommitDelay(500 * time.Millisecond)
	upstream := httptest.NewServer(fake)
	defer upstream.Close()

	req, _ := http.NewRequest(http.MethodPatch, upstream.URL+"/v1/payments/qr_codes/qr_HMsVL8HOpbMcjU",
		strings.NewReader(`{"notes":{"order":"42"}}`))
	req.SetBasicAuth("rzp_test_A", "secretA")
	client := &http.Client{Timeout: 100 * time.Millisecond}
	if _, err := client.Do(req); err != nil {
		fmt.Println("client gave up")
	}
	fmt.Println(fake.QRNotes("rzp_test_A", "qr_HMsVL8HOpbMcjU"))
	fake.WaitCommits()
	fmt.Println(fake.QRNotes("rzp_test_A", "qr_HMsVL8HOpbMcjU"))
	// Output:
	// client gave up
	// map[key1:value1 key2:value2]
	// map[order:42]
}
