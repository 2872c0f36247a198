package server_test

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/rotor-auth/rotor/internal/audit"
	"github.com/rotor-auth/rotor/internal/authz"
	"github.com/rotor-auth/rotor/internal/oauth"
	"github.com/rotor-auth/rotor/internal/server"
	"github.com/rotor-auth/rotor/internal/store"
	"github.com/rotor-auth/rotor/internal/store/testdb"
)

const verifier = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk-and-some-more"

func challenge(v string) string {
	sum := sha256.Sum256([]byte(v))
	return base64.RawURLEncoding.EncodeToString(sum[:])
}

// codeClients registers a confidential web client and a public one.
func codeClients(t *testing.T, r *rig) {
	r.addClient(t, store.Client{ID: "web", GrantTypes: []string{"authorization_code", "refresh_token"},
		Scopes: []string{"read"}, RedirectURIs: []string{"https://app.example.com/cb"}}, "web-secret")
	r.addClient(t, store.Client{ID: "spa", GrantTypes: []string{"authorization_code", "refresh_token"},
		RedirectURIs: []string{"http://127.0.0.1/callback", "https://spa.example.com/cb"}}, "")
}

// noRedirect is an HTTP client that shows redirects instead of following
// them.
func noRedirect(r *rig) *http.Client {
	c := *r.Client()
	c.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	return &c
}

func authorize(t *testing.T, r *rig, q url.Values) *http.Response {
	t.Helper()
	resp, err := noRedirect(r).Get(r.URL + "/oauth2/authorize?" + q.Encode())
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp
}

func validQuery() url.Values {
	return url.Values{
		"response_type": {"code"}, "client_id": {"web"}, "redirect_uri": {"https://app.example.com/cb"},
		"scope": {"openid read"}, "state": {"st-1"}, "nonce": {"n-1"},
		"code_challenge": {challenge(verifier)}, "code_challenge_method": {"S256"},
	}
}

func with(q url.Values, kv ...string) url.Values {
	out := url.Values{}
	for k, v := range q {
		out[k] = v
	}
	for i := 0; i+1 < len(kv); i += 2 {
		if kv[i+1] == "" {
			out.Del(kv[i])
		} else {
			out.Set(kv[i], kv[i+1])
		}
	}
	return out
}

func TestAuthorizeShowsAPageBeforeTheRedirectURIIsKnown(t *testing.T) {
	r := newRig(t, testdb.SQLite(t), nil)
	codeClients(t, r)
	for _, tc := range []struct {
		name string
		q    url.Values
	}{
		{"no client_id", with(validQuery(), "client_id", "")},
		{"unknown client", with(validQuery(), "client_id", "nobody")},
		{"unregistered redirect URI", with(validQuery(), "redirect_uri", "https://evil.example.com/cb")},
		{"redirect URI with another path", with(validQuery(), "redirect_uri", "https://app.example.com/cb/x")},
		{"missing redirect URI with several registered", with(validQuery(), "client_id", "spa", "redirect_uri", "")},
		{"http redirect on a loopback name the client did not register", with(validQuery(), "client_id", "spa", "redirect_uri", "http://localhost:4000/callback")},
	} {
		t.Run(tc.name, func(t *testing.T) {
			resp := authorize(t, r, tc.q)
			if resp.StatusCode != http.StatusBadRequest || resp.Header.Get("Location") != "" {
				t.Fatalf("got %d Location %q, want a 400 page and no redirect", resp.StatusCode, resp.Header.Get("Location"))
			}
		})
	}
	t.Run("a parameter sent twice", func(t *testing.T) {
		resp, err := noRedirect(r).Get(r.URL + "/oauth2/authorize?" + validQuery().Encode() + "&state=again")
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusBadRequest || resp.Header.Get("Location") != "" {
			t.Fatalf("got %d Location %q, want a 400 page", resp.StatusCode, resp.Header.Get("Location"))
		}
	})
}

