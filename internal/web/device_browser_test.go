package web_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/rotor-auth/rotor/internal/oauth"
	"github.com/rotor-auth/rotor/internal/store"
	"github.com/rotor-auth/rotor/internal/store/testdb"
	"github.com/rotor-auth/rotor/internal/web"
)

// chrome drives one Chromium for a test; every step fails the test.
type chrome struct {
	t   *testing.T
	ctx context.Context
}

func newChrome(t *testing.T) *chrome {
	t.Helper()
	c := &chrome{t: t, ctx: newChromium(t)}
	c.run("viewport", chromedp.EmulateViewport(1280, 800))
	return c
}

func (c *chrome) run(what string, actions ...chromedp.Action[chromedp.Void]) {
	c.t.Helper()
	if err := chromedp.Do(c.ctx, actions...); err != nil {
		c.t.Fatalf("%s: %v", what, err)
	}
}

func (c *chrome) text(what, sel string) string {
	c.t.Helper()
	v, err := chromedp.Run(c.ctx, chromedp.Text(sel))
	if err != nil {
		c.t.Fatalf("%s: %v", what, err)
	}
	return v
}

func (c *chrome) eval(what, js string) string {
	c.t.Helper()
	v, err := chromedp.Run(c.ctx, chromedp.Evaluate[string](js))
	if err != nil {
		c.t.Fatalf("%s: %v", what, err)
	}
	return v
}

// navigates runs an action that loads a new page and waits until the old
// one is gone, so that what follows reads the new page, not the old.
func (c *chrome) navigates(what string, action chromedp.Action[chromedp.Void]) {
	c.t.Helper()
	c.eval("mark the page", `document.body.dataset.old = "1"`)
	c.run(what, action, chromedp.WaitNotPresent(`body[data-old]`), chromedp.WaitReady(`body`))
}

// signIn fills the login page the browser is on.
func (c *chrome) signIn(name string) {
	c.t.Helper()
	c.run("login page", chromedp.WaitVisible(`input[name=username]`), chromedp.SendKeys(`input[name=username]`, name),
		chromedp.SendKeys(`input[name=password]`, password), chromedp.Submit(`input[name=password]`))
}

// typeCode types code into the /device form and sends it.
func (c *chrome) typeCode(code string) {
	c.t.Helper()
	c.run("the code form", chromedp.WaitVisible(`input[name=user_code]`))
	c.eval("clear the field", `document.querySelector('input[name=user_code]').value = ''`)
	c.run("type the code", chromedp.SendKeys(`input[name=user_code]`, code))
	c.navigates("send the code", chromedp.Submit(`input[name=user_code]`))
}

// shoot writes docs/screenshots/<name>-390.png and -1280.png of the
// whole page, with ROTOR_SCREENSHOTS=1.
func (c *chrome) shoot(name string) {
	c.t.Helper()
	if os.Getenv("ROTOR_SCREENSHOTS") != "1" {
		return
	}
	dir := filepath.Join("..", "..", "docs", "screenshots")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		c.t.Fatal(err)
	}
	for _, size := range [][2]int64{{390, 844}, {1280, 800}} {
		c.run("viewport", chromedp.EmulateViewport(size[0], size[1]))
		png, err := chromedp.Run(c.ctx, chromedp.FullScreenshot(100))
		if err != nil {
			c.t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, fmt.Sprintf("%s-%d.png", name, size[0])), png, 0o644); err != nil {
			c.t.Fatal(err)
		}
	}
	c.run("viewport", chromedp.EmulateViewport(1280, 800))
}

