package resource_test

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"

	"github.com/rotor-auth/rotor/resource"
)

// The hostile-token tests mint their own tokens with a test key and serve
// its key set from an httptest server standing in for the issuer: the
// verifier's side of the boundary is what they test. The happy path and
// revocation run against a real Rotor (rotor_test.go).

const testAudience = "https://api.example.test"

// testIssuer serves metadata and a JWKS on loopback and mints tokens.
type testIssuer struct {
	srv *httptest.Server
	URL string

	mu   sync.Mutex
	keys map[string]*ecdsa.PrivateKey // published, by kid
	kid  string                       // the key mint signs with
	// gate, when set, holds JWKS answers until it is closed.
	gate chan struct{}

	jwksFetches atomic.Int64
	failJWKS    atomic.Bool
	// paths records every path requested, to show a kid never reaches one.
	paths sync.Map
}

func newTestIssuer(t testing.TB) *testIssuer {
	t.Helper()
	is := &testIssuer{keys: map[string]*ecdsa.PrivateKey{}}
	is.kid = is.addKey(t)
	is.srv = httptest.NewServer(http.HandlerFunc(is.serve))
	t.Cleanup(is.srv.Close)
	is.URL = is.srv.URL
	return is
}

func (is *testIssuer) serve(w http.ResponseWriter, r *http.Request) {
	is.paths.Store(r.URL.Path, true)
	switch r.URL.Path {
	case "/.well-known/oauth-authorization-server":
		_ = json.NewEncoder(w).Encode(map[string]string{"issuer": is.URL, "jwks_uri": is.URL + "/jwks"})
	case "/jwks":
		is.jwksFetches.Add(1)
		is.mu.Lock()
		gate := is.gate
		is.mu.Unlock()
		if gate != nil {
			<-gate
		}
		if is.failJWKS.Load() {
			http.Error(w, "down", http.StatusInternalServerError)
			return
		}
		_, _ = w.Write(is.jwks())
	default:
		http.NotFound(w, r)
	}
}

// inMemory is an HTTP client that serves each request with is.serve in
// the calling goroutine, over no connection. Tests that run in a
// testing/synctest bubble use it: a JWKS answer held at the gate is then
// durably blocked, so synctest.Wait can tell when every request has
// reached it, and no goroutine of the bubble sits on a socket.
func (is *testIssuer) inMemory() *http.Client {
	return &http.Client{Transport: roundTripFunc(func(req *http.Request) (*http.Response, error) {
		rec := httptest.NewRecorder()
		is.serve(rec, req)
		return rec.Result(), nil
	})}
}

// roundTripFunc is an [http.RoundTripper] made of a function.
type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(req *http.Request) (*http.Response, error) { return f(req) }

// jwks is the published key set.
func (is *testIssuer) jwks() []byte {
	is.mu.Lock()
	defer is.mu.Unlock()
	set := jose.JSONWebKeySet{}
	for kid, k := range is.keys {
		set.Keys = append(set.Keys, jose.JSONWebKey{Key: &k.PublicKey, KeyID: kid, Algorithm: "ES256", Use: "sig"})
	}
	b, _ := json.Marshal(set)
	return b
}

// addKey publishes a new ES256 key and returns its kid.
func (is *testIssuer) addKey(t testing.TB) string {
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	kid := randomID()
	is.mu.Lock()
	is.keys[kid] = k
	is.mu.Unlock()
	return kid
}

func (is *testIssuer) removeKey(kid string) {
	is.mu.Lock()
	delete(is.keys, kid)
	is.mu.Unlock()
}

func (is *testIssuer) key(kid string) *ecdsa.PrivateKey {
	is.mu.Lock()
	defer is.mu.Unlock()
	return is.keys[kid]
}

// claims are valid access-token claims for testAudience at now.
func (is *testIssuer) claims(now time.Time) map[string]any {
	return map[string]any{
		"iss": is.URL, "sub": "user-1", "aud": []string{testAudience},
		"exp": now.Add(5 * time.Minute).Unix(), "iat": now.Unix(), "nbf": now.Unix(),
		"jti": randomID(), "client_id": "app", "scope": "read write", "sid": "family-1",
	}
}

