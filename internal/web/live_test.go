package web_test

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/rotor-auth/rotor/internal/oauth"
	"github.com/rotor-auth/rotor/internal/server"
	"github.com/rotor-auth/rotor/internal/store"
	"github.com/rotor-auth/rotor/internal/testrig"
	"github.com/rotor-auth/rotor/internal/web"
)

// offsetClock is the real time moved forward by Advance: the whole rig
// reads it, so a test reaches an expiry without waiting, while cookies
// and keys still see a plausible time.
type offsetClock struct{ off atomic.Int64 }

func (c *offsetClock) Now() time.Time          { return time.Now().Add(time.Duration(c.off.Load())) }
func (c *offsetClock) Advance(d time.Duration) { c.off.Add(int64(d)) }

// live is a whole Rotor (protocol endpoints and pages on one mux, as
// serve builds it) over a real store, with a TV (a public device-flow
// client), a web app (a confidential code-flow client) and alice.
type live struct {
	*testrig.Rig
	t     testing.TB
	clock *offsetClock
	user  *store.User
}

const (
	tvName      = "Living Room TV"
	webappName  = "Example Web App"
	webSecret   = "webapp-secret"
	deviceAgent = "LivingRoomTV/2.1 (SmartOS)"
	// appAgent is the web apps' servers', which redeem codes and refresh.
	appAgent = "ExampleApp-Server/1.4 (Go)"
)

func newLive(t testing.TB, st store.Store) *live {
	t.Helper()
	clk := &offsetClock{}
	rg := testrig.Start(t, st, nil, func(o *server.Options) { o.Now, o.TrustedProxies = clk.Now, loopbackProxy })
	rg.AddClient(t, store.Client{ID: "tv", Name: tvName, GrantTypes: []string{oauth.GrantDeviceCode, oauth.GrantRefreshToken},
		Scopes: []string{"openid", "profile", "media:watch"}}, "")
	rg.AddClient(t, store.Client{ID: "webapp", Name: webappName, GrantTypes: []string{oauth.GrantAuthorizationCode, oauth.GrantRefreshToken},
		RedirectURIs: []string{redirectURI}, Scopes: []string{"openid", "profile", "offline_access", "read"}}, webSecret)
	return &live{Rig: rg, t: t, clock: clk, user: rg.AddUser(t, "alice", password)}
}

// answer is a JSON answer of an endpoint.
type answer struct {
	status int
	header http.Header
	body   map[string]any
}

func (a answer) str(k string) string { s, _ := a.body[k].(string); return s }