// TestDeviceFlowInChromium: a TV polls while a person approves in
// Chromium: authorization_pending before, tokens after; polling too fast
// is slow_down, with a longer interval after it; Deny is access_denied;
// a code past its lifetime is expired_token, and the page says the code
// is not valid.
func TestDeviceFlowInChromium(t *testing.T) {
	c := newChrome(t)
	l := newLive(t, testdb.SQLite(t))

	d := l.startDevice()
	l.pollError(d.deviceCode, "authorization_pending")
	c.run("verification_uri_complete", chromedp.Navigate(d.complete))
	if loc := c.eval("location", `location.pathname`); loc != web.LoginPath {
		t.Fatalf("signed out, the link lands on %q", loc)
	}
	c.signIn("alice")
	c.run("back on /device", chromedp.WaitVisible(`input[name=user_code]`))
	if v := c.eval("pre-filled", `document.querySelector('input[name=user_code]').value`); v != d.userCode {
		t.Errorf("the code is pre-filled with %q, want %q", v, d.userCode)
	}
	if n := c.eval("csrf", `String(document.querySelectorAll('input[type=hidden][name=csrf_token]').length)`); n != "1" {
		t.Errorf("%s csrf_token fields", n)
	}
	if bg := c.eval("style", `getComputedStyle(document.querySelector('button.primary')).backgroundColor`); bg != "rgb(26, 95, 180)" {
		t.Errorf("the stylesheet did not apply: %q", bg)
	}
	c.shoot("device")
	c.run("continue", chromedp.Submit(`input[name=user_code]`), chromedp.WaitVisible(`button[name=decision][value=allow]`))
	page := c.text("confirmation", `main`)
	for _, want := range []string{tvName, "Know who you are", "127.0.0.1", deviceAgent, "Only continue if you started this on your own device"} {
		if !strings.Contains(page, want) {
			t.Errorf("the confirmation does not show %q: %s", want, page)
		}
	}
	c.shoot("device-confirm")
	l.clock.Advance(6 * time.Second)
	l.pollError(d.deviceCode, "authorization_pending")
	c.run("allow", chromedp.Click(`button[name=decision][value=allow]`), chromedp.WaitVisible(`a.button[href="/account/sessions"]`))
	if h1 := c.text("result", `h1`); h1 != "Your device is signed in" {
		t.Errorf("after Allow: %q", h1)
	}
	l.clock.Advance(6 * time.Second)
	if tok := l.poll(d.deviceCode); tok.status != http.StatusOK || tok.str("access_token") == "" || tok.str("refresh_token") == "" {
		t.Fatalf("the poll after Allow: %d %v", tok.status, tok.body)
	}

	// Polling too fast: slow_down, and the interval grows by 5 s.
	fast := l.startDevice()
	l.pollError(fast.deviceCode, "authorization_pending")
	l.pollError(fast.deviceCode, "slow_down")
	l.clock.Advance(6 * time.Second) // enough for 5 s, not for 10
	l.pollError(fast.deviceCode, "slow_down")
	l.clock.Advance(16 * time.Second) // the interval is now 15 s
	l.pollError(fast.deviceCode, "authorization_pending")

	// Deny.
	denied := l.startDevice()
	c.run("device page", chromedp.Navigate(l.URL+web.DevicePath))
	c.typeCode(strings.ToLower(denied.userCode))
	c.run("deny", chromedp.WaitVisible(`button[name=decision][value=deny]`), chromedp.Click(`button[name=decision][value=deny]`),
		chromedp.WaitVisible(`a.button[href="/account/sessions"]`))
	if h1 := c.text("result", `h1`); h1 != "Denied" {
		t.Errorf("after Deny: %q", h1)
	}
	l.clock.Advance(6 * time.Second)
	l.pollError(denied.deviceCode, "access_denied")

	// Expiry: past the 10 minutes, the device is told expired_token and
	// the page no longer knows the code.
	late := l.startDevice()
	l.clock.Advance(10*time.Minute + time.Second)
	l.pollError(late.deviceCode, "expired_token")
	c.run("device page", chromedp.Navigate(l.URL+web.DevicePath))
	c.typeCode(late.userCode)
	c.run("alert", chromedp.WaitVisible(`[role=alert]`))
	if a := c.text("alert", `[role=alert]`); a != "That code is not valid or has expired. Check the code on your device." {
		t.Errorf("an expired code: alert %q", a)
	}
}

