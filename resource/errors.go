package resource

import (
	"encoding/json"
	"errors"
	"net/http"
	"strconv"
	"strings"
)

// Error codes of RFC 6750 §3.1 and RFC 9449 §7.1.
const (
	CodeInvalidRequest    = "invalid_request"
	CodeInvalidToken      = "invalid_token"
	CodeInsufficientScope = "insufficient_scope"
	CodeInvalidDPoPProof  = "invalid_dpop_proof"
)

// Authentication schemes of a challenge.
const (
	SchemeBearer = "Bearer"
	SchemeDPoP   = "DPoP"
)

// Kinds of failure. Every error [Verifier.Verify] returns is an [*Error]
// that matches exactly one of these with [errors.Is].
var (
	// ErrNoToken: the request carries no access token (RFC 6750 §3.1: a
	// challenge without an error code).
	ErrNoToken = errors.New("resource: no access token")
	// ErrMalformedRequest: the Authorization or DPoP header is not usable,
	// for example sent twice.
	ErrMalformedRequest = errors.New("resource: malformed request")
	// ErrMalformedToken: not a JWS compact serialization, claims that are
	// not JSON, or a required claim missing.
	ErrMalformedToken = errors.New("resource: malformed token")
	// ErrAlgorithm: the token's alg is not in the allow-list, or does not
	// fit the key.
	ErrAlgorithm = errors.New("resource: algorithm not allowed")
	// ErrUnknownKey: no key of the issuer's key set has the token's kid.
	ErrUnknownKey = errors.New("resource: unknown signing key")
	// ErrSignature: the signature does not verify.
	ErrSignature = errors.New("resource: bad signature")
	// ErrType: the header typ is not at+jwt.
	ErrType = errors.New("resource: not an access token")
	// ErrIssuer: iss is not the configured issuer.
	ErrIssuer = errors.New("resource: wrong issuer")
	// ErrAudience: aud does not contain the configured audience.
	ErrAudience = errors.New("resource: wrong audience")
	// ErrExpired: exp has passed.
	ErrExpired = errors.New("resource: token expired")
	// ErrNotYetValid: nbf or iat is in the future.
	ErrNotYetValid = errors.New("resource: token not yet valid")
	// ErrRevoked: introspection or the deny-list says the token is revoked.
	ErrRevoked = errors.New("resource: token revoked")
	// ErrInsufficientScope: a valid token without a required scope.
	ErrInsufficientScope = errors.New("resource: insufficient scope")
	// ErrDPoPRequired: a token bound to a key arrived without the DPoP
	// scheme and proof, or a bearer token arrived where
	// [Config.RequireDPoP] is set.
	ErrDPoPRequired = errors.New("resource: proof of possession required")
	// ErrNotBound: a token not bound to any key arrived with the DPoP
	// scheme.
	ErrNotBound = errors.New("resource: token is not bound to a key")
	// ErrKeyMismatch: the DPoP proof was signed by another key than the one
	// the token is bound to.
	ErrKeyMismatch = errors.New("resource: proof key does not match the token")
	// ErrInvalidProof: the DPoP proof is malformed, badly signed, or made
	// for another method, URL, time or token.
	ErrInvalidProof = errors.New("resource: invalid DPoP proof")
	// ErrProofReplayed: the DPoP proof's jti was seen before.
	ErrProofReplayed = errors.New("resource: DPoP proof replayed")
	// ErrUnavailable: the token could not be checked because a service the
	// check depends on failed (introspection, a deny-list past MaxStale),
	// or the verifier is closed. It is answered 503, not 401: the token
	// may well be good.
	ErrUnavailable = errors.New("resource: verification unavailable")
)

// Error is a failed verification and the HTTP answer it calls for. Its
// Description is fixed text chosen by this package: it never contains the
// token nor anything taken from it.
type Error struct {
	// Code is the RFC 6750 / RFC 9449 error code, or "" for a request
	// without a token and for [ErrUnavailable].
	Code string
	// Description is a human-readable explanation, safe to send.
	Description string
	// Status is the HTTP status to answer with: 400, 401, 403 or 503.
	Status int
	// Scheme is the scheme of the challenge, [SchemeBearer] or
	// [SchemeDPoP].
	Scheme string
	// Scope, for insufficient_scope, lists the scopes the request needs.
	Scope string

	kind  error
	cause error
}

