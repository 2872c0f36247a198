package server_test

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"

	"github.com/rotor-auth/rotor/internal/secret"
	"github.com/rotor-auth/rotor/internal/server"
	"github.com/rotor-auth/rotor/internal/store"
	"github.com/rotor-auth/rotor/internal/store/testdb"
	"github.com/rotor-auth/rotor/internal/token"
)

// oidcSetup registers "web" (confidential, password and refresh grants,
// the OpenID Connect scopes) and users bob (with an address) and carol
// (without one).
func oidcSetup(t testing.TB, r *rig) {
	t.Helper()
	r.addClient(t, store.Client{ID: "web", GrantTypes: []string{"password", "refresh_token"},
		Scopes: []string{"openid", "profile", "email", "read"}, RedirectURIs: []string{"https://web.example/cb"}}, svcSecret)
	for _, u := range []store.User{
		{Username: "bob", Email: "bob@example.com", EmailVerified: true},
		{Username: "carol"},
	} {
		u.ID, u.PasswordPHC = secret.NewID(), secret.HashPassword("pw-"+u.Username)
		u.CreatedAt, u.UpdatedAt = time.Now().Add(-time.Minute), time.Now()
		if err := r.Store.CreateUser(context.Background(), &u); err != nil {
			t.Fatal(err)
		}
	}
}

// userToken runs the password grant for user with scope through "web".
func userToken(t testing.TB, r *rig, user, scope string) response {
	t.Helper()
	resp := r.post(t, "/oauth2/token", url.Values{"grant_type": {"password"}, "username": {user},
		"password": {"pw-" + user}, "scope": {scope}}, "web", svcSecret)
	expectOK(t, resp)
	return resp
}

// userInfoCall is one request to /userinfo.
type userInfoCall struct {
	method string
	authz  string
	form   url.Values
	query  string
	dpop   string
	origin string
}

func (r *rig) userInfo(t testing.TB, c userInfoCall) response {
	t.Helper()
	if c.method == "" {
		c.method = http.MethodGet
	}
	var body io.Reader
	if c.form != nil {
		body = strings.NewReader(c.form.Encode())
	}
	req, err := http.NewRequest(c.method, r.URL+"/userinfo"+c.query, body)
	if err != nil {
		t.Fatal(err)
	}
	if c.form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	if c.authz != "" {
		req.Header.Set("Authorization", c.authz)
	}
	if c.dpop != "" {
		req.Header.Set("DPoP", c.dpop)
	}
	if c.origin != "" {
		req.Header.Set("Origin", c.origin)
	}
	resp, err := r.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	out := response{Status: resp.StatusCode, Header: resp.Header, Raw: string(raw)}
	if len(raw) > 0 {
		if err := json.Unmarshal(raw, &out.Body); err != nil {
			t.Fatalf("not JSON: %q", raw)
		}
	}
	if cc := resp.Header.Get("Cache-Control"); cc != "no-store" {
		t.Fatalf("userinfo answered Cache-Control %q, want no-store", cc)
	}
	return out
}

// expectChallenge checks an RFC 6750 §3 refusal: the status, and a
// WWW-Authenticate challenge of scheme with error code (none when "").
func expectChallenge(t testing.TB, r response, status int, scheme, code string) {
	t.Helper()
	ch := strings.Join(r.Header.Values("WWW-Authenticate"), " | ")
	if r.Status != status || !strings.HasPrefix(ch, scheme) {
		t.Fatalf("got %d %q %s, want %d with a %s challenge", r.Status, ch, r.Raw, status, scheme)
	}
	if code == "" {
		if strings.Contains(ch, "error=") {
			t.Fatalf("challenge %q has an error code; a request without a token gets none", ch)
		}
		return
	}
	if !strings.Contains(ch, `error="`+code+`"`) || r.str("error") != code {
		t.Fatalf("challenge %q, body %s: want error %q", ch, r.Raw, code)
	}
}

