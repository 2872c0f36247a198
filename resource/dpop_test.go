package resource_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"

	"github.com/rotor-auth/rotor/resource"
)

const apiURL = "https://api.example.test/things"

// dpopFixture is an issuer, a verifier, a client key and a token bound to
// it.
type dpopFixture struct {
	is    *testIssuer
	v     *resource.Verifier
	key   *ecdsa.PrivateKey
	token string
	now   time.Time
}

func newDPoPFixture(t *testing.T, cfg resource.Config) *dpopFixture {
	t.Helper()
	is := newTestIssuer(t)
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.BaseURL == "" {
		cfg.BaseURL = "https://api.example.test"
	}
	f := &dpopFixture{is: is, v: is.verifier(t, cfg), key: key, now: time.Now()}
	c := is.claims(f.now)
	c["cnf"] = map[string]any{"jkt": thumbprint(t, key)}
	f.token = is.mint(c)
	return f
}

// request is a DPoP request for apiURL with proof.
func dpopRequest(method, url, token, proof string) *http.Request {
	req := httptest.NewRequest(method, url, nil)
	req.Header.Set("Authorization", "DPoP "+token)
	if proof != "" {
		req.Header.Set("DPoP", proof)
	}
	return req
}

func TestDPoPBoundToken(t *testing.T) {
	f := newDPoPFixture(t, resource.Config{})
	p := proof(t, f.key, http.MethodGet, apiURL, f.token, f.now, nil)
	rec := serve(f.v, dpopRequest(http.MethodGet, apiURL, f.token, p))
	if rec.Code != http.StatusOK {
		t.Fatalf("%d %s %v", rec.Code, rec.Body, rec.Header())
	}

	// The plain call, for non-HTTP use.
	p2 := proof(t, f.key, http.MethodPost, apiURL, f.token, f.now, nil)
	c, err := f.v.VerifyDPoP(context.Background(), f.token, resource.DPoPRequest{Proof: p2, Method: http.MethodPost, URL: apiURL + "?page=2"})
	if err != nil {
		t.Fatal(err)
	}
	if c.KeyThumbprint != thumbprint(t, f.key) {
		t.Fatalf("jkt = %q", c.KeyThumbprint)
	}

	// A jwk may name its alg, when it is the proof's.
	p3 := proof(t, f.key, http.MethodGet, apiURL, f.token, f.now, func(h, _ map[string]any) { h["jwk"].(map[string]any)["alg"] = "ES256" })
	if rec := serve(f.v, dpopRequest(http.MethodGet, apiURL, f.token, p3)); rec.Code != http.StatusOK {
		t.Fatalf("jwk with alg ES256: %d %s", rec.Code, rec.Header().Get("WWW-Authenticate"))
	}
}

