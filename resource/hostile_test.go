package resource_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"

	"github.com/rotor-auth/rotor/resource"
)

// okHandler answers 200 with the verified subject.
var okHandler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
	c, ok := resource.ClaimsFrom(r.Context())
	if !ok {
		http.Error(w, "no claims", http.StatusInternalServerError)
		return
	}
	_, _ = w.Write([]byte(c.Subject))
})

// serve runs req through v's middleware.
func serve(v *resource.Verifier, req *http.Request) *httptest.ResponseRecorder {
	rec := httptest.NewRecorder()
	v.Middleware(okHandler).ServeHTTP(rec, req)
	return rec
}

func bearer(token string) *http.Request {
	req := httptest.NewRequest(http.MethodGet, "https://api.example.test/things", nil)
	req.Header.Set("Authorization", "Bearer "+token)
	return req
}

// wantChallenge checks the answer's status and that its WWW-Authenticate
// challenge of scheme carries code.
func wantChallenge(t testing.TB, rec *httptest.ResponseRecorder, status int, scheme, code string) {
	t.Helper()
	if rec.Code != status {
		t.Fatalf("status = %d, want %d (body %q)", rec.Code, status, rec.Body.String())
	}
	for _, ch := range rec.Header().Values("WWW-Authenticate") {
		if strings.HasPrefix(ch, scheme+" ") && strings.Contains(ch, `error="`+code+`"`) {
			return
		}
	}
	t.Fatalf("WWW-Authenticate = %q, want a %s challenge with error=%q", rec.Header().Values("WWW-Authenticate"), scheme, code)
}