// TestUserInfoClaimsByScope: sub always; preferred_username with profile;
// email and email_verified with email, and only for a user who has an
// address.
func TestUserInfoClaimsByScope(t *testing.T) {
	r := newRig(t, testdb.SQLite(t), nil)
	oidcSetup(t, r)
	for _, tc := range []struct {
		name, user, scope string
		want              map[string]any
	}{
		{"openid only", "bob", "openid", map[string]any{}},
		{"profile", "bob", "openid profile", map[string]any{"preferred_username": "bob"}},
		{"email", "bob", "openid email", map[string]any{"email": "bob@example.com", "email_verified": true}},
		{"all", "bob", "openid profile email read", map[string]any{"preferred_username": "bob", "email": "bob@example.com", "email_verified": true}},
		{"email scope, no address", "carol", "openid email", map[string]any{}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			at := userToken(t, r, tc.user, tc.scope).str("access_token")
			sub := claims(t, at)["sub"]
			for _, call := range []userInfoCall{
				{authz: "Bearer " + at},
				{method: http.MethodPost, authz: "Bearer " + at},
				{method: http.MethodPost, form: url.Values{"access_token": {at}}},
				{authz: "bearer " + at},
			} {
				got := r.userInfo(t, call)
				expectOK(t, got)
				if got.Header.Get("Content-Type") != "application/json" {
					t.Fatalf("Content-Type %q", got.Header.Get("Content-Type"))
				}
				want := map[string]any{"sub": sub}
				for k, v := range tc.want {
					want[k] = v
				}
				if len(got.Body) != len(want) {
					t.Fatalf("%s %v: got %v, want %v", call.method, call.form != nil, got.Body, want)
				}
				for k, v := range want {
					if got.Body[k] != v {
						t.Fatalf("%s = %v, want %v (answer %v)", k, got.Body[k], v, got.Body)
					}
				}
			}
		})
	}
}

// TestUserInfoRefusals: each way a request can fail, with its RFC 6750
// answer.
func TestUserInfoRefusals(t *testing.T) {
	ctx := context.Background()
	r := newRig(t, testdb.SQLite(t), nil)
	oidcSetup(t, r)
	at := userToken(t, r, "bob", "openid profile").str("access_token")
	noOpenID := userToken(t, r, "bob", "profile read").str("access_token")
	idTok, err := token.NewIssuer(r.URL, r.Keys, time.Now).IssueID(ctx, token.ID{Subject: claims(t, at)["sub"].(string), ClientID: "web", TTL: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name   string
		call   userInfoCall
		status int
		scheme string
		code   string
	}{
		{"no token", userInfoCall{}, 401, "Bearer", ""},
		{"garbage", userInfoCall{authz: "Bearer garbage"}, 401, "Bearer", "invalid_token"},
		{"an id_token", userInfoCall{authz: "Bearer " + idTok}, 401, "Bearer", "invalid_token"},
		{"a refresh token", userInfoCall{authz: "Bearer " + userToken(t, r, "bob", "openid").str("refresh_token")}, 401, "Bearer", "invalid_token"},
		{"without openid", userInfoCall{authz: "Bearer " + noOpenID}, 403, "Bearer", "insufficient_scope"},
		{"Basic", userInfoCall{authz: "Basic d2ViOnNlY3JldA=="}, 400, "Bearer", "invalid_request"},
		{"header and body", userInfoCall{method: http.MethodPost, authz: "Bearer " + at, form: url.Values{"access_token": {at}}}, 400, "Bearer", "invalid_request"},
		{"in the query", userInfoCall{query: "?access_token=" + at}, 400, "Bearer", "invalid_request"},
		{"body twice", userInfoCall{method: http.MethodPost, form: url.Values{"access_token": {at, at}}}, 400, "Bearer", "invalid_request"},
		{"unbound token as DPoP", userInfoCall{authz: "DPoP " + at}, 401, "DPoP", "invalid_token"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := r.userInfo(t, tc.call)
			expectChallenge(t, got, tc.status, tc.scheme, tc.code)
			if tc.code == "insufficient_scope" && !strings.Contains(got.Header.Get("WWW-Authenticate"), `scope="openid"`) {
				t.Fatalf("challenge %q does not name the scope", got.Header.Get("WWW-Authenticate"))
			}
		})
	}
	if ch := r.userInfo(t, userInfoCall{}).Header.Values("WWW-Authenticate"); len(ch) != 2 || !strings.HasPrefix(ch[1], "DPoP algs=") {
		t.Fatalf("a request without a token gets challenges %q, want Bearer and DPoP", ch)
	}
}

