package oauth

import (
	"encoding/json"
	"net/http"
	"strconv"
)

// Error is an OAuth 2.0 error response (RFC 6749 §5.2). Constructors return
// fresh values, so callers may set fields without affecting others.
type Error struct {
	// Code is the registered error code, such as "invalid_grant".
	Code string `json:"error"`
	// Description is a human-readable explanation. It never contains a
	// token or a secret.
	Description string `json:"error_description,omitempty"`
	// Status is the HTTP status the error is sent with.
	Status int `json:"-"`
	// RetryAfter, when positive, is sent as a Retry-After header (seconds).
	RetryAfter int `json:"-"`
}

// Error returns the code and, when set, the description.
func (e *Error) Error() string {
	if e.Description == "" {
		return e.Code
	}
	return e.Code + ": " + e.Description
}

func newError(code string, status int, desc string) *Error {
	return &Error{Code: code, Description: desc, Status: status}
}

// InvalidRequest reports a malformed request (RFC 6749 §5.2).
func InvalidRequest(desc string) *Error {
	return newError("invalid_request", http.StatusBadRequest, desc)
}

// InvalidClient reports failed client authentication. It is sent as 401
// with a WWW-Authenticate challenge (RFC 6749 §5.2).
func InvalidClient(desc string) *Error {
	return newError("invalid_client", http.StatusUnauthorized, desc)
}

// InvalidGrant reports an invalid, expired or revoked grant or refresh token.
func InvalidGrant(desc string) *Error {
	return newError("invalid_grant", http.StatusBadRequest, desc)
}

// UnauthorizedClient reports a client that may not use the grant type.
func UnauthorizedClient(desc string) *Error {
	return newError("unauthorized_client", http.StatusBadRequest, desc)
}

// UnsupportedGrantType reports a grant type the server does not support.
func UnsupportedGrantType(desc string) *Error {
	return newError("unsupported_grant_type", http.StatusBadRequest, desc)
}

// InvalidScope reports a scope that is unknown, malformed or exceeds the grant.
func InvalidScope(desc string) *Error {
	return newError("invalid_scope", http.StatusBadRequest, desc)
}

// InvalidTarget reports a resource or audience the client may not ask for
// (RFC 8707 §2).
func InvalidTarget(desc string) *Error {
	return newError("invalid_target", http.StatusBadRequest, desc)
}

// UnsupportedTokenType reports a revocation request for a token type the
// server cannot revoke (RFC 7009 §2.2.1).
func UnsupportedTokenType(desc string) *Error {
	return newError("unsupported_token_type", http.StatusBadRequest, desc)
}

// InvalidDPoPProof reports a missing or bad DPoP proof (RFC 9449 §5).
func InvalidDPoPProof(desc string) *Error {
	return newError("invalid_dpop_proof", http.StatusBadRequest, desc)
}

// UseDPoPNonce asks the client to retry with the server's nonce, sent in
// the DPoP-Nonce header (RFC 9449 §8).
func UseDPoPNonce(desc string) *Error {
	return newError("use_dpop_nonce", http.StatusBadRequest, desc)
}

// TooManyRequests reports a rate-limited client; retryAfter is in seconds.
func TooManyRequests(desc string, retryAfter int) *Error {
	e := newError("invalid_request", http.StatusTooManyRequests, desc)
	e.RetryAfter = retryAfter
	return e
}

// RequestTooLarge reports a request body over the size cap.
func RequestTooLarge(desc string) *Error {
	return newError("invalid_request", http.StatusRequestEntityTooLarge, desc)
}

// ServerError reports an unexpected condition. The description must not
// leak internals; details go to the log.
func ServerError(desc string) *Error {
	return newError("server_error", http.StatusInternalServerError, desc)
}

// TemporarilyUnavailable reports an overloaded or unavailable dependency.
func TemporarilyUnavailable(desc string) *Error {
	return newError("temporarily_unavailable", http.StatusServiceUnavailable, desc)
}

// WriteError writes e as RFC 6749 §5.2 JSON with no-store caching headers.
// For invalid_client with status 401 it adds a Basic challenge, as the RFC
// requires when the client tried (or may try) HTTP Basic.
func WriteError(w http.ResponseWriter, e *Error) {
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Cache-Control", "no-store")
	h.Set("Pragma", "no-cache")
	if e.Status == http.StatusUnauthorized {
		h.Set("WWW-Authenticate", `Basic realm="rotor", charset="UTF-8"`)
	}
	if e.RetryAfter > 0 {
		h.Set("Retry-After", strconv.Itoa(e.RetryAfter))
	}
	status := e.Status
	if status == 0 {
		status = http.StatusBadRequest
	}
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(e)
}

// WriteJSON writes v as a 200 JSON response with no-store caching headers,
// as RFC 6749 §5.1 requires for every response carrying tokens.
func WriteJSON(w http.ResponseWriter, v any) {
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Cache-Control", "no-store")
	h.Set("Pragma", "no-cache")
	w.WriteHeader(http.StatusOK)
	_ = json.NewEncoder(w).Encode(v)
}