func TestAuthorizeRedirectsErrorsWithStateAndIss(t *testing.T) {
	r := newRig(t, testdb.SQLite(t), nil)
	codeClients(t, r)
	for _, tc := range []struct {
		name, code string
		q          url.Values
	}{
		{"response_type token", "unsupported_response_type", with(validQuery(), "response_type", "token")},
		{"no response_type", "invalid_request", with(validQuery(), "response_type", "")},
		{"no code_challenge", "invalid_request", with(validQuery(), "code_challenge", "")},
		{"plain PKCE", "invalid_request", with(validQuery(), "code_challenge_method", "plain", "code_challenge", verifier)},
		{"no method (plain by default)", "invalid_request", with(validQuery(), "code_challenge_method", "")},
		{"malformed challenge", "invalid_request", with(validQuery(), "code_challenge", "short")},
		{"unregistered scope", "invalid_scope", with(validQuery(), "scope", "openid admin")},
		{"prompt none with login", "invalid_request", with(validQuery(), "prompt", "none login")},
		{"unknown prompt", "invalid_request", with(validQuery(), "prompt", "maybe")},
		{"negative max_age", "invalid_request", with(validQuery(), "max_age", "-1")},
		{"resource not allowed", "invalid_target", with(validQuery(), "resource", "https://other.example.com")},
		{"request object", "request_not_supported", with(validQuery(), "request", "eyJ...")},
		{"fragment response mode", "invalid_request", with(validQuery(), "response_mode", "fragment")},
	} {
		t.Run(tc.name, func(t *testing.T) {
			resp := authorize(t, r, tc.q)
			loc, err := url.Parse(resp.Header.Get("Location"))
			if resp.StatusCode != http.StatusSeeOther || err != nil {
				t.Fatalf("got %d, want 303 to the client", resp.StatusCode)
			}
			got := loc.Query()
			if loc.Host != "app.example.com" || got.Get("error") != tc.code || got.Get("state") != "st-1" || got.Get("iss") != r.URL {
				t.Fatalf("redirect %s, want error=%s with state and iss", loc, tc.code)
			}
		})
	}
}

func TestAuthorizeSendsAValidRequestToTheLoginPage(t *testing.T) {
	r := newRig(t, testdb.SQLite(t), nil)
	codeClients(t, r)
	for _, tc := range []struct {
		name, redirect string
		q              url.Values
	}{
		{"confidential client", "https://app.example.com/cb", validQuery()},
		{"loopback redirect on another port (RFC 8252 §7.3)", "http://127.0.0.1:49152/callback",
			with(validQuery(), "client_id", "spa", "redirect_uri", "http://127.0.0.1:49152/callback", "scope", "openid offline_access")},
		{"POST", "https://app.example.com/cb", nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var resp *http.Response
			if tc.q == nil {
				var err error
				resp, err = noRedirect(r).PostForm(r.URL+"/oauth2/authorize", validQuery())
				if err != nil {
					t.Fatal(err)
				}
				resp.Body.Close()
			} else {
				resp = authorize(t, r, tc.q)
			}
			loc, err := url.Parse(resp.Header.Get("Location"))
			if resp.StatusCode != http.StatusSeeOther || err != nil || loc.Path != server.LoginPath {
				t.Fatalf("got %d Location %q, want 303 to the login page", resp.StatusCode, resp.Header.Get("Location"))
			}
			req, err := authz.Open(r.Secrets, loc.Query().Get("request"), time.Now())
			if err != nil {
				t.Fatal(err)
			}
			if req.RedirectURI != tc.redirect || req.State != "st-1" || req.Nonce != "n-1" || req.CodeChallenge != challenge(verifier) {
				t.Fatalf("sealed request %+v", req)
			}
		})
	}
}

// codeFor runs what the pages do once a person has signed in and agreed:
// a browser session and a code for the request q.
func codeFor(t *testing.T, r *rig, u *store.User, q url.Values) (code string, sess *store.Session) {
	t.Helper()
	resp := authorize(t, r, q)
	loc, _ := url.Parse(resp.Header.Get("Location"))
	req, err := authz.Open(r.Secrets, loc.Query().Get("request"), time.Now())
	if err != nil {
		t.Fatalf("authorize: %d %s: %v", resp.StatusCode, resp.Header.Get("Location"), err)
	}
	ctx := context.Background()
	_, sess, err = r.Sessions.Start(ctx, u, nil, "", audit.Meta{IP: "127.0.0.1"})
	if err != nil {
		t.Fatal(err)
	}
	code, err = r.Authz.IssueCode(ctx, req, req.Scopes, sess)
	if err != nil {
		t.Fatal(err)
	}
	return code, sess
}

