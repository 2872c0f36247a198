package server

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"sync"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"
	"golang.org/x/sync/singleflight"

	"github.com/rotor-auth/rotor/internal/dpop"
	"github.com/rotor-auth/rotor/internal/oauth"
	"github.com/rotor-auth/rotor/internal/store"
)

// AssertionType is the client_assertion_type of private_key_jwt (RFC 7523 §2.2).
const AssertionType = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"

// assertionAlgs are the signature algorithms accepted on client
// assertions: the asymmetric ones DPoP accepts, so a JWKS can never serve
// as an HMAC key.
var assertionAlgs = dpop.Algorithms

const (
	// maxAssertionLen bounds a client assertion before parsing.
	maxAssertionLen = 8 << 10
	// maxAssertionLife bounds exp - now, so remembered jtis stay few.
	maxAssertionLife = 10 * time.Minute
	assertionLeeway  = 30 * time.Second
	// maxJWKSBytes bounds a client JWKS, inline or fetched.
	maxJWKSBytes = 64 << 10
	// jwksTTL is how long a fetched client JWKS is used; jwksRetry how
	// soon an unknown kid may cause another fetch.
	jwksTTL   = 5 * time.Minute
	jwksRetry = 30 * time.Second
)

// ParseClientJWKS parses and checks a client's JSON Web Key Set: public
// keys only, at least one.
func ParseClientJWKS(b []byte) (*jose.JSONWebKeySet, error) {
	if len(b) > maxJWKSBytes {
		return nil, fmt.Errorf("the JWKS is larger than %d bytes", maxJWKSBytes)
	}
	var set jose.JSONWebKeySet
	if err := json.Unmarshal(b, &set); err != nil {
		return nil, fmt.Errorf("the JWKS is not a JSON Web Key Set: %v", err)
	}
	if len(set.Keys) == 0 {
		return nil, errors.New("the JWKS has no keys")
	}
	for i, k := range set.Keys {
		if !k.IsPublic() || !k.Valid() {
			return nil, fmt.Errorf("key %d of the JWKS is not a valid public key", i)
		}
	}
	return &set, nil
}

// CheckJWKSURI refuses a JWKS URL that is not https, except on loopback.
func CheckJWKSURI(raw string) error {
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" || u.User != nil || u.Fragment != "" {
		return fmt.Errorf("%q is not an absolute URL", raw)
	}
	switch {
	case u.Scheme == "https":
		return nil
	case u.Scheme == "http" && oauth.IsLoopback(u.Hostname()):
		return nil
	}
	return fmt.Errorf("the JWKS URL %q must use https", raw)
}

// assertionClaims are the claims of a private_key_jwt assertion.
type assertionClaims struct {
	jwt.Claims
}

// clientJWKS fetches and caches the JWKS of clients registered by URL.
type clientJWKS struct {
	http  *http.Client
	now   func() time.Time
	group singleflight.Group

	mu    sync.Mutex
	cache map[string]*fetchedJWKS
}

type fetchedJWKS struct {
	set       *jose.JSONWebKeySet // nil until a fetch succeeds
	fetchedAt time.Time
	// failedAt is the last failed fetch: strangers naming the client
	// cannot make Rotor fetch again before jwksRetry has passed.
	failedAt time.Time
}

func newClientJWKS(now func() time.Time) *clientJWKS {
	return &clientJWKS{
		http:  &http.Client{Timeout: 5 * time.Second, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }},
		now:   now,
		cache: map[string]*fetchedJWKS{},
	}
}

// keys returns the client's keys; fresh asks for a refetch of a
// URL-registered set (an unknown kid), at most once per jwksRetry.
func (j *clientJWKS) keys(ctx context.Context, c *store.Client, fresh bool) (*jose.JSONWebKeySet, error) {
	if c.JWKSURI == "" {
		return ParseClientJWKS(c.JWKS)
	}
	j.mu.Lock()
	f := j.cache[c.JWKSURI]
	var cached fetchedJWKS
	if f != nil {
		cached = *f
	}
	j.mu.Unlock()
	now := j.now()
	switch {
	case cached.set != nil && now.Sub(cached.fetchedAt) < jwksTTL && (!fresh || now.Sub(cached.fetchedAt) < jwksRetry):
		return cached.set, nil
	case now.Sub(cached.failedAt) < jwksRetry:
		return j.lastGood(cached)
	}
	// The fetch runs detached from this request, so one caller giving up
	// does not fail the others waiting on it.
	v, err, _ := j.group.Do(c.JWKSURI, func() (any, error) {
		fctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer cancel()
		return j.fetch(fctx, c.JWKSURI)
	})
	if err != nil {
		j.mu.Lock()
		if j.cache[c.JWKSURI] == nil {
			j.cache[c.JWKSURI] = &fetchedJWKS{}
		}
		j.cache[c.JWKSURI].failedAt = j.now()
		j.mu.Unlock()
		return j.lastGood(cached)
	}
	return v.(*jose.JSONWebKeySet), nil
}

