package main

import (
	"context"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"sync"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"
)

// Limits of what the app reads from the issuer.
const (
	maxIDToken   = 16 << 10
	maxJWKS      = 256 << 10
	maxMetadata  = 64 << 10
	clockLeeway  = 30 * time.Second
	jwksMinFetch = 30 * time.Second
)

// idAlgs are the signature algorithms the app accepts on an id_token:
// asymmetric only, so that "none" and HMAC keyed with a public key can
// never pass (RFC 8725 §3.1). The issuer's metadata may narrow them.
var idAlgs = []jose.SignatureAlgorithm{jose.ES256, jose.ES384, jose.ES512, jose.EdDSA, jose.RS256, jose.PS256}

// idClaims are the claims of an id_token the app reads (OIDC Core §2).
type idClaims struct {
	jwt.Claims
	Nonce             string `json:"nonce"`
	AuthorizedParty   string `json:"azp"`
	PreferredUsername string `json:"preferred_username"`
	Email             string `json:"email"`
	SessionID         string `json:"sid"`
}

// name is what the home page calls the user.
func (c *idClaims) name() string {
	switch {
	case c.PreferredUsername != "":
		return c.PreferredUsername
	case c.Email != "":
		return c.Email
	}
	return c.Subject
}

// idVerifier checks id_tokens of one issuer for one client against the
// issuer's JWKS, fetched on first use and again when a token names a key
// it does not know (after a rotation), at most once per jwksMinFetch.
type idVerifier struct {
	issuer, clientID, jwksURI string
	algs                      []jose.SignatureAlgorithm
	hc                        *http.Client
	now                       func() time.Time

	mu      sync.Mutex
	keys    jose.JSONWebKeySet
	fetched time.Time
}

func newIDVerifier(md *metadata, clientID string, hc *http.Client, now func() time.Time) *idVerifier {
	algs := idAlgs
	if len(md.IDTokenSigningAlgs) > 0 {
		algs = slices.DeleteFunc(slices.Clone(idAlgs), func(a jose.SignatureAlgorithm) bool {
			return !slices.Contains(md.IDTokenSigningAlgs, string(a))
		})
	}
	return &idVerifier{issuer: md.Issuer, clientID: clientID, jwksURI: md.JWKSURI, algs: algs, hc: hc, now: now}
}

// errIDToken is the one error a caller sees: the details are for the log.
var errIDToken = errors.New("the id_token is not valid")

// verify checks raw's signature, iss, aud (and azp), exp, iat and that its
// nonce is the one this sign-in sent (OIDC Core §3.1.3.7), and returns its
// claims.
func (v *idVerifier) verify(ctx context.Context, raw, nonce string) (*idClaims, error) {
	if len(raw) > maxIDToken {
		return nil, fmt.Errorf("%w: too long", errIDToken)
	}
	tok, err := jwt.ParseSigned(raw, v.algs)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", errIDToken, err)
	}
	h := tok.Headers[0]
	key, err := v.key(ctx, h.KeyID, h.Algorithm)
	if err != nil {
		return nil, err
	}
	var c idClaims
	if err := tok.Claims(key.Key, &c); err != nil {
		return nil, fmt.Errorf("%w: %v", errIDToken, err)
	}
	if c.Expiry == nil || c.IssuedAt == nil || c.Subject == "" {
		return nil, fmt.Errorf("%w: exp, iat and sub are required", errIDToken)
	}
	if err := c.ValidateWithLeeway(jwt.Expected{Issuer: v.issuer, AnyAudience: jwt.Audience{v.clientID}, Time: v.now()}, clockLeeway); err != nil {
		return nil, fmt.Errorf("%w: %v", errIDToken, err)
	}
	// With other audiences beside this client, azp must name it.
	if (len(c.Audience) > 1 || c.AuthorizedParty != "") && c.AuthorizedParty != v.clientID {
		return nil, fmt.Errorf("%w: azp is not this client", errIDToken)
	}
	if nonce == "" || subtle.ConstantTimeCompare([]byte(c.Nonce), []byte(nonce)) != 1 {
		return nil, fmt.Errorf("%w: the nonce is not this sign-in's", errIDToken)
	}
	return &c, nil
}

// key returns the signing key kid for alg, fetching the JWKS when it is
// not known yet.
func (v *idVerifier) key(ctx context.Context, kid, alg string) (*jose.JSONWebKey, error) {
	v.mu.Lock()
	defer v.mu.Unlock()
	for attempt := 0; ; attempt++ {
		for _, k := range v.keys.Key(kid) {
			// A key serves only the algorithm it names (RFC 7517 §4.4).
			if k.Use != "enc" && (k.Algorithm == "" || k.Algorithm == alg) && k.IsPublic() {
				return &k, nil
			}
		}
		if attempt > 0 || (!v.fetched.IsZero() && v.now().Sub(v.fetched) < jwksMinFetch) {
			return nil, fmt.Errorf("%w: no published key %q for %s", errIDToken, kid, alg)
		}
		if err := v.fetch(ctx); err != nil {
			return nil, err
		}
	}
}

func (v *idVerifier) fetch(ctx context.Context) error {
	v.fetched = v.now()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, v.jwksURI, nil)
	if err != nil {
		return err
	}
	resp, err := v.hc.Do(req)
	if err != nil {
		return fmt.Errorf("fetch the issuer's keys: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("fetch the issuer's keys: %s", resp.Status)
	}
	var set jose.JSONWebKeySet
	if err := json.NewDecoder(io.LimitReader(resp.Body, maxJWKS)).Decode(&set); err != nil {
		return fmt.Errorf("the issuer's keys: %w", err)
	}
	v.keys = set
	return nil
}