// header is a valid access-token header for kid.
func header(kid string) map[string]any {
	return map[string]any{"alg": "ES256", "typ": "at+jwt", "kid": kid}
}

// mint signs claims with the current key under a valid header.
func (is *testIssuer) mint(claims map[string]any) string {
	return signES256(is.key(is.kid), header(is.kid), claims)
}

// verifier returns a verifier of this issuer, closed when the test ends.
func (is *testIssuer) verifier(t testing.TB, cfg resource.Config) *resource.Verifier {
	t.Helper()
	cfg.Issuer = is.URL
	if cfg.Audience == "" {
		cfg.Audience = testAudience
	}
	v, err := resource.New(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = v.Close() })
	return v
}

func randomID() string {
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}

func b64json(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	return base64.RawURLEncoding.EncodeToString(b)
}

// signES256 builds a compact JWS by hand, so that tests control every
// header byte: r||s, 32 bytes each (RFC 7518 §3.4).
func signES256(key *ecdsa.PrivateKey, header, claims map[string]any) string {
	return signInput(key, b64json(header)+"."+b64json(claims))
}

// signInput signs an arbitrary signing input with ES256.
func signInput(key *ecdsa.PrivateKey, input string) string {
	h := sha256.Sum256([]byte(input))
	r, s, err := ecdsa.Sign(rand.Reader, key, h[:])
	if err != nil {
		panic(err)
	}
	sig := make([]byte, 64)
	r.FillBytes(sig[:32])
	s.FillBytes(sig[32:])
	return input + "." + base64.RawURLEncoding.EncodeToString(sig)
}

// signHS256 "signs" with an HMAC secret, as the key-confusion attack does.
func signHS256(secret []byte, header, claims map[string]any) string {
	input := b64json(header) + "." + b64json(claims)
	m := hmac.New(sha256.New, secret)
	m.Write([]byte(input))
	return input + "." + base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}

// thumbprint is the RFC 7638 thumbprint of key, base64url.
func thumbprint(t testing.TB, key *ecdsa.PrivateKey) string {
	t.Helper()
	jwk := jose.JSONWebKey{Key: &key.PublicKey}
	tp, err := jwk.Thumbprint(crypto.SHA256)
	if err != nil {
		t.Fatal(err)
	}
	return base64.RawURLEncoding.EncodeToString(tp)
}

// proof builds a DPoP proof signed by key for method and url, bound to
// token by ath; edit, when set, changes header or claims before signing.
func proof(t testing.TB, key *ecdsa.PrivateKey, method, url, token string, now time.Time, edit func(h, c map[string]any)) string {
	t.Helper()
	jwk, err := json.Marshal(jose.JSONWebKey{Key: &key.PublicKey})
	if err != nil {
		t.Fatal(err)
	}
	var jwkMap map[string]any
	_ = json.Unmarshal(jwk, &jwkMap)
	ath := sha256.Sum256([]byte(token))
	h := map[string]any{"alg": "ES256", "typ": "dpop+jwt", "jwk": jwkMap}
	c := map[string]any{"jti": randomID(), "htm": method, "htu": url, "iat": now.Unix(),
		"ath": base64.RawURLEncoding.EncodeToString(ath[:])}
	if edit != nil {
		edit(h, c)
	}
	return signES256(key, h, c)
}

// clock is a settable clock for Config.Clock.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func newClock() *clock { return &clock{t: time.Now()} }

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// wantError checks that err is an *resource.Error of kind, with code and
// status.
func wantError(t testing.TB, err error, kind error, code string, status int) *resource.Error {
	t.Helper()
	var e *resource.Error
	if !errors.As(err, &e) {
		t.Fatalf("err = %v, want a *resource.Error", err)
	}
	if !errors.Is(err, kind) || e.Code != code || e.Status != status {
		t.Fatalf("err = %v (code %q, status %d), want kind %v, code %q, status %d", err, e.Code, e.Status, kind, code, status)
	}
	return e
}
