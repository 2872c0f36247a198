package resource

import (
	"context"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rsa"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	jose "github.com/go-jose/go-jose/v4"
)

// Size limits of what the issuer sends, so that a confused or hostile
// server cannot make the verifier buffer without bound.
const (
	maxMetadataBytes = 64 << 10
	maxJWKSBytes     = 256 << 10
	maxJWKSKeys      = 100
	minRSABits       = 2048
)

// metadata is the part of RFC 8414 authorization server metadata that a
// resource server uses.
type metadata struct {
	Issuer                string `json:"issuer"`
	JWKSURI               string `json:"jwks_uri"`
	IntrospectionEndpoint string `json:"introspection_endpoint"`
	DenyListEndpoint      string `json:"rotor_denylist_endpoint"`
}

// discover reads the issuer's metadata: RFC 8414 first, OpenID Connect
// Discovery when the issuer has no RFC 8414 document.
func (v *Verifier) discover(ctx context.Context) (*metadata, error) {
	base := strings.TrimSuffix(v.cfg.Issuer, "/")
	var body []byte
	var err error
	for _, path := range []string{"/.well-known/oauth-authorization-server", "/.well-known/openid-configuration"} {
		body, err = v.get(ctx, base+path, maxMetadataBytes)
		var he *httpError
		if !errors.As(err, &he) || he.status != http.StatusNotFound {
			break
		}
	}
	if err != nil {
		return nil, fmt.Errorf("resource: issuer metadata: %w", err)
	}
	var md metadata
	if err := json.Unmarshal(body, &md); err != nil {
		return nil, fmt.Errorf("resource: issuer metadata: %w", err)
	}
	// RFC 8414 §3.3: a document that names another issuer must not be
	// used, or one server could hand out another's keys.
	if md.Issuer != v.cfg.Issuer {
		return nil, fmt.Errorf("resource: issuer metadata names issuer %q, not %q", md.Issuer, v.cfg.Issuer)
	}
	if md.JWKSURI == "" {
		return nil, errors.New("resource: issuer metadata has no jwks_uri")
	}
	for _, u := range []string{md.JWKSURI, md.IntrospectionEndpoint, md.DenyListEndpoint} {
		if u == "" {
			continue
		}
		if err := checkURL(u, v.cfg.InsecureHTTP); err != nil {
			return nil, fmt.Errorf("resource: issuer metadata: %s: %w", u, err)
		}
	}
	return &md, nil
}

// httpError is a non-200 answer.
type httpError struct {
	url    string
	status int
}

func (e *httpError) Error() string { return fmt.Sprintf("GET %s: HTTP %d", e.url, e.status) }

// get fetches url and returns its body, at most limit bytes.
func (v *Verifier) get(ctx context.Context, url string, limit int64) ([]byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Accept", "application/json")
	return v.do(req, limit)
}

// do sends req and returns the body of a 200 answer, at most limit bytes.
func (v *Verifier) do(req *http.Request, limit int64) ([]byte, error) {
	resp, err := v.cfg.HTTPClient.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 4<<10)) // lets the connection be reused
		return nil, &httpError{url: req.URL.Redacted(), status: resp.StatusCode}
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, limit+1))
	if err != nil {
		return nil, err
	}
	if int64(len(body)) > limit {
		return nil, fmt.Errorf("%s %s: answer larger than %d bytes", req.Method, req.URL.Redacted(), limit)
	}
	return body, nil
}

// publicKey is a verification key of the issuer's key set.
type publicKey struct {
	// key is *ecdsa.PublicKey, ed25519.PublicKey or *rsa.PublicKey.
	key any
	// alg is the JWK's alg, or the one its curve implies; "" only for an
	// RSA key that names none, checked against an explicit allow-list,
	// which any RSA algorithm fits.
	alg string
}

// fits reports whether a token signed with alg may be checked with k: the
// JWK's own alg when it names one, else an algorithm of the key's type
// and size. Together with the allow-list this is what stops an HMAC
// "signed" with a public key, or an RSA key used for ECDSA.
func (k *publicKey) fits(alg string) bool {
	if k.alg != "" {
		return alg == k.alg
	}
	return keyFits(k.key, alg)
}

func keyFits(key any, alg string) bool {
	switch k := key.(type) {
	case *ecdsa.PublicKey:
		switch k.Curve {
		case elliptic.P256():
			return alg == "ES256"
		case elliptic.P384():
			return alg == "ES384"
		case elliptic.P521():
			return alg == "ES512"
		}
	case ed25519.PublicKey:
		return alg == "EdDSA"
	case *rsa.PublicKey:
		return k.N.BitLen() >= minRSABits && (strings.HasPrefix(alg, "RS") || strings.HasPrefix(alg, "PS"))
	}
	return false
}

// impliedAlg is the one algorithm a key can be for when its JWK names
// none: an EC key's by its curve (RFC 7518 §3.4), EdDSA for Ed25519
// (RFC 8037 §3.1); "" for RSA, whose key fits several.
func impliedAlg(key any) string {
	switch k := key.(type) {
	case *ecdsa.PublicKey:
		switch k.Curve {
		case elliptic.P256():
			return "ES256"
		case elliptic.P384():
			return "ES384"
		case elliptic.P521():
			return "ES512"
		}
	case ed25519.PublicKey:
		return "EdDSA"
	}
	return ""
}

