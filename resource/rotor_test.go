package resource_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
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
	"testing/synctest"
	"time"

	"github.com/rotor-auth/rotor/internal/keys"
	rsecret "github.com/rotor-auth/rotor/internal/secret"
	"github.com/rotor-auth/rotor/internal/store"
	"github.com/rotor-auth/rotor/internal/store/testdb"
	"github.com/rotor-auth/rotor/internal/testrig"
	"github.com/rotor-auth/rotor/resource"
)

// These tests run the verifier against a real Rotor on loopback: real
// tokens from its token endpoint, its metadata and JWKS, its
// introspection and deny-list.

const (
	apiAudience = "https://orders.example.test"
	callerID    = "orders-client"
	secret      = "s3cret-for-tests"
	// apiID is the resource server's own confidential client, for
	// introspection and the deny-list.
	apiID     = "orders-api"
	apiSecret = "api-s3cret"
)

// rotor is a real Rotor with a machine client, a user-facing client, a
// user, and the API's own client registered.
func rotor(t testing.TB) *testrig.Rig {
	t.Helper()
	r := testrig.Start(t, testdb.SQLite(t), nil)
	r.AddClient(t, store.Client{ID: callerID, GrantTypes: []string{"client_credentials"},
		Scopes: []string{"orders:read", "orders:write"}, Audiences: []string{apiAudience, "https://other.example.test"}}, secret)
	r.AddClient(t, store.Client{ID: "app", GrantTypes: []string{"password", "refresh_token"},
		Scopes: []string{"orders:read"}, Audiences: []string{apiAudience}}, secret)
	r.AddClient(t, store.Client{ID: apiID, GrantTypes: []string{"client_credentials"}, Introspect: true}, apiSecret)
	r.AddUser(t, "alice", "correct horse battery staple")
	return r
}

// tokenResponse is the token endpoint's answer.
type tokenResponse struct {
	AccessToken  string `json:"access_token"`
	RefreshToken string `json:"refresh_token"`
	TokenType    string `json:"token_type"`
}

// post sends a form to the rig with HTTP Basic credentials of client id.
func post(t testing.TB, r *testrig.Rig, path, id string, form url.Values) (int, []byte) {
	t.Helper()
	return postVia(t, r.Client(), r, path, id, form)
}

// postVia is post over client c.
func postVia(t testing.TB, c *http.Client, r *testrig.Rig, path, id string, form url.Values) (int, []byte) {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, r.URL+path, strings.NewReader(form.Encode()))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth(id, secret)
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, body
}

func token(t testing.TB, r *testrig.Rig, id string, form url.Values) tokenResponse {
	t.Helper()
	status, body := post(t, r, "/oauth2/token", id, form)
	if status != http.StatusOK {
		t.Fatalf("token endpoint: %d %s", status, body)
	}
	var tr tokenResponse
	if err := json.Unmarshal(body, &tr); err != nil {
		t.Fatal(err)
	}
	return tr
}

// machineToken is a client_credentials access token with scope.
func machineToken(t testing.TB, r *testrig.Rig, scope string) string {
	t.Helper()
	return token(t, r, callerID, url.Values{"grant_type": {"client_credentials"}, "scope": {scope}, "resource": {apiAudience}}).AccessToken
}

// userTokens are an access and a refresh token of alice's session.
func userTokens(t testing.TB, r *testrig.Rig) tokenResponse {
	t.Helper()
	return token(t, r, "app", url.Values{"grant_type": {"password"}, "username": {"alice"}, "password": {"correct horse battery staple"}})
}

func revoke(t testing.TB, r *testrig.Rig, id, tok string) {
	t.Helper()
	revokeVia(t, r.Client(), r, id, tok)
}

// revokeVia is revoke over client c.
func revokeVia(t testing.TB, c *http.Client, r *testrig.Rig, id, tok string) {
	t.Helper()
	if status, body := postVia(t, c, r, "/oauth2/revoke", id, url.Values{"token": {tok}}); status != http.StatusOK {
		t.Fatalf("revoke: %d %s", status, body)
	}
}

