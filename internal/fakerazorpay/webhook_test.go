package fakerazorpay

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io"
	"maps"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
)

const hookSecret = "whsec_test"

// receiver records the webhooks it receives and answers status.
type receiver struct {
	mu     sync.Mutex // guards got and status
	got    []received
	status int
}

type received struct {
	header http.Header
	body   []byte
}

func startReceiver(t *testing.T, s *Server) *receiver {
	t.Helper()
	rcv := &receiver{status: http.StatusOK}
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		rcv.mu.Lock()
		defer rcv.mu.Unlock()
		rcv.got = append(rcv.got, received{header: r.Header.Clone(), body: body})
		w.WriteHeader(rcv.status)
	}))
	t.Cleanup(ts.Close)
	s.SetWebhook(ts.URL+"/webhooks", hookSecret)
	return rcv
}

func (rcv *receiver) all() []received {
	rcv.mu.Lock()
	defer rcv.mu.Unlock()
	return slices.Clone(rcv.got)
}

func (rcv *receiver) answer(status int) {
	rcv.mu.Lock()
	defer rcv.mu.Unlock()
	rcv.status = status
}

// checkDelivery checks that r is a delivery as Razorpay makes it, of an
// event typ whose payload holds the entities contains, and returns its
// decoded body.
func checkDelivery(t *testing.T, r received, typ string, contains ...string) map[string]any {
	t.Helper()
	mac := hmac.New(sha256.New, []byte(hookSecret))
	mac.Write(r.body)
	for k, want := range map[string]string{
		"Content-Type":         "application/json",
		"User-Agent":           "Razorpay-Webhook/v1",
		"X-Razorpay-Signature": hex.EncodeToString(mac.Sum(nil)),
	} {
		if got := r.header.Get(k); got != want {
			t.Errorf("%s = %q, want %q", k, got, want)
		}
	}
	if id := r.header.Get("X-Razorpay-Event-Id"); !validID("x"+id, "x") || len(id) != 14 {
		t.Errorf("X-Razorpay-Event-Id = %q, want 14 letters and digits", id)
	}
	var ev map[string]any
	if err := json.Unmarshal(r.body, &ev); err != nil {
		t.Fatalf("body %s: %v", r.body, err)
	}
	// The envelope is the documented one, as in the samples.
	var sample map[string]any
	b, err := os.ReadFile(filepath.Join("testdata", "webhooks", typ+".json"))
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, &sample); err != nil {
		t.Fatal(err)
	}
	if got, want := slices.Sorted(maps.Keys(ev)), slices.Sorted(maps.Keys(sample)); !slices.Equal(got, want) {
		t.Errorf("event members %q, want the sample's %q", got, want)
	}
	payload, _ := ev["payload"].(map[string]any)
	if got, want := slices.Sorted(maps.Keys(payload)), slices.Sorted(slices.Values(contains)); !slices.Equal(got, want) {
		t.Errorf("payload members %q, want %q", got, want)
	}
	if ev["entity"] != "event" || ev["event"] != typ || !strings.HasPrefix(ev["account_id"].(string), "acc_") {
		t.Errorf("event envelope %v %v %v, want event, %s, acc_...", ev["entity"], ev["event"], ev["account_id"], typ)
	}
	gotContains, _ := json.Marshal(ev["contains"])
	wantContains, _ := json.Marshal(contains)
	if string(gotContains) != string(wantContains) {
		t.Errorf("contains %s, want %s", gotContains, wantContains)
	}
	return ev
}

// entity returns payload.<name>.entity of a decoded event.
func entity(ev map[string]any, name string) map[string]any {
	e, _ := ev["payload"].(map[string]any)[name].(map[string]any)["entity"].(map[string]any)
	return e
}

func getJSON(t *testing.T, ts *httptest.Server, path string) map[string]any {
	t.Helper()
	res := do(t, ts, call{method: "GET", path: path, auth: authA})
	if res.status != http.StatusOK {
		t.Fatalf("GET %s: %d %s", path, res.status, res.body)
	}
	var m map[string]any
	if err := json.Unmarshal(res.body, &m); err != nil {
		t.Fatal(err)
	}
	return m
}