// Error returns the description, and the cause when there is one.
func (e *Error) Error() string {
	if e.cause != nil {
		return "resource: " + e.Description + ": " + e.cause.Error()
	}
	return "resource: " + e.Description
}

// Is reports whether target is the kind of this failure, such as
// [ErrExpired].
func (e *Error) Is(target error) bool { return target == e.kind }

// Unwrap returns the underlying cause, such as a network error, or nil.
func (e *Error) Unwrap() error { return e.cause }

// fail builds the error of a kind; the code, status and scheme follow from
// the kind.
func fail(kind error, desc string) *Error {
	e := &Error{kind: kind, Description: desc, Scheme: SchemeBearer, Code: CodeInvalidToken, Status: http.StatusUnauthorized}
	switch kind {
	case ErrNoToken:
		e.Code = ""
	case ErrMalformedRequest:
		e.Code, e.Status = CodeInvalidRequest, http.StatusBadRequest
	case ErrInsufficientScope:
		e.Code, e.Status = CodeInsufficientScope, http.StatusForbidden
	case ErrDPoPRequired, ErrNotBound, ErrKeyMismatch:
		e.Scheme = SchemeDPoP
	case ErrInvalidProof, ErrProofReplayed:
		e.Code, e.Scheme = CodeInvalidDPoPProof, SchemeDPoP
	case ErrUnavailable:
		e.Code, e.Status = "", http.StatusServiceUnavailable
	}
	return e
}

// failCause is fail with an underlying cause kept for logs.
func failCause(kind error, desc string, cause error) *Error {
	e := fail(kind, desc)
	e.cause = cause
	return e
}

// asError returns err as an *Error; anything else (which Verify never
// returns) becomes invalid_token.
func asError(err error) *Error {
	var e *Error
	if errors.As(err, &e) {
		return e
	}
	return failCause(ErrMalformedToken, "the token cannot be verified", err)
}

// challenge is the WWW-Authenticate value of scheme, with e's error when
// e is at fault in that scheme.
func (v *Verifier) challenge(e *Error, scheme string) string {
	var b strings.Builder
	b.WriteString(scheme)
	sep := " "
	param := func(name, value string) {
		b.WriteString(sep)
		b.WriteString(name)
		b.WriteString("=")
		b.WriteString(strconv.Quote(value))
		sep = ", "
	}
	if v.cfg.Realm != "" {
		param("realm", v.cfg.Realm)
	}
	if scheme == SchemeDPoP {
		param("algs", v.proofAlgs)
	}
	if e.Code != "" && e.Scheme == scheme {
		param("error", e.Code)
		if e.Description != "" {
			param("error_description", e.Description)
		}
		if e.Scope != "" {
			param("scope", e.Scope)
		}
	}
	return b.String()
}

// WriteError answers a request whose verification failed with err: the
// status, the WWW-Authenticate challenge, and a small JSON body with the
// error code. A request without a token is offered both schemes (RFC 9449
// §7.1), or only DPoP under [Config.RequireDPoP]; a failure is answered in
// the scheme at fault. [ErrUnavailable] is a 503 with Retry-After and no
// challenge, since the token itself may be good.
func (v *Verifier) WriteError(w http.ResponseWriter, err error) {
	e := asError(err)
	h := w.Header()
	switch {
	case e.Status == http.StatusServiceUnavailable:
		h.Set("Retry-After", "5")
	case e.Code == "":
		if !v.cfg.RequireDPoP {
			h.Add("WWW-Authenticate", v.challenge(e, SchemeBearer))
		}
		h.Add("WWW-Authenticate", v.challenge(e, SchemeDPoP))
	default:
		h.Add("WWW-Authenticate", v.challenge(e, e.Scheme))
	}
	h.Set("Cache-Control", "no-store")
	if e.Code == "" {
		w.WriteHeader(e.Status)
		return
	}
	body, _ := json.Marshal(struct {
		Code        string `json:"error"`
		Description string `json:"error_description,omitempty"`
	}{e.Code, e.Description})
	h.Set("Content-Type", "application/json")
	w.WriteHeader(e.Status)
	_, _ = w.Write(append(body, '\n'))
}