// TestWrongUserCodeInChromium: a wrong code shows the alert; after five,
// the right code is refused too, and no confirmation is shown.
func TestWrongUserCodeInChromium(t *testing.T) {
	c := newChrome(t)
	l := newLive(t, testdb.SQLite(t))
	d := l.startDevice()
	c.run("device page", chromedp.Navigate(l.URL+web.DevicePath))
	c.signIn("alice")
	for i := range 5 {
		c.typeCode("bbbb-bbb" + string("cdfgh"[i]))
		c.run("alert", chromedp.WaitVisible(`[role=alert]`))
		if a := c.text("alert", `[role=alert]`); a != "That code is not valid or has expired. Check the code on your device." {
			t.Fatalf("wrong code %d: alert %q", i+1, a)
		}
	}
	c.typeCode(d.userCode)
	c.run("alert", chromedp.WaitVisible(`[role=alert]`))
	if a := c.text("alert", `[role=alert]`); !strings.HasPrefix(a, "Too many wrong codes; wait 1 minute") {
		t.Errorf("the right code after 5 wrong ones: alert %q", a)
	}
	if n := c.eval("confirmation", `String(document.querySelectorAll('button[name=decision]').length)`); n != "0" {
		t.Error("the confirmation was shown past the limit")
	}
	l.clock.Advance(6 * time.Second)
	l.pollError(d.deviceCode, "authorization_pending")
}