// bubbleClient is an HTTP client for a testing/synctest bubble that talks
// to a rig outside it. Its transport belongs to the bubble and keeps no
// idle connection: a goroutine of the bubble blocked reading an idle
// socket would never be durably blocked, and fake time would stop.
func bubbleClient() *http.Client {
	return &http.Client{Transport: &http.Transport{DisableKeepAlives: true}, Timeout: 10 * time.Second}
}

func verifierFor(t testing.TB, r *testrig.Rig, cfg resource.Config) *resource.Verifier {
	t.Helper()
	cfg.Issuer, cfg.Audience = r.URL, apiAudience
	v, err := resource.New(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = v.Close() })
	return v
}

func TestRotorTokenVerifies(t *testing.T) {
	r := rotor(t)
	v := verifierFor(t, r, resource.Config{RequiredScopes: []string{"orders:read"}})
	tok := machineToken(t, r, "orders:read orders:write")
	before := time.Now()
	c, err := v.Verify(context.Background(), tok)
	if err != nil {
		t.Fatal(err)
	}
	if c.Issuer != r.URL || c.Subject != callerID || c.ClientID != callerID || c.ID == "" ||
		len(c.Audience) != 1 || c.Audience[0] != apiAudience || c.Scope != "orders:read orders:write" ||
		c.SessionID != "" || c.KeyThumbprint != "" {
		t.Fatalf("claims = %+v", c)
	}
	if d := c.ExpiresAt.Sub(before); d < 9*time.Minute || d > 11*time.Minute {
		t.Fatalf("exp is %v away, want Rotor's 10m", d)
	}
	if !c.HasScope("orders:write") || c.HasScope("orders") || c.HasScope("") {
		t.Fatalf("HasScope is wrong for %q", c.Scope)
	}
	var extra struct {
		JTI string `json:"jti"`
	}
	if err := c.Decode(&extra); err != nil || extra.JTI != c.ID {
		t.Fatalf("Decode: %v %q", err, extra.JTI)
	}

	// A user's token carries the session (family) id.
	uc, err := v.Verify(context.Background(), userTokens(t, r).AccessToken)
	if err != nil {
		t.Fatal(err)
	}
	if uc.SessionID == "" || uc.ClientID != "app" {
		t.Fatalf("user token claims = %+v", uc)
	}
}

func TestRotorTokenForAnotherAPI(t *testing.T) {
	r := rotor(t)
	v := verifierFor(t, r, resource.Config{})
	tok := token(t, r, callerID, url.Values{"grant_type": {"client_credentials"}, "resource": {"https://other.example.test"}}).AccessToken
	_, err := v.Verify(context.Background(), tok)
	wantError(t, err, resource.ErrAudience, resource.CodeInvalidToken, http.StatusUnauthorized)
}