func TestHostileTokens(t *testing.T) {
	is := newTestIssuer(t)
	v := is.verifier(t, resource.Config{})
	now := time.Now()
	key := is.key(is.kid)

	// Secrets the key-confusion attack tries: the public key in the forms
	// a careless verifier might hand to HMAC.
	der, err := x509.MarshalPKIXPublicKey(&key.PublicKey)
	if err != nil {
		t.Fatal(err)
	}
	pemKey := pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der})
	jwkJSON, _ := json.Marshal(jose.JSONWebKey{Key: &key.PublicKey, KeyID: is.kid, Algorithm: "ES256", Use: "sig"})
	ecdhKey, _ := key.PublicKey.ECDH()
	attacker, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	attackerJWK, _ := json.Marshal(jose.JSONWebKey{Key: &attacker.PublicKey})
	var attackerJWKMap map[string]any
	_ = json.Unmarshal(attackerJWK, &attackerJWKMap)

	// An endpoint a hostile header might point at; nothing may call it.
	var evilHits atomic.Int64
	evil := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		evilHits.Add(1)
		_, _ = w.Write(attackerJWK)
	}))
	defer evil.Close()

	with := func(edit func(c map[string]any)) map[string]any {
		c := is.claims(now)
		edit(c)
		return c
	}
	hdr := func(edit func(h map[string]any)) map[string]any {
		h := header(is.kid)
		edit(h)
		return h
	}
	sign := func(h map[string]any) string { return signES256(key, h, is.claims(now)) }

	cases := []struct {
		name  string
		token string
		kind  error
	}{
		{"alg none", b64json(hdr(func(h map[string]any) { h["alg"] = "none" })) + "." + b64json(is.claims(now)) + ".", resource.ErrAlgorithm},
		{"alg none with a signature", b64json(hdr(func(h map[string]any) { h["alg"] = "none" })) + "." + b64json(is.claims(now)) + ".c2ln", resource.ErrAlgorithm},
		{"alg None", b64json(hdr(func(h map[string]any) { h["alg"] = "None" })) + "." + b64json(is.claims(now)) + ".", resource.ErrAlgorithm},
		{"HS256 with the PEM public key", signHS256(pemKey, hdr(func(h map[string]any) { h["alg"] = "HS256" }), is.claims(now)), resource.ErrAlgorithm},
		{"HS256 with the DER public key", signHS256(der, hdr(func(h map[string]any) { h["alg"] = "HS256" }), is.claims(now)), resource.ErrAlgorithm},
		{"HS256 with the JWK", signHS256(jwkJSON, hdr(func(h map[string]any) { h["alg"] = "HS256" }), is.claims(now)), resource.ErrAlgorithm},
		{"HS256 with the raw point", signHS256(ecdhKey.Bytes(), hdr(func(h map[string]any) { h["alg"] = "HS256" }), is.claims(now)), resource.ErrAlgorithm},
		{"RS256 not in the allow-list", sign(hdr(func(h map[string]any) { h["alg"] = "RS256" })), resource.ErrAlgorithm},
		{"unknown kid", sign(hdr(func(h map[string]any) { h["kid"] = "no-such-key" })), resource.ErrUnknownKey},
		{"kid that tries a path", sign(hdr(func(h map[string]any) { h["kid"] = "../../../../etc/passwd" })), resource.ErrUnknownKey},
		{"kid that tries a URL", sign(hdr(func(h map[string]any) { h["kid"] = evil.URL + "/jwks" })), resource.ErrUnknownKey},
		{"kid that tries the JWKS path", sign(hdr(func(h map[string]any) { h["kid"] = "/jwks" })), resource.ErrUnknownKey},
		{"kid that is not a string", sign(hdr(func(h map[string]any) { h["kid"] = 1 })), resource.ErrMalformedToken},
		{"no kid", sign(hdr(func(h map[string]any) { delete(h, "kid") })), resource.ErrUnknownKey},
		{"jku to the attacker's keys", signES256(attacker, hdr(func(h map[string]any) { h["kid"] = "evil"; h["jku"] = evil.URL }), is.claims(now)), resource.ErrUnknownKey},
		{"embedded jwk of the attacker under a known kid", signES256(attacker, hdr(func(h map[string]any) { h["jwk"] = attackerJWKMap }), is.claims(now)), resource.ErrSignature},
		{"signed by another key under a known kid", signES256(attacker, header(is.kid), is.claims(now)), resource.ErrSignature},
		{"claims altered after signing", func() string {
			tok := is.mint(is.claims(now))
			parts := strings.Split(tok, ".")
			return parts[0] + "." + b64json(with(func(c map[string]any) { c["scope"] = "admin" })) + "." + parts[2]
		}(), resource.ErrSignature},
		{"unknown critical header", sign(hdr(func(h map[string]any) { h["crit"] = []string{"exp-policy"}; h["exp-policy"] = 1 })), resource.ErrSignature},
		{"expired", is.mint(with(func(c map[string]any) { c["exp"] = now.Add(-2 * time.Minute).Unix() })), resource.ErrExpired},
		{"not yet valid (nbf)", is.mint(with(func(c map[string]any) { c["nbf"] = now.Add(2 * time.Minute).Unix() })), resource.ErrNotYetValid},
		{"issued in the future (iat)", is.mint(with(func(c map[string]any) { c["iat"] = now.Add(2 * time.Minute).Unix() })), resource.ErrNotYetValid},
		{"wrong iss", is.mint(with(func(c map[string]any) { c["iss"] = "https://evil.example" })), resource.ErrIssuer},
		{"iss with a trailing slash", is.mint(with(func(c map[string]any) { c["iss"] = is.URL + "/" })), resource.ErrIssuer},
		{"no iss", is.mint(with(func(c map[string]any) { delete(c, "iss") })), resource.ErrIssuer},
		{"wrong aud", is.mint(with(func(c map[string]any) { c["aud"] = []string{"https://other.example"} })), resource.ErrAudience},
		{"wrong aud as a string", is.mint(with(func(c map[string]any) { c["aud"] = "https://other.example" })), resource.ErrAudience},
		{"aud that only contains ours", is.mint(with(func(c map[string]any) { c["aud"] = testAudience + "/x" })), resource.ErrAudience},
		{"no aud", is.mint(with(func(c map[string]any) { delete(c, "aud") })), resource.ErrAudience},
		{"missing typ", sign(hdr(func(h map[string]any) { delete(h, "typ") })), resource.ErrType},
		{"typ JWT (an ID token, say)", sign(hdr(func(h map[string]any) { h["typ"] = "JWT" })), resource.ErrType},
		{"typ dpop+jwt (a proof as a token)", sign(hdr(func(h map[string]any) { h["typ"] = "dpop+jwt" })), resource.ErrType},
		{"no exp", is.mint(with(func(c map[string]any) { delete(c, "exp") })), resource.ErrMalformedToken},
		{"exp as a string", is.mint(with(func(c map[string]any) { c["exp"] = "2099-01-01" })), resource.ErrMalformedToken},
		{"no client_id", is.mint(with(func(c map[string]any) { delete(c, "client_id") })), resource.ErrMalformedToken},
		{"no jti", is.mint(with(func(c map[string]any) { delete(c, "jti") })), resource.ErrMalformedToken},
		{"no sub", is.mint(with(func(c map[string]any) { delete(c, "sub") })), resource.ErrMalformedToken},
		{"cnf without jkt", is.mint(with(func(c map[string]any) { c["cnf"] = map[string]any{"x5t#S256": "abc"} })), resource.ErrMalformedToken},
		{"DPoP-bound token sent as Bearer", is.mint(with(func(c map[string]any) { c["cnf"] = map[string]any{"jkt": thumbprint(t, attacker)} })), resource.ErrDPoPRequired},
		{"not a JWT", "not-a-token", resource.ErrMalformedToken},
		{"two parts", "eyJhbGciOiJFUzI1NiJ9.e30", resource.ErrMalformedToken},
		{"four parts", is.mint(is.claims(now)) + ".x", resource.ErrMalformedToken},
		{"JWS JSON serialization", `{"payload":"e30","signatures":[]}`, resource.ErrMalformedToken},
		{"JWE", "eyJhbGciOiJSU0EtT0FFUCIsImVuYyI6IkEyNTZHQ00ifQ.a.b.c.d", resource.ErrMalformedToken},
		{"claims not JSON", signInput(key, b64json(header(is.kid))+".bm90IGpzb24"), resource.ErrMalformedToken},
		{"huge token", strings.Repeat("a", 64<<10), resource.ErrMalformedToken},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := v.Verify(context.Background(), tc.token)
			e := wantError(t, err, tc.kind, resource.CodeInvalidToken, http.StatusUnauthorized)
			if strings.Contains(e.Error(), tc.token[:min(len(tc.token), 40)]) {
				t.Fatalf("the error repeats the token: %v", e)
			}
			wantChallenge(t, serve(v, bearer(tc.token)), http.StatusUnauthorized, e.Scheme, resource.CodeInvalidToken)
		})
	}
	if n := evilHits.Load(); n != 0 {
		t.Fatalf("the attacker's server was called %d times", n)
	}
	is.paths.Range(func(p, _ any) bool {
		if p != "/.well-known/oauth-authorization-server" && p != "/jwks" {
			t.Errorf("a kid or header made the verifier request %q", p)
		}
		return true
	})
}

