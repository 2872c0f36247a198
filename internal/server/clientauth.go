package server

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/rotor-auth/rotor/internal/audit"
	"github.com/rotor-auth/rotor/internal/oauth"
	"github.com/rotor-auth/rotor/internal/secret"
	"github.com/rotor-auth/rotor/internal/store"
)

// credentials are what a request presents to authenticate its client.
type credentials struct {
	ClientID string
	Secret   string
	// Method is the authentication method used.
	Method string
	// HasSecret tells an empty secret from none.
	HasSecret bool
	// Assertion is the private_key_jwt client assertion (RFC 7523).
	Assertion string
	// Audiences are the values an assertion's aud may name: the issuer
	// and the endpoint URLs. Set by the caller, not parsed.
	Audiences []string
	// Source is the caller's address, for the fairness of slow hashes.
	// Set by the caller, not parsed.
	Source string
}

// maxCredentialLen bounds client ids and secrets before any hashing.
const maxCredentialLen = 512

// parseCredentials extracts client credentials from the Authorization
// header (client_secret_basic, RFC 6749 §2.3.1: both parts form-encoded
// before base64) or the body (client_secret_post, or none with only a
// client_id). Using two methods at once is invalid_request.
func parseCredentials(r *http.Request, f oauth.Form) (credentials, error) {
	if len(r.Header.Values("Authorization")) > 1 {
		// As for a repeated parameter (RFC 6749 §3.2): which one counts
		// would be a guess, and a proxy may have added one.
		return credentials{}, oauth.InvalidRequest("send at most one Authorization header")
	}
	authz := r.Header.Get("Authorization")
	inBody := f.Has("client_secret")
	if f.Has("client_assertion") || f.Has("client_assertion_type") {
		if authz != "" || inBody {
			return credentials{}, oauth.InvalidRequest("the client must use only one authentication method")
		}
		if f.Get("client_assertion_type") != AssertionType {
			return credentials{}, oauth.InvalidClient("client_assertion_type must be " + AssertionType)
		}
		a := f.Get("client_assertion")
		if a == "" {
			return credentials{}, oauth.InvalidRequest("client_assertion is required")
		}
		id, err := assertionSubject(a)
		if err != nil {
			return credentials{}, err
		}
		if bid := f.Get("client_id"); bid != "" && bid != id {
			return credentials{}, oauth.InvalidClient("client_id differs from the client assertion's subject")
		}
		return checkLen(credentials{ClientID: id, Assertion: a, Method: oauth.AuthPrivateKeyJWT})
	}
	if authz != "" {
		scheme, payload, ok := strings.Cut(authz, " ")
		if !ok || !strings.EqualFold(scheme, "Basic") {
			return credentials{}, oauth.InvalidClient("unsupported Authorization scheme; use HTTP Basic")
		}
		if inBody {
			return credentials{}, oauth.InvalidRequest("the client must use only one authentication method")
		}
		raw, err := base64.StdEncoding.DecodeString(strings.TrimSpace(payload))
		if err != nil {
			return credentials{}, oauth.InvalidClient("malformed HTTP Basic credentials")
		}
		user, pass, ok := strings.Cut(string(raw), ":")
		if !ok {
			return credentials{}, oauth.InvalidClient("malformed HTTP Basic credentials")
		}
		id, err1 := url.QueryUnescape(user)
		sec, err2 := url.QueryUnescape(pass)
		if err1 != nil || err2 != nil || id == "" {
			return credentials{}, oauth.InvalidClient("malformed HTTP Basic credentials")
		}
		if bid := f.Get("client_id"); bid != "" && bid != id {
			return credentials{}, oauth.InvalidRequest("client_id in the body differs from the authenticated client")
		}
		return checkLen(credentials{ClientID: id, Secret: sec, Method: oauth.AuthClientSecretBasic, HasSecret: true})
	}
	id := f.Get("client_id")
	if id == "" {
		return credentials{}, oauth.InvalidClient("client authentication is required")
	}
	if inBody {
		return checkLen(credentials{ClientID: id, Secret: f.Get("client_secret"), Method: oauth.AuthClientSecretPost, HasSecret: true})
	}
	return checkLen(credentials{ClientID: id, Method: oauth.AuthNone})
}

func checkLen(c credentials) (credentials, error) {
	if len(c.ClientID) > maxCredentialLen || len(c.Secret) > maxCredentialLen {
		return credentials{}, oauth.InvalidClient("client credentials are too long")
	}
	if !oauth.CleanText(c.ClientID) || !oauth.CleanText(c.Secret) {
		return credentials{}, oauth.InvalidClient("client credentials must be UTF-8 text without NUL characters")
	}
	return c, nil
}

// clientAuth authenticates clients. Generated secrets are checked by keyed
// hash; operator-chosen secrets by argon2id, whose verified results are
// cached in memory under a keyed hash of (client, secret, stored hash), so
// the slow hash is paid once per secret rather than on every request, and
// a changed secret misses the cache.
type clientAuth struct {
	st   store.Queries
	keys *secret.Keys
	now  func() time.Time
	jwks *clientJWKS
	slow *secret.Verifier

	mu    sync.Mutex
	cache map[[32]byte]time.Time // verified credential → until
	mac   []byte
}

const (
	authCacheTTL = 10 * time.Minute
	authCacheMax = 10000
)

func newClientAuth(st store.Queries, keys *secret.Keys, slow *secret.Verifier, now func() time.Time) *clientAuth {
	return &clientAuth{st: st, keys: keys, now: now, jwks: newClientJWKS(now), slow: slow,
		cache: map[[32]byte]time.Time{}, mac: keys.Hash("rotor client-auth cache")}
}