// TestRotorMiddleware runs a real API over HTTP with real tokens.
func TestRotorMiddleware(t *testing.T) {
	r := rotor(t)
	v := verifierFor(t, r, resource.Config{})
	mux := http.NewServeMux()
	mux.Handle("GET /orders", v.Middleware(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, _ := resource.ClaimsFrom(r.Context())
		_, _ = io.WriteString(w, c.ClientID+" "+c.Scope)
	})))
	mux.Handle("POST /orders", v.Middleware(v.Require("orders:write")(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusCreated)
	}))))
	api := httptest.NewServer(mux)
	defer api.Close()

	call := func(method, tok string) *http.Response {
		req, _ := http.NewRequest(method, api.URL+"/orders", nil)
		if tok != "" {
			req.Header.Set("Authorization", "Bearer "+tok)
		}
		resp, err := api.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { resp.Body.Close() })
		return resp
	}
	reader := machineToken(t, r, "orders:read")
	writer := machineToken(t, r, "orders:read orders:write")

	resp := call("GET", reader)
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 || string(body) != callerID+" orders:read" {
		t.Fatalf("GET: %d %q", resp.StatusCode, body)
	}
	resp = call("POST", reader)
	if ch := resp.Header.Get("WWW-Authenticate"); resp.StatusCode != http.StatusForbidden ||
		ch != `Bearer error="insufficient_scope", error_description="the token lacks a scope this request needs", scope="orders:write"` {
		t.Fatalf("POST with a read token: %d %q", resp.StatusCode, ch)
	}
	if resp := call("POST", writer); resp.StatusCode != http.StatusCreated {
		t.Fatalf("POST with a write token: %d", resp.StatusCode)
	}
	resp = call("GET", "")
	if resp.StatusCode != http.StatusUnauthorized || resp.Header.Get("WWW-Authenticate") != "Bearer" {
		t.Fatalf("no token: %d %q", resp.StatusCode, resp.Header.Values("WWW-Authenticate"))
	}
	resp = call("GET", reader[:len(reader)-4]+"AAAA")
	if ch := resp.Header.Get("WWW-Authenticate"); resp.StatusCode != 401 || !strings.Contains(ch, `error="invalid_token"`) {
		t.Fatalf("bad signature: %d %q", resp.StatusCode, ch)
	}
}

// TestRotorIntrospection: revocation is seen at once, or after the cache
// TTL; when Rotor is down the default fails closed and FailOpen does not.
func TestRotorIntrospection(t *testing.T) {
	r := rotor(t)
	var skew atomic.Int64
	clock := func() time.Time { return time.Now().Add(time.Duration(skew.Load())) }
	creds := resource.Introspection{ClientID: apiID, ClientSecret: apiSecret}
	v := verifierFor(t, r, resource.Config{Introspection: &creds})
	cached := creds
	cached.CacheTTL = time.Minute
	vc := verifierFor(t, r, resource.Config{Introspection: &cached, Clock: clock})

	tok := machineToken(t, r, "orders:read")
	for _, v := range []*resource.Verifier{v, vc} {
		if _, err := v.Verify(context.Background(), tok); err != nil {
			t.Fatal(err)
		}
	}
	revoke(t, r, callerID, tok)
	_, err := v.Verify(context.Background(), tok)
	wantError(t, err, resource.ErrRevoked, resource.CodeInvalidToken, http.StatusUnauthorized)
	if _, err := vc.Verify(context.Background(), tok); err != nil {
		t.Fatalf("inside the cache TTL the cached answer should stand: %v", err)
	}
	skew.Store(int64(2 * time.Minute))
	_, err = vc.Verify(context.Background(), tok)
	wantError(t, err, resource.ErrRevoked, resource.CodeInvalidToken, http.StatusUnauthorized)

	// Introspection with wrong credentials is a failure to check, not a
	// verdict on the token.
	bad := verifierFor(t, r, resource.Config{Introspection: &resource.Introspection{ClientID: apiID, ClientSecret: "wrong"}})
	_, err = bad.Verify(context.Background(), machineToken(t, r, "orders:read"))
	wantError(t, err, resource.ErrUnavailable, "", http.StatusServiceUnavailable)

	// Rotor goes away.
	open := creds
	open.FailOpen = true
	vo := verifierFor(t, r, resource.Config{Introspection: &open})
	good := machineToken(t, r, "orders:read")
	r.HTTP.Close()
	_, err = v.Verify(context.Background(), good)
	e := wantError(t, err, resource.ErrUnavailable, "", http.StatusServiceUnavailable)
	if errors.Unwrap(e) == nil {
		t.Fatal("the network error is not kept as the cause")
	}
	if _, err := vo.Verify(context.Background(), good); err != nil {
		t.Fatalf("FailOpen: %v", err)
	}
}

