package webhook

import (
	"encoding/json"
	"net/http"
	"strconv"
)

// Razorpay error codes the receiver answers with.
const (
	codeBadRequest = "BAD_REQUEST_ERROR"
	codeServer     = "SERVER_ERROR"
)

// apiError is Razorpay's error body, as the gateway's own errors have it.
// It has no internal_error_code field on purpose: razorpay-go misreads some
// of its values as success.
type apiError struct {
	Error apiErrorDetail `json:"error"`
}

type apiErrorDetail struct {
	Code        string   `json:"code"`
	Description string   `json:"description"`
	Source      string   `json:"source"`
	Step        string   `json:"step"`
	Reason      string   `json:"reason"`
	Metadata    struct{} `json:"metadata"`
}

// writeError answers with an error in Razorpay's shape.
func writeError(w http.ResponseWriter, status int, code, description string) {
	body, _ := json.Marshal(apiError{Error: apiErrorDetail{
		Code: code, Description: description, Source: "NA", Step: "NA", Reason: "NA",
	}})
	writeJSON(w, status, body)
}

// writeJSON answers with a JSON body that is never cached.
func writeJSON(w http.ResponseWriter, status int, body []byte) {
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Content-Length", strconv.Itoa(len(body)))
	h.Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	w.Write(body)
}
