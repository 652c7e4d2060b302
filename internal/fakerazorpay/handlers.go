package fakerazorpay

import (
	"cmp"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"math/rand/v2"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// handler answers one method of one endpoint for acct. id is the entity id
// in the path, if the endpoint has one. Handlers run under Server.mu.
type handler func(acct *account, id string, query url.Values, body []byte) response

// endpoint maps the methods a path accepts to their handlers.
type endpoint map[string]handler

var (
	qrCodesEndpoint     = endpoint{http.MethodGet: listQRCodes, http.MethodPost: createQRCode}
	qrCodeEndpoint      = endpoint{http.MethodGet: getQRCode, http.MethodPatch: patchQRCode}
	paymentLinkEndpoint = endpoint{http.MethodGet: getPaymentLink}
	paymentEndpoint     = endpoint{http.MethodGet: getPayment}
	ordersEndpoint      = endpoint{http.MethodPost: createOrder}
	idEndpointsByPrefix = []struct {
		prefix string
		ep     endpoint
	}{
		// Longest prefix first: /v1/payments/ would also match QR codes.
		{"/v1/payments/qr_codes/", qrCodeEndpoint},
		{"/v1/payment_links/", paymentLinkEndpoint},
		{"/v1/payments/", paymentEndpoint},
	}
)

// serve routes r to its handler and runs it for acct.
func serve(acct *account, r *http.Request, body []byte) response {
	ep, id := route(r.URL.Path)
	if ep == nil {
		return errorResponse(http.StatusNotFound, codeBadRequest, msgNotFoundURL, "")
	}
	h := ep[r.Method]
	if h == nil {
		return methodNotAllowed(r.Method, ep)
	}
	return h(acct, id, r.URL.Query(), body)
}

// route returns the endpoint serving path and the entity id in it, or nil
// if no endpoint does. A trailing slash is optional, as on the real API.
func route(path string) (endpoint, string) {
	path = strings.TrimSuffix(path, "/")
	switch path {
	case "/v1/payments/qr_codes":
		return qrCodesEndpoint, ""
	case "/v1/orders":
		return ordersEndpoint, ""
	}
	for _, e := range idEndpointsByPrefix {
		if id, ok := strings.CutPrefix(path, e.prefix); ok && id != "" && !strings.Contains(id, "/") {
			return e.ep, id
		}
	}
	return nil, ""
}

// methodNotAllowed returns a 405 with the Allow header RFC 9110, 15.5.6
// requires.
func methodNotAllowed(method string, ep endpoint) response {
	allowed := slices.Sorted(maps.Keys(ep))
	resp := errorResponse(http.StatusMethodNotAllowed, codeBadRequest,
		fmt.Sprintf("The requested method %s is not allowed for this URL.", method), "")
	resp.header = http.Header{"Allow": {strings.Join(allowed, ", ")}}
	return resp
}

// collection is Razorpay's list envelope.
type collection[T any] struct {
	Entity string `json:"entity"`
	Count  int    `json:"count"`
	Items  []T    `json:"items"`
}

// listQRCodes answers GET /v1/payments/qr_codes, optionally filtered by
// customer_id, with the items sorted by id.
func listQRCodes(acct *account, _ string, query url.Values, _ []byte) response {
	customer, filtered := query.Get("customer_id"), query.Has("customer_id")
	if filtered && !validID(customer, "cust_") {
		return badRequest(customer+" is not a valid id", "customer_id")
	}
	items := make([]*qrCode, 0, len(acct.qrCodes))
	for _, qr := range acct.qrCodes {
		if !filtered || qr.CustomerID == customer {
			items = append(items, qr)
		}
	}
	slices.SortFunc(items, func(a, b *qrCode) int { return cmp.Compare(a.ID, b.ID) })
	return jsonResponse(http.StatusOK, collection[*qrCode]{Entity: "collection", Count: len(items), Items: items})
}

// validID reports whether id is prefix followed by one or more ASCII
// letters and digits, the form of every Razorpay id.
func validID(id, prefix string) bool {
	rest, ok := strings.CutPrefix(id, prefix)
	if !ok || rest == "" {
		return false
	}
	for _, c := range []byte(rest) {
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9') {
			return false
		}
	}
	return true
}

// getQRCode answers GET /v1/payments/qr_codes/{id}.
func getQRCode(acct *account, id string, _ url.Values, _ []byte) response {
	qr := acct.qrCodes[id]
	if qr == nil {
		return badRequest(msgNoSuchID, "")
	}
	return jsonResponse(http.StatusOK, qr)
}

