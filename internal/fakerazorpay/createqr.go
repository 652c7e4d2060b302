package fakerazorpay

import (
	"encoding/json"
	"maps"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"time"
)

// qrCreateFields are the body fields POST /v1/payments/qr_codes accepts,
// with the JSON type each must have.
var qrCreateFields = map[string]string{
	"type":           "string",
	"name":           "string",
	"usage":          "string",
	"fixed_amount":   "boolean",
	"payment_amount": "integer",
	"description":    "string",
	"customer_id":    "string",
	"close_by":       "integer",
	"notes":          "object",
}

// createQRCode answers POST /v1/payments/qr_codes: it creates an active
// UPI QR code in acct, shaped like the seeded ones, and returns it. Only
// the basic checks of the real API are made; in particular close_by may be
// in the past, so that the documents' example body is accepted.
func createQRCode(acct *account, _ string, _ url.Values, body []byte) response {
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(body, &fields); err != nil || fields == nil {
		return badRequest("The request body must be a JSON object.", "")
	}
	for _, name := range slices.Sorted(maps.Keys(fields)) {
		typ := qrCreateFields[name]
		if typ == "" {
			return badRequest(name+" is/are not required and should not be sent", name)
		}
		if typ != "object" && !hasJSONType(fields[name], typ) { // decodeNotes checks the notes.
			return badRequest("The "+name+" must be "+article(typ)+" "+typ+".", name)
		}
	}
	var req struct {
		Type          string          `json:"type"`
		Name          string          `json:"name"`
		Usage         string          `json:"usage"`
		FixedAmount   bool            `json:"fixed_amount"`
		PaymentAmount int64           `json:"payment_amount"`
		Description   string          `json:"description"`
		CustomerID    *string         `json:"customer_id"`
		CloseBy       int64           `json:"close_by"`
		Notes         json.RawMessage `json:"notes"`
	}
	if err := json.Unmarshal(body, &req); err != nil { // Only if the checks above miss a case.
		return badRequest("The request body must be a JSON object.", "")
	}

	switch {
	case req.Type == "":
		return badRequest("The type field is required.", "type")
	case req.Type != "upi_qr":
		return badRequest("The selected type is invalid.", "type")
	case req.Usage == "":
		return badRequest("The usage field is required.", "usage")
	case req.Usage != "single_use" && req.Usage != "multiple_use":
		return badRequest("The selected usage is invalid.", "usage")
	case req.CustomerID != nil && !validID(*req.CustomerID, "cust_"):
		return badRequest(*req.CustomerID+" is not a valid id", "customer_id")
	case req.FixedAmount && !present(fields["payment_amount"]):
		return badRequest("The payment amount field is required when fixed amount is true.", "payment_amount")
	case present(fields["payment_amount"]) && req.PaymentAmount <= 0:
		return badRequest("The payment amount must be at least 1.", "payment_amount")
	}
	notes := map[string]string{}
	if present(req.Notes) {
		var problem string
		if notes, problem = decodeNotes(req.Notes); problem != "" {
			return badRequest(problem, "notes")
		}
	}

	id := newID("qr_")
	qr := newQRCode(id, "")
	if req.CustomerID != nil {
		qr.CustomerID = *req.CustomerID
	}
	qr.CreatedAt = time.Now().Unix()
	qr.Name, qr.Usage, qr.Type = req.Name, req.Usage, req.Type
	qr.ImageURL = "https://rzp.io/i/" + randomBase62(7)
	qr.ImageContent = "upi://pay?pa=qmart.razorpay@hdfcbank&pn=TestAccount&tr=RZP" + id[len("qr_"):] + "&cu=INR&mc=5411"
	qr.PaymentAmount, qr.FixedAmount = req.PaymentAmount, req.FixedAmount
	qr.Status, qr.Description, qr.CloseBy = "active", req.Description, req.CloseBy
	qr.Notes = notes
	acct.qrCodes[id] = qr
	return jsonResponse(http.StatusOK, qr)
}

// present reports whether a JSON field was sent with a value other than
// null.
func present(raw json.RawMessage) bool {
	return len(raw) > 0 && string(raw) != "null"
}

// hasJSONType reports whether raw, a valid JSON value, is null or of the
// given type: string, boolean, integer or object.
func hasJSONType(raw json.RawMessage, typ string) bool {
	if !present(raw) {
		return true
	}
	switch typ {
	case "string":
		return raw[0] == '"'
	case "boolean":
		return string(raw) == "true" || string(raw) == "false"
	case "integer":
		_, err := strconv.ParseInt(string(raw), 10, 64)
		return err == nil
	case "object":
		return raw[0] == '{'
	}
	return false
}

// article returns the indefinite article for word.
func article(word string) string {
	if word[0] == 'i' || word[0] == 'o' {
		return "an"
	}
	return "a"
}
