package family

import (
	"errors"

	"github.com/rotor-auth/rotor/internal/audit"
	"github.com/rotor-auth/rotor/internal/store"
)

// Error is a refused refresh-token operation. Reason is the audit reason,
// so the audit trail and the error agree. The package's variables
// (ErrUnknown, ...) name the refusals; a refusal returned by the service is
// a copy that [errors.Is] matches to its variable and that carries, in
// Event, the audit event still to be recorded (nil when the refusal's
// events were written in its transaction).
type Error struct {
	Reason audit.Reason
	msg    string
	// Event is the refresh_failed event of a refusal that changed
	// nothing; the caller records it (see [Service.Refresh]).
	Event *store.Event
}

func (e *Error) Error() string { return e.msg }

// Is reports whether target is the same refusal.
func (e *Error) Is(target error) bool {
	t, ok := target.(*Error)
	return ok && t.Reason == e.Reason
}

// with returns a copy of the refusal carrying ev.
func (e *Error) with(ev *store.Event) *Error { c := *e; c.Event = ev; return &c }

// Domain errors. All of them are invalid_grant on the wire except
// ErrInvalidScope (invalid_scope) and ErrDPoPMissing (invalid_dpop_proof).
var (
	ErrMalformed         = &Error{Reason: audit.ReasonMalformed, msg: "family: refresh token is malformed"}
	ErrUnknown           = &Error{Reason: audit.ReasonUnknown, msg: "family: refresh token is unknown"}
	ErrWrongClient       = &Error{Reason: audit.ReasonWrongClient, msg: "family: refresh token was issued to another client"}
	ErrRevoked           = &Error{Reason: audit.ReasonRevoked, msg: "family: grant has been revoked"}
	ErrExpiredIdle       = &Error{Reason: audit.ReasonExpiredIdle, msg: "family: refresh token expired (idle)"}
	ErrExpiredAbsolute   = &Error{Reason: audit.ReasonExpiredAbsolute, msg: "family: grant expired"}
	ErrUserDisabled      = &Error{Reason: audit.ReasonUserDisabled, msg: "family: user is disabled"}
	ErrUserDeleted       = &Error{Reason: audit.ReasonUserDeleted, msg: "family: user no longer exists"}
	ErrTokensInvalidated = &Error{Reason: audit.ReasonTokensInvalidated, msg: "family: grant predates the user's last sign-out everywhere"}
	ErrClientInvalid     = &Error{Reason: audit.ReasonClientInvalid, msg: "family: client is deleted, disabled, or no longer allows refresh"}
	ErrInvalidScope      = &Error{Reason: audit.ReasonInvalidScope, msg: "family: requested scope exceeds the grant"}
	ErrDPoPMismatch      = &Error{Reason: audit.ReasonDPoPMismatch, msg: "family: proof-of-possession key does not match the grant; grant revoked"}
	ErrDPoPMissing       = &Error{Reason: audit.ReasonDPoPMissing, msg: "family: grant is bound to a key and the request has no proof"}
	ErrVerifierMissing   = &Error{Reason: audit.ReasonVerifierMissing, msg: "family: grant is bound to a code_verifier and the request has none"}
	ErrVerifierMismatch  = &Error{Reason: audit.ReasonVerifierMismatch, msg: "family: code_verifier does not match the grant; grant revoked"}
	ErrReplayed          = &Error{Reason: audit.ReasonReuseDetected, msg: "family: refresh token reuse detected; grant revoked"}
	// ErrUserChanged: the user's password or tokens_valid_after changed
	// between the verification of their credentials and the creation of
	// the family (a sign-in racing a password change).
	ErrUserChanged        = &Error{Reason: audit.ReasonTokensInvalidated, msg: "family: the user's credentials changed during sign-in"}
	errGraceUnsealFailure = errors.New("family: sealed successor does not open")
)
