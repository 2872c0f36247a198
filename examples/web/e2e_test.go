package main

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/rotor-auth/rotor/internal/testrig"
)

const (
	audience = "https://orders.example.com"
	password = "correct horse battery staple"
)

// apiLine is what examples/api logs once it listens.
var apiLine = regexp.MustCompile(`orders API on (http://127\.0\.0\.1:[0-9]+)`)

// startAPI runs examples/api against issuer, as its documentation says.
func startAPI(t *testing.T, issuer string, env ...string) string {
	t.Helper()
	cmd := exec.Command(testrig.BuildCommand(t, "github.com/rotor-auth/rotor/examples/api"))
	cmd.Env = append(os.Environ(), append([]string{"ISSUER=" + issuer, "AUDIENCE=" + audience, "ADDR=127.0.0.1:0"}, env...)...)
	return testrig.StartCommand(t, cmd, apiLine)[1]
}

// TestWebAppEndToEnd runs the example against the rotor binary and
// examples/api, all on loopback, with a browser made of an HTTP client
// that fills in Rotor's login and consent forms: sign in, see the name,
// call the API, refresh when the access token expires, and sign out,
// which revokes the session's refresh token.
func TestWebAppEndToEnd(t *testing.T) {
	rotor := testrig.NewRotorProcess(t)
	web := httptest.NewUnstartedServer(nil)
	t.Cleanup(web.Close)
	base := "http://" + web.Listener.Addr().String()
	secret := rotor.CreateClient(t, "--id", "web", "--generate-secret", "--name", "Example web app",
		"--grant-types", "authorization_code,refresh_token", "--scopes", "openid profile offline_access orders:read",
		"--audiences", audience, "--redirect-uris", base+"/callback", "--post-logout-redirect-uris", base+"/")
	if secret == "" {
		t.Fatal("rotor client create --generate-secret --json printed no client_secret")
	}
	rotor.CreateUser(t, "alice", password)
	rotor.Serve(t)
	api := startAPI(t, rotor.URL)

	hc := &http.Client{Timeout: 10 * time.Second}
	a, err := newApp(context.Background(), config{Issuer: rotor.URL, ClientID: "web", ClientSecret: secret,
		API: api, Resource: audience, Scopes: []string{"openid", "profile", "offline_access", "orders:read"}}, base, hc)
	if err != nil {
		t.Fatal(err)
	}
	web.Config.Handler = a.routes()
	web.Start()

	jar, _ := cookiejar.New(nil)
	b := &browser{hc: &http.Client{Jar: jar, Timeout: 10 * time.Second}}

	// Sign in: the app sends the browser to Rotor, which asks who it is.
	v := b.get(t, base+"/login")
	if !strings.HasPrefix(v.url.String(), rotor.URL) || v.status != http.StatusOK {
		t.Fatalf("/login led to %s, want Rotor's login page:\n%s", v, v.body)
	}
	login := formWith(t, v.body, "password")
	if !login.fields.Has("username") || login.fields.Get("csrf_token") == "" {
		t.Fatalf("the login form lacks username or csrf_token: %+v", login)
	}
	v = b.submit(t, v, login, htmlButton{}, map[string]string{"username": "alice", "password": password})
	if strings.HasPrefix(v.url.String(), rotor.URL) {
		// The consent page, naming the client.
		if !strings.Contains(v.body, "Example web app") {
			t.Errorf("the consent page does not name the client:\n%s", v.body)
		}
		v = b.submit(t, v, formWithButton(t, v.body, "decision", "allow"), htmlButton{name: "decision", value: "allow"}, nil)
	}
	if v.url.String() != base+"/" || !strings.Contains(v.body, `Signed in as <strong id="user">alice</strong>`) {
		t.Fatalf("after sign-in the browser is at %s:\n%s", v, v.body)
	}
	if strings.Contains(v.body, "eyJ") || strings.Contains(v.body, "rt_") {
		t.Errorf("the page shows a token:\n%s", v.body)
	}
	for _, c := range jar.Cookies(mustURL(t, base)) {
		if strings.HasPrefix(c.Value, "eyJ") || strings.HasPrefix(c.Value, "rt_") {
			t.Errorf("cookie %s holds a token", c.Name)
		}
	}

	// Call the API through the app.
	callAPI := func(v *visit) *visit {
		t.Helper()
		v = b.submit(t, v, formTo(t, v.body, "/call"), htmlButton{}, nil)
		if !strings.Contains(v.body, "200 OK") || !strings.Contains(v.body, "orders of ") || !strings.Contains(v.body, "(client web)") {
			t.Fatalf("the API call shows:\n%s", v.body)
		}
		return v
	}
	v = callAPI(v)

	// The access token expires: the next call refreshes it, and the
	// rotated refresh token replaces the first.
	s := signedInSession(t, a)
	first, err := s.tokens.Load(context.Background())
	if err != nil || first.RefreshToken == "" {
		t.Fatalf("the session holds no refresh token (was offline_access granted?): %v", err)
	}
	expired := *first
	expired.Expiry = time.Now().Add(-time.Second)
	a.sessions.mu.Lock()
	a.startSource(s, &expired)
	a.sessions.mu.Unlock()
	v = callAPI(v)
	second, err := s.tokens.Load(context.Background())
	if err != nil || second.RefreshToken == first.RefreshToken || second.AccessToken == first.AccessToken {
		t.Fatalf("the expired access token was not refreshed with a rotated refresh token: %v", err)
	}

	// Sign out: the app and Rotor end their sessions, the refresh token
	// is dead, and the browser is back on the app's home page.
	v = b.submit(t, v, formTo(t, v.body, "/logout"), htmlButton{}, nil)
	if v.url.Host != mustURL(t, base).Host || !strings.Contains(v.body, "You are not signed in") {
		t.Fatalf("after sign-out the browser is at %s:\n%s", v, v.body)
	}
	if code, e := refresh(t, rotor.URL, "web", secret, second.RefreshToken); code != http.StatusBadRequest || e != "invalid_grant" {
		t.Errorf("the refresh token after sign-out: %d %q, want 400 invalid_grant", code, e)
	}
	// Rotor's browser session is over too: signing in again asks for the
	// password.
	v = b.get(t, base+"/login")
	if !strings.HasPrefix(v.url.String(), rotor.URL) || !strings.Contains(v.body, `name="password"`) {
		t.Errorf("after sign-out, /login led to %s without a login form:\n%s", v, v.body)
	}
}

// signedInSession returns the app's one signed-in session.
func signedInSession(t *testing.T, a *app) *session {
	t.Helper()
	a.sessions.mu.Lock()
	defer a.sessions.mu.Unlock()
	for _, s := range a.sessions.m {
		if s.signedIn() {
			return s
		}
	}
	t.Fatal("no signed-in session")
	return nil
}

// refresh presents a refresh token at the token endpoint and returns the
// status and error code.
func refresh(t *testing.T, issuer, id, secret, rt string) (int, string) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, issuer+"/oauth2/token",
		strings.NewReader(url.Values{"grant_type": {"refresh_token"}, "refresh_token": {rt}}.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth(id, secret)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var e struct {
		Error string `json:"error"`
	}
	_ = json.NewDecoder(resp.Body).Decode(&e)
	return resp.StatusCode, e.Error
}

func mustURL(t *testing.T, s string) *url.URL {
	t.Helper()
	u, err := url.Parse(s)
	if err != nil {
		t.Fatal(err)
	}
	return u
}