// call posts form to an endpoint as a device or an app would, with
// client basic credentials when secret is not "".
func (l *live) call(path string, form url.Values, clientID, secret string) answer {
	l.t.Helper()
	if secret == "" {
		form.Set("client_id", clientID)
	}
	req, err := http.NewRequest(http.MethodPost, l.URL+path, strings.NewReader(form.Encode()))
	if err != nil {
		l.t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("User-Agent", appAgent)
	if clientID == "tv" {
		req.Header.Set("User-Agent", deviceAgent)
	}
	if secret != "" {
		req.SetBasicAuth(clientID, secret)
	}
	resp, err := l.Client().Do(req)
	if err != nil {
		l.t.Fatal(err)
	}
	defer resp.Body.Close()
	a := answer{status: resp.StatusCode, header: resp.Header, body: map[string]any{}}
	if err := json.NewDecoder(resp.Body).Decode(&a.body); err != nil {
		l.t.Fatalf("%s: %d, not JSON: %v", path, resp.StatusCode, err)
	}
	return a
}

// deviceStart is the TV's device authorization request (RFC 8628 §3.1).
type deviceStart struct{ deviceCode, userCode, complete string }

func (l *live) startDevice() deviceStart {
	l.t.Helper()
	a := l.call("/oauth2/device_authorization", url.Values{"scope": {"openid profile media:watch"}}, "tv", "")
	if a.status != http.StatusOK || a.str("device_code") == "" || a.str("user_code") == "" {
		l.t.Fatalf("device authorization: %d %v", a.status, a.body)
	}
	return deviceStart{deviceCode: a.str("device_code"), userCode: a.str("user_code"), complete: a.str("verification_uri_complete")}
}

// poll is the TV's token request (RFC 8628 §3.4).
func (l *live) poll(deviceCode string) answer {
	l.t.Helper()
	return l.call("/oauth2/token", url.Values{"grant_type": {oauth.GrantDeviceCode}, "device_code": {deviceCode}}, "tv", "")
}

// pollError polls and checks the error code.
func (l *live) pollError(deviceCode, want string) {
	l.t.Helper()
	if a := l.poll(deviceCode); a.status != http.StatusBadRequest || a.str("error") != want {
		l.t.Fatalf("poll: %d %v, want %s", a.status, a.body, want)
	}
}

// refresh spends a refresh token of client id.
func (l *live) refresh(clientID, rt string) answer {
	l.t.Helper()
	secret := ""
	if clientID == "webapp" {
		secret = webSecret
	}
	return l.call("/oauth2/token", url.Values{"grant_type": {oauth.GrantRefreshToken}, "refresh_token": {rt}}, clientID, secret)
}

// authorizeURL starts the web app's code flow.
func (l *live) authorizeURL() string {
	return l.authorizeURLFor("webapp", redirectURI, "openid offline_access read")
}

// authorizeURLFor starts a code flow of client id.
func (l *live) authorizeURLFor(id, redirect, scope string) string {
	sum := sha256.Sum256([]byte(verifier))
	return l.URL + "/oauth2/authorize?" + url.Values{"client_id": {id}, "response_type": {"code"}, "redirect_uri": {redirect},
		"scope": {scope}, "state": {"s-1"}, "code_challenge": {base64.RawURLEncoding.EncodeToString(sum[:])},
		"code_challenge_method": {"S256"}}.Encode()
}

// exchange redeems the web app's code; it returns the token answer.
func (l *live) exchange(code string) answer {
	l.t.Helper()
	a := l.call("/oauth2/token", url.Values{"grant_type": {oauth.GrantAuthorizationCode}, "code": {code},
		"redirect_uri": {redirectURI}, "code_verifier": {verifier}}, "webapp", webSecret)
	if a.status != http.StatusOK || a.str("refresh_token") == "" {
		l.t.Fatalf("code exchange: %d %v", a.status, a.body)
	}
	return a
}

// codeFlow runs the web app's code flow in b (signing in as alice if
// asked) and returns the token answer.
func (l *live) codeFlow(b *browser) answer {
	l.t.Helper()
	resp := b.get(l.authorizeURL())
	for range 10 {
		loc := resp.Header.Get("Location")
		switch {
		case strings.HasPrefix(loc, redirectURI+"?"):
			u, _ := url.Parse(loc)
			return l.exchange(u.Query().Get("code"))
		case loc != "":
			resp = b.follow(resp)
		case strings.Contains(resp.body, `name="password"`):
			resp = b.login(resp, "alice", password)
		case strings.Contains(resp.body, `name="decision"`):
			resp = b.decide(resp, "allow")
		default:
			l.t.Fatalf("the code flow stopped at %d %s", resp.StatusCode, resp.body)
		}
	}
	l.t.Fatal("the code flow never reached the app")
	return answer{}
}

// signInFor opens path signed out, signs in as name on the login page it
// is sent to, and returns the page it comes back to.
func (b *browser) signInFor(path, name string) *response {
	b.t.Helper()
	resp := b.get(b.base + path)
	if resp.StatusCode != http.StatusSeeOther || !strings.HasPrefix(resp.Header.Get("Location"), web.LoginPath+"?return=") {
		b.t.Fatalf("signed out, %s answered %d %q, want the login page", path, resp.StatusCode, resp.Header.Get("Location"))
	}
	page := b.follow(resp)
	f := page.hidden()
	if f.Get("csrf_token") == "" || f.Get("return") == "" || f.Has("request") {
		b.t.Fatalf("not a login form for a return: %s", page.body)
	}
	f.Set("username", name)
	f.Set("password", password)
	back := b.post(web.LoginPath, f)
	if back.StatusCode != http.StatusSeeOther {
		b.t.Fatalf("login: %d %s", back.StatusCode, back.body)
	}
	return b.follow(back)
}

// enterCode sends the /device form of page with code typed.
func (b *browser) enterCode(page *response, code string) *response {
	b.t.Helper()
	f := page.hidden()
	if f.Get("csrf_token") == "" {
		b.t.Fatalf("not the code form: %d %s", page.StatusCode, page.body)
	}
	f.Set("user_code", code)
	return b.post(web.DevicePath, f)
}

// decideDevice sends the device confirmation's form with decision.
func (b *browser) decideDevice(page *response, decision string) *response {
	b.t.Helper()
	f := page.hidden()
	if f.Get("user_code") == "" || f.Get("session") == "" {
		b.t.Fatalf("not the device confirmation: %d %s", page.StatusCode, page.body)
	}
	f.Set("decision", decision)
	return b.post(web.DevicePath, f)
}

// approveDevice signs b in (if it is not) and answers code with decision
// on the /device page; it returns the result page.
func (b *browser) approveDevice(code, decision string) *response {
	b.t.Helper()
	page := b.get(b.base + web.DevicePath)
	if page.StatusCode == http.StatusSeeOther {
		page = b.signInFor(web.DevicePath, "alice")
	}
	confirm := b.enterCode(page, code)
	return b.decideDevice(confirm, decision)
}

// events are the audit events of type typ.
func (l *live) events(typ string) []store.Event {
	l.t.Helper()
	evs, err := l.Store.ListEvents(context.Background(), store.EventFilter{Type: typ})
	if err != nil {
		l.t.Fatal(err)
	}
	return evs
}
