package fakerazorpay

import (
	"bytes"
	"cmp"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"
)

// webhookUserAgent is the User-Agent of Razorpay's webhook deliveries.
const webhookUserAgent = "Razorpay-Webhook/v1"

// webhookClient sends the Server's webhooks.
var webhookClient = &http.Client{Timeout: 10 * time.Second}

// webhookTarget is where the Server sends its events.
type webhookTarget struct {
	url    string
	secret string
}

// Event is a webhook event as the Server sent it: Razorpay signs a body
// once and redelivers it unchanged.
type Event struct {
	// ID is its X-Razorpay-Event-Id.
	ID string
	// Type is its event name, such as payment.captured.
	Type string
	// Body is the JSON body, as signed.
	Body []byte
	// Signature is its X-Razorpay-Signature: the hex HMAC-SHA256 of Body
	// under the webhook secret at the time.
	Signature string
	url       string
}

// webhookEvent is the body of a Razorpay webhook, in the documents' field
// order. Payload maps each entity's name to {"entity": {...}}, the
// entity's snapshot when the event happened.
type webhookEvent struct {
	Entity    string                    `json:"entity"`
	AccountID string                    `json:"account_id"`
	Event     string                    `json:"event"`
	Contains  []string                  `json:"contains"`
	Payload   map[string]entitySnapshot `json:"payload"`
	CreatedAt int64                     `json:"created_at"`
}

type entitySnapshot struct {
	Entity any `json:"entity"`
}

// SetWebhook makes the Server send a signed event to url, under secret,
// for each change a knob makes (CapturePayment, PayPaymentLink,
// CloseQRCode), as Razorpay sends the webhooks registered in its
// Dashboard. An empty url sends none, the default. Changing the secret
// does not re-sign the last event: ResendLastEvent resends it as signed,
// as Razorpay retries an event signed with the old secret.
func (s *Server) SetWebhook(url, secret string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.hook = webhookTarget{url: url, secret: secret}
}

// AddPayment gives the account keyID an authorized UPI payment with the
// shape of the seeded pay_DG4ZdRK8ZnXC3k but the given id, replacing any
// payment of that id: the state in which CapturePayment can capture it.
// It panics if the account does not exist.
func (s *Server) AddPayment(keyID, payID string) {
	var pay payment
	decodeDoc(docPayment, &pay)
	pay.ID, pay.Status, pay.Captured, pay.Fee = payID, "authorized", false, 0
	s.mu.Lock()
	defer s.mu.Unlock()
	s.mustAccount("AddPayment", keyID).payments[payID] = &pay
}

// AddPaymentLink gives the account keyID an unpaid UPI payment link with
// the shape of the seeded plink_Fo48rl281ENAg9 but the given id and a new
// order, replacing any link of that id: the state in which PayPaymentLink
// can pay it. It panics if the account does not exist.
func (s *Server) AddPaymentLink(keyID, plinkID string) {
	var link paymentLink
	decodeDoc(docPaymentLink, &link)
	link.ID, link.OrderID, link.Status = plinkID, newID("order_"), "created"
	link.AmountPaid, link.Payments = 0, []linkPayment{}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.mustAccount("AddPaymentLink", keyID).links[plinkID] = &link
}

// mustAccount returns the account keyID, or panics naming the knob.
// s.mu must be held.
func (s *Server) mustAccount(knob, keyID string) *account {
	acct := s.accounts[keyID]
	if acct == nil {
		panic("fakerazorpay: " + knob + " for unknown account " + keyID)
	}
	return acct
}

// CapturePayment captures the authorized payment payID of the account
// keyID, as Razorpay does when the merchant captures it or auto-capture
// runs: GET /v1/payments/{payID} shows it captured from then on. It then
// sends payment.captured (see SetWebhook) and returns the status the
// webhook's receiver answered, or 0 without a webhook. The error reports
// an unknown account or payment, a payment that is not authorized (which
// changes nothing and sends nothing), or a delivery that failed.
func (s *Server) CapturePayment(keyID, payID string) (int, error) {
	s.mu.Lock()
	acct := s.accounts[keyID]
	if acct == nil || acct.payments[payID] == nil {
		s.mu.Unlock()
		return 0, fmt.Errorf("capturing %s: no such payment for %s", payID, keyID)
	}
	pay := acct.payments[payID]
	if pay.Status != "authorized" {
		s.mu.Unlock()
		return 0, fmt.Errorf("capturing %s: the payment is %s, not authorized", payID, pay.Status)
	}
	pay.Status, pay.Captured, pay.Fee = "captured", true, 1
	snapshot := *pay
	snapshot.UPI = nil // webhook snapshots are not expanded
	ev := s.newEventLocked(keyID, "payment.captured", []string{"payment"}, map[string]entitySnapshot{
		"payment": {&snapshot},
	})
	s.mu.Unlock()
	return s.send(ev)
}