// TestTokensThatPass pins the edges that must still pass: leeway, aud as
// a string, typ spellings, fractional dates.
func TestTokensThatPass(t *testing.T) {
	is := newTestIssuer(t)
	v := is.verifier(t, resource.Config{Leeway: 30 * time.Second})
	now := time.Now()
	cases := []struct {
		name  string
		token string
	}{
		{"aud as a string", is.mint(func() map[string]any { c := is.claims(now); c["aud"] = testAudience; return c }())},
		{"aud among others", is.mint(func() map[string]any {
			c := is.claims(now)
			c["aud"] = []string{"https://a.example", testAudience}
			return c
		}())},
		{"expired within the leeway", is.mint(func() map[string]any { c := is.claims(now); c["exp"] = now.Add(-10 * time.Second).Unix(); return c }())},
		{"nbf within the leeway", is.mint(func() map[string]any { c := is.claims(now); c["nbf"] = now.Add(10 * time.Second).Unix(); return c }())},
		{"no nbf", is.mint(func() map[string]any { c := is.claims(now); delete(c, "nbf"); return c }())},
		{"fractional exp", is.mint(func() map[string]any { c := is.claims(now); c["exp"] = float64(now.Unix()) + 60.5; return c }())},
		{"typ application/at+jwt", signES256(is.key(is.kid), map[string]any{"alg": "ES256", "kid": is.kid, "typ": "application/at+jwt"}, is.claims(now))},
		{"typ AT+JWT", signES256(is.key(is.kid), map[string]any{"alg": "ES256", "kid": is.kid, "typ": "AT+JWT"}, is.claims(now))},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c, err := v.Verify(context.Background(), tc.token)
			if err != nil {
				t.Fatal(err)
			}
			if c.Subject != "user-1" || c.ClientID != "app" || !c.HasScope("write") || c.SessionID != "family-1" {
				t.Fatalf("claims = %+v", c)
			}
			if rec := serve(v, bearer(tc.token)); rec.Code != http.StatusOK || rec.Body.String() != "user-1" {
				t.Fatalf("middleware: %d %q", rec.Code, rec.Body.String())
			}
		})
	}
}