func TestDPoPHostile(t *testing.T) {
	f := newDPoPFixture(t, resource.Config{})
	other, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	good := func(edit func(h, c map[string]any)) string {
		return proof(t, f.key, http.MethodGet, apiURL, f.token, f.now, edit)
	}
	privJWK, _ := json.Marshal(jose.JSONWebKey{Key: f.key})
	var privJWKMap map[string]any
	_ = json.Unmarshal(privJWK, &privJWKMap)
	bearerToken := f.is.mint(f.is.claims(f.now))

	cases := []struct {
		name   string
		req    func() *http.Request
		kind   error
		code   string
		status int
	}{
		{"DPoP-bound token sent as Bearer", func() *http.Request {
			req := bearer(f.token)
			req.Header.Set("DPoP", good(nil))
			return req
		}, resource.ErrDPoPRequired, resource.CodeInvalidToken, 401},
		{"bearer token sent with the DPoP scheme", func() *http.Request {
			return dpopRequest(http.MethodGet, apiURL, bearerToken, proof(t, f.key, http.MethodGet, apiURL, bearerToken, f.now, nil))
		}, resource.ErrNotBound, resource.CodeInvalidToken, 401},
		{"no proof", func() *http.Request { return dpopRequest(http.MethodGet, apiURL, f.token, "") }, resource.ErrInvalidProof, resource.CodeInvalidDPoPProof, 401},
		{"two proofs", func() *http.Request {
			req := dpopRequest(http.MethodGet, apiURL, f.token, good(nil))
			req.Header.Add("DPoP", good(nil))
			return req
		}, resource.ErrInvalidProof, resource.CodeInvalidDPoPProof, 401},
		{"proof for another URL", func() *http.Request {
			return dpopRequest(http.MethodGet, apiURL, f.token, good(func(_, c map[string]any) { c["htu"] = "https://api.example.test/other" }))
		}, resource.ErrInvalidProof, resource.CodeInvalidDPoPProof, 401},
		{"proof for another host", func() *http.Request {
			return dpopRequest(http.MethodGet, apiURL, f.token, good(func(_, c map[string]any) { c["htu"] = "https://evil.example/things" }))
		}, resource.ErrInvalidProof, resource.CodeInvalidDPoPProof, 401},
		{"proof for http instead of https", func() *http.Request {
			return dpopRequest(http.MethodGet, apiURL, f.token, good(func(_, c map[string]any) { c["htu"] = "http://api.example.test/things" }))
		}, resource.ErrInvalidProof, resource.CodeInvalidDPoPProof, 401},
		{"proof for another method", func() *http.Request {
			return dpopRequest(http.MethodGet, apiURL, f.token, good(func(_, c map[string]any) { c["htm"] = "POST" }))
		}, resource.ErrInvalidProof, resource.CodeInvalidDPoPProof, 401},
		{"proof for the method in lower case", func() *http.Request {
			return dpopRequest(http.MethodGet, apiURL, f.token, good(func(_, c map[string]any) { c["htm"] = "get" }))
		}, resource.ErrInvalidProof, resource.CodeInvalidDPoPProof, 401},
		{"proof by another key", func() *http.Request {
			return dpopRequest(http.MethodGet, apiURL, f.token, proof(t, other, http.MethodGet, apiURL, f.token, f.now, nil))
		}, resource.ErrKeyMismatch, resource.CodeInvalidToken, 401},
		{"proof whose jwk is another key than the signer", func() *http.Request {
			otherJWK, _ := json.Marshal(jose.JSONWebKey{Key: &other.PublicKey})
			var m map[string]any
			_ = json.Unmarshal(otherJWK, &m)
			return dpopRequest(http.MethodGet, apiURL, f.token, good(func(h, _ map[string]any) { h["jwk"] = m }))
		}, resource.ErrInvalidProof, resource.CodeInvalidDPoPProof, 401},
		{"proof whose jwk names another alg", func() *http.Request {
			return dpopRequest(http.MethodGet, apiURL, f.token, good(func(h, _ map[string]any) { h["jwk"].(map[string]any)["alg"] = "ES384" }))
		}, resource.ErrInvalidProof, resource.CodeInvalidDPoPProof, 401},
		{"proof with a bad ath", func() *http.Request {
			return dpopRequest(http.MethodGet, apiURL, f.token, good(func(_, c map[string]any) {
				c["ath"] = base64.RawURLEncoding.EncodeToString(make([]byte, 32))
			}))
		}, resource.ErrInvalidProof, resource.CodeInvalidDPoPProof, 401},
		{"proof without ath", func() *http.Request {
			return dpopRequest(http.MethodGet, apiURL, f.token, good(func(_, c map[string]any) { delete(c, "ath") }))
		}, resource.ErrInvalidProof, resource.CodeInvalidDPoPProof, 401},
		{"proof without jti", func() *http.Request {
			return dpopRequest(http.MethodGet, apiURL, f.token, good(func(_, c map[string]any) { delete(c, "jti") }))
		}, resource.ErrInvalidProof, resource.CodeInvalidDPoPProof, 401},
		{"proof too old", func() *http.Request {
			return dpopRequest(http.MethodGet, apiURL, f.token, good(func(_, c map[string]any) { c["iat"] = f.now.Add(-5 * time.Minute).Unix() }))
		}, resource.ErrInvalidProof, resource.CodeInvalidDPoPProof, 401},
		{"proof from the future", func() *http.Request {
			return dpopRequest(http.MethodGet, apiURL, f.token, good(func(_, c map[string]any) { c["iat"] = f.now.Add(5 * time.Minute).Unix() }))
		}, resource.ErrInvalidProof, resource.CodeInvalidDPoPProof, 401},
		{"proof with typ JWT", func() *http.Request {
			return dpopRequest(http.MethodGet, apiURL, f.token, good(func(h, _ map[string]any) { h["typ"] = "JWT" }))
		}, resource.ErrInvalidProof, resource.CodeInvalidDPoPProof, 401},
		{"proof without jwk", func() *http.Request {
			return dpopRequest(http.MethodGet, apiURL, f.token, good(func(h, _ map[string]any) { delete(h, "jwk") }))
		}, resource.ErrInvalidProof, resource.CodeInvalidDPoPProof, 401},
		{"proof with a private key in jwk", func() *http.Request {
			return dpopRequest(http.MethodGet, apiURL, f.token, good(func(h, _ map[string]any) { h["jwk"] = privJWKMap }))
		}, resource.ErrInvalidProof, resource.CodeInvalidDPoPProof, 401},
		{"proof with alg none", func() *http.Request {
			p := good(nil)
			parts := strings.Split(p, ".")
			var h map[string]any
			raw, _ := base64.RawURLEncoding.DecodeString(parts[0])
			_ = json.Unmarshal(raw, &h)
			h["alg"] = "none"
			return dpopRequest(http.MethodGet, apiURL, f.token, b64json(h)+"."+parts[1]+".")
		}, resource.ErrInvalidProof, resource.CodeInvalidDPoPProof, 401},
		{"proof with HS256", func() *http.Request {
			h := map[string]any{"alg": "HS256", "typ": "dpop+jwt"}
			c := map[string]any{"jti": randomID(), "htm": "GET", "htu": apiURL, "iat": f.now.Unix()}
			return dpopRequest(http.MethodGet, apiURL, f.token, signHS256([]byte("k"), h, c))
		}, resource.ErrInvalidProof, resource.CodeInvalidDPoPProof, 401},
		{"the access token as its own proof", func() *http.Request {
			return dpopRequest(http.MethodGet, apiURL, f.token, f.token)
		}, resource.ErrInvalidProof, resource.CodeInvalidDPoPProof, 401},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			rec := serve(f.v, tc.req())
			wantChallenge(t, rec, tc.status, "DPoP", tc.code)
			if ch := rec.Header().Get("WWW-Authenticate"); !strings.Contains(ch, `algs="`) {
				t.Fatalf("DPoP challenge without algs: %q", ch)
			}
		})
	}

	// The same through the plain call, to check the error kinds.
	_, err := f.v.VerifyDPoP(context.Background(), f.token, resource.DPoPRequest{
		Proof: proof(t, other, "GET", apiURL, f.token, f.now, nil), Method: "GET", URL: apiURL})
	wantError(t, err, resource.ErrKeyMismatch, resource.CodeInvalidToken, 401)
	_, err = f.v.Verify(context.Background(), f.token)
	wantError(t, err, resource.ErrDPoPRequired, resource.CodeInvalidToken, 401)
}

