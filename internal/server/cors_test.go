package server_test

import (
	"context"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/rotor-auth/rotor/internal/audit"
	"github.com/rotor-auth/rotor/internal/server"
	"github.com/rotor-auth/rotor/internal/store"
	"github.com/rotor-auth/rotor/internal/store/testdb"
)

const (
	spaOrigin = "https://spa.example"
	// webOrigin is listed explicitly, with a port.
	webOrigin = "https://web.example:8443"
)

// corsSetup registers "spa" (public, origins from its redirect URI),
// "web" (confidential, an explicit origin with a port), "off" (disabled)
// and user bob; refusals go to agg.
func corsSetup(t *testing.T) (*rig, *audit.Aggregator) {
	t.Helper()
	st := testdb.SQLite(t)
	agg := audit.NewAggregator(st, time.Hour, 100, time.Now, nil)
	r := newRig(t, st, nil, func(o *server.Options) { o.Refusals = agg })
	r.addClient(t, store.Client{ID: "spa", GrantTypes: []string{"password", "refresh_token"}, Scopes: []string{"openid", "read"},
		RedirectURIs: []string{spaOrigin + "/callback", "http://127.0.0.1:9000/cb"}}, "")
	r.addClient(t, store.Client{ID: "web", GrantTypes: []string{"password", "refresh_token"}, Scopes: []string{"openid", "read"},
		RedirectURIs: []string{"https://web.example/cb"}, AllowedOrigins: []string{webOrigin}}, svcSecret)
	r.addClient(t, store.Client{ID: "off", GrantTypes: []string{"password"}, Disabled: true,
		RedirectURIs: []string{"https://disabled.example/cb"}}, "")
	r.addUser(t, "bob", "pw-bob")
	return r, agg
}

// corsRequest sends method to path with an Origin (none when "") and,
// for a preflight, Access-Control-Request-Method.
func (r *rig) corsRequest(t *testing.T, method, path, origin string, hdr map[string]string, form url.Values) *http.Response {
	t.Helper()
	var body io.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	}
	req, err := http.NewRequest(method, r.URL+path, body)
	if err != nil {
		t.Fatal(err)
	}
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	if origin != "" {
		req.Header.Set("Origin", origin)
	}
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	// A browser never follows the authorization endpoint's redirect from
	// a script; neither does this test.
	c := *r.Client()
	c.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { resp.Body.Close() })
	return resp
}

func preflightHeaders(method string) map[string]string {
	return map[string]string{"Access-Control-Request-Method": method, "Access-Control-Request-Headers": "authorization, dpop"}
}

func varies(h http.Header, name string) bool {
	for _, v := range h.Values("Vary") {
		for f := range strings.SplitSeq(v, ",") {
			if strings.EqualFold(strings.TrimSpace(f), name) {
				return true
			}
		}
	}
	return false
}

// TestCORSPreflight: a preflight is answered with the exact origin when
// an enabled client lists it, and without CORS headers otherwise: an
// unregistered origin, a disabled client's, the same host on another
// port or scheme, and endpoints that never do CORS.
func TestCORSPreflight(t *testing.T) {
	r, _ := corsSetup(t)
	cors := []string{"/oauth2/token", "/oauth2/revoke", "/userinfo", "/.well-known/jwks.json",
		"/.well-known/oauth-authorization-server", "/.well-known/openid-configuration"}
	methodFor := func(path string) string {
		if strings.HasPrefix(path, "/.well-known/") {
			return http.MethodGet
		}
		return http.MethodPost
	}
	for _, path := range cors {
		for _, origin := range []string{spaOrigin, webOrigin, "http://127.0.0.1:9000"} {
			t.Run("allowed "+path+" "+origin, func(t *testing.T) {
				resp := r.corsRequest(t, http.MethodOptions, path, origin, preflightHeaders(methodFor(path)), nil)
				h := resp.Header
				if resp.StatusCode != http.StatusNoContent || h.Get("Access-Control-Allow-Origin") != origin {
					t.Fatalf("%d, Access-Control-Allow-Origin %q, want 204 and %q", resp.StatusCode, h.Get("Access-Control-Allow-Origin"), origin)
				}
				if !varies(h, "Origin") {
					t.Fatalf("Vary %q lacks Origin", h.Values("Vary"))
				}
				if !strings.Contains(h.Get("Access-Control-Allow-Methods"), methodFor(path)) || h.Get("Access-Control-Max-Age") == "" {
					t.Fatalf("preflight headers %v", h)
				}
				allowHeaders := strings.ToLower(h.Get("Access-Control-Allow-Headers"))
				for _, want := range []string{"authorization", "content-type", "dpop"} {
					if !strings.Contains(allowHeaders, want) {
						t.Fatalf("Access-Control-Allow-Headers %q lacks %s", allowHeaders, want)
					}
				}
				if h.Get("Access-Control-Allow-Credentials") != "" {
					t.Fatal("credentials allowed")
				}
			})
		}
		for _, origin := range []string{"https://evil.example", "https://disabled.example", "https://web.example",
			"https://spa.example:8443", "http://spa.example", "http://127.0.0.1:9001", "http://127.0.0.1", "null"} {
			t.Run("refused "+path+" "+origin, func(t *testing.T) {
				resp := r.corsRequest(t, http.MethodOptions, path, origin, preflightHeaders(methodFor(path)), nil)
				if got := resp.Header.Get("Access-Control-Allow-Origin"); got != "" {
					t.Fatalf("Access-Control-Allow-Origin %q for an unregistered origin", got)
				}
			})
		}
	}
	t.Run("method not served", func(t *testing.T) {
		resp := r.corsRequest(t, http.MethodOptions, "/oauth2/token", spaOrigin, preflightHeaders(http.MethodDelete), nil)
		if got := resp.Header.Get("Access-Control-Allow-Origin"); got != "" {
			t.Fatalf("Access-Control-Allow-Origin %q for DELETE", got)
		}
	})
	for _, path := range []string{"/oauth2/authorize", "/oauth2/introspect", "/oauth2/denylist", "/oauth2/logout"} {
		t.Run("never on "+path, func(t *testing.T) {
			for _, method := range []string{http.MethodGet, http.MethodPost} {
				resp := r.corsRequest(t, http.MethodOptions, path, spaOrigin, preflightHeaders(method), nil)
				if got := resp.Header.Get("Access-Control-Allow-Origin"); got != "" {
					t.Fatalf("preflight for %s %s: Access-Control-Allow-Origin %q", method, path, got)
				}
			}
		})
	}
}