// lastGood keeps the last good set over a failing fetch; without one the
// client cannot authenticate.
func (j *clientJWKS) lastGood(f fetchedJWKS) (*jose.JSONWebKeySet, error) {
	if f.set != nil {
		return f.set, nil
	}
	return nil, oauth.InvalidClient("the client's key set could not be fetched")
}

func (j *clientJWKS) fetch(ctx context.Context, uri string) (*jose.JSONWebKeySet, error) {
	if err := CheckJWKSURI(uri); err != nil {
		return nil, err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, uri, nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Accept", "application/jwk-set+json, application/json")
	resp, err := j.http.Do(req)
	if err != nil {
		return nil, fmt.Errorf("fetch client JWKS: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("fetch client JWKS: status %d", resp.StatusCode)
	}
	b, err := io.ReadAll(io.LimitReader(resp.Body, maxJWKSBytes+1))
	if err != nil {
		return nil, fmt.Errorf("fetch client JWKS: %w", err)
	}
	set, err := ParseClientJWKS(b)
	if err != nil {
		return nil, err
	}
	j.mu.Lock()
	j.cache[uri] = &fetchedJWKS{set: set, fetchedAt: j.now()}
	j.mu.Unlock()
	return set, nil
}

// assertionSubject returns the client id an assertion names (iss, which
// must equal sub), before any verification: it says only whose keys to
// try.
func assertionSubject(assertion string) (string, error) {
	if len(assertion) > maxAssertionLen {
		return "", oauth.InvalidClient("the client assertion is too long")
	}
	tok, err := jwt.ParseSigned(assertion, assertionAlgs)
	if err != nil {
		return "", oauth.InvalidClient("the client assertion is not a JWT signed with an accepted algorithm")
	}
	var c assertionClaims
	if err := tok.UnsafeClaimsWithoutVerification(&c); err != nil || c.Issuer == "" || c.Issuer != c.Subject {
		return "", oauth.InvalidClient("the client assertion's iss and sub must both be the client id")
	}
	return c.Issuer, nil
}

// verifyAssertion checks a private_key_jwt assertion (RFC 7523 §3) for
// client c: signature by one of its keys, iss = sub = client id, aud naming
// this server, a bounded exp, and a jti never seen before on any replica.
func (a *clientAuth) verifyAssertion(ctx context.Context, c *store.Client, assertion string, audiences []string) error {
	tok, err := jwt.ParseSigned(assertion, assertionAlgs)
	if err != nil || len(tok.Headers) != 1 {
		return oauth.InvalidClient("the client assertion is not a JWT signed with an accepted algorithm")
	}
	kid, alg := tok.Headers[0].KeyID, tok.Headers[0].Algorithm
	var claims assertionClaims
	verified := false
	for _, fresh := range []bool{false, true} {
		set, err := a.jwks.keys(ctx, c, fresh)
		if err != nil {
			return err
		}
		candidates := set.Keys
		if kid != "" {
			candidates = set.Key(kid)
		}
		for _, k := range candidates {
			// A key that names its alg is for that one only (RFC 7517
			// §4.4, RFC 8725 §3.1): go-jose checks only that the key's
			// type fits, so an RS256 key would take a PS256 signature.
			if k.Algorithm != "" && k.Algorithm != alg {
				continue
			}
			if tok.Claims(k.Key, &claims) == nil {
				verified = true
				break
			}
		}
		if verified || c.JWKSURI == "" || (kid == "" && fresh) {
			break
		}
	}
	if !verified {
		return oauth.InvalidClient("client authentication failed")
	}
	now := a.now()
	err = claims.ValidateWithLeeway(jwt.Expected{Issuer: c.ID, Subject: c.ID, Time: now}, assertionLeeway)
	switch {
	case err != nil:
		return oauth.InvalidClient("the client assertion is expired, not yet valid, or names another client")
	case claims.Expiry == nil:
		return oauth.InvalidClient("the client assertion needs exp")
	case claims.Expiry.Time().After(now.Add(maxAssertionLife)):
		return oauth.InvalidClient(fmt.Sprintf("the client assertion may live at most %s", maxAssertionLife))
	case claims.ID == "" || len(claims.ID) > 256 || !oauth.CleanText(claims.ID):
		return oauth.InvalidClient("the client assertion needs a jti of at most 256 characters")
	case !slices.ContainsFunc(audiences, func(s string) bool { return slices.Contains(claims.Audience, s) }):
		return oauth.InvalidClient("the client assertion's aud must name this server")
	}
	fresh, err := a.st.DenyOnce(ctx, store.Denial{Key: "assertion:" + c.ID + ":" + claims.ID,
		ExpiresAt: claims.Expiry.Time().Add(assertionLeeway)}, now)
	if err != nil {
		return err
	}
	if !fresh {
		return oauth.InvalidClient("the client assertion was already used")
	}
	return nil
}
