package server_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/hmac"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"

	"github.com/rotor-auth/rotor/internal/server"
	"github.com/rotor-auth/rotor/internal/store"
	"github.com/rotor-auth/rotor/internal/store/testdb"
)

// keyHolder is a client's signing key for private_key_jwt.
type keyHolder struct {
	key *ecdsa.PrivateKey
	kid string
}

func newKeyHolder(kid string) *keyHolder {
	k, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	return &keyHolder{key: k, kid: kid}
}

func jwksOf(ks ...*keyHolder) []byte {
	var set jose.JSONWebKeySet
	for _, k := range ks {
		set.Keys = append(set.Keys, jose.JSONWebKey{Key: k.key.Public(), KeyID: k.kid, Algorithm: "ES256", Use: "sig"})
	}
	b, _ := json.Marshal(set)
	return b
}

// assertion signs claims, filling iss, sub, aud, exp and jti unless set.
func (k *keyHolder) assertion(t testing.TB, client, aud string, claims map[string]any) string {
	t.Helper()
	c := map[string]any{"iss": client, "sub": client, "aud": aud, "exp": time.Now().Add(time.Minute).Unix(),
		"iat": time.Now().Unix(), "jti": rand.Text()}
	for k, v := range claims {
		if v == nil {
			delete(c, k)
		} else {
			c[k] = v
		}
	}
	s, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.ES256, Key: k.key},
		(&jose.SignerOptions{}).WithType("JWT").WithHeader("kid", k.kid))
	if err != nil {
		t.Fatal(err)
	}
	b, _ := json.Marshal(c)
	obj, err := s.Sign(b)
	if err != nil {
		t.Fatal(err)
	}
	out, _ := obj.CompactSerialize()
	return out
}

func assertionForm(a string) url.Values {
	return url.Values{"grant_type": {"client_credentials"},
		"client_assertion_type": {server.AssertionType}, "client_assertion": {a}}
}

