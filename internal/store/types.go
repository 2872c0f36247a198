package store

import "time"

// Client is a registered OAuth client.
type Client struct {
	ID string
	// SecretHash is the keyed hash of a secret Rotor generated; nil when
	// the secret was chosen by the operator or the client is public.
	SecretHash []byte
	// SecretPHC is the argon2id hash of an operator-chosen secret; empty
	// otherwise.
	SecretPHC string
	// Public clients have no secret and authenticate with "none".
	Public       bool
	GrantTypes   []string
	Scopes       []string
	Audiences    []string
	RedirectURIs []string
	// Per-client overrides of the server defaults; nil means "use the
	// server default". A ReuseGrace of zero disables the grace period.
	ReuseGrace         *time.Duration
	AccessTokenTTL     *time.Duration
	RefreshIdleTTL     *time.Duration
	RefreshAbsoluteTTL *time.Duration
	Disabled           bool
	// RequireDPoP refuses token requests without a DPoP proof (RFC 9449).
	RequireDPoP bool
	// Introspect marks a resource server: it may introspect any access
	// token (RFC 7662 §4), not only those naming it in their audience.
	Introspect bool
	// TokensValidAfter invalidates every access token of the client
	// issued before it (set when the client is disabled, so enabling it
	// again brings none back). Zero means never set.
	TokensValidAfter time.Time
	// AuthMethod is the registered token endpoint authentication method;
	// "" means the one its credentials imply (none for a public client,
	// client_secret_basic or _post for one with a secret).
	AuthMethod string
	// JWKS is the client's inline JSON Web Key Set and JWKSURI where to
	// fetch it, for private_key_jwt; at most one is set.
	JWKS    []byte
	JWKSURI string
	// Name is shown to people on the consent page; "" shows the id.
	Name string
	// PostLogoutRedirectURIs are where RP-initiated logout may send the
	// browser afterwards, matched exactly (OIDC RP-Initiated Logout §3).
	PostLogoutRedirectURIs []string
	// AllowedOrigins are the browser origins (scheme://host[:port]) that
	// may call the token, revocation and userinfo endpoints with CORS on
	// behalf of this client; nil means the origins of its redirect URIs.
	AllowedOrigins []string
	// SkipConsent is for first-party clients: the consent page is never
	// shown, consent is implied.
	SkipConsent bool
	// RefreshRequiresVerifier binds each family of the client to the
	// PKCE code_verifier of the code that created it: every refresh must
	// send it again (docs/design.md, "Verifier-bound refresh").
	RefreshRequiresVerifier bool
	CreatedAt               time.Time
	UpdatedAt               time.Time
}

// AllowsGrant reports whether the client may use the grant type.
func (c *Client) AllowsGrant(grant string) bool { return contains(c.GrantTypes, grant) }

// User is a resource owner.
type User struct {
	ID       string
	Username string
	// PasswordPHC is the argon2id hash of the password.
	PasswordPHC string
	// Email is the user's address for the OpenID Connect email scope, or
	// ""; EmailVerified says whether an operator vouched for it.
	Email         string
	EmailVerified bool
	Disabled      bool
	// TokensValidAfter invalidates every family created before it
	// (password change, "sign out everywhere"). Zero means never set.
	TokensValidAfter time.Time
	CreatedAt        time.Time
	UpdatedAt        time.Time
}

// Family is a refresh-token family (a grant): one row, updated in place on
// every rotation, whatever the number of refreshes.
type Family struct {
	ID       string
	ClientID string
	// Subject is the user id the family was granted for.
	Subject string
	Scopes  []string
	// DPoPJKT is the JWK thumbprint the family is bound to, or "".
	DPoPJKT string
	// Generation is the generation of the live refresh token (first is 1).
	Generation uint64
	// LiveHash is the keyed hash of the live refresh token.
	LiveHash []byte
	// PrevHash is the keyed hash of the previous token (Generation-1), or
	// nil for a family that has never rotated.
	PrevHash []byte
	// RotatedAt is when the previous token was used and the live one
	// issued; zero for a family that has never rotated.
	RotatedAt time.Time
	// GraceSealed is the live refresh token sealed for the reuse grace
	// period, so that a retry of the previous token gets the same answer;
	// nil outside the grace period.
	GraceSealed []byte
	// GraceUntil is when GraceSealed stops being usable.
	GraceUntil time.Time
	CreatedAt  time.Time
	LastUsedAt time.Time
	// ExpiresAt is the sliding idle expiry, never after AbsoluteExpiresAt.
	ExpiresAt time.Time
	// AbsoluteExpiresAt is fixed at creation and never moves.
	AbsoluteExpiresAt time.Time
	LastIP            string
	LastUserAgent     string
	// SessionID is the browser session ([Session.ID]) the family was
	// created in, or "" (password, device and other grants): ending the
	// session revokes it.
	SessionID string
	// AuthTime is when the user last authenticated for this grant (the
	// OpenID Connect auth_time); zero when unknown.
	AuthTime time.Time
	// VerifierHash is the keyed hash of the PKCE code_verifier a refresh
	// must present, for a client with RefreshRequiresVerifier; nil
	// otherwise.
	VerifierHash []byte
	// RevokedAt is zero for a live family.
	RevokedAt    time.Time
	RevokeReason string
}

// Revoked reports whether the family has been revoked.
func (f *Family) Revoked() bool { return !f.RevokedAt.IsZero() }

