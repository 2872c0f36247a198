package family

import (
	"errors"

	"github.com/rotor-auth/rotor/internal/audit"
)

// Error is a refused refresh-token operation. Reason is the audit reason
// (audit.Reason*), so the audit trail and the error agree.
type Error struct {
	Reason string
	msg    string
}

func (e *Error) Error() string { return e.msg }

// Domain errors. All of them are invalid_grant on the wire except
// ErrInvalidScope (invalid_scope).
var (
	ErrMalformed          = &Error{audit.ReasonMalformed, "family: refresh token is malformed"}
	ErrUnknown            = &Error{audit.ReasonUnknown, "family: refresh token is unknown"}
	ErrWrongClient        = &Error{audit.ReasonWrongClient, "family: refresh token was issued to another client"}
	ErrRevoked            = &Error{audit.ReasonRevoked, "family: grant has been revoked"}
	ErrExpiredIdle        = &Error{audit.ReasonExpiredIdle, "family: refresh token expired (idle)"}
	ErrExpiredAbsolute    = &Error{audit.ReasonExpiredAbsolute, "family: grant expired"}
	ErrUserDisabled       = &Error{audit.ReasonUserDisabled, "family: user is disabled"}
	ErrUserDeleted        = &Error{audit.ReasonUserDeleted, "family: user no longer exists"}
	ErrTokensInvalidated  = &Error{audit.ReasonTokensInvalidated, "family: grant predates the user's last sign-out everywhere"}
	ErrClientInvalid      = &Error{audit.ReasonClientInvalid, "family: client is deleted, disabled, or no longer allows refresh"}
	ErrInvalidScope       = &Error{audit.ReasonInvalidScope, "family: requested scope exceeds the grant"}
	ErrDPoPMismatch       = &Error{audit.ReasonDPoPMismatch, "family: proof-of-possession key does not match the grant; grant revoked"}
	ErrDPoPMissing        = &Error{audit.ReasonDPoPMissing, "family: grant is bound to a key and the request has no proof"}
	ErrReplayed           = &Error{audit.ReasonReuseDetected, "family: refresh token reuse detected; grant revoked"}
	errGraceUnsealFailure = errors.New("family: sealed successor does not open")
)
