package audit

import "slices"

// Event types: the closed set of what the audit trail records. Alert rules
// and metrics match on these strings; docs/design.md lists what each one
// means. Every event is built by one constructor of this package (see
// constructors.go), never by hand.
const (
	FamilyCreated       = "family_created"
	TokenRotated        = "token_rotated"
	GraceRetry          = "grace_retry"
	ReuseDetected       = "refresh_token_reuse_detected"
	FamilyRevoked       = "family_revoked"
	RefreshFailed       = "refresh_failed"
	AccessTokenIssued   = "access_token_issued"
	AccessTokenRevoked  = "access_token_revoked"
	PasswordGrantFailed = "password_grant_failed"
	ClientAuthFailed    = "client_auth_failed"
	// TokenRequestFailed is any other refusal of an authenticated
	// client's token request; Reason is the RFC 6749 error code.
	TokenRequestFailed = "token_request_failed"

	ClientCreated  = "client_created"
	ClientUpdated  = "client_updated"
	ClientDisabled = "client_disabled"
	ClientEnabled  = "client_enabled"
	ClientDeleted  = "client_deleted"

	UserCreated         = "user_created"
	UserDisabled        = "user_disabled"
	UserEnabled         = "user_enabled"
	UserPasswordChanged = "user_password_changed"

	// LoginFailed is a refused sign-in on the login page.
	LoginFailed    = "login_failed"
	SessionStarted = "session_started"
	SessionEnded   = "session_ended"
	ConsentGranted = "consent_granted"
	// AuthCodeReused is a second redemption of an authorization code: the
	// family the first one created is revoked (RFC 6749 §4.1.2).
	AuthCodeReused = "authorization_code_reused"
	// DeviceApproved and DeviceDenied are a person's answer on the
	// /device page to a device's request (RFC 8628 §3.3).
	DeviceApproved = "device_approved"
	DeviceDenied   = "device_denied"
	// UserCodeFailed is a user code refused on the /device page: unknown
	// (mistyped, expired, decided already) or throttled (too many wrong
	// codes from the browser session or the address; not looked up).
	UserCodeFailed = "user_code_failed"
	// SignedOutEverywhere: a user ended every session and grant at once.
	SignedOutEverywhere = "signed_out_everywhere"
)

// Types returns every event type, in a stable order.
func Types() []string {
	return []string{
		FamilyCreated, TokenRotated, GraceRetry, ReuseDetected, FamilyRevoked, RefreshFailed,
		AccessTokenIssued, AccessTokenRevoked, PasswordGrantFailed, ClientAuthFailed, TokenRequestFailed,
		ClientCreated, ClientUpdated, ClientDisabled, ClientEnabled, ClientDeleted,
		UserCreated, UserDisabled, UserEnabled, UserPasswordChanged,
		LoginFailed, SessionStarted, SessionEnded, ConsentGranted, AuthCodeReused,
		DeviceApproved, DeviceDenied, UserCodeFailed, SignedOutEverywhere,
	}
}

// Reason qualifies a failure or a revocation. The set is closed: every
// value is one of the Reason constants below, or, for token_request_failed
// only, an RFC 6749 §5.2 error code (see [ProtocolError]). The constants
// are untyped so that they compare with the stored strings; the
// constructors take a Reason, so a string variable cannot slip in
// without a visible conversion.
type Reason string

// Reasons of refresh_failed and family_revoked events (and of the refusals
// of the family package, which carry the same codes).
const (
	ReasonMalformed         = "malformed"
	ReasonUnknown           = "unknown"
	ReasonWrongClient       = "wrong_client"
	ReasonRevoked           = "revoked"
	ReasonExpiredIdle       = "expired_idle"
	ReasonExpiredAbsolute   = "expired_absolute"
	ReasonUserDisabled      = "user_disabled"
	ReasonUserDeleted       = "user_deleted"
	ReasonTokensInvalidated = "tokens_invalidated"
	ReasonInvalidScope      = "invalid_scope"
	ReasonDPoPMismatch      = "dpop_mismatch"
	ReasonDPoPMissing       = "dpop_missing"
	// ReasonVerifierMissing: a verifier-bound family's refresh without
	// its code_verifier.
	ReasonVerifierMissing = "verifier_missing"
	ReasonClientInvalid   = "client_invalid"
)