// TestRotorDenyList: a revoked session (sid) and a revoked access token
// (jti) are refused within a poll; a failed poll keeps the list; MaxStale
// turns an old list into 503.
//
// The verifiers run in a testing/synctest bubble, so their poll ticker and
// MaxStale run on fake time; Rotor runs outside it on the wall clock, and
// the verifiers' Clock is the wall clock at the start plus the fake time
// elapsed, so that Rotor's tokens are current for them.
func TestRotorDenyList(t *testing.T) {
	r := rotor(t)
	session := userTokens(t, r)
	machine := machineToken(t, r, "orders:read")
	other := machineToken(t, r, "orders:read")
	wall := time.Now()
	synctest.Test(t, func(t *testing.T) {
		start := time.Now()
		clock := func() time.Time { return wall.Add(time.Since(start)) }
		hc := bubbleClient()
		dl := resource.DenyList{ClientID: apiID, ClientSecret: apiSecret, Interval: 20 * time.Millisecond}
		v := verifierFor(t, r, resource.Config{DenyList: &dl, HTTPClient: hc, Clock: clock})
		strict := dl
		strict.MaxStale = 300 * time.Millisecond
		vs := verifierFor(t, r, resource.Config{DenyList: &strict, HTTPClient: hc, Clock: clock})

		for _, tok := range []string{session.AccessToken, machine, other} {
			if _, err := v.Verify(context.Background(), tok); err != nil {
				t.Fatal(err)
			}
		}

		// Signing out (revoking the refresh token) revokes the family: its
		// access tokens are deny-listed by sid.
		revokeVia(t, hc, r, "app", session.RefreshToken)
		revokeVia(t, hc, r, callerID, machine)
		time.Sleep(dl.Interval) // fake time: one poll
		synctest.Wait()
		for name, tok := range map[string]string{"session": session.AccessToken, "access token": machine} {
			_, err := v.Verify(context.Background(), tok)
			e := wantError(t, err, resource.ErrRevoked, resource.CodeInvalidToken, http.StatusUnauthorized)
			t.Logf("%s: %v", name, e)
		}
		if _, err := v.Verify(context.Background(), other); err != nil {
			t.Fatalf("a token nobody revoked: %v", err)
		}

		// Rotor goes away: the last list stands.
		r.HTTP.Close()
		time.Sleep(5 * dl.Interval) // fake time: several failed polls
		synctest.Wait()
		_, err := v.Verify(context.Background(), machine)
		wantError(t, err, resource.ErrRevoked, resource.CodeInvalidToken, http.StatusUnauthorized)
		if _, err := v.Verify(context.Background(), other); err != nil {
			t.Fatalf("with the last list: %v", err)
		}
		if _, err := vs.Verify(context.Background(), other); err != nil {
			t.Fatalf("MaxStale, with a list younger than it: %v", err)
		}
		time.Sleep(strict.MaxStale) // fake time: the last good poll is now older than MaxStale
		synctest.Wait()
		_, err = vs.Verify(context.Background(), other)
		wantError(t, err, resource.ErrUnavailable, "", http.StatusServiceUnavailable)
	})
}

func TestRotorDenyListNeedsConfidentialClient(t *testing.T) {
	r := rotor(t)
	_, err := resource.New(context.Background(), resource.Config{Issuer: r.URL, Audience: apiAudience,
		DenyList: &resource.DenyList{ClientID: apiID, ClientSecret: "wrong"}})
	if err == nil || !strings.Contains(err.Error(), "401") {
		t.Fatalf("err = %v", err)
	}
}