// TestSessionsInChromium: the sessions page lists the family of a code
// flow and of a device flow with their clients; ending one makes its
// next refresh invalid_grant while the other keeps working; signing out
// everywhere ends the other too, and the browser session.
func TestSessionsInChromium(t *testing.T) {
	c := newChrome(t)
	l := newLive(t, testdb.SQLite(t))
	codes := make(chan string, 4)
	app := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		if req.URL.Path == "/callback" {
			codes <- req.URL.Query().Get("code")
		}
		fmt.Fprint(w, "<!doctype html><title>app</title>signed in")
	}))
	t.Cleanup(app.Close)
	l.AddClient(t, store.Client{ID: "notes", Name: "Team Notes", GrantTypes: []string{oauth.GrantAuthorizationCode, oauth.GrantRefreshToken},
		RedirectURIs: []string{app.URL + "/callback"}, Scopes: []string{"openid", "offline_access", "notes:write"}}, "notes-secret")

	// The code flow, in Chromium.
	c.run("authorize", chromedp.Navigate(l.authorizeURLFor("notes", app.URL+"/callback", "openid offline_access notes:write")))
	c.signIn("alice")
	c.run("consent", chromedp.WaitVisible(`button[name=decision][value=allow]`), chromedp.Click(`button[name=decision][value=allow]`))
	var code string
	select {
	case code = <-codes:
	case <-c.ctx.Done():
		t.Fatal("the code flow never reached the app")
	}
	notes := l.call("/oauth2/token", url.Values{"grant_type": {oauth.GrantAuthorizationCode}, "code": {code},
		"redirect_uri": {app.URL + "/callback"}, "code_verifier": {verifier}}, "notes", "notes-secret")
	if notes.status != http.StatusOK || notes.str("refresh_token") == "" {
		t.Fatalf("code exchange: %d %v", notes.status, notes.body)
	}

	// The device flow, approved in the same browser.
	d := l.startDevice()
	c.run("device page", chromedp.Navigate(d.complete), chromedp.WaitVisible(`input[name=user_code]`),
		chromedp.Submit(`input[name=user_code]`), chromedp.WaitVisible(`button[name=decision][value=allow]`),
		chromedp.Click(`button[name=decision][value=allow]`), chromedp.WaitVisible(`a.button[href="/account/sessions"]`))
	tv := l.poll(d.deviceCode)
	if tv.status != http.StatusOK {
		t.Fatalf("device tokens: %d %v", tv.status, tv.body)
	}
	notesSID, tvSID := l.sid(notes), l.sid(tv)

	// alice is signed in on a laptop too.
	laptop := newBrowser(t, l.URL)
	laptop.from, laptop.agent = "198.51.100.7", firefoxAgent
	laptop.signInFor(web.SessionsPath, "alice")

	c.run("sessions page", chromedp.Click(`a.button[href="/account/sessions"]`), chromedp.WaitVisible(`button[name=sign_out_everywhere]`))
	for sid, want := range map[string]string{notesSID: "Team Notes", tvSID: tvName} {
		entry := c.text("entry", `[data-sid="`+sid+`"]`)
		if !strings.Contains(entry, want) {
			t.Errorf("the entry of %s reads %q", want, entry)
		}
	}
	if mark := c.text("mark", `[data-sid="`+notesSID+`"] .badge`); mark != "This browser" {
		t.Errorf("the code flow's family is marked %q", mark)
	}
	if n := c.eval("browsers", `String(document.querySelectorAll('[data-browser]').length)`); n != "2" {
		t.Errorf("%s browsers listed, want 2", n)
	}
	if mark := c.text("mark", `[data-browser] .badge`); mark != "This browser" {
		t.Errorf("the first browser is marked %q", mark)
	}
	if laptopEntry := c.text("laptop", `[data-browser]:has(button[name=end_browser])`); !strings.Contains(laptopEntry, "Firefox on Windows") ||
		!strings.Contains(laptopEntry, "198.51.100.7") {
		t.Errorf("the laptop's entry reads %q", laptopEntry)
	}
	c.shoot("sessions")

	c.run("sign the laptop out", chromedp.Click(`button[name=end_browser]`), chromedp.WaitVisible(`p.notice`),
		chromedp.WaitNotPresent(`button[name=end_browser]`))
	if resp := laptop.get(l.URL + web.SessionsPath); resp.StatusCode != http.StatusSeeOther {
		t.Errorf("the laptop is still signed in: %d", resp.StatusCode)
	}

	c.run("end the TV's", chromedp.Click(`[data-sid="`+tvSID+`"] button[name=revoke]`), chromedp.WaitNotPresent(`[data-sid="`+tvSID+`"]`),
		chromedp.WaitVisible(`[data-sid="`+notesSID+`"]`))
	if a := l.refresh("tv", tv.str("refresh_token")); a.str("error") != "invalid_grant" {
		t.Errorf("the ended family's refresh: %d %v", a.status, a.body)
	}
	next := l.call("/oauth2/token", url.Values{"grant_type": {oauth.GrantRefreshToken}, "refresh_token": {notes.str("refresh_token")}}, "notes", "notes-secret")
	if next.status != http.StatusOK {
		t.Fatalf("the other family's refresh: %d %v", next.status, next.body)
	}

	// A second device, so that two families are live again.
	d2 := l.startDevice()
	c.run("second device", chromedp.Navigate(d2.complete), chromedp.WaitVisible(`input[name=user_code]`),
		chromedp.Submit(`input[name=user_code]`), chromedp.WaitVisible(`button[name=decision][value=allow]`),
		chromedp.Click(`button[name=decision][value=allow]`), chromedp.WaitVisible(`a.button[href="/account/sessions"]`))
	tv2 := l.poll(d2.deviceCode)
	if tv2.status != http.StatusOK {
		t.Fatalf("second device's tokens: %d %v", tv2.status, tv2.body)
	}
	c.run("sessions page", chromedp.Navigate(l.URL+web.SessionsPath), chromedp.WaitVisible(`[data-sid="`+l.sid(tv2)+`"]`))

	l.clock.Advance(time.Second)
	c.navigates("sign out everywhere", chromedp.Click(`button[name=sign_out_everywhere]`))
	if h1 := c.text("result", `h1`); h1 != "You are signed out everywhere" {
		t.Errorf("after signing out everywhere: %q", h1)
	}
	if a := l.call("/oauth2/token", url.Values{"grant_type": {oauth.GrantRefreshToken}, "refresh_token": {next.str("refresh_token")}}, "notes", "notes-secret"); a.str("error") != "invalid_grant" {
		t.Errorf("the code flow's refresh after signing out everywhere: %d %v", a.status, a.body)
	}
	if a := l.refresh("tv", tv2.str("refresh_token")); a.str("error") != "invalid_grant" {
		t.Errorf("the device's refresh after signing out everywhere: %d %v", a.status, a.body)
	}
	c.run("sessions again", chromedp.Navigate(l.URL+web.SessionsPath), chromedp.WaitVisible(`input[name=username]`))
	if p := c.eval("location", `location.pathname`); p != web.LoginPath {
		t.Errorf("the browser session survived: %s", p)
	}
}
