package fakerazorpay

import (
	"bytes"
	"encoding/json"
	"maps"
)

// The doc* constants are the example responses of the four API pages in
// shared/seeds, verbatim except for the two fixes that make them JSON: the
// PATCH example's trailing comma and the payment example's // comment.
const (
	// docQRCode is the item of the "Fetch QR Codes for a Customer ID" example.
	docQRCode = `{
  "id": "qr_HMsgvioW64f0vh",
  "entity": "qr_code",
  "created_at": 1623660959,
  "name": "Store_1",
  "usage": "single_use",
  "type": "upi_qr",
  "image_url": "https://rzp.io/i/DTa2eQR",
  "image_content": "upi://pay?pa=qmart.razorpay@hdfcbank&pn=TestAccount&tr=RZPGT5viB4WHeoUuuqrv2&tn=TestAccountRaftarSoft&am=100&cu=INR&mc=5411",
  "payment_amount": 300,
  "status": "active",
  "description": "For Store 1",
  "fixed_amount": true,
  "payments_amount_received": 0,
  "payments_count_received": 0,
  "notes": {
    "purpose": "Test UPI QR Code notes"
  },
  "customer_id": "cust_HKsR5se84c5LTO",
  "close_by": 1681615838
}`

	// docPatchedQRCode is the "Update a QR Code" example response.
	docPatchedQRCode = `{
  "id":"qr_HMsVL8HOpbMcjU",
  "entity":"qr_code",
  "created_at":1623660301,
  "name":"Store Front Display",
  "usage":"single_use",
  "type":"upi_qr",
  "image_url":"https://rzp.io/i/BWcUVrLp",
  "payment_amount":300,
  "status":"closed",
  "description":"For Store 1",
  "fixed_amount":true,
  "payments_amount_received":0,
  "payments_count_received":0,
  "notes":{
    "key1": "value1",
    "key2": "value2"
  },
  "customer_id":"cust_HKsR5se84c5LTO",
  "close_by":1681615838
}`

	// docPaymentLink is the "Fetch UPI Payment Links With ID" example.
	docPaymentLink = `{
  "accept_partial": false,
  "amount": 100,
  "amount_paid": 100,
  "cancelled_at": 0,
  "created_at": 1602522293,
  "currency": "",
  "customer": {
    "contact": "+919876543210",
    "email": "gaurav.kumar@example.com"
  },
  "description": "Payment for Acme Inc",
  "expire_by": 0,
  "expired_at": 0,
  "first_min_partial_amount": 0,
  "id": "plink_Fo48rl281ENAg9",
  "notes": {
    "policy_name": "Life Insurance Policy"
  },
  "notify": {
    "email": true,
    "sms": true
  },
  "order_id": "order_Fo491cL6NGAjkI",
  "payments": [
    {
      "amount": 100,
      "created_at": 1602522351,
      "method": "upi",
      "payment_id": "pay_Fo49sHbQ78PCMI",
      "status": "captured"
    }
  ],
  "reference_id": "",
  "reminder_enable": false,
  "reminders": [],
  "short_url": "https://rzp.io/i/XQiMe4w",
  "status": "paid",
  "updated_at": 1602522351,
  "upi_link": true,
  "user_id": "FmjfFPCOUOAcSH"
}`

	// docPayment is the "Fetch a Payment (With Expanded UPI Details)" example.
	docPayment = `{
  "id": "pay_DG4ZdRK8ZnXC3k",
  "entity": "payment",
  "amount": 100,
  "currency": "INR",
  "status": "captured",
  "order_id": "order_GjCr5oKh4AVC51",
  "invoice_id": null,
  "international": false,
  "method": "upi",
  "amount_refunded": 0,
  "refund_status": null,
  "captured": true,
  "description": "Payment for Adidas shoes",
  "card_id": null,
  "bank": null,
  "wallet": null,
  "vpa": "gaurav.kumar@upi",
  "email": "gaurav.kumar@example.com",
  "contact": "9000090000",
  "customer_id": "cust_K6fNE0WJZWGqtN",
  "token_id": "token_KOdY$DBYQOv08n",
  "notes": [],
  "fee": 1,
  "tax": 0,
  "error_code": null,
  "error_description": null,
  "error_source": null,
  "error_step": null,
  "error_reason": null,
  "acquirer_data": {
    "rrn": "303107535132"
  },
  "created_at": 1605871409,
  "upi": {
    "payer_account_type": "credit_card",
    "vpa": "gaurav.kumar@upi",
    "flow": "in_app"
  }
}`
)