// TestUserInfoRevoked: a revoked access token, a revoked family, a
// disabled user and a deleted client end the answers.
func TestUserInfoRevoked(t *testing.T) {
	ctx := context.Background()
	r := newRig(t, testdb.SQLite(t), nil)
	oidcSetup(t, r)
	bearer := func(tok string) userInfoCall { return userInfoCall{authz: "Bearer " + tok} }

	t.Run("access token revoked", func(t *testing.T) {
		at := userToken(t, r, "bob", "openid").str("access_token")
		expectOK(t, r.userInfo(t, bearer(at)))
		expectOK(t, r.post(t, "/oauth2/revoke", url.Values{"token": {at}}, "web", svcSecret))
		expectChallenge(t, r.userInfo(t, bearer(at)), 401, "Bearer", "invalid_token")
	})
	t.Run("family revoked", func(t *testing.T) {
		g := userToken(t, r, "bob", "openid")
		expectOK(t, r.userInfo(t, bearer(g.str("access_token"))))
		expectOK(t, r.post(t, "/oauth2/revoke", url.Values{"token": {g.str("refresh_token")}}, "web", svcSecret))
		expectChallenge(t, r.userInfo(t, bearer(g.str("access_token"))), 401, "Bearer", "invalid_token")
	})
	t.Run("user disabled", func(t *testing.T) {
		at := userToken(t, r, "carol", "openid").str("access_token")
		expectOK(t, r.userInfo(t, bearer(at)))
		u, err := r.Store.GetUserByUsername(ctx, "carol")
		if err != nil {
			t.Fatal(err)
		}
		u.Disabled = true
		if err := r.Store.UpdateUser(ctx, u); err != nil {
			t.Fatal(err)
		}
		expectChallenge(t, r.userInfo(t, bearer(at)), 401, "Bearer", "invalid_token")
	})
	t.Run("client deleted", func(t *testing.T) {
		at := userToken(t, r, "bob", "openid").str("access_token")
		if err := r.Store.DeleteClient(ctx, "web"); err != nil {
			t.Fatal(err)
		}
		expectChallenge(t, r.userInfo(t, bearer(at)), 401, "Bearer", "invalid_token")
	})
}

// proofFor makes a DPoP proof for method and htu over the access token
// at (ath), or without ath when at is "".
func (h *holder) proofFor(t testing.TB, method, htu, at string) string {
	t.Helper()
	return h.proofWithNonce(t, method, htu, at, "")
}

// proofWithNonce is proofFor with a server nonce when nonce is not "".
func (h *holder) proofWithNonce(t testing.TB, method, htu, at, nonce string) string {
	t.Helper()
	opts := (&jose.SignerOptions{}).WithType("dpop+jwt").WithHeader("jwk", jose.JSONWebKey{Key: h.key.Public()})
	s, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.ES256, Key: h.key}, opts)
	if err != nil {
		t.Fatal(err)
	}
	c := map[string]any{"jti": rand.Text(), "htm": method, "htu": htu, "iat": time.Now().Unix()}
	if nonce != "" {
		c["nonce"] = nonce
	}
	if at != "" {
		sum := sha256.Sum256([]byte(at))
		c["ath"] = base64.RawURLEncoding.EncodeToString(sum[:])
	}
	b, _ := json.Marshal(c)
	obj, err := s.Sign(b)
	if err != nil {
		t.Fatal(err)
	}
	out, _ := obj.CompactSerialize()
	return out
}