// Reasons of family_revoked and access_token_revoked events: why a session
// ended.
const (
	ReasonPasswordChanged    = "password_changed"
	ReasonReuseDetected      = "reuse_detected"
	ReasonFamilyCap          = "family_cap"
	ReasonRevocationEndpoint = "revocation_endpoint"
	ReasonAdmin              = "admin"
	// ReasonLogout: the browser session it was created in ended.
	ReasonLogout = "logout"
	// ReasonCodeReused: its authorization code was redeemed again.
	ReasonCodeReused = "code_reused"
	// ReasonUser: the user ended it on their sessions page.
	ReasonUser = "user"
	// ReasonSignOutEverywhere: the user signed out everywhere.
	ReasonSignOutEverywhere = "sign_out_everywhere"
	// ReasonVerifierMismatch: a verifier-bound family's live token came
	// with another code_verifier.
	ReasonVerifierMismatch = "verifier_mismatch"
)

// Reasons of password_grant_failed events.
const (
	ReasonUnknownUser   = "unknown_user"
	ReasonWrongPassword = "wrong_password"
	// ReasonThrottled: refused before the password was checked, because
	// the username or the address failed too often.
	ReasonThrottled = "throttled"
)

// Reasons of client_auth_failed events. The client sees one answer for
// all of them (invalid_client); the operator sees which it was.
const (
	ReasonUnknownClient    = "unknown_client"
	ReasonWrongSecret      = "wrong_secret"
	ReasonSecretRequired   = "secret_required"
	ReasonPublicWithSecret = "public_client_with_secret"
	ReasonWrongAuthMethod  = "wrong_auth_method"
	ReasonBadAssertion     = "bad_assertion"
	ReasonClientDisabled   = "client_disabled"
)

// Reasons returns every reason constant, in a stable order. RFC 6749
// error codes of token_request_failed are not listed: see
// [ProtocolError].
func Reasons() []Reason {
	return []Reason{
		ReasonMalformed, ReasonUnknown, ReasonWrongClient, ReasonRevoked, ReasonExpiredIdle,
		ReasonExpiredAbsolute, ReasonUserDisabled, ReasonUserDeleted, ReasonTokensInvalidated,
		ReasonInvalidScope, ReasonDPoPMismatch, ReasonDPoPMissing, ReasonClientInvalid,
		ReasonVerifierMissing, ReasonVerifierMismatch, ReasonUser, ReasonSignOutEverywhere,
		ReasonPasswordChanged, ReasonReuseDetected, ReasonFamilyCap, ReasonRevocationEndpoint,
		ReasonAdmin, ReasonLogout, ReasonCodeReused, ReasonClientDisabled,
		ReasonUnknownUser, ReasonWrongPassword, ReasonThrottled,
		ReasonUnknownClient, ReasonWrongSecret, ReasonSecretRequired, ReasonPublicWithSecret,
		ReasonWrongAuthMethod, ReasonBadAssertion, ReasonOther,
	}
}

// protocolErrors are the RFC 6749 §5.2 (and RFC 8707, RFC 9449) error
// codes a token_request_failed event may carry as its reason.
var protocolErrors = map[string]bool{
	"invalid_request": true, "invalid_client": true, "invalid_grant": true, "unauthorized_client": true,
	"unsupported_grant_type": true, "invalid_scope": true, "invalid_target": true,
	"invalid_dpop_proof": true, "use_dpop_nonce": true, "temporarily_unavailable": true,
	"access_denied": true, "server_error": true, "expired_token": true,
}

// ReasonOther stands for an RFC error code outside the known set, so the
// set of reasons stays closed.
const ReasonOther = "other"

// ProtocolErrors returns the RFC error codes a token_request_failed event
// may carry as its reason, sorted.
func ProtocolErrors() []string {
	codes := make([]string, 0, len(protocolErrors))
	for c := range protocolErrors {
		codes = append(codes, c)
	}
	slices.Sort(codes)
	return codes
}

// ProtocolError returns the reason for an RFC error code; a code outside
// the known set becomes ReasonOther.
func ProtocolError(code string) Reason {
	if protocolErrors[code] {
		return Reason(code)
	}
	return ReasonOther
}