// AuthCode is an authorization code (RFC 6749 §4.1.2) stored by the keyed
// hash of the code: the row holds no usable code. It is single use; the
// row stays after its use (until the janitor collects it) so that a second
// redemption finds the family the first one created and revokes it.
type AuthCode struct {
	// Hash is the keyed hash of the code, the primary key.
	Hash        []byte
	ClientID    string
	RedirectURI string
	Scopes      []string
	// Audiences are the RFC 8707 resource indicators the request named.
	Audiences []string
	Nonce     string
	// CodeChallenge is the PKCE S256 challenge (RFC 7636 §4.2).
	CodeChallenge string
	// DPoPJKT is the RFC 9449 §10 dpop_jkt the request bound the code to,
	// or "".
	DPoPJKT string
	// Subject is the user who authorized.
	Subject string
	// SessionID is the browser session the code was issued in.
	SessionID string
	AuthTime  time.Time
	CreatedAt time.Time
	ExpiresAt time.Time
	// UsedAt is zero until the code is redeemed.
	UsedAt time.Time
	// FamilyID is the family the redemption created, or "".
	FamilyID string
	// AccessTokenID is the jti of the access token the redemption issued.
	AccessTokenID string
}

// Used reports whether the code has been redeemed.
func (c *AuthCode) Used() bool { return !c.UsedAt.IsZero() }

// Device code statuses (RFC 8628 §3.5).
const (
	DevicePending  = "pending"
	DeviceApproved = "approved"
	DeviceDenied   = "denied"
)

// DeviceCode is a device authorization request (RFC 8628 §3.1), stored by
// the keyed hashes of its device code and of its normalised user code:
// the row holds neither code.
type DeviceCode struct {
	// Hash is the keyed hash of the device_code, the primary key.
	Hash []byte
	// UserCodeHash is the keyed hash of the normalised user code; unique.
	UserCodeHash []byte
	ClientID     string
	Scopes       []string
	// Audiences are the RFC 8707 resources the request named.
	Audiences []string
	CreatedAt time.Time
	ExpiresAt time.Time
	// Interval is the polling interval the device must keep; it grows by
	// 5 s with each slow_down (RFC 8628 §3.5).
	Interval time.Duration
	// LastPolledAt is the last token request for this code; zero before
	// the first.
	LastPolledAt time.Time
	// Status is DevicePending, DeviceApproved or DeviceDenied.
	Status string
	// Subject, SessionID and AuthTime are the user who approved (or
	// denied), in which browser session, signed in when.
	Subject   string
	SessionID string
	AuthTime  time.Time
	// IP and UserAgent are the device's, shown to the user who confirms
	// (RFC 8628 §5.4).
	IP        string
	UserAgent string
	// UsedAt is zero until the approved code has given tokens.
	UsedAt time.Time
	// FamilyID and AccessTokenID are what the tokens were.
	FamilyID      string
	AccessTokenID string
}

// Session is a browser session: the cookie holds a random value, the row
// only its keyed hash. Its ID is public (the id_token's sid) and is not the
// cookie value.
type Session struct {
	ID string
	// Hash is the keyed hash of the cookie value; unique.
	Hash    []byte
	Subject string
	// AuthTime is when the user last entered their password in it.
	AuthTime   time.Time
	CreatedAt  time.Time
	LastSeenAt time.Time
	// ExpiresAt is the sliding idle expiry; AbsoluteExpiresAt never moves.
	ExpiresAt         time.Time
	AbsoluteExpiresAt time.Time
	IP                string
	UserAgent         string
	// EndedAt is zero for a live session.
	EndedAt   time.Time
	EndReason string
}

// Ended reports whether the session has ended (logout, admin).
func (s *Session) Ended() bool { return !s.EndedAt.IsZero() }

// Consent is what a user agreed a client may have: asked again only for
// scopes outside it.
type Consent struct {
	Subject   string
	ClientID  string
	Scopes    []string
	GrantedAt time.Time
}

// Event is one entry of the audit trail. It never holds a token: TokenID
// is a short id derived from a token's keyed hash, or an access token's jti.
type Event struct {
	// ID is assigned by the store, increasing.
	ID         int64
	Time       time.Time
	Type       string
	ClientID   string
	Subject    string
	FamilyID   string
	TokenID    string
	Generation uint64
	IP         string
	UserAgent  string
	// Reason qualifies failures and revocations (for example
	// "expired_idle" or "reuse_detected").
	Reason string
	// Detail is free text or JSON with further facts; never a secret.
	Detail string
	// Actor names who made a change ("cli", "admin:<key id>",
	// "user:<id>"); empty for token requests, whose actor is the client.
	Actor string
	// Count is how many occurrences the event stands for: failures of
	// one kind from one source within a short window are recorded as one
	// event (see audit.Aggregator). Zero is stored, and read back, as 1.
	Count int64
}

// SigningKey is a JWS signing key. The private key is sealed with a key
// derived from the master key; the public JWK is stored in clear for the
// JWKS document.
type SigningKey struct {
	// ID is the JWS "kid".
	ID        string
	Algorithm string
	// Sealed is the AES-GCM sealed private key (PKCS #8 DER).
	Sealed []byte
	// PublicJWK is the public key as a JSON Web Key.
	PublicJWK []byte
	CreatedAt time.Time
	// ActiveAt is when the key may start signing; it is published in the
	// JWKS from CreatedAt on, so verifiers learn it before they meet it.
	ActiveAt time.Time
}

// Denial is a deny-list entry: a key such as "jti:…" or "sid:…" that
// resource servers and introspection must refuse until ExpiresAt.
type Denial struct {
	Key       string
	ExpiresAt time.Time
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}