// qrCode is a QR code entity. Its fields are in the documents' order, so
// responses read like the real API's.
type qrCode struct {
	ID                     string            `json:"id"`
	Entity                 string            `json:"entity"`
	CreatedAt              int64             `json:"created_at"`
	Name                   string            `json:"name"`
	Usage                  string            `json:"usage"`
	Type                   string            `json:"type"`
	ImageURL               string            `json:"image_url"`
	ImageContent           string            `json:"image_content,omitempty"`
	PaymentAmount          int64             `json:"payment_amount"`
	Status                 string            `json:"status"`
	Description            string            `json:"description"`
	FixedAmount            bool              `json:"fixed_amount"`
	PaymentsAmountReceived int64             `json:"payments_amount_received"`
	PaymentsCountReceived  int64             `json:"payments_count_received"`
	Notes                  map[string]string `json:"notes"`
	CustomerID             string            `json:"customer_id"`
	CloseBy                int64             `json:"close_by"`
	// ClosedAt and CloseReason are set when the QR code is closed (see
	// Server.CloseQRCode); the documents' examples leave them out.
	ClosedAt    int64  `json:"closed_at,omitempty"`
	CloseReason string `json:"close_reason,omitempty"`
}

// paymentLink is a payment link entity, in the document's field order.
type paymentLink struct {
	AcceptPartial         bool              `json:"accept_partial"`
	Amount                int64             `json:"amount"`
	AmountPaid            int64             `json:"amount_paid"`
	CancelledAt           int64             `json:"cancelled_at"`
	CreatedAt             int64             `json:"created_at"`
	Currency              string            `json:"currency"`
	Customer              linkCustomer      `json:"customer"`
	Description           string            `json:"description"`
	ExpireBy              int64             `json:"expire_by"`
	ExpiredAt             int64             `json:"expired_at"`
	FirstMinPartialAmount int64             `json:"first_min_partial_amount"`
	ID                    string            `json:"id"`
	Notes                 map[string]string `json:"notes"`
	Notify                linkNotify        `json:"notify"`
	OrderID               string            `json:"order_id"`
	Payments              []linkPayment     `json:"payments"`
	ReferenceID           string            `json:"reference_id"`
	ReminderEnable        bool              `json:"reminder_enable"`
	Reminders             []json.RawMessage `json:"reminders"`
	ShortURL              string            `json:"short_url"`
	Status                string            `json:"status"`
	UpdatedAt             int64             `json:"updated_at"`
	UPILink               bool              `json:"upi_link"`
	UserID                string            `json:"user_id"`
}

// linkCustomer is a payment link's customer object.
type linkCustomer struct {
	Contact string `json:"contact"`
	Email   string `json:"email"`
}

// linkNotify is a payment link's notify object.
type linkNotify struct {
	Email bool `json:"email"`
	SMS   bool `json:"sms"`
}

// linkPayment is one element of a payment link's payments array.
type linkPayment struct {
	Amount    int64  `json:"amount"`
	CreatedAt int64  `json:"created_at"`
	Method    string `json:"method"`
	PaymentID string `json:"payment_id"`
	Status    string `json:"status"`
}

// payment is a payment entity, in the document's field order. The pointer
// fields are null in every seeded payment; they are pointers so that they
// marshal as null rather than as an empty string.
type payment struct {
	ID               string            `json:"id"`
	Entity           string            `json:"entity"`
	Amount           int64             `json:"amount"`
	Currency         string            `json:"currency"`
	Status           string            `json:"status"`
	OrderID          string            `json:"order_id"`
	InvoiceID        *string           `json:"invoice_id"`
	International    bool              `json:"international"`
	Method           string            `json:"method"`
	AmountRefunded   int64             `json:"amount_refunded"`
	RefundStatus     *string           `json:"refund_status"`
	Captured         bool              `json:"captured"`
	Description      string            `json:"description"`
	CardID           *string           `json:"card_id"`
	Bank             *string           `json:"bank"`
	Wallet           *string           `json:"wallet"`
	VPA              string            `json:"vpa"`
	Email            string            `json:"email"`
	Contact          string            `json:"contact"`
	CustomerID       string            `json:"customer_id"`
	TokenID          string            `json:"token_id"`
	Notes            json.RawMessage   `json:"notes"` // Razorpay renders empty notes as [].
	Fee              int64             `json:"fee"`
	Tax              int64             `json:"tax"`
	ErrorCode        *string           `json:"error_code"`
	ErrorDescription *string           `json:"error_description"`
	ErrorSource      *string           `json:"error_source"`
	ErrorStep        *string           `json:"error_step"`
	ErrorReason      *string           `json:"error_reason"`
	AcquirerData     map[string]string `json:"acquirer_data"`
	CreatedAt        int64             `json:"created_at"`
	UPI              *paymentUPI       `json:"upi,omitempty"` // Only with ?expand[]=upi.
}