// TestRotorDPoP: a token Rotor binds to the client's key (cnf.jkt) passes
// with a proof by that key for the request, and fails as a bearer token
// or with a proof by another key.
func TestRotorDPoP(t *testing.T) {
	r := rotor(t)
	v := verifierFor(t, r, resource.Config{})
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	other, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)

	// The token request carries a proof for the token endpoint.
	form := url.Values{"grant_type": {"password"}, "username": {"alice"}, "password": {"correct horse battery staple"}}
	req, _ := http.NewRequest(http.MethodPost, r.URL+"/oauth2/token", strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth("app", secret)
	req.Header.Set("DPoP", proof(t, key, http.MethodPost, r.URL+"/oauth2/token", "", time.Now(),
		func(_, c map[string]any) { delete(c, "ath") }))
	resp, err := r.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	var tr tokenResponse
	err = json.NewDecoder(resp.Body).Decode(&tr)
	resp.Body.Close()
	if err != nil || resp.StatusCode != http.StatusOK || tr.TokenType != "DPoP" {
		t.Fatalf("token endpoint: %d %+v %v", resp.StatusCode, tr, err)
	}

	api := httptest.NewServer(v.Middleware(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, _ := resource.ClaimsFrom(r.Context())
		_, _ = io.WriteString(w, c.KeyThumbprint)
	})))
	defer api.Close()
	call := func(scheme string, signer *ecdsa.PrivateKey) *http.Response {
		req, _ := http.NewRequest(http.MethodGet, api.URL+"/orders?page=1", nil)
		req.Header.Set("Authorization", scheme+" "+tr.AccessToken)
		req.Header.Set("DPoP", proof(t, signer, http.MethodGet, api.URL+"/orders", tr.AccessToken, time.Now(), nil))
		resp, err := api.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { resp.Body.Close() })
		return resp
	}
	resp = call("DPoP", key)
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK || string(body) != thumbprint(t, key) {
		t.Fatalf("DPoP request: %d %q %q", resp.StatusCode, body, resp.Header.Values("WWW-Authenticate"))
	}
	for name, resp := range map[string]*http.Response{"as Bearer": call("Bearer", key), "proof by another key": call("DPoP", other)} {
		if ch := resp.Header.Get("WWW-Authenticate"); resp.StatusCode != http.StatusUnauthorized ||
			!strings.HasPrefix(ch, "DPoP ") || !strings.Contains(ch, `error="invalid_token"`) {
			t.Errorf("%s: %d %q", name, resp.StatusCode, ch)
		}
	}
}

