package webhook

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"net/http"
)

// Razorpay's webhook headers.
const (
	headerSignature = "X-Razorpay-Signature"
	headerEventID   = "X-Razorpay-Event-Id"
)

// verified reports whether h carries one X-Razorpay-Signature that is the
// hex HMAC-SHA256 of body under one of secrets. Each comparison is
// constant-time (hmac.Equal), and every secret is tried whatever the
// outcome, so the time taken tells nothing of the signature or of which
// secret matched. razorpay-go's utils.VerifySignature compares with !=,
// which leaks how much of a guess was right.
func verified(h http.Header, body []byte, secrets [][]byte) bool {
	vs := h.Values(headerSignature)
	if len(vs) != 1 || len(vs[0]) != hex.EncodedLen(sha256.Size) {
		return false
	}
	got, err := hex.DecodeString(vs[0])
	if err != nil {
		return false
	}
	ok := false
	for _, s := range secrets {
		mac := hmac.New(sha256.New, s)
		mac.Write(body)
		ok = hmac.Equal(got, mac.Sum(nil)) || ok
	}
	return ok
}

// dedupKey returns the key under which a delivery is claimed: a digest of
// its signed body alone. The signature does not cover
// X-Razorpay-Event-Id, so a captured body replayed under new ids, or none,
// must still be the same delivery; Razorpay redelivers an event with the
// body it signed the first time, and two events never share a body (each
// names its own ids and created_at).
func dedupKey(body []byte) string {
	sum := sha256.Sum256(body)
	return "b." + hex.EncodeToString(sum[:16])
}

// sign returns the hex HMAC-SHA256 of body under secret, as Razorpay
// computes X-Razorpay-Signature.
func sign(body, secret []byte) string {
	mac := hmac.New(sha256.New, secret)
	mac.Write(body)
	return hex.EncodeToString(mac.Sum(nil))
}

// eventID returns the delivery's X-Razorpay-Event-Id if it is one short
// run of letters, digits, '_' and '-', or "" (no deduplication).
func eventID(h http.Header) string {
	vs := h.Values(headerEventID)
	if len(vs) != 1 || vs[0] == "" || len(vs[0]) > 64 {
		return ""
	}
	for _, c := range []byte(vs[0]) {
		if !isAlnum(c) && c != '_' && c != '-' {
			return ""
		}
	}
	return vs[0]
}