// TestCORSNeverOnAuthorizeOrIntrospect: real requests to the
// authorization endpoint and to introspection carry no CORS header,
// whatever the origin.
func TestCORSNeverOnAuthorizeOrIntrospect(t *testing.T) {
	r, _ := corsSetup(t)
	q := "?response_type=code&client_id=spa&redirect_uri=" + url.QueryEscape(spaOrigin+"/callback")
	for _, resp := range []*http.Response{
		r.corsRequest(t, http.MethodGet, "/oauth2/authorize"+q, spaOrigin, nil, nil),
		r.corsRequest(t, http.MethodPost, "/oauth2/authorize", spaOrigin, nil, url.Values{"client_id": {"spa"}}),
		r.corsRequest(t, http.MethodPost, "/oauth2/introspect", webOrigin, map[string]string{"Authorization": basicAuth("web", svcSecret)}, url.Values{"token": {"x"}}),
	} {
		if got := resp.Header.Get("Access-Control-Allow-Origin"); got != "" {
			t.Fatalf("%s %s: Access-Control-Allow-Origin %q", resp.Request.Method, resp.Request.URL.Path, got)
		}
	}
}

func basicAuth(id, sec string) string {
	req, _ := http.NewRequest(http.MethodGet, "/", nil)
	req.SetBasicAuth(url.QueryEscape(id), url.QueryEscape(sec))
	return req.Header.Get("Authorization")
}

// TestCORSPublicDocuments: the JWKS and both metadata documents are
// readable by any registered origin, and vary with Origin so that a
// shared cache keeps one answer per origin.
func TestCORSPublicDocuments(t *testing.T) {
	r, _ := corsSetup(t)
	for _, path := range []string{"/.well-known/jwks.json", "/.well-known/oauth-authorization-server", "/.well-known/openid-configuration"} {
		for origin, want := range map[string]string{spaOrigin: spaOrigin, webOrigin: webOrigin, "https://evil.example": "", "": ""} {
			resp := r.corsRequest(t, http.MethodGet, path, origin, nil, nil)
			if resp.StatusCode != http.StatusOK || resp.Header.Get("Access-Control-Allow-Origin") != want || !varies(resp.Header, "Origin") {
				t.Fatalf("GET %s from %q: %d, Access-Control-Allow-Origin %q (want %q), Vary %q", path, origin, resp.StatusCode,
					resp.Header.Get("Access-Control-Allow-Origin"), want, resp.Header.Values("Vary"))
			}
		}
	}
}