// TestRequestShapes covers the Authorization header itself.
func TestRequestShapes(t *testing.T) {
	is := newTestIssuer(t)
	v := is.verifier(t, resource.Config{Realm: "things"})
	tok := is.mint(is.claims(time.Now()))

	t.Run("no token: both schemes offered, no error code", func(t *testing.T) {
		rec := serve(v, httptest.NewRequest(http.MethodGet, "/", nil))
		got := rec.Header().Values("WWW-Authenticate")
		if rec.Code != http.StatusUnauthorized || len(got) != 2 || got[0] != `Bearer realm="things"` ||
			got[1] != `DPoP realm="things", algs="ES256 ES384 EdDSA RS256 PS256"` {
			t.Fatalf("%d %q", rec.Code, got)
		}
	})
	t.Run("another scheme counts as no token", func(t *testing.T) {
		req := httptest.NewRequest(http.MethodGet, "/", nil)
		req.SetBasicAuth("a", "b")
		rec := serve(v, req)
		if rec.Code != http.StatusUnauthorized || strings.Contains(rec.Header().Get("WWW-Authenticate"), "error=") {
			t.Fatalf("%d %q", rec.Code, rec.Header().Values("WWW-Authenticate"))
		}
	})
	t.Run("two Authorization headers", func(t *testing.T) {
		req := bearer(tok)
		req.Header.Add("Authorization", "Bearer "+tok)
		wantChallenge(t, serve(v, req), http.StatusBadRequest, "Bearer", resource.CodeInvalidRequest)
	})
	t.Run("Bearer without a token", func(t *testing.T) {
		req := httptest.NewRequest(http.MethodGet, "/", nil)
		req.Header.Set("Authorization", "Bearer ")
		wantChallenge(t, serve(v, req), http.StatusBadRequest, "Bearer", resource.CodeInvalidRequest)
	})
	t.Run("scheme in lower case", func(t *testing.T) {
		req := httptest.NewRequest(http.MethodGet, "/", nil)
		req.Header.Set("Authorization", "bearer "+tok)
		if rec := serve(v, req); rec.Code != http.StatusOK {
			t.Fatalf("%d %s", rec.Code, rec.Body)
		}
	})
	t.Run("token in the query string is not read", func(t *testing.T) {
		rec := serve(v, httptest.NewRequest(http.MethodGet, "/?access_token="+tok, nil))
		if rec.Code != http.StatusUnauthorized {
			t.Fatalf("%d", rec.Code)
		}
	})
	t.Run("the body names the error and never the token", func(t *testing.T) {
		rec := serve(v, bearer(tok+"x"))
		if strings.Contains(rec.Body.String(), tok[:20]) || !strings.Contains(rec.Body.String(), `"error":"invalid_token"`) {
			t.Fatalf("body %q", rec.Body.String())
		}
	})
}

