package audit

// Event types. Every issue, refresh, failure, replay and revocation is one
// of these.
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
)

// Reasons, carried by refresh_failed and family_revoked events.
const (
	ReasonMalformed          = "malformed"
	ReasonUnknown            = "unknown"
	ReasonWrongClient        = "wrong_client"
	ReasonRevoked            = "revoked"
	ReasonExpiredIdle        = "expired_idle"
	ReasonExpiredAbsolute    = "expired_absolute"
	ReasonUserDisabled       = "user_disabled"
	ReasonUserDeleted        = "user_deleted"
	ReasonTokensInvalidated  = "tokens_invalidated"
	ReasonInvalidScope       = "invalid_scope"
	ReasonDPoPMismatch       = "dpop_mismatch"
	ReasonDPoPMissing        = "dpop_missing"
	ReasonClientInvalid      = "client_invalid"
	ReasonPasswordChanged    = "password_changed"
	ReasonReuseDetected      = "reuse_detected"
	ReasonFamilyCap          = "family_cap"
	ReasonRevocationEndpoint = "revocation_endpoint"
	ReasonAdmin              = "admin"
)