// patchQRCode answers PATCH /v1/payments/qr_codes/{id}: it replaces the
// notes and returns the whole QR code.
func patchQRCode(acct *account, id string, _ url.Values, body []byte) response {
	qr := acct.qrCodes[id]
	if qr == nil {
		return badRequest(msgNoSuchID, "")
	}
	var req struct {
		Notes json.RawMessage `json:"notes"`
	}
	if err := json.Unmarshal(body, &req); err != nil {
		return badRequest("The request body must be a JSON object with notes.", "notes")
	}
	if len(req.Notes) == 0 {
		return badRequest("The notes field is required.", "notes")
	}
	notes, problem := decodeNotes(req.Notes)
	if problem != "" {
		return badRequest(problem, "notes")
	}
	qr.Notes = notes
	return jsonResponse(http.StatusOK, qr)
}

// decodeNotes decodes a notes object within the documented limits: at most
// 15 keys, string values of at most 256 characters. On failure it returns
// the Razorpay error description instead.
func decodeNotes(raw json.RawMessage) (map[string]string, string) {
	if raw[0] != '{' {
		return nil, "The notes field must be a JSON object."
	}
	var notes map[string]string
	if err := json.Unmarshal(raw, &notes); err != nil {
		return nil, "The notes values must be strings."
	}
	if len(notes) > 15 {
		return nil, "Number of fields in notes should be less than or equal to 15"
	}
	for k, v := range notes {
		if utf8.RuneCountInString(v) > 256 {
			return nil, "The notes." + k + " may not be greater than 256 characters."
		}
	}
	return notes, ""
}

// getPaymentLink answers GET /v1/payment_links/{id}.
func getPaymentLink(acct *account, id string, _ url.Values, _ []byte) response {
	link := acct.links[id]
	if link == nil {
		return badRequest(msgNoSuchID, "")
	}
	return jsonResponse(http.StatusOK, link)
}

// getPayment answers GET /v1/payments/{id}, with the upi object only when
// the query asks for it with expand[]=upi.
func getPayment(acct *account, id string, query url.Values, _ []byte) response {
	pay := acct.payments[id]
	if pay == nil {
		return badRequest(msgNoSuchID, "")
	}
	p := *pay
	if !slices.Contains(query["expand[]"], "upi") {
		p.UPI = nil
	}
	return jsonResponse(http.StatusOK, &p)
}

// order is an order entity as Razorpay returns it on creation.
type order struct {
	ID         string  `json:"id"`
	Entity     string  `json:"entity"`
	Amount     int64   `json:"amount"`
	AmountPaid int64   `json:"amount_paid"`
	AmountDue  int64   `json:"amount_due"`
	Currency   string  `json:"currency"`
	Receipt    *string `json:"receipt"`
	OfferID    *string `json:"offer_id"`
	Status     string  `json:"status"`
	Attempts   int     `json:"attempts"`
	Notes      any     `json:"notes"`
	CreatedAt  int64   `json:"created_at"`
}

// createOrder answers POST /v1/orders, echoing the amount, currency,
// receipt and notes of the body. Orders are not stored: the endpoint exists
// for the gateway's pass-through tests.
func createOrder(_ *account, _ string, _ url.Values, body []byte) response {
	var req struct {
		Amount   json.RawMessage `json:"amount"`
		Currency *string         `json:"currency"`
		Receipt  *string         `json:"receipt"`
		Notes    json.RawMessage `json:"notes"`
	}
	if err := json.Unmarshal(body, &req); err != nil {
		if te, ok := errors.AsType[*json.UnmarshalTypeError](err); ok && te.Field != "" {
			return badRequest("The "+te.Field+" must be a string.", te.Field)
		}
		return badRequest("The request body must be a JSON object.", "")
	}
	if len(req.Amount) == 0 || string(req.Amount) == "null" {
		return badRequest("The amount field is required.", "amount")
	}
	amount, err := strconv.ParseInt(string(req.Amount), 10, 64)
	if err != nil {
		return badRequest("The amount must be an integer.", "amount")
	}
	if amount < 100 {
		return badRequest("The amount must be atleast INR 1.00", "amount")
	}
	if req.Currency == nil || *req.Currency == "" {
		return badRequest("The currency field is required.", "currency")
	}
	var notes any = []string{} // Razorpay renders empty notes as [].
	if len(req.Notes) > 0 && string(req.Notes) != "null" {
		m, problem := decodeNotes(req.Notes)
		if problem != "" {
			return badRequest(problem, "notes")
		}
		notes = m
	}
	return jsonResponse(http.StatusOK, order{
		ID:        newID("order_"),
		Entity:    "order",
		Amount:    amount,
		AmountDue: amount,
		Currency:  *req.Currency,
		Receipt:   req.Receipt,
		Status:    "created",
		Notes:     notes,
		CreatedAt: time.Now().Unix(),
	})
}

// newID returns prefix followed by 14 random letters and digits, the form
// of Razorpay's ids.
func newID(prefix string) string {
	return prefix + randomBase62(14)
}

// randomBase62 returns n random ASCII letters and digits.
func randomBase62(n int) string {
	const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"
	b := make([]byte, n)
	for i := range b {
		b[i] = alphabet[rand.IntN(len(alphabet))]
	}
	return string(b)
}