// TestUserInfoDPoP: a DPoP-bound token is answered only with the DPoP
// scheme and a fresh proof of its key over it, for this method and URL;
// presented as a bearer token it is refused (RFC 9449 §7.1).
func TestUserInfoDPoP(t *testing.T) {
	r := newRig(t, testdb.SQLite(t), nil)
	oidcSetup(t, r)
	h := newHolder(t)
	g := r.postDPoP(t, url.Values{"grant_type": {"password"}, "username": {"bob"}, "password": {"pw-bob"},
		"scope": {"openid profile"}, "client_id": {"web"}, "client_secret": {svcSecret}}, h.proof(t, r.URL+"/oauth2/token", ""))
	expectOK(t, g)
	at := g.str("access_token")
	if g.str("token_type") != "DPoP" {
		t.Fatalf("token_type %q", g.str("token_type"))
	}
	ui := r.URL + "/userinfo"

	replayed := h.proofFor(t, http.MethodGet, ui, at)
	got := r.userInfo(t, userInfoCall{authz: "DPoP " + at, dpop: replayed})
	expectOK(t, got)
	if got.Body["preferred_username"] != "bob" {
		t.Fatalf("answer %v", got.Body)
	}
	expectOK(t, r.userInfo(t, userInfoCall{method: http.MethodPost, authz: "DPoP " + at, dpop: h.proofFor(t, http.MethodPost, ui, at)}))

	other := newHolder(t)
	for _, tc := range []struct {
		name string
		call userInfoCall
		code string
	}{
		{"as Bearer", userInfoCall{authz: "Bearer " + at}, "invalid_token"},
		{"as Bearer with a proof", userInfoCall{authz: "Bearer " + at, dpop: h.proofFor(t, http.MethodGet, ui, at)}, "invalid_token"},
		{"in the body", userInfoCall{method: http.MethodPost, form: url.Values{"access_token": {at}}, dpop: h.proofFor(t, http.MethodPost, ui, at)}, "invalid_token"},
		{"no proof", userInfoCall{authz: "DPoP " + at}, "invalid_dpop_proof"},
		{"replayed proof", userInfoCall{authz: "DPoP " + at, dpop: replayed}, "invalid_dpop_proof"},
		{"no ath", userInfoCall{authz: "DPoP " + at, dpop: h.proofFor(t, http.MethodGet, ui, "")}, "invalid_dpop_proof"},
		{"ath of another token", userInfoCall{authz: "DPoP " + at, dpop: h.proofFor(t, http.MethodGet, ui, "other")}, "invalid_dpop_proof"},
		{"another key", userInfoCall{authz: "DPoP " + at, dpop: other.proofFor(t, http.MethodGet, ui, at)}, "invalid_dpop_proof"},
		{"another method", userInfoCall{authz: "DPoP " + at, dpop: h.proofFor(t, http.MethodPost, ui, at)}, "invalid_dpop_proof"},
		{"another URL", userInfoCall{authz: "DPoP " + at, dpop: h.proofFor(t, http.MethodGet, r.URL+"/oauth2/token", at)}, "invalid_dpop_proof"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			expectChallenge(t, r.userInfo(t, tc.call), 401, "DPoP", tc.code)
		})
	}
}

// TestUserInfoDPoPNonce: when proofs must carry a server nonce, a proof
// without one is answered use_dpop_nonce with a DPoP-Nonce header, and a
// proof with it is accepted.
func TestUserInfoDPoPNonce(t *testing.T) {
	r := newRig(t, testdb.SQLite(t), nil, func(o *server.Options) { o.DPoPNonce = true })
	oidcSetup(t, r)
	h := newHolder(t)
	form := url.Values{"grant_type": {"password"}, "username": {"bob"}, "password": {"pw-bob"},
		"scope": {"openid"}, "client_id": {"web"}, "client_secret": {svcSecret}}
	first := r.postDPoP(t, form, h.proof(t, r.URL+"/oauth2/token", ""))
	nonce := first.Header.Get("DPoP-Nonce")
	if first.str("error") != "use_dpop_nonce" || nonce == "" {
		t.Fatalf("token endpoint: %d %s", first.Status, first.Raw)
	}
	g := r.postDPoP(t, form, h.proof(t, r.URL+"/oauth2/token", nonce))
	expectOK(t, g)
	at := g.str("access_token")

	got := r.userInfo(t, userInfoCall{authz: "DPoP " + at, dpop: h.proofFor(t, http.MethodGet, r.URL+"/userinfo", at)})
	expectChallenge(t, got, 401, "DPoP", "use_dpop_nonce")
	if got.Header.Get("DPoP-Nonce") == "" {
		t.Fatal("use_dpop_nonce without a DPoP-Nonce header")
	}
	expectOK(t, r.userInfo(t, userInfoCall{authz: "DPoP " + at, dpop: h.proofWithNonce(t, http.MethodGet, r.URL+"/userinfo", at, got.Header.Get("DPoP-Nonce"))}))
}
