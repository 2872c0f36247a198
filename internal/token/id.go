package token

import (
	"context"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"hash"
	"time"
)

// ID describes an id_token to issue (OpenID Connect Core §2, §3.1.3.6).
type ID struct {
	// Subject is the user; ClientID the client the token is for: aud is
	// [ClientID] and azp ClientID.
	Subject, ClientID string
	// Nonce is the authorization request's nonce, or "" (on refresh, OIDC
	// Core §12.2, and when the request had none).
	Nonce string
	// SID is the browser session id, or "" for none.
	SID string
	// AuthTime is when the user authenticated (auth_time); omitted when
	// zero.
	AuthTime time.Time
	// AccessToken is the access token issued with the id_token: at_hash
	// is computed over it when it is not "".
	AccessToken string
	TTL         time.Duration
}

// IDTokenClaims are the claims of an id_token as Rotor writes them.
type IDTokenClaims struct {
	Issuer   string   `json:"iss"`
	Subject  string   `json:"sub"`
	Audience []string `json:"aud"`
	Expiry   int64    `json:"exp"`
	IssuedAt int64    `json:"iat"`
	AuthTime int64    `json:"auth_time,omitempty"`
	Nonce    string   `json:"nonce,omitempty"`
	AtHash   string   `json:"at_hash,omitempty"`
	// AuthorizedParty is the client the token was issued to (azp).
	AuthorizedParty string `json:"azp"`
	SID             string `json:"sid,omitempty"`
}

// IssueID signs an id_token issued now. Its at_hash uses the hash of the
// alg of the key that signs: SHA-256 for ES256 and RS256, SHA-512 for
// EdDSA (Ed25519 hashes with SHA-512, the rule OpenID Connect applies to
// at_hash for it).
func (i *Issuer) IssueID(ctx context.Context, id ID) (string, error) {
	if id.Subject == "" || id.ClientID == "" || id.TTL <= 0 {
		return "", errors.New("token: an id_token needs a subject, a client and a lifetime")
	}
	now := i.now()
	c := &IDTokenClaims{
		Issuer: i.url, Subject: id.Subject, Audience: []string{id.ClientID},
		Expiry: now.Add(id.TTL).Unix(), IssuedAt: now.Unix(),
		Nonce: id.Nonce, AuthorizedParty: id.ClientID, SID: id.SID,
	}
	if !id.AuthTime.IsZero() {
		c.AuthTime = id.AuthTime.Unix()
	}
	tok, _, err := i.signer.Sign(ctx, TypeID, func(alg string) (any, error) {
		if id.AccessToken != "" {
			h, err := AtHash(alg, id.AccessToken)
			if err != nil {
				return nil, err
			}
			c.AtHash = h
		}
		return c, nil
	})
	return tok, err
}

// AtHash is the at_hash of an access token for an id_token signed with
// alg (OpenID Connect Core §3.1.3.6): the base64url of the left half of
// the hash of its ASCII octets.
func AtHash(alg, accessToken string) (string, error) {
	var h hash.Hash
	switch alg {
	case "ES256", "RS256", "PS256":
		h = sha256.New()
	case "EdDSA":
		h = sha512.New()
	default:
		return "", fmt.Errorf("token: no at_hash rule for alg %q", alg)
	}
	h.Write([]byte(accessToken))
	sum := h.Sum(nil)
	return base64.RawURLEncoding.EncodeToString(sum[:len(sum)/2]), nil
}

// IDClaims are what logout needs from an id_token_hint.
type IDClaims struct {
	Subject, ClientID, SID string
	IssuedAt, Expiry       time.Time
}

// ErrNotIDToken is returned by VerifyIDHint for a string that is not an
// id_token Rotor issued.
var ErrNotIDToken = errors.New("token: not an id_token issued here")

// hintClaims are the claims VerifyIDHint reads: an id_token's, and the
// access-token claims whose presence shows the token is not one.
type hintClaims struct {
	IDTokenClaims
	ClientID *string `json:"client_id"`
	Scope    *string `json:"scope"`
	JTI      *string `json:"jti"`
}

// VerifyIDHint checks an id_token_hint: our signature, typ JWT (so an
// access token is refused, and its claims are checked too), our issuer,
// a subject, and an audience of exactly the authorized party. It does not
// check the expiry: OpenID Connect RP-Initiated Logout §2 lets a hint
// have expired. The caller decides what an old hint may still do.
func (i *Issuer) VerifyIDHint(ctx context.Context, tok string) (*IDClaims, error) {
	if len(tok) > MaxLen {
		return nil, ErrNotIDToken
	}
	payload, err := i.signer.Verify(ctx, TypeID, tok)
	if err != nil {
		return nil, ErrNotIDToken
	}
	var c hintClaims
	if err := json.Unmarshal(payload, &c); err != nil {
		return nil, ErrNotIDToken
	}
	switch {
	case c.Issuer != i.url, c.Subject == "", c.AuthorizedParty == "",
		len(c.Audience) != 1 || c.Audience[0] != c.AuthorizedParty,
		c.ClientID != nil, c.Scope != nil, c.JTI != nil,
		c.IssuedAt <= 0, c.Expiry <= 0:
		return nil, ErrNotIDToken
	}
	return &IDClaims{
		Subject: c.Subject, ClientID: c.AuthorizedParty, SID: c.SID,
		IssuedAt: time.Unix(c.IssuedAt, 0), Expiry: time.Unix(c.Expiry, 0),
	}, nil
}