// TestRotorDenyListPages: a deny-list longer than one of Rotor's pages
// (10,000 entries) is read to its end.
func TestRotorDenyListPages(t *testing.T) {
	r := rotor(t)
	tok := machineToken(t, r, "orders:read")
	ctx := context.Background()
	// Fillers whose keys sort before any jti Rotor mints, so that the
	// real entry lands on the second page.
	exp := time.Now().Add(time.Hour)
	err := r.Store.Tx(ctx, func(tx store.Tx) error {
		for i := range 10_000 {
			if err := tx.Deny(ctx, store.Denial{Key: fmt.Sprintf("jti:!%05d", i), ExpiresAt: exp}); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	revoke(t, r, callerID, tok)
	v := verifierFor(t, r, resource.Config{DenyList: &resource.DenyList{ClientID: apiID, ClientSecret: apiSecret}})
	_, err = v.Verify(ctx, tok)
	wantError(t, err, resource.ErrRevoked, resource.CodeInvalidToken, http.StatusUnauthorized)
	if _, err := v.Verify(ctx, machineToken(t, r, "orders:read")); err != nil {
		t.Fatal(err)
	}
}

// rotateTo does what "rotor keys rotate --key-algorithm alg" does on r's
// database (with no prepublication, and replicas that reload at once, so
// the new key signs at once), then makes the running server see it.
func rotateTo(t testing.TB, r *testrig.Rig, alg string) {
	t.Helper()
	ctx := context.Background()
	km := keys.NewManager(r.Store, r.Secrets, keys.Options{Algorithm: alg, MaxTokenTTL: 10 * time.Minute, ReloadInterval: time.Nanosecond})
	if _, err := km.Rotate(ctx); err != nil {
		t.Fatal(err)
	}
	if err := r.Keys.EnsureCurrent(ctx); err != nil { // reloads the server's key set
		t.Fatal(err)
	}
}

// tokenAlg is the alg of a compact JWS's header.
func tokenAlg(t testing.TB, tok string) string {
	t.Helper()
	h, _, _ := strings.Cut(tok, ".")
	b, err := base64.RawURLEncoding.DecodeString(h)
	if err != nil {
		t.Fatal(err)
	}
	var hdr struct {
		Alg string `json:"alg"`
	}
	if err := json.Unmarshal(b, &hdr); err != nil {
		t.Fatal(err)
	}
	return hdr.Alg
}

// TestRotorOtherAlgorithms: by default the verifier accepts what the
// issuer publishes, so tokens keep verifying after "rotor keys rotate
// --key-algorithm EdDSA" (or RS256), and a verifier starts on a server
// whose only key is EdDSA; an explicit Algorithms stays a strict
// allow-list.
func TestRotorOtherAlgorithms(t *testing.T) {
	ctx := context.Background()
	for _, alg := range []string{keys.EdDSA, keys.RS256} {
		t.Run("rotated to "+alg, func(t *testing.T) {
			r := rotor(t)
			// Created before the rotation: it meets the new kid in a
			// token and fetches the key set again.
			before := verifierFor(t, r, resource.Config{JWKSMinInterval: time.Nanosecond})
			strict := verifierFor(t, r, resource.Config{Algorithms: []string{"ES256"}, JWKSMinInterval: time.Nanosecond})
			old := machineToken(t, r, "orders:read")
			rotateTo(t, r, alg)
			tok := machineToken(t, r, "orders:read")
			if got := tokenAlg(t, tok); got != alg {
				t.Fatalf("Rotor signed with %s after the rotation, want %s", got, alg)
			}
			after := verifierFor(t, r, resource.Config{})
			for name, v := range map[string]*resource.Verifier{"verifier from before": before, "verifier from after": after} {
				for _, tok := range []string{old, tok} {
					if _, err := v.Verify(ctx, tok); err != nil {
						t.Errorf("%s, %s token: %v", name, tokenAlg(t, tok), err)
					}
				}
			}
			if _, err := strict.Verify(ctx, old); err != nil {
				t.Fatalf("ES256 only, ES256 token: %v", err)
			}
			_, err := strict.Verify(ctx, tok)
			wantError(t, err, resource.ErrAlgorithm, resource.CodeInvalidToken, http.StatusUnauthorized)
		})
	}

	t.Run("a server that signs only EdDSA", func(t *testing.T) {
		st := testdb.SQLite(t)
		secrets, err := rsecret.Derive(rsecret.NewMasterKey())
		if err != nil {
			t.Fatal(err)
		}
		// "rotor serve --key-algorithm EdDSA" on an empty database.
		if err := keys.NewManager(st, secrets, keys.Options{Algorithm: keys.EdDSA}).EnsureCurrent(ctx); err != nil {
			t.Fatal(err)
		}
		r := testrig.Start(t, st, secrets)
		r.AddClient(t, store.Client{ID: callerID, GrantTypes: []string{"client_credentials"},
			Scopes: []string{"orders:read"}, Audiences: []string{apiAudience}}, secret)
		tok := machineToken(t, r, "orders:read")
		if got := tokenAlg(t, tok); got != keys.EdDSA {
			t.Fatalf("Rotor signed with %s, want EdDSA", got)
		}
		v := verifierFor(t, r, resource.Config{})
		if _, err := v.Verify(ctx, tok); err != nil {
			t.Fatal(err)
		}
		// Asking for ES256 only, there is no key to verify with.
		_, err = resource.New(ctx, resource.Config{Issuer: r.URL, Audience: apiAudience, Algorithms: []string{"ES256"}})
		if err == nil || !strings.Contains(err.Error(), "no usable key") {
			t.Fatalf("ES256 only against an EdDSA issuer: %v", err)
		}
	})
}