func redeem(t *testing.T, r *rig, code, v string, extra ...string) response {
	t.Helper()
	f := url.Values{"grant_type": {"authorization_code"}, "code": {code}, "redirect_uri": {"https://app.example.com/cb"}}
	if v != "" {
		f.Set("code_verifier", v)
	}
	for i := 0; i+1 < len(extra); i += 2 {
		f.Set(extra[i], extra[i+1])
	}
	return r.post(t, "/oauth2/token", f, "web", "web-secret")
}

func TestCodeGrant(t *testing.T) {
	testdb.Each(t, func(t *testing.T, st store.Store) {
		r := newRig(t, st, nil)
		codeClients(t, r)
		u := r.addUser(t, "alice", "correct horse battery")
		ctx := context.Background()

		t.Run("tokens, an id_token, and a refresh token only with offline_access", func(t *testing.T) {
			code, _ := codeFor(t, r, u, validQuery())
			resp := redeem(t, r, code, verifier)
			expectOK(t, resp)
			if resp.str("access_token") == "" || resp.str("id_token") == "" || resp.str("refresh_token") != "" {
				t.Fatalf("openid without offline_access: %s", resp.Raw)
			}
			code, _ = codeFor(t, r, u, with(validQuery(), "scope", "openid offline_access read"))
			resp = redeem(t, r, code, verifier)
			expectOK(t, resp)
			if resp.str("refresh_token") == "" || resp.str("id_token") == "" {
				t.Fatalf("openid with offline_access: %s", resp.Raw)
			}
			code, _ = codeFor(t, r, u, with(validQuery(), "scope", "read"))
			resp = redeem(t, r, code, verifier)
			expectOK(t, resp)
			if resp.str("refresh_token") == "" || resp.str("id_token") != "" {
				t.Fatalf("plain OAuth: %s", resp.Raw)
			}
		})

		t.Run("a second redemption is refused and revokes the family the first created", func(t *testing.T) {
			code, _ := codeFor(t, r, u, with(validQuery(), "scope", "read"))
			first := redeem(t, r, code, verifier)
			expectOK(t, first)
			expectError(t, redeem(t, r, code, verifier), http.StatusBadRequest, "invalid_grant")
			// The refresh token of the first answer is dead, and its
			// access tokens are deny-listed.
			expectError(t, r.post(t, "/oauth2/token", url.Values{"grant_type": {"refresh_token"}, "refresh_token": {first.str("refresh_token")}}, "web", "web-secret"),
				http.StatusBadRequest, "invalid_grant")
			in := r.post(t, "/oauth2/introspect", url.Values{"token": {first.str("access_token")}}, "web", "web-secret")
			if in.Body["active"] != false {
				t.Fatalf("access token of a reused code still active: %s", in.Raw)
			}
			evs, err := st.ListEvents(ctx, store.EventFilter{Type: audit.AuthCodeReused})
			if err != nil || len(evs) == 0 {
				t.Fatalf("no %s event: %v", audit.AuthCodeReused, err)
			}
			if strings.Contains(evs[len(evs)-1].TokenID, "ac_") {
				t.Fatal("the event holds the code")
			}
		})

		t.Run("PKCE and binding refusals", func(t *testing.T) {
			for _, tc := range []struct {
				name     string
				verifier string
				extra    []string
			}{
				{"wrong verifier", strings.Repeat("a", 43), nil},
				{"missing verifier", "", nil},
				{"verifier too short", "short", nil},
				{"other redirect_uri", verifier, []string{"redirect_uri", "https://app.example.com/other"}},
				{"no redirect_uri", verifier, []string{"redirect_uri", ""}},
			} {
				t.Run(tc.name, func(t *testing.T) {
					code, _ := codeFor(t, r, u, validQuery())
					f := url.Values{"grant_type": {"authorization_code"}, "code": {code}, "redirect_uri": {"https://app.example.com/cb"}}
					if tc.verifier != "" {
						f.Set("code_verifier", tc.verifier)
					}
					for i := 0; i+1 < len(tc.extra); i += 2 {
						if tc.extra[i+1] == "" {
							f.Del(tc.extra[i])
						} else {
							f.Set(tc.extra[i], tc.extra[i+1])
						}
					}
					expectError(t, r.post(t, "/oauth2/token", f, "web", "web-secret"), http.StatusBadRequest, "invalid_grant")
				})
			}
		})

		t.Run("another client cannot redeem the code", func(t *testing.T) {
			r.addClient(t, store.Client{ID: "other", GrantTypes: []string{"authorization_code"}, RedirectURIs: []string{"https://app.example.com/cb"}}, "other-secret")
			code, _ := codeFor(t, r, u, validQuery())
			f := url.Values{"grant_type": {"authorization_code"}, "code": {code}, "redirect_uri": {"https://app.example.com/cb"}, "code_verifier": {verifier}}
			expectError(t, r.post(t, "/oauth2/token", f, "other", "other-secret"), http.StatusBadRequest, "invalid_grant")
		})

		t.Run("a code of an ended session is refused", func(t *testing.T) {
			code, sess := codeFor(t, r, u, validQuery())
			if _, err := r.Sessions.End(ctx, sess.ID, audit.ReasonLogout, audit.Meta{}); err != nil {
				t.Fatal(err)
			}
			expectError(t, redeem(t, r, code, verifier), http.StatusBadRequest, "invalid_grant")
		})

		t.Run("ending the session revokes the family it made", func(t *testing.T) {
			code, sess := codeFor(t, r, u, with(validQuery(), "scope", "openid offline_access"))
			resp := redeem(t, r, code, verifier)
			expectOK(t, resp)
			if n, err := r.Sessions.End(ctx, sess.ID, audit.ReasonLogout, audit.Meta{}); err != nil || n != 1 {
				t.Fatalf("End revoked %d families, err %v; want 1", n, err)
			}
			expectError(t, r.post(t, "/oauth2/token", url.Values{"grant_type": {"refresh_token"}, "refresh_token": {resp.str("refresh_token")}}, "web", "web-secret"),
				http.StatusBadRequest, "invalid_grant")
		})

		t.Run("an unknown code", func(t *testing.T) {
			expectError(t, redeem(t, r, "ac_nothing", verifier), http.StatusBadRequest, "invalid_grant")
		})
	})
}

