package client_test

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	"golang.org/x/oauth2"

	"github.com/rotor-auth/rotor/client"
)

// proof is a DPoP proof as a verifier sees it.
type proof struct {
	header jose.Header
	claims map[string]any
}

// parseProof verifies p's signature with its embedded key, as a server
// does, and returns its header and claims.
func parseProof(t testing.TB, p string) proof {
	t.Helper()
	pr, err := verifyProof(p)
	if err != nil {
		t.Fatal(err)
	}
	return pr
}

// verifyProof is parseProof for HTTP handlers, which must not call
// t.Fatal.
func verifyProof(p string) (proof, error) {
	jws, err := jose.ParseSignedCompact(p, []jose.SignatureAlgorithm{jose.ES256, jose.ES384, jose.EdDSA})
	if err != nil {
		return proof{}, fmt.Errorf("proof does not parse: %w", err)
	}
	h := jws.Signatures[0].Protected
	if h.JSONWebKey == nil || !h.JSONWebKey.IsPublic() || !h.JSONWebKey.Valid() {
		return proof{}, errors.New("proof carries no valid public jwk")
	}
	payload, err := jws.Verify(h.JSONWebKey)
	if err != nil {
		return proof{}, fmt.Errorf("proof does not verify with its own jwk: %w", err)
	}
	var c map[string]any
	if err := json.Unmarshal(payload, &c); err != nil {
		return proof{}, err
	}
	return proof{header: h, claims: c}, nil
}

func thumbprint(t testing.TB, k *jose.JSONWebKey) string {
	t.Helper()
	tp, err := k.Thumbprint(crypto.SHA256)
	if err != nil {
		t.Fatal(err)
	}
	return base64.RawURLEncoding.EncodeToString(tp)
}

// opaqueSigner hides the concrete key type, as a hardware key does.
type opaqueSigner struct{ crypto.Signer }

func newP256(t testing.TB) *ecdsa.PrivateKey {
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func TestProofStructure(t *testing.T) {
	p384, _ := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	_, ed, _ := ed25519.GenerateKey(rand.Reader)
	for _, tc := range []struct {
		name string
		key  crypto.Signer
		alg  string
	}{
		{"P-256", newP256(t), "ES256"},
		{"P-256 in hardware", opaqueSigner{newP256(t)}, "ES256"},
		{"P-384", p384, "ES384"},
		{"Ed25519", ed, "EdDSA"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d, err := client.NewDPoP(tc.key)
			if err != nil {
				t.Fatal(err)
			}
			before := time.Now().Unix()
			s, err := d.Proof("POST", "https://as.example/oauth2/token?x=1#frag", "", "")
			if err != nil {
				t.Fatal(err)
			}
			p := parseProof(t, s)
			if p.header.Algorithm != tc.alg || d.Algorithm() != tc.alg {
				t.Errorf("alg %q (Algorithm() %q), want %s", p.header.Algorithm, d.Algorithm(), tc.alg)
			}
			if typ := p.header.ExtraHeaders[jose.HeaderType]; typ != "dpop+jwt" {
				t.Errorf("typ %v, want dpop+jwt", typ)
			}
			if got := thumbprint(t, p.header.JSONWebKey); got != d.Thumbprint() {
				t.Errorf("Thumbprint() %s, jwk thumbprint %s", d.Thumbprint(), got)
			}
			pub := tc.key.Public()
			if !(&jose.JSONWebKey{Key: pub}).Valid() || thumbprint(t, &jose.JSONWebKey{Key: pub}) != d.Thumbprint() {
				t.Error("Thumbprint() is not the key's RFC 7638 thumbprint")
			}
			c := p.claims
			if c["htm"] != "POST" || c["htu"] != "https://as.example/oauth2/token" {
				t.Errorf("htm %v htu %v", c["htm"], c["htu"])
			}
			iat, _ := c["iat"].(float64)
			if int64(iat) < before || int64(iat) > time.Now().Unix() {
				t.Errorf("iat %v is not now", c["iat"])
			}
			if jti, _ := c["jti"].(string); len(jti) < 22 {
				t.Errorf("jti %q is not 128 random bits", jti)
			}
			for _, absent := range []string{"ath", "nonce"} {
				if _, ok := c[absent]; ok {
					t.Errorf("%s present in a token request proof", absent)
				}
			}
		})
	}
}

