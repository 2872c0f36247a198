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
	JWKS      []byte
	JWKSURI   string
	CreatedAt time.Time
	UpdatedAt time.Time
}

// AllowsGrant reports whether the client may use the grant type.
func (c *Client) AllowsGrant(grant string) bool { return contains(c.GrantTypes, grant) }

// User is a resource owner.
type User struct {
	ID       string
	Username string
	// PasswordPHC is the argon2id hash of the password.
	PasswordPHC string
	Disabled    bool
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
	// RevokedAt is zero for a live family.
	RevokedAt    time.Time
	RevokeReason string
}

// Revoked reports whether the family has been revoked.
func (f *Family) Revoked() bool { return !f.RevokedAt.IsZero() }

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