// TestRequiredScopes covers Config.RequiredScopes and Require.
func TestRequiredScopes(t *testing.T) {
	is := newTestIssuer(t)
	v := is.verifier(t, resource.Config{RequiredScopes: []string{"read"}})
	now := time.Now()
	readOnly := is.mint(func() map[string]any { c := is.claims(now); c["scope"] = "read"; return c }())
	none := is.mint(func() map[string]any { c := is.claims(now); delete(c, "scope"); return c }())
	both := is.mint(is.claims(now))

	_, err := v.Verify(context.Background(), none)
	e := wantError(t, err, resource.ErrInsufficientScope, resource.CodeInsufficientScope, http.StatusForbidden)
	if e.Scope != "read" {
		t.Fatalf("scope = %q", e.Scope)
	}
	if _, err := v.Verify(context.Background(), readOnly); err != nil {
		t.Fatal(err)
	}

	write := v.Require("write", "read")(okHandler)
	nested := v.Middleware(write)
	for name, h := range map[string]http.Handler{"alone": write, "under Middleware": nested} {
		t.Run(name, func(t *testing.T) {
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, bearer(readOnly))
			wantChallenge(t, rec, http.StatusForbidden, "Bearer", resource.CodeInsufficientScope)
			if ch := rec.Header().Get("WWW-Authenticate"); !strings.Contains(ch, `scope="read write"`) {
				t.Fatalf("challenge %q lacks the scopes needed", ch)
			}
			rec = httptest.NewRecorder()
			h.ServeHTTP(rec, bearer(both))
			if rec.Code != http.StatusOK {
				t.Fatalf("%d %s", rec.Code, rec.Body)
			}
			rec = httptest.NewRecorder()
			h.ServeHTTP(rec, bearer(both+"x"))
			wantChallenge(t, rec, http.StatusUnauthorized, "Bearer", resource.CodeInvalidToken)
		})
	}

	defer func() {
		if recover() == nil {
			t.Fatal("Require accepted a scope with a space")
		}
	}()
	v.Require("a b")
}

// TestClaimsAreNotTrustedAcrossVerifiers: claims a verifier for another
// audience put in the context do not satisfy Require of this one.
func TestClaimsAreNotTrustedAcrossVerifiers(t *testing.T) {
	is := newTestIssuer(t)
	other := is.verifier(t, resource.Config{Audience: "https://other.example"})
	v := is.verifier(t, resource.Config{})
	c := is.claims(time.Now())
	c["aud"] = "https://other.example"
	tok := is.mint(c)
	rec := httptest.NewRecorder()
	other.Middleware(v.Require("read")(okHandler)).ServeHTTP(rec, bearer(tok))
	wantChallenge(t, rec, http.StatusUnauthorized, "Bearer", resource.CodeInvalidToken)
}

func TestNewRefusesUnsafeConfig(t *testing.T) {
	is := newTestIssuer(t)
	cases := map[string]resource.Config{
		"no issuer":                 {Audience: testAudience},
		"no audience":               {Issuer: is.URL},
		"alg none":                  {Issuer: is.URL, Audience: testAudience, Algorithms: []string{"none"}},
		"HS256":                     {Issuer: is.URL, Audience: testAudience, Algorithms: []string{"ES256", "HS256"}},
		"HS256 for proofs":          {Issuer: is.URL, Audience: testAudience, DPoPAlgorithms: []string{"HS256"}},
		"http issuer not loopback":  {Issuer: "http://auth.example.com", Audience: testAudience},
		"issuer with a query":       {Issuer: is.URL + "?x=1", Audience: testAudience},
		"huge leeway":               {Issuer: is.URL, Audience: testAudience, Leeway: time.Hour},
		"negative leeway":           {Issuer: is.URL, Audience: testAudience, Leeway: -time.Second},
		"realm with a quote":        {Issuer: is.URL, Audience: testAudience, Realm: `a"b`},
		"both revocation modes":     {Issuer: is.URL, Audience: testAudience, Introspection: &resource.Introspection{ClientID: "a", ClientSecret: "b"}, DenyList: &resource.DenyList{ClientID: "a", ClientSecret: "b"}},
		"introspection sans secret": {Issuer: is.URL, Audience: testAudience, Introspection: &resource.Introspection{ClientID: "a"}},
		"bad required scope":        {Issuer: is.URL, Audience: testAudience, RequiredScopes: []string{"a b"}},
		"bad base URL":              {Issuer: is.URL, Audience: testAudience, BaseURL: "/relative"},
	}
	for name, cfg := range cases {
		t.Run(name, func(t *testing.T) {
			if v, err := resource.New(context.Background(), cfg); err == nil {
				_ = v.Close()
				t.Fatal("New accepted it")
			}
		})
	}
}

