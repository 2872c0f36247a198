package main

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"
)

// idIssuer publishes a JWKS on loopback and signs id_tokens with its key.
type idIssuer struct {
	key  *ecdsa.PrivateKey
	jwks *httptest.Server
	url  string
}

func newIDIssuer(t testing.TB) *idIssuer {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	set := jose.JSONWebKeySet{Keys: []jose.JSONWebKey{{Key: &key.PublicKey, KeyID: "k1", Algorithm: "ES256", Use: "sig"}}}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_ = json.NewEncoder(w).Encode(set)
	}))
	t.Cleanup(srv.Close)
	return &idIssuer{key: key, jwks: srv, url: "http://issuer.test"}
}

func (i *idIssuer) verifier(now time.Time) *idVerifier {
	return newIDVerifier(&metadata{Issuer: i.url, JWKSURI: i.jwks.URL}, "web", i.jwks.Client(), func() time.Time { return now })
}

func (i *idIssuer) sign(t testing.TB, key any, alg jose.SignatureAlgorithm, kid string, claims map[string]any) string {
	t.Helper()
	s, err := jose.NewSigner(jose.SigningKey{Algorithm: alg, Key: key}, (&jose.SignerOptions{}).WithHeader("kid", kid).WithType("JWT"))
	if err != nil {
		t.Fatal(err)
	}
	raw, err := jwt.Signed(s).Claims(claims).Serialize()
	if err != nil {
		t.Fatal(err)
	}
	return raw
}

func TestIDTokenVerification(t *testing.T) {
	iss := newIDIssuer(t)
	now := time.Now()
	good := func() map[string]any {
		return map[string]any{"iss": iss.url, "sub": "u1", "aud": "web", "exp": now.Add(5 * time.Minute).Unix(),
			"iat": now.Unix(), "nonce": "n1", "preferred_username": "alice"}
	}
	// with returns good claims with pairs of (claim, value) set; a nil
	// value deletes the claim.
	with := func(pairs ...any) map[string]any {
		c := good()
		for i := 0; i < len(pairs); i += 2 {
			if k := pairs[i].(string); pairs[i+1] == nil {
				delete(c, k)
			} else {
				c[k] = pairs[i+1]
			}
		}
		return c
	}
	other, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	pub, _ := x509.MarshalPKIXPublicKey(&iss.key.PublicKey)
	tests := []struct {
		name   string
		token  string
		nonce  string
		wantOK bool
	}{
		{"a good token", iss.sign(t, iss.key, jose.ES256, "k1", good()), "n1", true},
		{"two audiences with azp naming the client", iss.sign(t, iss.key, jose.ES256, "k1", with("aud", []string{"web", "api"}, "azp", "web")), "n1", true},
		{"another nonce", iss.sign(t, iss.key, jose.ES256, "k1", good()), "n2", false},
		{"no nonce expected", iss.sign(t, iss.key, jose.ES256, "k1", with("nonce", nil)), "", false},
		{"another audience", iss.sign(t, iss.key, jose.ES256, "k1", with("aud", "someone-else")), "n1", false},
		{"two audiences without azp", iss.sign(t, iss.key, jose.ES256, "k1", with("aud", []string{"web", "api"})), "n1", false},
		{"azp naming another client", iss.sign(t, iss.key, jose.ES256, "k1", with("azp", "other")), "n1", false},
		{"another issuer", iss.sign(t, iss.key, jose.ES256, "k1", with("iss", "http://evil.test")), "n1", false},
		{"expired", iss.sign(t, iss.key, jose.ES256, "k1", with("exp", now.Add(-time.Minute).Unix())), "n1", false},
		{"no exp", iss.sign(t, iss.key, jose.ES256, "k1", with("exp", nil)), "n1", false},
		{"no iat", iss.sign(t, iss.key, jose.ES256, "k1", with("iat", nil)), "n1", false},
		{"signed by another key", iss.sign(t, other, jose.ES256, "k1", good()), "n1", false},
		{"an unknown kid", iss.sign(t, iss.key, jose.ES256, "k2", good()), "n1", false},
		{"HMAC keyed with the public key", iss.sign(t, pub, jose.HS256, "k1", good()), "n1", false},
		{"alg none", unsigned(good()), "n1", false},
		{"garbage", "not.a.jwt", "n1", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := iss.verifier(now).verify(context.Background(), tt.token, tt.nonce)
			if (err == nil) != tt.wantOK {
				t.Fatalf("verify: %v, want ok=%v", err, tt.wantOK)
			}
			if tt.wantOK && (c.name() != "alice" || c.Subject != "u1") {
				t.Errorf("claims %+v", c)
			}
		})
	}
}

// unsigned is a token with alg none.
func unsigned(claims map[string]any) string {
	b, _ := json.Marshal(claims)
	return "eyJhbGciOiJub25lIn0." + base64.RawURLEncoding.EncodeToString(b) + "."
}

// FuzzIDToken feeds the verifier hostile strings: it must never panic, and
// never accept what the issuer did not sign.
func FuzzIDToken(f *testing.F) {
	iss := newIDIssuer(f)
	f.Add("eyJhbGciOiJFUzI1NiJ9.e30.AAAA")
	f.Add("a.b.c")
	f.Add("")
	v := iss.verifier(time.Now())
	f.Fuzz(func(t *testing.T, raw string) {
		if _, err := v.verify(context.Background(), raw, "n1"); err == nil {
			t.Fatalf("accepted %q", raw)
		}
	})
}