func TestDPoPReplay(t *testing.T) {
	f := newDPoPFixture(t, resource.Config{})
	p := proof(t, f.key, http.MethodGet, apiURL, f.token, f.now, nil)
	if rec := serve(f.v, dpopRequest(http.MethodGet, apiURL, f.token, p)); rec.Code != http.StatusOK {
		t.Fatalf("first use: %d %s", rec.Code, rec.Body)
	}
	rec := serve(f.v, dpopRequest(http.MethodGet, apiURL, f.token, p))
	wantChallenge(t, rec, http.StatusUnauthorized, "DPoP", resource.CodeInvalidDPoPProof)
	_, err := f.v.VerifyDPoP(context.Background(), f.token, resource.DPoPRequest{Proof: p, Method: "GET", URL: apiURL})
	wantError(t, err, resource.ErrProofReplayed, resource.CodeInvalidDPoPProof, 401)

	// A proof refused for another reason does not use up its jti.
	jti := randomID()
	withJTI := func(method string) string {
		return proof(t, f.key, method, apiURL, f.token, f.now, func(_, c map[string]any) { c["jti"] = jti; c["htm"] = "GET" })
	}
	if rec := serve(f.v, dpopRequest(http.MethodPost, apiURL, f.token, withJTI("GET"))); rec.Code != 401 {
		t.Fatalf("wrong method passed: %d", rec.Code)
	}
	if rec := serve(f.v, dpopRequest(http.MethodGet, apiURL, f.token, withJTI("GET"))); rec.Code != 200 {
		t.Fatalf("a refused proof used up its jti: %d %s", rec.Code, rec.Body)
	}
}

// TestDPoPReplayConcurrent: of many simultaneous uses of one proof,
// exactly one passes.
func TestDPoPReplayConcurrent(t *testing.T) {
	f := newDPoPFixture(t, resource.Config{})
	p := proof(t, f.key, http.MethodGet, apiURL, f.token, f.now, nil)
	const n = 64
	results := make(chan int, n)
	start := make(chan struct{})
	for range n {
		go func() {
			<-start
			results <- serve(f.v, dpopRequest(http.MethodGet, apiURL, f.token, p)).Code
		}()
	}
	close(start)
	ok := 0
	for range n {
		if <-results == http.StatusOK {
			ok++
		}
	}
	if ok != 1 {
		t.Fatalf("%d of %d uses of one proof passed, want 1", ok, n)
	}
}

