// Package token issues and verifies Rotor's access tokens: RFC 9068 JWTs
// (typ at+jwt) with the claims iss sub aud exp iat nbf jti client_id
// scope sid, and cnf.jkt when DPoP-bound (RFC 9449 §6.1); and OpenID
// Connect id_tokens (typ JWT, see id.go). The token endpoint,
// introspection, revocation, userinfo and logout use it. One signing key
// signs both kinds; the typ header keeps one from passing for the other.
//
// It imports internal/oauth and nothing else of Rotor's.
package token

import (
	"context"
	"encoding/json"
	"time"

	"github.com/rotor-auth/rotor/internal/oauth"
)

// Signer signs and verifies tokens and publishes the JWKS; the keys
// package's Manager is the implementation. All methods are safe for
// concurrent use; Sign is on the hot path and must not touch the database.
type Signer interface {
	// Sign returns a compact JWS with header typ ([TypeAccess] or
	// [TypeID]) of the claims that claims returns when given the alg of
	// the key that signs.
	Sign(ctx context.Context, typ string, claims func(alg string) (any, error)) (token, kid string, err error)
	// Verify checks a token's signature against the published keys and
	// that its header says typ, and returns its payload; claims are the
	// caller's to check.
	Verify(ctx context.Context, typ, token string) ([]byte, error)
	// JWKS returns the JSON Web Key Set of the published keys.
	JWKS(ctx context.Context) ([]byte, error)
	// Algorithms returns the algs of the published keys.
	Algorithms(ctx context.Context) ([]string, error)
}

// The typ headers of Rotor's tokens (the same values as the keys
// package's TypeAccessToken and TypeJWT).
const (
	// TypeAccess is an access token's (RFC 9068 §2.1).
	TypeAccess = "at+jwt"
	// TypeID is an id_token's (OpenID Connect Core §2 allows it; RFC 8725
	// §3.11 asks that kinds of JWT be told apart).
	TypeID = "JWT"
)

// Claims are the claims of an access token (RFC 9068 §2.2).
type Claims struct {
	Issuer    string   `json:"iss"`
	Subject   string   `json:"sub"`
	Audience  []string `json:"aud"`
	Expiry    int64    `json:"exp"`
	IssuedAt  int64    `json:"iat"`
	NotBefore int64    `json:"nbf"`
	JTI       string   `json:"jti"`
	ClientID  string   `json:"client_id"`
	Scope     string   `json:"scope,omitempty"`
	// SID is the refresh-token family the token was issued with.
	SID string `json:"sid,omitempty"`
	// Cnf binds a DPoP token to its key (RFC 9449 §6.1).
	Cnf *oauth.Confirmation `json:"cnf,omitempty"`
}

// Access describes an access token to issue.
type Access struct {
	JTI      string
	Subject  string
	ClientID string
	// SID is the family's id, or "" for a token without a family.
	SID      string
	Scopes   []string
	Audience []string
	TTL      time.Duration
	// JKT is the DPoP key thumbprint the token is bound to, or "".
	JKT string
}

// Issuer issues and verifies the access tokens of one issuer URL. It is
// safe for concurrent use.
type Issuer struct {
	url    string
	signer Signer
	now    func() time.Time
}

// NewIssuer returns an Issuer for the issuer URL iss.
func NewIssuer(iss string, signer Signer, now func() time.Time) *Issuer {
	return &Issuer{url: iss, signer: signer, now: now}
}

// Issue signs an access token issued now and returns it with its claims.
func (i *Issuer) Issue(ctx context.Context, a Access) (string, *Claims, error) {
	now := i.now()
	c := &Claims{
		Issuer: i.url, Subject: a.Subject, Audience: a.Audience,
		Expiry: now.Add(a.TTL).Unix(), IssuedAt: now.Unix(), NotBefore: now.Unix(),
		JTI: a.JTI, ClientID: a.ClientID, Scope: oauth.JoinScope(a.Scopes), SID: a.SID,
	}
	if a.JKT != "" {
		c.Cnf = &oauth.Confirmation{JKT: a.JKT}
	}
	tok, _, err := i.signer.Sign(ctx, TypeAccess, func(string) (any, error) { return c, nil })
	if err != nil {
		return "", nil, err
	}
	return tok, c, nil
}

// MaxLen bounds a presented token before any parsing.
const MaxLen = 8 << 10

// Leeway is the clock skew allowed on nbf.
const Leeway = 60 * time.Second

// Verify checks an access token's signature, type (at+jwt: never an
// id_token), issuer and, with checkExpiry, its lifetime, and returns its
// claims; ok is false for a token Rotor would not accept.
func (i *Issuer) Verify(ctx context.Context, tok string, checkExpiry bool) (*Claims, bool) {
	if len(tok) > MaxLen {
		return nil, false
	}
	payload, err := i.signer.Verify(ctx, TypeAccess, tok)
	if err != nil {
		return nil, false
	}
	var c Claims
	if err := json.Unmarshal(payload, &c); err != nil || c.Issuer != i.url || c.JTI == "" {
		return nil, false
	}
	now := i.now().Unix()
	if checkExpiry && (now >= c.Expiry || now+int64(Leeway/time.Second) < c.NotBefore) {
		return nil, false
	}
	return &c, true
}

// TokenType is the token_type of an access token with these claims:
// DPoP when bound to a key, Bearer otherwise (RFC 9449 §5).
func (c *Claims) TokenType() string {
	if c.Cnf != nil {
		return "DPoP"
	}
	return "Bearer"
}