func TestPrivateKeyJWT(t *testing.T) {
	testdb.Each(t, func(t *testing.T, st store.Store) {
		r := newRig(t, st, nil)
		k1, intruder := newKeyHolder("k1"), newKeyHolder("k1")
		r.addClient(t, store.Client{ID: "robot", GrantTypes: []string{"client_credentials"}, Scopes: []string{"read"}, Introspect: true,
			AuthMethod: "private_key_jwt", JWKS: jwksOf(k1)}, "unused")
		standard(t, r, 0)
		tokenURL := r.URL + "/oauth2/token"

		a := k1.assertion(t, "robot", tokenURL, nil)
		ok := r.post(t, "/oauth2/token", assertionForm(a))
		expectOK(t, ok)
		if claims(t, ok.str("access_token"))["client_id"] != "robot" {
			t.Fatalf("token for %v", claims(t, ok.str("access_token"))["client_id"])
		}
		// The issuer as aud is accepted too; so is introspection with an
		// assertion whose aud is the introspection endpoint.
		expectOK(t, r.post(t, "/oauth2/token", assertionForm(k1.assertion(t, "robot", r.URL, nil))))
		intro := r.post(t, "/oauth2/introspect", url.Values{"token": {ok.str("access_token")},
			"client_assertion_type": {server.AssertionType}, "client_assertion": {k1.assertion(t, "robot", r.URL+"/oauth2/introspect", nil)}})
		if intro.Status != 200 || intro.Body["active"] != true {
			t.Fatalf("introspection with private_key_jwt: %d %s", intro.Status, intro.Raw)
		}
		// An assertion made for the introspection endpoint is not one for
		// the revocation endpoint.
		expectError(t, r.post(t, "/oauth2/revoke", url.Values{"token": {ok.str("access_token")},
			"client_assertion_type": {server.AssertionType}, "client_assertion": {k1.assertion(t, "robot", r.URL+"/oauth2/introspect", nil)}}), 401, "invalid_client")

		hs := func() string {
			h := base64.RawURLEncoding.EncodeToString([]byte(`{"alg":"HS256","kid":"k1"}`))
			p, _ := json.Marshal(map[string]any{"iss": "robot", "sub": "robot", "aud": tokenURL, "exp": time.Now().Add(time.Minute).Unix(), "jti": "h"})
			body := h + "." + base64.RawURLEncoding.EncodeToString(p)
			m := hmac.New(sha256.New, jwksOf(k1))
			m.Write([]byte(body))
			return body + "." + base64.RawURLEncoding.EncodeToString(m.Sum(nil))
		}()
		for name, form := range map[string]url.Values{
			"replayed":            assertionForm(a),
			"another key":         assertionForm(intruder.assertion(t, "robot", tokenURL, nil)),
			"HS256 with JWKS":     assertionForm(hs),
			"wrong aud":           assertionForm(k1.assertion(t, "robot", "https://elsewhere.example/token", nil)),
			"expired":             assertionForm(k1.assertion(t, "robot", tokenURL, map[string]any{"exp": time.Now().Add(-time.Minute).Unix()})),
			"too long-lived":      assertionForm(k1.assertion(t, "robot", tokenURL, map[string]any{"exp": time.Now().Add(time.Hour).Unix()})),
			"no exp":              assertionForm(k1.assertion(t, "robot", tokenURL, map[string]any{"exp": nil})),
			"no jti":              assertionForm(k1.assertion(t, "robot", tokenURL, map[string]any{"jti": nil})),
			"sub differs":         assertionForm(k1.assertion(t, "robot", tokenURL, map[string]any{"sub": "svc"})),
			"for a secret client": assertionForm(k1.assertion(t, "svc", tokenURL, nil)),
			"unknown client":      assertionForm(k1.assertion(t, "ghost", tokenURL, nil)),
			"garbage":             assertionForm("a.b.c"),
			"wrong type": {"grant_type": {"client_credentials"}, "client_assertion_type": {"urn:example:other"},
				"client_assertion": {k1.assertion(t, "robot", tokenURL, nil)}},
			"client_id differs": func() url.Values {
				f := assertionForm(k1.assertion(t, "robot", tokenURL, nil))
				f.Set("client_id", "svc")
				return f
			}(),
		} {
			t.Run(name, func(t *testing.T) {
				expectError(t, r.post(t, "/oauth2/token", form), 401, "invalid_client")
			})
		}
		// A key-authenticated client cannot fall back to a secret, and two
		// methods at once are refused.
		expectError(t, r.post(t, "/oauth2/token", url.Values{"grant_type": {"client_credentials"}}, "robot", "unused"), 401, "invalid_client")
		expectError(t, r.post(t, "/oauth2/token", assertionForm(k1.assertion(t, "robot", tokenURL, nil)), "robot", "unused"), 400, "invalid_request")

		// The same assertion raced from many goroutines: exactly one wins.
		raced := k1.assertion(t, "robot", tokenURL, nil)
		var wins atomic.Int32
		var wg sync.WaitGroup
		for range 20 {
			wg.Go(func() {
				if r.post(t, "/oauth2/token", assertionForm(raced)).Status == 200 {
					wins.Add(1)
				}
			})
		}
		wg.Wait()
		if wins.Load() != 1 {
			t.Fatalf("%d requests succeeded with one assertion, want 1", wins.Load())
		}
	})
}