// TestCORSTokenEndpoint: the token endpoint answers a browser request
// from the authenticated client's own origin, readable by it; from any
// other origin, even one another client lists, it refuses before issuing
// anything, records the refusal, and the answer is not readable.
func TestCORSTokenEndpoint(t *testing.T) {
	r, agg := corsSetup(t)
	grant := func(client, origin string) *http.Response {
		f := url.Values{"grant_type": {"password"}, "username": {"bob"}, "password": {"pw-bob"}, "scope": {"read"}}
		hdr := map[string]string{}
		if client == "spa" {
			f.Set("client_id", "spa")
		} else {
			hdr["Authorization"] = basicAuth(client, svcSecret)
		}
		return r.corsRequest(t, http.MethodPost, "/oauth2/token", origin, hdr, f)
	}
	for _, tc := range []struct{ client, origin string }{{"spa", spaOrigin}, {"web", webOrigin}, {"spa", ""}} {
		resp := grant(tc.client, tc.origin)
		body, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != http.StatusOK || !strings.Contains(string(body), "access_token") {
			t.Fatalf("%s from %q: %d %s", tc.client, tc.origin, resp.StatusCode, body)
		}
		if got := resp.Header.Get("Access-Control-Allow-Origin"); got != tc.origin {
			t.Fatalf("%s from %q: Access-Control-Allow-Origin %q", tc.client, tc.origin, got)
		}
		if tc.origin != "" && !strings.Contains(resp.Header.Get("Access-Control-Expose-Headers"), "DPoP-Nonce") {
			t.Fatalf("Access-Control-Expose-Headers %q", resp.Header.Get("Access-Control-Expose-Headers"))
		}
	}
	for _, tc := range []struct{ client, origin string }{
		{"spa", webOrigin}, {"web", spaOrigin}, {"spa", "https://evil.example"}, {"web", "https://web.example"},
		{"spa", "https://spa.example:443"}, {"spa", "null"},
	} {
		resp := grant(tc.client, tc.origin)
		body, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != http.StatusBadRequest || !strings.Contains(string(body), `"invalid_request"`) || strings.Contains(string(body), "access_token") {
			t.Fatalf("%s from %q: %d %s, want 400 invalid_request and no token", tc.client, tc.origin, resp.StatusCode, body)
		}
		if got := resp.Header.Get("Access-Control-Allow-Origin"); got != "" {
			t.Fatalf("%s from %q: the refusal is readable (Access-Control-Allow-Origin %q)", tc.client, tc.origin, got)
		}
	}
	// Nothing was issued to the refused requests: three grants, three
	// issued tokens; and each refusal is recorded.
	ctx := context.Background()
	if err := agg.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	evs, err := r.Store.ListEvents(ctx, store.EventFilter{})
	if err != nil {
		t.Fatal(err)
	}
	var issued, refused int
	var said bool
	for _, e := range evs {
		said = said || strings.Contains(e.Detail, "origin is not allowed")
		switch {
		case e.Type == audit.AccessTokenIssued:
			issued++
		case e.Type == audit.TokenRequestFailed && e.Reason == "invalid_request":
			// The first of a kind says why; repeats are counted into one.
			refused += int(max(e.Count, 1))
		}
	}
	if issued != 3 || refused != 6 || !said {
		t.Fatalf("%d access tokens issued and %d origin refusals recorded, want 3 and 6 (and the reason said: %v)", issued, refused, said)
	}
	// Before the client is known, a registered origin may read the
	// refusal (here a failed authentication), which carries no token.
	resp := r.corsRequest(t, http.MethodPost, "/oauth2/token", spaOrigin, map[string]string{"Authorization": basicAuth("web", "wrong")},
		url.Values{"grant_type": {"password"}})
	if resp.StatusCode != http.StatusUnauthorized || resp.Header.Get("Access-Control-Allow-Origin") != spaOrigin {
		t.Fatalf("failed authentication from a registered origin: %d, Access-Control-Allow-Origin %q", resp.StatusCode, resp.Header.Get("Access-Control-Allow-Origin"))
	}
}

// TestCORSRevocation: revocation from another origin than the client's
// is refused and revokes nothing.
func TestCORSRevocation(t *testing.T) {
	r, _ := corsSetup(t)
	g := r.post(t, "/oauth2/token", url.Values{"grant_type": {"password"}, "username": {"bob"}, "password": {"pw-bob"},
		"scope": {"read"}, "client_id": {"spa"}})
	expectOK(t, g)
	rt := g.str("refresh_token")
	resp := r.corsRequest(t, http.MethodPost, "/oauth2/revoke", "https://evil.example", nil, url.Values{"token": {rt}, "client_id": {"spa"}})
	if resp.StatusCode != http.StatusBadRequest || resp.Header.Get("Access-Control-Allow-Origin") != "" {
		t.Fatalf("revocation from another origin: %d, Access-Control-Allow-Origin %q", resp.StatusCode, resp.Header.Get("Access-Control-Allow-Origin"))
	}
	next := r.post(t, "/oauth2/token", url.Values{"grant_type": {"refresh_token"}, "refresh_token": {rt}, "client_id": {"spa"}})
	expectOK(t, next)
	resp = r.corsRequest(t, http.MethodPost, "/oauth2/revoke", spaOrigin, nil, url.Values{"token": {next.str("refresh_token")}, "client_id": {"spa"}})
	if resp.StatusCode != http.StatusOK || resp.Header.Get("Access-Control-Allow-Origin") != spaOrigin {
		t.Fatalf("revocation from the client's origin: %d, Access-Control-Allow-Origin %q", resp.StatusCode, resp.Header.Get("Access-Control-Allow-Origin"))
	}
	again := r.post(t, "/oauth2/token", url.Values{"grant_type": {"refresh_token"}, "refresh_token": {next.str("refresh_token")}, "client_id": {"spa"}})
	expectError(t, again, http.StatusBadRequest, "invalid_grant")
}