func TestProofForAPIRequest(t *testing.T) {
	d, err := client.NewDPoP(newP256(t))
	if err != nil {
		t.Fatal(err)
	}
	const at = "eyJ.access.token"
	s, err := d.Proof("GET", "https://api.example/v1/things?page=2", at, "n-123")
	if err != nil {
		t.Fatal(err)
	}
	c := parseProof(t, s).claims
	sum := sha256.Sum256([]byte(at))
	if c["ath"] != base64.RawURLEncoding.EncodeToString(sum[:]) {
		t.Errorf("ath %v is not base64url(SHA-256(access token))", c["ath"])
	}
	if c["nonce"] != "n-123" || c["htm"] != "GET" || c["htu"] != "https://api.example/v1/things" {
		t.Errorf("claims %v", c)
	}
}

func TestProofJTIsAreUnique(t *testing.T) {
	d, _ := client.NewDPoP(newP256(t))
	seen := map[string]bool{}
	for range 1000 {
		s, err := d.Proof("POST", "https://as.example/t", "", "")
		if err != nil {
			t.Fatal(err)
		}
		body, _ := base64.RawURLEncoding.DecodeString(strings.Split(s, ".")[1])
		var c struct{ JTI string }
		_ = json.Unmarshal(body, &c)
		if seen[c.JTI] {
			t.Fatal("a jti repeated")
		}
		seen[c.JTI] = true
	}
}

func TestDPoPRefusesUnsupportedKeys(t *testing.T) {
	rsaKey, _ := rsa.GenerateKey(rand.Reader, 2048)
	p521, _ := ecdsa.GenerateKey(elliptic.P521(), rand.Reader)
	for name, k := range map[string]crypto.Signer{"nil": nil, "RSA": rsaKey, "P-521": p521} {
		if _, err := client.NewDPoP(k); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
	d, _ := client.NewDPoP(newP256(t))
	for _, target := range []string{"/relative", "::", "example.com/x"} {
		if _, err := d.Proof("GET", target, "", ""); err == nil {
			t.Errorf("proof for %q", target)
		}
	}
}

// TestDPoPTransportNonce: a token endpoint that demands a nonce (400
// use_dpop_nonce) gets the request again, with the same body and a proof
// carrying the nonce; the nonce is remembered for the next request.
func TestDPoPTransportNonce(t *testing.T) {
	var calls atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		calls.Add(1)
		body, _ := io.ReadAll(r.Body)
		p, err := verifyProof(r.Header.Get("DPoP"))
		if err != nil {
			t.Error(err)
		}
		c := p.claims
		if string(body) != "grant_type=password" {
			t.Errorf("body %q", body)
		}
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("DPoP-Nonce", "nonce-1")
		if c["nonce"] != "nonce-1" {
			w.WriteHeader(http.StatusBadRequest)
			_, _ = io.WriteString(w, `{"error":"use_dpop_nonce"}`)
			return
		}
		_, _ = io.WriteString(w, `{"access_token":"a","token_type":"DPoP","expires_in":60}`)
	}))
	defer srv.Close()
	d, _ := client.NewDPoP(newP256(t))
	hc := &http.Client{Transport: d.Transport(nil)}
	for i, want := range []int64{2, 3} {
		resp, err := hc.Post(srv.URL+"/token", "application/x-www-form-urlencoded", strings.NewReader("grant_type=password"))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK || calls.Load() != want {
			t.Fatalf("request %d: status %d after %d calls, want 200 after %d", i, resp.StatusCode, calls.Load(), want)
		}
	}
}