func TestNewRefusesMetadataOfAnotherIssuer(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_ = json.NewEncoder(w).Encode(map[string]string{"issuer": "https://someone.else", "jwks_uri": "http://" + r.Host + "/jwks"})
	}))
	defer srv.Close()
	_, err := resource.New(context.Background(), resource.Config{Issuer: srv.URL, Audience: testAudience})
	if err == nil || !strings.Contains(err.Error(), "names issuer") {
		t.Fatalf("err = %v", err)
	}
}

func TestNewFailsWithoutIssuer(t *testing.T) {
	srv := httptest.NewServer(http.NotFoundHandler())
	url := srv.URL
	srv.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if _, err := resource.New(ctx, resource.Config{Issuer: url, Audience: testAudience}); err == nil {
		t.Fatal("New succeeded with no issuer to read")
	}
}

func TestVerifyAfterClose(t *testing.T) {
	is := newTestIssuer(t)
	v := is.verifier(t, resource.Config{})
	tok := is.mint(is.claims(time.Now()))
	if _, err := v.Verify(context.Background(), tok); err != nil {
		t.Fatal(err)
	}
	_ = v.Close()
	_, err := v.Verify(context.Background(), tok)
	wantError(t, err, resource.ErrUnavailable, "", http.StatusServiceUnavailable)
	rec := serve(v, bearer(tok))
	if rec.Code != http.StatusServiceUnavailable || rec.Header().Get("Retry-After") == "" {
		t.Fatalf("%d %v", rec.Code, rec.Header())
	}
}

// TestAlgorithmMustFitKey: with several algorithms allowed, or with the
// default that takes each published key's alg, a token must still use
// the one its key is for; an EC key never checks an RS256 or PS256
// signature, whatever the header claims, and "none" and HMAC never pass.
func TestAlgorithmMustFitKey(t *testing.T) {
	is := newTestIssuer(t)
	for name, cfg := range map[string]resource.Config{
		"listed":  {Algorithms: []string{"ES256", "RS256", "PS256", "EdDSA"}},
		"default": {},
	} {
		t.Run(name, func(t *testing.T) {
			v := is.verifier(t, cfg)
			now := time.Now()
			for _, alg := range []string{"RS256", "PS256", "EdDSA", "ES384", "ES512", "RS512", "PS512"} {
				h := header(is.kid)
				h["alg"] = alg
				_, err := v.Verify(context.Background(), signES256(is.key(is.kid), h, is.claims(now)))
				wantError(t, err, resource.ErrAlgorithm, resource.CodeInvalidToken, http.StatusUnauthorized)
			}
			for _, alg := range []string{"none", "HS256"} {
				h := header(is.kid)
				h["alg"] = alg
				_, err := v.Verify(context.Background(), signHS256(is.jwks(), h, is.claims(now)))
				wantError(t, err, resource.ErrAlgorithm, resource.CodeInvalidToken, http.StatusUnauthorized)
			}
			if _, err := v.Verify(context.Background(), is.mint(is.claims(now))); err != nil {
				t.Fatal(err)
			}
		})
	}
}