func TestCapturePayment(t *testing.T) {
	s, ts := start(t)
	rcv := startReceiver(t, s)
	s.AddPayment("rzp_test_A", "pay_NewPayment0001")
	if got := getJSON(t, ts, "/v1/payments/pay_NewPayment0001")["status"]; got != "authorized" {
		t.Fatalf("added payment is %v, want authorized", got)
	}
	status, err := s.CapturePayment("rzp_test_A", "pay_NewPayment0001")
	if err != nil || status != http.StatusOK {
		t.Fatalf("CapturePayment = %d, %v; want 200, nil", status, err)
	}
	pay := getJSON(t, ts, "/v1/payments/pay_NewPayment0001")
	if pay["status"] != "captured" || pay["captured"] != true {
		t.Errorf("after CapturePayment the payment is %v (captured %v), want captured", pay["status"], pay["captured"])
	}
	got := rcv.all()
	if len(got) != 1 {
		t.Fatalf("receiver got %d deliveries, want 1", len(got))
	}
	ev := checkDelivery(t, got[0], "payment.captured", "payment")
	snap := entity(ev, "payment")
	delete(pay, "upi") // webhook snapshots are not expanded
	if !jsonEqual(t, mustJSON(t, snap), mustJSON(t, pay)) {
		t.Errorf("payload.payment.entity = %v\nwant what GET shows, %v", snap, pay)
	}

	// Capturing twice, or an unknown payment, changes and sends nothing.
	for _, id := range []string{"pay_NewPayment0001", "pay_NoSuchPayment1"} {
		if status, err := s.CapturePayment("rzp_test_A", id); err == nil || status != 0 {
			t.Errorf("CapturePayment(%s) = %d, %v; want 0 and an error", id, status, err)
		}
	}
	if _, err := s.CapturePayment("rzp_test_B", "pay_NewPayment0001"); err == nil {
		t.Error("CapturePayment of another account's payment: err = nil, want one")
	}
	if n := len(rcv.all()); n != 1 {
		t.Errorf("receiver got %d deliveries, want still 1", n)
	}
}

func TestPayPaymentLink(t *testing.T) {
	s, ts := start(t)
	rcv := startReceiver(t, s)
	s.AddPaymentLink("rzp_test_A", "plink_NewLink000001")
	if got := getJSON(t, ts, "/v1/payment_links/plink_NewLink000001")["status"]; got != "created" {
		t.Fatalf("added link is %v, want created", got)
	}
	if status, err := s.PayPaymentLink("rzp_test_A", "plink_NewLink000001"); err != nil || status != http.StatusOK {
		t.Fatalf("PayPaymentLink = %d, %v; want 200, nil", status, err)
	}
	link := getJSON(t, ts, "/v1/payment_links/plink_NewLink000001")
	if link["status"] != "paid" || link["amount_paid"] != link["amount"] {
		t.Errorf("after PayPaymentLink the link is %v with %v of %v paid, want paid in full", link["status"], link["amount_paid"], link["amount"])
	}
	ev := checkDelivery(t, rcv.all()[0], "payment_link.paid", "payment_link", "order", "payment")
	pay := entity(ev, "payment")
	payID, _ := pay["id"].(string)
	if !validID(payID, "pay_") || pay["status"] != "captured" || pay["order_id"] != link["order_id"] {
		t.Errorf("payload.payment.entity = %v, want a captured payment of order %v", pay, link["order_id"])
	}
	if got := getJSON(t, ts, "/v1/payments/"+payID)["status"]; got != "captured" {
		t.Errorf("GET of the link's payment: status %v, want captured", got)
	}
	if payments, _ := link["payments"].([]any); len(payments) != 1 || payments[0].(map[string]any)["payment_id"] != payID {
		t.Errorf("link payments %v, want the one payment %s", link["payments"], payID)
	}
	if o := entity(ev, "order"); o["id"] != link["order_id"] || o["status"] != "paid" {
		t.Errorf("payload.order.entity = %v, want the link's order, paid", o)
	}
	if !jsonEqual(t, mustJSON(t, entity(ev, "payment_link")), mustJSON(t, link)) {
		t.Errorf("payload.payment_link.entity differs from what GET shows")
	}
	if _, err := s.PayPaymentLink("rzp_test_A", "plink_NewLink000001"); err == nil {
		t.Error("paying a paid link: err = nil, want one")
	}
}