// TestDPoPTransportPassesOtherErrors: a 400 that is not use_dpop_nonce
// reaches the caller whole, once.
func TestDPoPTransportPassesOtherErrors(t *testing.T) {
	var calls atomic.Int64
	const answer = `{"error":"invalid_grant","error_description":"gone"}`
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		calls.Add(1)
		w.Header().Set("DPoP-Nonce", "fresh-every-time-"+r.Header.Get("X-N"))
		w.WriteHeader(http.StatusBadRequest)
		_, _ = io.WriteString(w, answer)
	}))
	defer srv.Close()
	d, _ := client.NewDPoP(newP256(t))
	resp, err := (&http.Client{Transport: d.Transport(nil)}).Post(srv.URL, "text/plain", strings.NewReader("x"))
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if string(body) != answer || calls.Load() != 1 {
		t.Fatalf("body %q after %d calls", body, calls.Load())
	}
}

// TestTransportToAPI: Bearer tokens are sent as Bearer; DPoP tokens as
// DPoP with a proof bound to the token, the method and the URL; an API
// that demands a nonce (401) gets the request again with it.
func TestTransportToAPI(t *testing.T) {
	d, _ := client.NewDPoP(newP256(t))
	var last *http.Request
	var lastBody string
	var demands atomic.Int64
	api := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		last, lastBody = r, string(b)
		if strings.HasPrefix(r.Header.Get("Authorization"), "DPoP ") && demands.Load() > 0 {
			p, err := verifyProof(r.Header.Get("DPoP"))
			if err != nil {
				t.Error(err)
			}
			if p.claims["nonce"] != "api-nonce" {
				demands.Add(-1)
				w.Header().Set("DPoP-Nonce", "api-nonce")
				w.Header().Set("WWW-Authenticate", `DPoP error="use_dpop_nonce", error_description="nonce"`)
				w.WriteHeader(http.StatusUnauthorized)
				return
			}
		}
		_, _ = io.WriteString(w, "ok")
	}))
	defer api.Close()

	bearer := &client.Transport{Source: oauth2.StaticTokenSource(&oauth2.Token{AccessToken: "b-tok", TokenType: "bearer"})}
	resp, err := (&http.Client{Transport: bearer}).Get(api.URL + "/x")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if last.Header.Get("Authorization") != "Bearer b-tok" || last.Header.Get("DPoP") != "" {
		t.Errorf("Bearer request sent Authorization %q DPoP %q", last.Header.Get("Authorization"), last.Header.Get("DPoP"))
	}

	const at = "d-tok"
	bound := &client.Transport{Source: oauth2.StaticTokenSource(&oauth2.Token{AccessToken: at, TokenType: "DPoP"}), DPoP: d}
	demands.Store(1)
	req, _ := http.NewRequest(http.MethodPut, api.URL+"/things/7?v=1", strings.NewReader("payload"))
	resp, err = (&http.Client{Transport: bound}).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || demands.Load() != 0 {
		t.Fatalf("status %d, nonce demand answered: %v", resp.StatusCode, demands.Load() == 0)
	}
	if last.Header.Get("Authorization") != "DPoP "+at || lastBody != "payload" {
		t.Errorf("Authorization %q body %q", last.Header.Get("Authorization"), lastBody)
	}
	c := parseProof(t, last.Header.Get("DPoP")).claims
	sum := sha256.Sum256([]byte(at))
	u, _ := url.Parse(api.URL + "/things/7")
	if c["htm"] != "PUT" || c["htu"] != u.String() || c["ath"] != base64.RawURLEncoding.EncodeToString(sum[:]) {
		t.Errorf("proof claims %v", c)
	}
	if req.Header.Get("Authorization") != "" || req.Header.Get("DPoP") != "" {
		t.Error("the Transport modified the caller's request")
	}

	// A DPoP token without a key is an error, not a Bearer downgrade.
	keyless := &client.Transport{Source: oauth2.StaticTokenSource(&oauth2.Token{AccessToken: at, TokenType: "DPoP"})}
	if _, err := (&http.Client{Transport: keyless}).Get(api.URL); err == nil {
		t.Error("a DPoP token was sent without a proof")
	}
}