// TestDPoPReplayCacheFull: a full cache refuses old proofs rather than
// forgetting them, so replays never pass.
func TestDPoPReplayCacheFull(t *testing.T) {
	clk := newClock()
	f := newDPoPFixture(t, resource.Config{DPoPReplayCacheSize: 3, DPoPWindow: time.Minute, Clock: clk.Now})
	var proofs []string
	for i := range 5 {
		// Each proof a second younger than the one before.
		iat := clk.Now().Add(time.Duration(i-10) * time.Second)
		p := proof(t, f.key, http.MethodGet, apiURL, f.token, iat, nil)
		if rec := serve(f.v, dpopRequest(http.MethodGet, apiURL, f.token, p)); rec.Code != 200 {
			t.Fatalf("proof %d: %d %s", i, rec.Code, rec.Body)
		}
		proofs = append(proofs, p)
	}
	for i, p := range proofs {
		if rec := serve(f.v, dpopRequest(http.MethodGet, apiURL, f.token, p)); rec.Code == 200 {
			t.Fatalf("replay of proof %d passed after the cache overflowed", i)
		}
	}
	fresh := proof(t, f.key, http.MethodGet, apiURL, f.token, clk.Now(), nil)
	if rec := serve(f.v, dpopRequest(http.MethodGet, apiURL, f.token, fresh)); rec.Code != 200 {
		t.Fatalf("a fresh proof was refused: %d %s", rec.Code, rec.Body)
	}
	// Once the window has passed, the cache has room again.
	clk.Advance(2 * time.Minute)
	for range 5 {
		p := proof(t, f.key, http.MethodGet, apiURL, f.token, clk.Now(), nil)
		if rec := serve(f.v, dpopRequest(http.MethodGet, apiURL, f.token, p)); rec.Code != 200 {
			t.Fatalf("after the window: %d %s", rec.Code, rec.Body)
		}
		clk.Advance(time.Second)
	}
}

func TestDPoPURL(t *testing.T) {
	t.Run("htu normalization", func(t *testing.T) {
		f := newDPoPFixture(t, resource.Config{})
		for _, htu := range []string{
			"HTTPS://API.EXAMPLE.TEST/things",
			"https://api.example.test:443/things",
			"https://api.example.test/things?x=1#frag",
			"https://api.example.test/%74hings",
		} {
			p := proof(t, f.key, "GET", htu, f.token, f.now, nil)
			if rec := serve(f.v, dpopRequest("GET", apiURL+"?page=3", f.token, p)); rec.Code != 200 {
				t.Errorf("htu %q: %d %s", htu, rec.Code, rec.Body)
			}
		}
		for _, htu := range []string{"https://api.example.test/things/", "https://api.example.test:8443/things", "/things", "api.example.test/things"} {
			p := proof(t, f.key, "GET", htu, f.token, f.now, nil)
			if rec := serve(f.v, dpopRequest("GET", apiURL, f.token, p)); rec.Code != 401 {
				t.Errorf("htu %q passed", htu)
			}
		}
	})
	t.Run("BaseURL with a prefix, under StripPrefix", func(t *testing.T) {
		f := newDPoPFixture(t, resource.Config{BaseURL: "https://gw.example.test/api/"})
		h := f.v.Middleware(okHandler)
		mux := http.NewServeMux()
		mux.Handle("/v1/", http.StripPrefix("/v1", h))
		p := proof(t, f.key, "GET", "https://gw.example.test/api/v1/things", f.token, f.now, nil)
		rec := httptest.NewRecorder()
		// The proxy removed /api; the API sees /v1/things.
		mux.ServeHTTP(rec, dpopRequest("GET", "http://internal:8080/v1/things", f.token, p))
		if rec.Code != 200 {
			t.Fatalf("%d %s", rec.Code, rec.Body)
		}
	})
	t.Run("no BaseURL: scheme and Host of the request", func(t *testing.T) {
		is := newTestIssuer(t)
		v := is.verifier(t, resource.Config{})
		key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		c := is.claims(time.Now())
		c["cnf"] = map[string]any{"jkt": thumbprint(t, key)}
		tok := is.mint(c)
		srv := httptest.NewServer(v.Middleware(okHandler))
		defer srv.Close()
		p := proof(t, key, "GET", srv.URL+"/x", tok, time.Now(), nil)
		req, _ := http.NewRequest("GET", srv.URL+"/x?y=1", nil)
		req.Header.Set("Authorization", "DPoP "+tok)
		req.Header.Set("DPoP", p)
		resp, err := srv.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != 200 {
			t.Fatalf("%d", resp.StatusCode)
		}
	})
}