func TestCodeExpires(t *testing.T) {
	now := time.Now()
	clock := func() time.Time { return now }
	r := newRig(t, testdb.SQLite(t), nil, func(o *server.Options) { o.Now = clock })
	codeClients(t, r)
	u := r.addUser(t, "alice", "correct horse battery")
	code, _ := codeFor(t, r, u, validQuery())
	now = now.Add(authz.CodeTTL + time.Second)
	expectError(t, redeem(t, r, code, verifier), http.StatusBadRequest, "invalid_grant")
}

func FuzzParseAuthorize(f *testing.F) {
	f.Add(validQuery().Encode())
	f.Add("response_type=code&code_challenge_method=S256&code_challenge=" + challenge(verifier) + "&prompt=none+login&max_age=9&resource=https%3A%2F%2Fa")
	f.Add("scope=openid%20%00&state=%ff")
	c := &store.Client{ID: "web", GrantTypes: []string{"authorization_code", "refresh_token"}, Scopes: []string{"read"}, Audiences: []string{"https://a"}}
	f.Fuzz(func(t *testing.T, raw string) {
		form, err := oauth.ParseFormBody(raw)
		if err != nil {
			return
		}
		req, oe := server.ParseAuthorize(form, c)
		if req == nil {
			t.Fatal("no request returned")
		}
		if oe != nil {
			return
		}
		if !authz.ValidChallenge(req.CodeChallenge) {
			t.Fatalf("accepted challenge %q", req.CodeChallenge)
		}
		if req.Has("none") && len(req.Prompt) > 1 {
			t.Fatalf("accepted prompt %v", req.Prompt)
		}
		for _, sc := range req.Scopes {
			if sc != "read" && sc != "openid" && sc != "profile" && sc != "email" && sc != server.ScopeOfflineAccess {
				t.Fatalf("accepted scope %q", sc)
			}
		}
		if len(req.State) > 2048 || len(req.Nonce) > 512 {
			t.Fatal("accepted an oversized value")
		}
	})
}

