package proxy

import (
	"encoding/json"
	"net/http"
	"strconv"
)

// Razorpay error codes the gateway uses in errors it produces itself.
const (
	codeBadRequest = "BAD_REQUEST_ERROR"
	codeServer     = "SERVER_ERROR"
)

// apiError is Razorpay's error body. It has no internal_error_code field on
// purpose: razorpay-go misreads some of its values as success.
type apiError struct {
	Error apiErrorDetail `json:"error"`
}

type apiErrorDetail struct {
	Code        string         `json:"code"`
	Description string         `json:"description"`
	Source      string         `json:"source"`
	Step        string         `json:"step"`
	Reason      string         `json:"reason"`
	Metadata    map[string]any `json:"metadata"`
}

// writeError writes an error the gateway produced in Razorpay's error shape,
// so every SDK reports it as it would report Razorpay's own.
func writeError(w http.ResponseWriter, status int, code, description string) {
	body, _ := json.Marshal(apiError{Error: apiErrorDetail{
		Code: code, Description: description,
		Source: "NA", Step: "NA", Reason: "NA", Metadata: map[string]any{},
	}})
	h := w.Header()
	h.Set("Content-Type", "application/json; charset=UTF-8")
	h.Set("Content-Length", strconv.Itoa(len(body)))
	h.Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	w.Write(body)
}