// authError is a failed client authentication: what the client is told
// (always the same invalid_client, so that unknown, wrong and public
// clients cannot be told apart) and what the operator is told.
type authError struct {
	reason audit.Reason
	err    *oauth.Error
}

func (e *authError) Error() string { return e.err.Error() }
func (e *authError) Unwrap() error { return e.err }

// authFailed is the one answer to a client whose credentials are wrong.
func authFailed(reason audit.Reason) error {
	return &authError{reason: reason, err: oauth.InvalidClient("client authentication failed")}
}

// authenticate returns the client the credentials belong to, or an
// invalid_client error. A disabled client fails like an unknown one.
func (a *clientAuth) authenticate(ctx context.Context, c credentials) (*store.Client, error) {
	cl, err := a.st.GetClient(ctx, c.ClientID)
	if errors.Is(err, store.ErrNotFound) {
		// Client ids are not secret (RFC 6749 §2.2): no dummy hash here,
		// which would let anyone burn argon2id time with made-up ids.
		return nil, authFailed(audit.ReasonUnknownClient)
	}
	if err != nil {
		return nil, err
	}
	if cl.Disabled {
		return nil, authFailed(audit.ReasonClientDisabled)
	}
	switch {
	case c.Method == oauth.AuthPrivateKeyJWT || cl.AuthMethod == oauth.AuthPrivateKeyJWT:
		// A client registered for key authentication uses nothing else,
		// and only such a client may present an assertion.
		if c.Method != cl.AuthMethod {
			return nil, authFailed(audit.ReasonWrongAuthMethod)
		}
		if err := a.verifyAssertion(ctx, cl, c.Assertion, c.Audiences); err != nil {
			var oe *oauth.Error
			if errors.As(err, &oe) {
				return nil, &authError{reason: audit.ReasonBadAssertion, err: oe}
			}
			return nil, err
		}
		return cl, nil
	case cl.Public:
		// Some clients send "id:" over Basic for a public client; an empty
		// secret is the same as none.
		if c.Secret != "" {
			return nil, authFailed(audit.ReasonPublicWithSecret)
		}
		return cl, nil
	case c.Method == oauth.AuthNone:
		return nil, authFailed(audit.ReasonSecretRequired)
	case cl.SecretHash != nil:
		if !secret.Equal(a.keys.Hash(c.Secret), cl.SecretHash) {
			return nil, authFailed(audit.ReasonWrongSecret)
		}
		return cl, nil
	case cl.SecretPHC != "":
		if a.cached(cl, c.Secret) {
			return cl, nil
		}
		ok, err := a.slow.Verify(ctx, c.Source, cl.SecretPHC, c.Secret)
		if err != nil {
			return nil, err
		}
		if !ok {
			return nil, authFailed(audit.ReasonWrongSecret)
		}
		a.remember(cl, c.Secret)
		return cl, nil
	default:
		return nil, authFailed(audit.ReasonWrongAuthMethod)
	}
}

func (a *clientAuth) cacheKey(cl *store.Client, sec string) [32]byte {
	m := hmac.New(sha256.New, a.mac)
	for _, s := range []string{cl.ID, sec, cl.SecretPHC} {
		m.Write([]byte(s))
		m.Write([]byte{0})
	}
	var k [32]byte
	copy(k[:], m.Sum(nil))
	return k
}

func (a *clientAuth) cached(cl *store.Client, sec string) bool {
	k := a.cacheKey(cl, sec)
	a.mu.Lock()
	defer a.mu.Unlock()
	until, ok := a.cache[k]
	return ok && a.now().Before(until)
}

func (a *clientAuth) remember(cl *store.Client, sec string) {
	k := a.cacheKey(cl, sec)
	a.mu.Lock()
	defer a.mu.Unlock()
	if len(a.cache) >= authCacheMax {
		// Dropping everything is crude but bounded; a miss only costs one
		// argon2id verification.
		clear(a.cache)
	}
	a.cache[k] = a.now().Add(authCacheTTL)
}

// authenticate parses and checks the request's client credentials,
// recording failures in the audit trail.
func (s *Server) authenticate(r *http.Request, f oauth.Form) (*store.Client, error) {
	creds, err := parseCredentials(r, f)
	if err != nil {
		return nil, err
	}
	m := s.meta(r)
	creds.Source = m.IP
	started := time.Now()
	if creds.Method == oauth.AuthPrivateKeyJWT {
		// Built only for assertions: every other token request skips it.
		creds.Audiences = []string{s.opts.Issuer, s.tokenURL, s.opts.Issuer + r.URL.Path}
	}
	c, err := s.auth.authenticate(r.Context(), creds)
	var ae *authError
	if errors.As(err, &ae) {
		s.opts.Refusals.Record(r.Context(), audit.NewClientAuthFailed(m.At(s.now()), creds.ClientID, ae.reason))
		s.equalise(r.Context(), started)
		return nil, recorded{err}
	}
	return c, err
}

// equalise makes a failed client authentication take as long as a wrong
// operator-chosen secret does (one argon2id verification, plus a margin),
// whatever the reason: an unknown id, a wrong generated secret and a
// public client with a secret are told apart neither by the answer nor
// by its time. It waits on a timer, not on a hash: a flood of made-up
// ids costs no CPU.
func (s *Server) equalise(ctx context.Context, started time.Time) {
	floor := s.opts.Passwords.Typical() * 5 / 4
	wait := time.Until(started.Add(floor))
	if wait <= 0 {
		return
	}
	t := time.NewTimer(wait)
	defer t.Stop()
	select {
	case <-t.C:
	case <-ctx.Done():
	}
}