func TestRequireDPoP(t *testing.T) {
	f := newDPoPFixture(t, resource.Config{RequireDPoP: true})
	tok := f.is.mint(f.is.claims(f.now))
	rec := serve(f.v, bearer(tok))
	wantChallenge(t, rec, http.StatusUnauthorized, "DPoP", resource.CodeInvalidToken)
	rec = serve(f.v, httptest.NewRequest("GET", apiURL, nil))
	if got := rec.Header().Values("WWW-Authenticate"); len(got) != 1 || !strings.HasPrefix(got[0], "DPoP ") {
		t.Fatalf("challenges %q: a DPoP-only API should offer only DPoP", got)
	}
	p := proof(t, f.key, http.MethodGet, apiURL, f.token, f.now, nil)
	if rec := serve(f.v, dpopRequest(http.MethodGet, apiURL, f.token, p)); rec.Code != 200 {
		t.Fatalf("%d %s", rec.Code, rec.Body)
	}
}

// boundToken is an access token of f's issuer bound to key.
func (f *dpopFixture) boundToken(t *testing.T, key *ecdsa.PrivateKey, now time.Time) string {
	t.Helper()
	c := f.is.claims(now)
	c["cnf"] = map[string]any{"jkt": thumbprint(t, key)}
	return f.is.mint(c)
}

// TestDPoPReplayCacheNotCrowdedOut: an attacker with one key or several,
// filling the replay cache with proofs dated as far ahead as the leeway
// allows (which used to outlive every fresh proof), does not make an
// honest client's fresh proofs fail; and none of the proofs the cache had
// to let go can be replayed.
func TestDPoPReplayCacheNotCrowdedOut(t *testing.T) {
	const size = 64
	for _, keys := range []int{1, 8, 16, 32} {
		t.Run(fmt.Sprintf("%d keys", keys), func(t *testing.T) {
			clk := newClock()
			f := newDPoPFixture(t, resource.Config{DPoPReplayCacheSize: size, DPoPWindow: time.Minute, Clock: clk.Now})
			type attacker struct {
				key   *ecdsa.PrivateKey
				token string
			}
			var attackers []attacker
			for range keys {
				key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
				if err != nil {
					t.Fatal(err)
				}
				attackers = append(attackers, attacker{key, f.boundToken(t, key, clk.Now())})
			}
			type sent struct{ token, proof string }
			var flood []sent
			attack := func(perKey int) {
				ahead := clk.Now().Add(30 * time.Second) // the default leeway
				for _, a := range attackers {
					for range perKey {
						p := proof(t, a.key, http.MethodGet, apiURL, a.token, ahead, nil)
						serve(f.v, dpopRequest(http.MethodGet, apiURL, a.token, p))
						flood = append(flood, sent{a.token, p})
					}
				}
			}
			var mine []sent
			newHonest := func() func(what string) {
				key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
				if err != nil {
					t.Fatal(err)
				}
				tok := f.boundToken(t, key, clk.Now())
				return func(what string) {
					t.Helper()
					p := proof(t, key, http.MethodGet, apiURL, tok, clk.Now(), nil)
					if rec := serve(f.v, dpopRequest(http.MethodGet, apiURL, tok, p)); rec.Code != http.StatusOK {
						t.Fatalf("%s: an honest fresh proof failed: %d %s", what, rec.Code, rec.Header().Get("WWW-Authenticate"))
					}
					mine = append(mine, sent{tok, p})
				}
			}
			call := newHonest()

			// The attackers fill the cache, each key its share and
			// then again as much.
			attack(2 * size / keys)
			call("after the flood")
			clk.Advance(5 * time.Second)
			call("five seconds later")
			// They keep at it between the honest calls.
			for i := range 5 {
				attack(size / keys)
				call(fmt.Sprintf("flood %d", i))
				clk.Advance(time.Second)
			}

			// A client that comes in the middle of it gets in too.
			newHonest()("a newcomer during the flood")

			// Nothing seen can be used again, whatever the cache let go.
			for i, s := range flood {
				if rec := serve(f.v, dpopRequest(http.MethodGet, apiURL, s.token, s.proof)); rec.Code == http.StatusOK {
					t.Fatalf("the attacker's proof %d was replayed", i)
				}
			}
			for i, s := range mine {
				if rec := serve(f.v, dpopRequest(http.MethodGet, apiURL, s.token, s.proof)); rec.Code == http.StatusOK {
					t.Fatalf("the honest proof %d was replayed", i)
				}
			}
		})
	}
}