// PayPaymentLink pays the payment link plinkID of the account keyID in
// full with a new captured UPI payment, as its customer does: GET
// /v1/payment_links/{plinkID} shows it paid, with the payment, and GET
// /v1/payments/{id} shows the payment. It then sends payment_link.paid
// with the link, its order and the payment, and returns as
// CapturePayment does. A link already paid, expired or cancelled is an
// error that changes nothing.
func (s *Server) PayPaymentLink(keyID, plinkID string) (int, error) {
	s.mu.Lock()
	acct := s.accounts[keyID]
	if acct == nil || acct.links[plinkID] == nil {
		s.mu.Unlock()
		return 0, fmt.Errorf("paying %s: no such payment link for %s", plinkID, keyID)
	}
	link := acct.links[plinkID]
	if link.Status != "created" && link.Status != "partially_paid" {
		s.mu.Unlock()
		return 0, fmt.Errorf("paying %s: the payment link is %s", plinkID, link.Status)
	}
	now := time.Now().Unix()
	var pay payment
	decodeDoc(docPayment, &pay)
	pay.ID, pay.OrderID, pay.CreatedAt = newID("pay_"), link.OrderID, now
	pay.Amount = link.Amount - link.AmountPaid
	pay.Description = "#" + strings.TrimPrefix(plinkID, "plink_")
	pay.Email, pay.Contact, pay.CustomerID, pay.TokenID = link.Customer.Email, link.Customer.Contact, "", ""
	pay.AcquirerData = map[string]string{"rrn": "0" + randomDigits(11)}
	acct.payments[pay.ID] = &pay
	link.Payments = append(link.Payments, linkPayment{
		Amount: pay.Amount, CreatedAt: now, Method: pay.Method, PaymentID: pay.ID, Status: "captured",
	})
	link.AmountPaid, link.Status, link.UpdatedAt = link.Amount, "paid", now
	currency := cmp.Or(link.Currency, "INR")
	ord := order{
		ID: link.OrderID, Entity: "order", Amount: link.Amount, AmountPaid: link.Amount,
		Currency: currency, Status: "paid", Attempts: 1, Notes: cloneNotes(link.Notes), CreatedAt: link.CreatedAt,
	}
	linkSnapshot := *link
	linkSnapshot.Payments = append([]linkPayment(nil), link.Payments...)
	paySnapshot := pay
	paySnapshot.UPI = nil
	ev := s.newEventLocked(keyID, "payment_link.paid", []string{"payment_link", "order", "payment"}, map[string]entitySnapshot{
		"payment_link": {&linkSnapshot},
		"order":        {&ord},
		"payment":      {&paySnapshot},
	})
	s.mu.Unlock()
	return s.send(ev)
}

// CloseQRCode closes the QR code qrID of the account keyID on demand, as
// POST /v1/payments/qr_codes/{qrID}/close does: GET shows it closed with
// close_reason on_demand, in its customer's list too. It then sends
// qr_code.closed and returns as CapturePayment does. A QR code already
// closed is an error that changes nothing.
func (s *Server) CloseQRCode(keyID, qrID string) (int, error) {
	s.mu.Lock()
	acct := s.accounts[keyID]
	if acct == nil || acct.qrCodes[qrID] == nil {
		s.mu.Unlock()
		return 0, fmt.Errorf("closing %s: no such QR code for %s", qrID, keyID)
	}
	qr := acct.qrCodes[qrID]
	if qr.Status == "closed" {
		s.mu.Unlock()
		return 0, fmt.Errorf("closing %s: the QR code is already closed", qrID)
	}
	qr.Status, qr.ClosedAt, qr.CloseReason = "closed", time.Now().Unix(), "on_demand"
	snapshot := *qr
	snapshot.Notes = cloneNotes(qr.Notes)
	ev := s.newEventLocked(keyID, "qr_code.closed", []string{"qr_code"}, map[string]entitySnapshot{
		"qr_code": {&snapshot},
	})
	s.mu.Unlock()
	return s.send(ev)
}