func TestPrivateKeyJWTByURL(t *testing.T) {
	var r *rig
	old := newKeyHolder("old")
	var (
		mu      sync.Mutex
		served  = jwksOf(old)
		fetches atomic.Int32
	)
	jwks := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		fetches.Add(1)
		mu.Lock()
		defer mu.Unlock()
		_, _ = w.Write(served)
	}))
	defer jwks.Close()

	var offset atomic.Int64
	clock := func() time.Time { return time.Now().Add(time.Duration(offset.Load())) }
	at := func(k *keyHolder) url.Values {
		return assertionForm(k.assertion(t, "robot", r.URL+"/oauth2/token", map[string]any{
			"exp": clock().Add(time.Minute).Unix(), "iat": clock().Unix()}))
	}
	r = newRig(t, testdb.SQLite(t), nil, func(o *server.Options) { o.Now = clock })
	r.addClient(t, store.Client{ID: "robot", GrantTypes: []string{"client_credentials"}, AuthMethod: "private_key_jwt",
		JWKSURI: jwks.URL}, "unused")
	expectOK(t, r.post(t, "/oauth2/token", at(old)))

	// The client rotates to a new key that the cached set lacks. Right
	// after a fetch, an unknown kid does not fetch again (a stranger
	// cannot make Rotor hammer the client's server) ...
	k2 := newKeyHolder("new")
	mu.Lock()
	served = jwksOf(k2)
	mu.Unlock()
	n := fetches.Load()
	expectError(t, r.post(t, "/oauth2/token", at(k2)), 401, "invalid_client")
	if fetches.Load() != n {
		t.Fatal("an unknown kid refetched right after a fetch")
	}
	// ... but past the retry interval it does, and the new key works.
	offset.Store(int64(time.Minute))
	expectOK(t, r.post(t, "/oauth2/token", at(k2)))
	if fetches.Load() != n+1 {
		t.Fatalf("%d fetches for one unknown kid, want 1", fetches.Load()-n)
	}
	// A client whose key set cannot be fetched fails authentication (401,
	// not 500), and strangers naming it do not make Rotor fetch again and
	// again.
	var brokenFetches atomic.Int32
	broken := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		brokenFetches.Add(1)
		http.Error(w, "down", http.StatusInternalServerError)
	}))
	defer broken.Close()
	r.addClient(t, store.Client{ID: "lost", GrantTypes: []string{"client_credentials"}, AuthMethod: "private_key_jwt",
		JWKSURI: broken.URL}, "unused")
	for range 5 {
		f := assertionForm(k2.assertion(t, "lost", r.URL+"/oauth2/token", map[string]any{
			"exp": clock().Add(time.Minute).Unix(), "iat": clock().Unix()}))
		expectError(t, r.post(t, "/oauth2/token", f), 401, "invalid_client")
	}
	if brokenFetches.Load() != 1 {
		t.Fatalf("%d fetches of a failing key set in one retry interval, want 1", brokenFetches.Load())
	}

	// Many requests with the cached key fetch nothing more.
	n = fetches.Load()
	for range 5 {
		expectOK(t, r.post(t, "/oauth2/token", at(k2)))
	}
	if fetches.Load() != n {
		t.Fatalf("%d fetches for cached keys", fetches.Load()-n)
	}
}

// TestPrivateKeyJWTAlgMustMatchKey: a client key that names its alg
// (RFC 7517 §4.4) verifies only assertions signed with that alg; an RSA
// key marked RS256 does not take a PS256 signature, nor the other way
// round. A key that names none takes any algorithm that fits it.
func TestPrivateKeyJWTAlgMustMatchKey(t *testing.T) {
	rsaKey, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	sign := func(t *testing.T, alg jose.SignatureAlgorithm, kid, client, aud string) string {
		t.Helper()
		s, err := jose.NewSigner(jose.SigningKey{Algorithm: alg, Key: rsaKey},
			(&jose.SignerOptions{}).WithType("JWT").WithHeader("kid", kid))
		if err != nil {
			t.Fatal(err)
		}
		b, _ := json.Marshal(map[string]any{"iss": client, "sub": client, "aud": aud,
			"exp": time.Now().Add(time.Minute).Unix(), "iat": time.Now().Unix(), "jti": rand.Text()})
		obj, err := s.Sign(b)
		if err != nil {
			t.Fatal(err)
		}
		out, _ := obj.CompactSerialize()
		return out
	}
	jwks := func(kid, alg string) []byte {
		b, _ := json.Marshal(jose.JSONWebKeySet{Keys: []jose.JSONWebKey{{Key: &rsaKey.PublicKey, KeyID: kid, Algorithm: alg, Use: "sig"}}})
		return b
	}
	testdb.Each(t, func(t *testing.T, st store.Store) {
		r := newRig(t, st, nil)
		for _, c := range []struct{ id, alg string }{{"rs", "RS256"}, {"ps", "PS256"}, {"any", ""}} {
			r.addClient(t, store.Client{ID: c.id, GrantTypes: []string{"client_credentials"},
				AuthMethod: "private_key_jwt", JWKS: jwks("k", c.alg)}, "unused")
		}
		tokenURL := r.URL + "/oauth2/token"
		for _, tc := range []struct {
			client string
			alg    jose.SignatureAlgorithm
			ok     bool
		}{
			{"rs", jose.RS256, true},
			{"rs", jose.PS256, false},
			{"rs", jose.RS384, false},
			{"ps", jose.PS256, true},
			{"ps", jose.RS256, false},
			{"any", jose.RS256, true},
			{"any", jose.PS256, true},
		} {
			t.Run(tc.client+" "+string(tc.alg), func(t *testing.T) {
				// Without a kid too: every key of the set is tried.
				for _, kid := range []string{"k", ""} {
					res := r.post(t, "/oauth2/token", assertionForm(sign(t, tc.alg, kid, tc.client, tokenURL)))
					if tc.ok {
						expectOK(t, res)
					} else {
						expectError(t, res, 401, "invalid_client")
					}
				}
			})
		}
	})
}
