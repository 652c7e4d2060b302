// Package apierror writes the errors the gateway produces itself in
// Razorpay's error shape, so that every SDK reports them as it reports
// Razorpay's own.
package apierror

import (
	"encoding/json"
	"net/http"
	"strconv"
)

// Razorpay error codes the gateway uses.
const (
	BadRequest = "BAD_REQUEST_ERROR"
	Server     = "SERVER_ERROR"
)

// body is Razorpay's error body. It has no internal_error_code field on
// purpose: razorpay-go misreads some of its values as success.
type body struct {
	Error detail `json:"error"`
}

type detail struct {
	Code        string   `json:"code"`
	Description string   `json:"description"`
	Source      string   `json:"source"`
	Step        string   `json:"step"`
	Reason      string   `json:"reason"`
	Metadata    struct{} `json:"metadata"`
}

// Write answers with status and an error of code, in Razorpay's shape,
// never cached.
func Write(w http.ResponseWriter, status int, code, description string) {
	b, _ := json.Marshal(body{Error: detail{Code: code, Description: description, Source: "NA", Step: "NA", Reason: "NA"}})
	h := w.Header()
	h.Set("Content-Type", "application/json; charset=UTF-8")
	h.Set("Content-Length", strconv.Itoa(len(b)))
	h.Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	w.Write(b)
}