// TestAuthorizeLongValuesReachTheLoginPage: values at their caps, of the
// characters that grow most when encoded, are carried to the login page
// whole, never to a dead end there.
func TestAuthorizeLongValuesReachTheLoginPage(t *testing.T) {
	r := newRig(t, testdb.SQLite(t), nil)
	codeClients(t, r)
	long := strings.Repeat("<", 2048)
	resp := authorize(t, r, with(validQuery(), "state", long, "nonce", strings.Repeat("&", 512)))
	loc, _ := url.Parse(resp.Header.Get("Location"))
	if resp.StatusCode != http.StatusSeeOther || loc.Path != server.LoginPath {
		t.Fatalf("got %d %q, want the login page", resp.StatusCode, resp.Header.Get("Location"))
	}
	page, err := r.Client().Get(r.URL + resp.Header.Get("Location"))
	if err != nil {
		t.Fatal(err)
	}
	page.Body.Close()
	if page.StatusCode != http.StatusOK {
		t.Fatalf("login page answered %d for a valid request", page.StatusCode)
	}

}

// TestCodeGrantRedirectURIOmittedAtAuthorize: with one registered URI the
// authorization request may leave redirect_uri out (RFC 6749 §3.1.2.3);
// the token request may then leave it out too, or name that URI, but no
// other.
func TestCodeGrantRedirectURIOmittedAtAuthorize(t *testing.T) {
	r := newRig(t, testdb.SQLite(t), nil)
	codeClients(t, r)
	u := r.addUser(t, "alice", "correct horse battery")
	for _, tc := range []struct {
		name, redirect string
		ok             bool
	}{
		{"left out", "", true},
		{"the registered URI", "https://app.example.com/cb", true},
		{"another URI", "https://app.example.com/other", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, _ := codeFor(t, r, u, with(validQuery(), "redirect_uri", "", "scope", "read"))
			f := url.Values{"grant_type": {"authorization_code"}, "code": {code}, "code_verifier": {verifier}}
			if tc.redirect != "" {
				f.Set("redirect_uri", tc.redirect)
			}
			resp := r.post(t, "/oauth2/token", f, "web", "web-secret")
			if tc.ok {
				expectOK(t, resp)
			} else {
				expectError(t, resp, http.StatusBadRequest, "invalid_grant")
			}
		})
	}
}

// TestVerifierBoundRefresh: for a client with --refresh-requires-verifier
// every refresh sends the code's code_verifier again; without it the
// answer is invalid_grant and nothing is revoked.
func TestVerifierBoundRefresh(t *testing.T) {
	testdb.Each(t, func(t *testing.T, st store.Store) {
		r := newRig(t, st, nil)
		r.addClient(t, store.Client{ID: "web", GrantTypes: []string{"authorization_code", "refresh_token"}, Scopes: []string{"read"},
			RedirectURIs: []string{"https://app.example.com/cb"}, RefreshRequiresVerifier: true, ReuseGrace: dur(0)}, "web-secret")
		u := r.addUser(t, "alice", "correct horse battery")
		code, _ := codeFor(t, r, u, with(validQuery(), "scope", "read"))
		got := redeem(t, r, code, verifier)
		expectOK(t, got)
		refresh := func(rt, v string) response {
			f := url.Values{"grant_type": {"refresh_token"}, "refresh_token": {rt}}
			if v != "" {
				f.Set("code_verifier", v)
			}
			return r.post(t, "/oauth2/token", f, "web", "web-secret")
		}
		next := refresh(got.str("refresh_token"), verifier)
		expectOK(t, next)
		expectError(t, refresh(next.str("refresh_token"), ""), http.StatusBadRequest, "invalid_grant")
		again := refresh(next.str("refresh_token"), verifier) // nothing was revoked
		expectOK(t, again)
		expectError(t, refresh(again.str("refresh_token"), strings.Repeat("x", 43)), http.StatusBadRequest, "invalid_grant")
		expectError(t, refresh(again.str("refresh_token"), verifier), http.StatusBadRequest, "invalid_grant") // revoked
	})
}
