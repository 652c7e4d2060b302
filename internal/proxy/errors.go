package proxy

import (
	"net/http"

	"github.com/rzpgate/rzpgate/internal/apierror"
)

// Razorpay error codes the gateway uses in errors it produces itself.
const (
	codeBadRequest = apierror.BadRequest
	codeServer     = apierror.Server
)

// writeError writes an error the gateway produced in Razorpay's error shape,
// so every SDK reports it as it would report Razorpay's own.
func writeError(w http.ResponseWriter, status int, code, description string) {
	apierror.Write(w, status, code, description)
}