// paymentUPI is a payment's upi object, present only when expanded.
type paymentUPI struct {
	PayerAccountType string `json:"payer_account_type"`
	VPA              string `json:"vpa"`
	Flow             string `json:"flow,omitempty"`
}

// account is one Razorpay merchant account: its secret and the entities it
// owns, each keyed by id.
type account struct {
	secret   string
	qrCodes  map[string]*qrCode
	links    map[string]*paymentLink
	payments map[string]*payment
}

func newAccount(secret string) *account {
	return &account{
		secret:   secret,
		qrCodes:  make(map[string]*qrCode),
		links:    make(map[string]*paymentLink),
		payments: make(map[string]*payment),
	}
}

// decodeDoc decodes one of the doc* constants into v. Unknown fields are an
// error so that every field of a document has a home in its struct; a
// failure is a programmer error, hence the panic.
func decodeDoc(doc string, v any) {
	dec := json.NewDecoder(bytes.NewReader([]byte(doc)))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		panic("fakerazorpay: decoding seed document: " + err.Error())
	}
}

// newQRCode returns the shape of docQRCode with the given ids and no notes.
func newQRCode(id, customerID string) *qrCode {
	var qr qrCode
	decodeDoc(docQRCode, &qr)
	qr.ID, qr.CustomerID, qr.Notes = id, customerID, map[string]string{}
	return &qr
}

// seedA returns account A's entities: the documents' examples, unchanged.
func seedA(secret string) *account {
	a := newAccount(secret)
	var qr, patched qrCode
	decodeDoc(docQRCode, &qr)
	decodeDoc(docPatchedQRCode, &patched)
	var link paymentLink
	decodeDoc(docPaymentLink, &link)
	var pay payment
	decodeDoc(docPayment, &pay)
	a.qrCodes[qr.ID], a.qrCodes[patched.ID] = &qr, &patched
	a.links[link.ID] = &link
	a.payments[pay.ID] = &pay
	return a
}

// seedB returns account B's entities: the documents' shapes with B's own
// ids and values, so a response leaked across accounts is recognisable.
func seedB(secret string) *account {
	b := seedA(secret)
	qr, patched := b.qrCodes["qr_HMsgvioW64f0vh"], b.qrCodes["qr_HMsVL8HOpbMcjU"]
	clear(b.qrCodes)
	qr.ID, qr.CustomerID = "qr_BBsgvioW64f0vh", "cust_BBsR5se84c5LTO"
	qr.Name, qr.PaymentAmount = "Store_B", 500
	qr.Notes = map[string]string{"purpose": "Account B QR Code notes"}
	patched.ID, patched.CustomerID = "qr_BBsVL8HOpbMcjU", "cust_BBsR5se84c5LTO"
	patched.Name = "Store B Front Display"
	patched.Notes = map[string]string{"keyB": "valueB"}
	b.qrCodes[qr.ID], b.qrCodes[patched.ID] = qr, patched

	link := b.links["plink_Fo48rl281ENAg9"]
	clear(b.links)
	link.ID, link.OrderID = "plink_BB48rl281ENAg9", "order_BB491cL6NGAjkI"
	link.Amount, link.AmountPaid = 200, 200
	link.Description = "Payment for Account B"
	link.Notes = map[string]string{"policy_name": "Account B Policy"}
	link.Payments[0].Amount, link.Payments[0].PaymentID = 200, "pay_BB49sHbQ78PCMI"
	link.ShortURL, link.UserID = "https://rzp.io/i/BBiMe4w", "BBjfFPCOUOAcSH"
	b.links[link.ID] = link

	pay := b.payments["pay_DG4ZdRK8ZnXC3k"]
	clear(b.payments)
	pay.ID, pay.OrderID = "pay_BB4ZdRK8ZnXC3k", "order_BBCr5oKh4AVC51"
	pay.Amount, pay.Description = 200, "Payment for Account B"
	pay.CustomerID, pay.TokenID = "cust_BBsR5se84c5LTO", "token_BBdY4DBYQOv08n"
	pay.VPA, pay.Email = "account.b@upi", "account.b@example.com"
	pay.AcquirerData = map[string]string{"rrn": "303107535999"}
	pay.UPI.VPA = "account.b@upi"
	b.payments[pay.ID] = pay
	return b
}

// cloneNotes returns a copy of notes that is never nil, so that it always
// marshals as an object.
func cloneNotes(notes map[string]string) map[string]string {
	c := maps.Clone(notes)
	if c == nil {
		c = map[string]string{}
	}
	return c
}
