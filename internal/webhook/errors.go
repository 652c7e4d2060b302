package webhook

import (
	"net/http"
	"strconv"

	"github.com/rzpgate/rzpgate/internal/apierror"
)

// Razorpay error codes the receiver answers with.
const (
	codeBadRequest = apierror.BadRequest
	codeServer     = apierror.Server
)

// writeError answers with an error in Razorpay's shape.
func writeError(w http.ResponseWriter, status int, code, description string) {
	apierror.Write(w, status, code, description)
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