func TestCloseQRCode(t *testing.T) {
	s, ts := start(t)
	rcv := startReceiver(t, s)
	if status, err := s.CloseQRCode("rzp_test_A", "qr_HMsgvioW64f0vh"); err != nil || status != http.StatusOK {
		t.Fatalf("CloseQRCode = %d, %v; want 200, nil", status, err)
	}
	qr := getJSON(t, ts, "/v1/payments/qr_codes/qr_HMsgvioW64f0vh")
	if qr["status"] != "closed" || qr["close_reason"] != "on_demand" || qr["closed_at"] == nil {
		t.Errorf("after CloseQRCode: status %v, close_reason %v, closed_at %v; want closed, on_demand, a time",
			qr["status"], qr["close_reason"], qr["closed_at"])
	}
	list := getJSON(t, ts, "/v1/payments/qr_codes?customer_id=cust_HKsR5se84c5LTO")
	for _, item := range list["items"].([]any) {
		if it := item.(map[string]any); it["id"] == "qr_HMsgvioW64f0vh" && it["status"] != "closed" {
			t.Errorf("the customer's list shows the QR code %v, want closed", it["status"])
		}
	}
	ev := checkDelivery(t, rcv.all()[0], "qr_code.closed", "qr_code")
	if !jsonEqual(t, mustJSON(t, entity(ev, "qr_code")), mustJSON(t, qr)) {
		t.Errorf("payload.qr_code.entity differs from what GET shows")
	}
	if _, err := s.CloseQRCode("rzp_test_A", "qr_HMsgvioW64f0vh"); err == nil {
		t.Error("closing a closed QR code: err = nil, want one")
	}
}

// TestResendLastEvent checks that a resent event is the same delivery:
// same id, body and signature, even after the secret changed.
func TestResendLastEvent(t *testing.T) {
	s, _ := start(t)
	if _, err := s.ResendLastEvent(); err == nil {
		t.Error("ResendLastEvent before any event: err = nil, want one")
	}
	rcv := startReceiver(t, s)
	if _, err := s.CloseQRCode("rzp_test_A", "qr_HMsgvioW64f0vh"); err != nil {
		t.Fatal(err)
	}
	rcv.answer(http.StatusServiceUnavailable)
	if status, err := s.ResendLastEvent(); err != nil || status != http.StatusServiceUnavailable {
		t.Errorf("ResendLastEvent = %d, %v; want the receiver's 503, nil", status, err)
	}
	got := rcv.all()
	if len(got) != 2 {
		t.Fatalf("receiver got %d deliveries, want 2", len(got))
	}
	for _, k := range []string{"X-Razorpay-Event-Id", "X-Razorpay-Signature"} {
		if a, b := got[0].header.Get(k), got[1].header.Get(k); a != b {
			t.Errorf("resent %s %q, want the original %q", k, b, a)
		}
	}
	if string(got[0].body) != string(got[1].body) {
		t.Error("resent body differs from the original")
	}
	last, ok := s.LastEvent()
	if !ok || last.ID != got[0].header.Get("X-Razorpay-Event-Id") || last.Type != "qr_code.closed" || string(last.Body) != string(got[0].body) {
		t.Errorf("LastEvent = %+v, %v; want the event sent", last, ok)
	}
}

func TestSendEvent(t *testing.T) {
	s, _ := start(t)
	rcv := startReceiver(t, s)
	body, err := os.ReadFile(filepath.Join("testdata", "webhooks", "refund.processed.json"))
	if err != nil {
		t.Fatal(err)
	}
	if status, err := s.SendEvent(body); err != nil || status != http.StatusOK {
		t.Fatalf("SendEvent = %d, %v; want 200, nil", status, err)
	}
	got := rcv.all()[0]
	if string(got.body) != string(body) {
		t.Error("SendEvent changed the body")
	}
	checkDelivery(t, got, "refund.processed", "refund", "payment")
}

// TestWithoutWebhook checks that knobs change state and send nothing
// when no webhook is set.
func TestWithoutWebhook(t *testing.T) {
	s, ts := start(t)
	if status, err := s.CloseQRCode("rzp_test_A", "qr_HMsgvioW64f0vh"); status != 0 || err != nil {
		t.Errorf("CloseQRCode without a webhook = %d, %v; want 0, nil", status, err)
	}
	if got := getJSON(t, ts, "/v1/payments/qr_codes/qr_HMsgvioW64f0vh")["status"]; got != "closed" {
		t.Errorf("QR code %v, want closed", got)
	}
	if _, ok := s.LastEvent(); ok {
		t.Error("LastEvent reports an event, want none")
	}
}

// TestWebhookUnreachable checks that a delivery that fails is reported,
// and the state change stays.
func TestWebhookUnreachable(t *testing.T) {
	s, ts := start(t)
	dead := httptest.NewServer(http.NotFoundHandler())
	dead.Close()
	s.SetWebhook(dead.URL, hookSecret)
	s.AddPayment("rzp_test_A", "pay_NewPayment0002")
	if _, err := s.CapturePayment("rzp_test_A", "pay_NewPayment0002"); err == nil {
		t.Error("CapturePayment to an unreachable webhook: err = nil, want one")
	}
	if got := getJSON(t, ts, "/v1/payments/pay_NewPayment0002")["status"]; got != "captured" {
		t.Errorf("payment %v, want captured", got)
	}
}

func mustJSON(t *testing.T, v any) []byte {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
