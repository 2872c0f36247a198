package main

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
)

// newTestApp builds the app against an issuer that publishes only its
// metadata: enough for what happens before Rotor is asked anything.
func newTestApp(t *testing.T) (*app, *httptest.Server) {
	t.Helper()
	var issuer string
	md := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_ = json.NewEncoder(w).Encode(map[string]any{"issuer": issuer, "authorization_endpoint": issuer + "/oauth2/authorize",
			"token_endpoint": issuer + "/oauth2/token", "jwks_uri": issuer + "/.well-known/jwks.json",
			"authorization_response_iss_parameter_supported": true})
	}))
	t.Cleanup(md.Close)
	issuer = md.URL
	a, err := newApp(context.Background(), config{Issuer: issuer, ClientID: "web", ClientSecret: "s", API: "http://127.0.0.1:1",
		Resource: "https://orders.example.com", Scopes: []string{"openid", "offline_access"}}, "http://127.0.0.1:8083", md.Client())
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(a.routes())
	t.Cleanup(srv.Close)
	return a, srv
}

func noRedirects(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }

// TestLoginRedirect checks what /login sends to Rotor and what it keeps:
// a PKCE S256 challenge, state, nonce and the resource, and a session
// cookie that scripts cannot read and other sites' posts do not carry.
func TestLoginRedirect(t *testing.T) {
	a, srv := newTestApp(t)
	hc := &http.Client{CheckRedirect: noRedirects}
	resp, err := hc.Get(srv.URL + "/login")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	loc, err := url.Parse(resp.Header.Get("Location"))
	if err != nil || resp.StatusCode != http.StatusSeeOther || !strings.HasPrefix(loc.String(), a.md.AuthorizationEndpoint+"?") {
		t.Fatalf("/login: %d to %q", resp.StatusCode, loc)
	}
	q := loc.Query()
	for k, want := range map[string]string{"response_type": "code", "client_id": "web", "code_challenge_method": "S256",
		"redirect_uri": "http://127.0.0.1:8083/callback", "scope": "openid offline_access", "resource": "https://orders.example.com"} {
		if q.Get(k) != want {
			t.Errorf("%s = %q, want %q", k, q.Get(k), want)
		}
	}
	if len(q.Get("code_challenge")) != 43 || len(q.Get("state")) < 32 || len(q.Get("nonce")) < 32 {
		t.Errorf("challenge, state or nonce too short: %v", q)
	}
	cs := resp.Cookies()
	if len(cs) != 1 || cs[0].Name != cookieName || !cs[0].HttpOnly || cs[0].SameSite != http.SameSiteLaxMode || cs[0].Path != "/" {
		t.Fatalf("cookies %+v", cs)
	}
	if strings.Contains(cs[0].Value, q.Get("state")) {
		t.Error("the cookie carries the state")
	}

	// The answer must come back to the browser that started the sign-in.
	for name, req := range map[string]func() *http.Request{
		"no session": func() *http.Request {
			r, _ := http.NewRequest("GET", srv.URL+"/callback?code=c&state="+q.Get("state"), nil)
			return r
		},
		"another state": func() *http.Request {
			r, _ := http.NewRequest("GET", srv.URL+"/callback?code=c&state=x", nil)
			r.AddCookie(cs[0])
			return r
		},
	} {
		resp, err := hc.Do(req())
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusBadRequest {
			t.Errorf("%s: %d, want 400", name, resp.StatusCode)
		}
	}
	// Another issuer's answer (RFC 9207) is refused, and uses up the sign-in.
	r, _ := http.NewRequest("GET", srv.URL+"/callback?code=c&iss=http://evil.test&state="+url.QueryEscape(q.Get("state")), nil)
	r.AddCookie(cs[0])
	resp, err = hc.Do(r)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusBadRequest {
		t.Errorf("another issuer: %d, want 400", resp.StatusCode)
	}
	if s, _ := a.sessions.get(r); s != nil {
		t.Error("the sign-in is still pending after a refused answer")
	}
}

// TestPagesHaveNoScript checks the headers of every page and that the
// templates hold no script: the app's pages work without JavaScript.
func TestPagesHaveNoScript(t *testing.T) {
	_, srv := newTestApp(t)
	for _, path := range []string{"/", "/?signed_out", "/static/style.css"} {
		resp, err := http.Get(srv.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		raw, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		body := string(raw)
		csp := resp.Header.Get("Content-Security-Policy")
		if resp.StatusCode != 200 || !strings.Contains(csp, "default-src 'none'") || !strings.Contains(csp, "frame-ancestors 'none'") ||
			resp.Header.Get("X-Frame-Options") != "DENY" || resp.Header.Get("Referrer-Policy") != "no-referrer" {
			t.Errorf("%s: %d, headers %v", path, resp.StatusCode, resp.Header)
		}
		if strings.Contains(strings.ToLower(body), "<script") {
			t.Errorf("%s has a script", path)
		}
	}
}