// SendEvent sends body, which should be a Razorpay event such as the
// samples in testdata/webhooks, to the webhook as a new event: signed
// under the current secret, with a new event id. It changes no state.
func (s *Server) SendEvent(body []byte) (int, error) {
	var named struct {
		Event string `json:"event"`
	}
	json.Unmarshal(body, &named) // The type is only recorded.
	s.mu.Lock()
	ev := s.signLocked(named.Event, bytes.Clone(body))
	s.mu.Unlock()
	return s.send(ev)
}

// ResendLastEvent sends the last event again, with its id, body and
// signature, as Razorpay retries a delivery it thinks failed, and returns
// as CapturePayment does. It is an error if no event was sent.
func (s *Server) ResendLastEvent() (int, error) {
	s.mu.Lock()
	ev := s.lastEvent
	s.mu.Unlock()
	if ev == nil {
		return 0, errors.New("resending: no event was sent")
	}
	return s.deliver(ev)
}

// LastEvent returns a copy of the last event sent, and false if none was.
func (s *Server) LastEvent() (Event, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.lastEvent == nil {
		return Event{}, false
	}
	ev := *s.lastEvent
	ev.Body = bytes.Clone(ev.Body)
	return ev, true
}

// newEventLocked builds and signs the event typ of the account keyID, or
// returns nil without a webhook. s.mu must be held.
func (s *Server) newEventLocked(keyID, typ string, contains []string, payload map[string]entitySnapshot) *Event {
	if s.hook.url == "" {
		return nil
	}
	body, err := json.Marshal(webhookEvent{
		Entity: "event", AccountID: accountID(keyID), Event: typ, Contains: contains,
		Payload: payload, CreatedAt: time.Now().Unix(),
	})
	if err != nil {
		panic("fakerazorpay: marshalling event: " + err.Error()) // Only our own types are marshalled.
	}
	return s.signLocked(typ, body)
}

// signLocked returns body as a new event to the webhook, recorded as the
// last one, or nil without a webhook. s.mu must be held.
func (s *Server) signLocked(typ string, body []byte) *Event {
	if s.hook.url == "" {
		return nil
	}
	mac := hmac.New(sha256.New, []byte(s.hook.secret))
	mac.Write(body)
	ev := &Event{ID: randomBase62(14), Type: typ, Body: body, Signature: hex.EncodeToString(mac.Sum(nil)), url: s.hook.url}
	s.lastEvent = ev
	return ev
}

// send delivers ev, or does nothing if it is nil (no webhook).
func (s *Server) send(ev *Event) (int, error) {
	if ev == nil {
		return 0, nil
	}
	return s.deliver(ev)
}

// deliver POSTs ev with Razorpay's headers and returns the status of the
// answer, once it has been read.
func (s *Server) deliver(ev *Event) (int, error) {
	req, err := http.NewRequest(http.MethodPost, ev.url, bytes.NewReader(ev.Body))
	if err != nil {
		return 0, fmt.Errorf("sending event %s: %w", ev.ID, err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", webhookUserAgent)
	req.Header.Set("X-Razorpay-Signature", ev.Signature)
	req.Header.Set("X-Razorpay-Event-Id", ev.ID)
	resp, err := webhookClient.Do(req)
	if err != nil {
		return 0, fmt.Errorf("sending event %s: %w", ev.ID, err)
	}
	defer resp.Body.Close()
	if _, err := io.Copy(io.Discard, resp.Body); err != nil {
		return resp.StatusCode, fmt.Errorf("sending event %s: reading the answer: %w", ev.ID, err)
	}
	return resp.StatusCode, nil
}

// accountID returns the Razorpay account id of the key keyID, the same
// for every event: "acc_" and 14 letters and digits derived from keyID.
func accountID(keyID string) string {
	const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"
	sum := sha256.Sum256([]byte(keyID))
	b := make([]byte, 14)
	for i := range b {
		b[i] = alphabet[int(sum[i])%len(alphabet)]
	}
	return "acc_" + string(b)
}

// randomDigits returns n random decimal digits.
func randomDigits(n int) string {
	b := []byte(randomBase62(n))
	for i, c := range b {
		b[i] = '0' + c%10
	}
	return string(b)
}