// TestCORSUserInfo: userinfo is readable by the token's client's origin
// only; another registered origin is refused.
func TestCORSUserInfo(t *testing.T) {
	r, _ := corsSetup(t)
	g := r.post(t, "/oauth2/token", url.Values{"grant_type": {"password"}, "username": {"bob"}, "password": {"pw-bob"},
		"scope": {"openid"}, "client_id": {"spa"}})
	expectOK(t, g)
	authz := map[string]string{"Authorization": "Bearer " + g.str("access_token")}
	ok := r.corsRequest(t, http.MethodGet, "/userinfo", spaOrigin, authz, nil)
	if ok.StatusCode != http.StatusOK || ok.Header.Get("Access-Control-Allow-Origin") != spaOrigin {
		t.Fatalf("userinfo from the client's origin: %d, Access-Control-Allow-Origin %q", ok.StatusCode, ok.Header.Get("Access-Control-Allow-Origin"))
	}
	for _, origin := range []string{webOrigin, "https://evil.example"} {
		resp := r.corsRequest(t, http.MethodGet, "/userinfo", origin, authz, nil)
		body, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != http.StatusBadRequest || resp.Header.Get("Access-Control-Allow-Origin") != "" || strings.Contains(string(body), `"sub"`) {
			t.Fatalf("userinfo from %s: %d %s, Access-Control-Allow-Origin %q", origin, resp.StatusCode, body, resp.Header.Get("Access-Control-Allow-Origin"))
		}
	}
	if !slices.Contains(strings.Split(strings.ReplaceAll(ok.Header.Get("Access-Control-Expose-Headers"), " ", ""), ","), "WWW-Authenticate") {
		t.Fatalf("Access-Control-Expose-Headers %q lacks WWW-Authenticate", ok.Header.Get("Access-Control-Expose-Headers"))
	}
}

// countingStore counts ListClients calls over a real store.
type countingStore struct {
	store.Store
	lists atomic.Int64
}

func (c *countingStore) ListClients(ctx context.Context) ([]store.Client, error) {
	c.lists.Add(1)
	return c.Store.ListClients(ctx)
}

// TestCORSOriginSetIsCached: preflights read the clients at most once
// per refresh interval, however many arrive; a client registered since is
// seen after it, and one disabled since stops being answered.
func TestCORSOriginSetIsCached(t *testing.T) {
	st := &countingStore{Store: testdb.SQLite(t)}
	var clock atomic.Int64
	clock.Store(time.Now().UnixNano())
	now := func() time.Time { return time.Unix(0, clock.Load()) }
	r := newRig(t, st, nil, func(o *server.Options) { o.Now = now })
	r.addClient(t, store.Client{ID: "spa", GrantTypes: []string{"refresh_token"}, RedirectURIs: []string{spaOrigin + "/cb"}}, "")
	allowed := func(origin string) bool {
		return r.corsRequest(t, http.MethodOptions, "/oauth2/token", origin, preflightHeaders(http.MethodPost), nil).
			Header.Get("Access-Control-Allow-Origin") == origin
	}
	for range 50 {
		if !allowed(spaOrigin) {
			t.Fatal("registered origin refused")
		}
	}
	if n := st.lists.Load(); n != 1 {
		t.Fatalf("50 preflights listed the clients %d times, want 1", n)
	}
	r.addClient(t, store.Client{ID: "late", GrantTypes: []string{"refresh_token"}, AllowedOrigins: []string{"https://late.example"}}, "")
	c, err := st.GetClient(context.Background(), "spa")
	if err != nil {
		t.Fatal(err)
	}
	c.Disabled = true
	if err := st.UpdateClient(context.Background(), c); err != nil {
		t.Fatal(err)
	}
	if allowed("https://late.example") {
		t.Fatal("a client registered after the last read was seen before the refresh interval")
	}
	clock.Add(int64(31 * time.Second))
	if !allowed("https://late.example") || allowed(spaOrigin) {
		t.Fatal("after the refresh interval, the new client's origin is not answered or the disabled one's still is")
	}
	if n := st.lists.Load(); n != 2 {
		t.Fatalf("listed the clients %d times, want 2", n)
	}
}