// parseJWKS reads a JWK Set and keeps the keys that can verify a token:
// public signature keys with a kid, of an allowed algorithm. allowed nil
// allows every asymmetric algorithm, each key for its own alg only.
// Keys it does not understand are skipped rather than failing the whole
// set, so that an issuer may publish a new kind of key without breaking
// its verifiers.
func parseJWKS(body []byte, allowed map[string]bool) (map[string]*publicKey, error) {
	var doc struct {
		Keys []json.RawMessage `json:"keys"`
	}
	if err := json.Unmarshal(body, &doc); err != nil {
		return nil, fmt.Errorf("resource: key set: %w", err)
	}
	if len(doc.Keys) > maxJWKSKeys {
		return nil, fmt.Errorf("resource: key set has %d keys, more than %d", len(doc.Keys), maxJWKSKeys)
	}
	keys := make(map[string]*publicKey, len(doc.Keys))
	for _, raw := range doc.Keys {
		var k jose.JSONWebKey
		if err := k.UnmarshalJSON(raw); err != nil {
			continue
		}
		// A private key in a published set is the issuer's disaster, not
		// a key to verify with.
		if !k.Valid() || !k.IsPublic() || k.KeyID == "" || (k.Use != "" && k.Use != "sig") {
			continue
		}
		pk := &publicKey{key: k.Key, alg: k.Algorithm}
		if pk.alg == "" {
			pk.alg = impliedAlg(pk.key)
		}
		usable := false
		if allowed == nil {
			_, asym := asymmetric[pk.alg]
			usable = asym && keyFits(pk.key, pk.alg)
		}
		for alg := range allowed {
			usable = usable || (pk.fits(alg) && keyFits(pk.key, alg))
		}
		if !usable {
			continue
		}
		if _, dup := keys[k.KeyID]; !dup {
			keys[k.KeyID] = pk
		}
	}
	if len(keys) == 0 {
		return nil, errors.New("resource: key set has no usable key")
	}
	return keys, nil
}

// keySet is one fetched key set.
type keySet struct {
	keys    map[string]*publicKey
	fetched time.Time
}

// keyCache holds the issuer's keys. Readers never lock; a fetch replaces
// the whole set, so a key the issuer withdraws disappears, and a failed
// fetch replaces nothing.
type keyCache struct {
	v    *Verifier
	uri  string
	set  atomic.Pointer[keySet]
	algs map[string]bool
	// lastStart is when the last fetch began (Unix nanoseconds), read
	// without the lock to keep the rate limit off the hot path.
	lastStart atomic.Int64

	mu sync.Mutex
	// inflight is closed when the running fetch ends; nil when none runs.
	inflight chan struct{}
}

// fetch gets and parses the key set.
func (c *keyCache) fetch(ctx context.Context) error {
	body, err := c.v.get(ctx, c.uri, maxJWKSBytes)
	if err != nil {
		return fmt.Errorf("resource: key set: %w", err)
	}
	keys, err := parseJWKS(body, c.algs)
	if err != nil {
		return err
	}
	c.set.Store(&keySet{keys: keys, fetched: c.v.cfg.Clock()})
	return nil
}

// key returns the key named kid. An unknown kid waits for a fetch of the
// key set, unless one started less than JWKSMinInterval ago; a known key
// in a set older than JWKSRefresh is returned at once while a refresh
// starts in the background.
func (c *keyCache) key(ctx context.Context, kid string) (*publicKey, *Error) {
	s := c.set.Load()
	if k := s.keys[kid]; k != nil {
		if c.v.cfg.Clock().Sub(s.fetched) >= c.v.cfg.JWKSRefresh {
			c.refetch(false)
		}
		return k, nil
	}
	done := c.refetch(true)
	if done == nil {
		return nil, fail(ErrUnknownKey, "the token was signed by an unknown key")
	}
	select {
	case <-done:
	case <-ctx.Done():
		return nil, failCause(ErrUnknownKey, "the token was signed by an unknown key", ctx.Err())
	}
	if k := c.set.Load().keys[kid]; k != nil {
		return k, nil
	}
	return nil, fail(ErrUnknownKey, "the token was signed by an unknown key")
}

// refetch starts a fetch of the key set unless the last one began less
// than JWKSMinInterval ago. With wait, it returns a channel closed when
// the fetch ends (the one it started or the one already running), or nil
// when there is none to wait for. The fetch runs on the verifier's own
// context, so that a caller who gives up does not cancel it for the
// others.
func (c *keyCache) refetch(wait bool) <-chan struct{} {
	now := c.v.cfg.Clock()
	limited := func() bool {
		last := c.lastStart.Load()
		return last != 0 && now.Sub(time.Unix(0, last)) < c.v.cfg.JWKSMinInterval
	}
	// The common case under attack (a flood of made-up kids) and after a
	// failed refresh: rate-limited, decided without the lock.
	if limited() && !wait {
		return nil
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.inflight != nil || limited() {
		return c.inflight
	}
	if !c.v.goBackground() {
		return nil
	}
	c.lastStart.Store(now.UnixNano())
	done := make(chan struct{})
	c.inflight = done
	go func() {
		defer c.v.wg.Done()
		ctx, cancel := context.WithTimeout(c.v.bg, defaultHTTPTimeout)
		err := c.fetch(ctx)
		cancel()
		if err != nil {
			c.v.cfg.Logger.Warn("resource: cannot refresh the issuer's key set; keeping the keys already known", "err", err)
		}
		c.mu.Lock()
		c.inflight = nil
		c.mu.Unlock()
		close(done)
	}()
	return done
}
