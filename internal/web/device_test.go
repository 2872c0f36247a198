package web_test

import (
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/rotor-auth/rotor/internal/audit"
	"github.com/rotor-auth/rotor/internal/store"
	"github.com/rotor-auth/rotor/internal/store/testdb"
	"github.com/rotor-auth/rotor/internal/web"
)

// TestDeviceApprovedGivesTokensOnce: a TV asks; a person who opens the
// verification_uri_complete signed out signs in, comes back to /device
// with the code filled in, sees the TV's client, scopes, address and user
// agent (as the TV reports it) beside their own address, and allows; the TV's poll, pending before, gets tokens after,
// once.
func TestDeviceApprovedGivesTokensOnce(t *testing.T) {
	testdb.Each(t, func(t *testing.T, st store.Store) {
		l := newLive(t, st)
		d := l.startDevice()
		l.pollError(d.deviceCode, "authorization_pending")

		b := newBrowser(t, l.URL)
		b.from = "203.0.113.44" // the person's phone, not the TV
		complete, err := url.Parse(d.complete)
		if err != nil || complete.Path != web.DevicePath {
			t.Fatalf("verification_uri_complete %q", d.complete)
		}
		form := b.signInFor(web.DevicePath+"?"+complete.RawQuery, "alice")
		if form.StatusCode != http.StatusOK || form.hidden().Get("csrf_token") == "" {
			t.Fatalf("/device after the sign-in: %d %s", form.StatusCode, form.body)
		}
		for _, want := range []string{`name="user_code"`, `value="` + d.userCode + `"`, `autocomplete="off"`,
			`autocapitalize="characters"`, `inputmode="text"`, "Code shown on your device"} {
			if !strings.Contains(form.body, want) {
				t.Errorf("the code form lacks %s", want)
			}
		}

		// Typed as a person might: lower case, without the dash.
		confirm := b.enterCode(form, strings.ToLower(strings.ReplaceAll(d.userCode, "-", " ")))
		for _, want := range []string{tvName, "Know who you are", "See your username", "<code>media:watch</code>",
			"<dt>Device address</dt><dd>127.0.0.1</dd>", "<dt>Your address</dt><dd>203.0.113.44</dd>",
			"<dt>Device software (as the device reports it)</dt><dd>" + deviceAgent + "</dd>",
			"Only continue if you started this on your own device", d.userCode,
			`name="decision" value="allow"`, `name="decision" value="deny"`} {
			if !strings.Contains(confirm.body, want) {
				t.Errorf("the confirmation lacks %q", want)
			}
		}
		if confirm.StatusCode != http.StatusOK {
			t.Fatalf("confirmation: %d", confirm.StatusCode)
		}
		l.clock.Advance(6 * time.Second)                   // past the interval: no slow_down
		l.pollError(d.deviceCode, "authorization_pending") // not decided by showing it

		done := b.decideDevice(confirm, "allow")
		if done.StatusCode != http.StatusOK || !strings.Contains(done.body, "Your device is signed in") ||
			!strings.Contains(done.body, `href="`+web.SessionsPath+`"`) {
			t.Fatalf("after Allow: %d %s", done.StatusCode, done.body)
		}
		l.clock.Advance(6 * time.Second) // the interval
		tok := l.poll(d.deviceCode)
		if tok.status != http.StatusOK || tok.str("access_token") == "" || tok.str("refresh_token") == "" {
			t.Fatalf("poll after Allow: %d %v", tok.status, tok.body)
		}
		l.clock.Advance(6 * time.Second)
		l.pollError(d.deviceCode, "invalid_grant") // once

		evs := l.events(audit.DeviceApproved)
		if len(evs) != 1 || evs[0].Subject != l.user.ID || evs[0].Actor != audit.User(l.user.ID) ||
			!strings.Contains(evs[0].Detail, deviceAgent) {
			t.Errorf("device_approved events: %+v", evs)
		}
	})
}

// TestDeviceDenyIsAccessDenied: Deny ends the request; the TV's poll is
// access_denied.
func TestDeviceDenyIsAccessDenied(t *testing.T) {
	testdb.Each(t, func(t *testing.T, st store.Store) {
		l := newLive(t, st)
		d := l.startDevice()
		done := newBrowser(t, l.URL).approveDevice(d.userCode, "deny")
		if done.StatusCode != http.StatusOK || !strings.Contains(done.body, "<h1>Denied</h1>") {
			t.Fatalf("after Deny: %d %s", done.StatusCode, done.body)
		}
		l.pollError(d.deviceCode, "access_denied")
		if evs := l.events(audit.DeviceDenied); len(evs) != 1 {
			t.Errorf("device_denied events: %+v", evs)
		}
	})
}

// TestWrongUserCodeShowsAnAlert: an unknown code, and an expired one, get
// the form again with the alert, and a user_code_failed event.
func TestWrongUserCodeShowsAnAlert(t *testing.T) {
	l := newLive(t, testdb.SQLite(t))
	d := l.startDevice()
	b := newBrowser(t, l.URL)
	form := b.signInFor(web.DevicePath, "alice")
	wrong := b.enterCode(form, "BBBB-BBBB")
	if wrong.StatusCode != http.StatusOK || wrong.alert() != "That code is not valid or has expired. Check the code on your device." {
		t.Fatalf("wrong code: %d alert %q", wrong.StatusCode, wrong.alert())
	}
	if !strings.Contains(wrong.body, `name="user_code"`) || !strings.Contains(wrong.body, `value="BBBB-BBBB"`) {
		t.Error("the form is not shown again with what was typed")
	}
	if junk := b.enterCode(form, "not a code <b>"); junk.alert() == "" || strings.Contains(junk.body, "<b>") {
		t.Errorf("junk: alert %q", junk.alert())
	}
	if empty := b.enterCode(form, " "); empty.alert() != "Enter the code shown on your device." {
		t.Errorf("empty: alert %q", empty.alert())
	}
	evs := l.events(audit.UserCodeFailed)
	if len(evs) == 0 || evs[0].Reason != audit.ReasonUnknown || evs[0].Subject != l.user.ID {
		t.Errorf("user_code_failed events: %+v", evs)
	}

	l.clock.Advance(11 * time.Minute) // past the device code's 10 minutes
	if late := b.enterCode(form, d.userCode); late.alert() != "That code is not valid or has expired. Check the code on your device." {
		t.Errorf("expired code: %d alert %q", late.StatusCode, late.alert())
	}
	l.pollError(d.deviceCode, "expired_token")
}

// TestWrongUserCodesAreThrottled: after five wrong codes in one browser
// session even the right code is refused, with 429 and Retry-After,
// on the code form and on the confirmation's; a minute later one more
// attempt is allowed. Per address, twenty wrong codes from fresh sessions
// of other users lock out a sixth session from its first attempt.
func TestWrongUserCodesAreThrottled(t *testing.T) {
	l := newLive(t, testdb.SQLite(t))
	d := l.startDevice()
	b := newBrowser(t, l.URL)
	form := b.signInFor(web.DevicePath, "alice")
	confirm := b.enterCode(form, d.userCode) // a right code costs nothing
	for i := range 5 {
		if resp := b.enterCode(form, "BBBB-BBB"+string("CDFGH"[i])); resp.StatusCode != http.StatusOK {
			t.Fatalf("wrong code %d: %d", i+1, resp.StatusCode)
		}
	}
	for name, resp := range map[string]*response{
		"the code form":    b.enterCode(form, d.userCode),
		"the confirmation": b.decideDevice(confirm, "allow"),
	} {
		if resp.StatusCode != http.StatusTooManyRequests || resp.header("Retry-After") == "" ||
			!strings.HasPrefix(resp.alert(), "Too many wrong codes; wait 1 minute") {
			t.Errorf("%s with the right code after 5 wrong: %d Retry-After %q alert %q", name, resp.StatusCode, resp.header("Retry-After"), resp.alert())
		}
		if strings.Contains(resp.body, tvName) {
			t.Errorf("%s: the throttled answer shows the request", name)
		}
	}
	l.pollError(d.deviceCode, "authorization_pending") // the throttled Allow decided nothing
	if evs := l.events(audit.UserCodeFailed); !hasReason(evs, audit.ReasonThrottled) {
		t.Errorf("no throttled user_code_failed event: %+v", evs)
	}

	l.clock.Advance(time.Minute)
	if resp := b.enterCode(form, d.userCode); resp.StatusCode != http.StatusOK || !strings.Contains(resp.body, tvName) {
		t.Fatalf("a minute later: %d %s", resp.StatusCode, resp.alert())
	}

	// Per address: the 5 wrong codes above and the 4 refilled in that
	// minute leave 19; 4 more users' sessions × 5 wrong codes spend them
	// (other users, so that no user's own limit is what refuses).
	for _, name := range []string{"bob", "carol", "dave", "erin"} {
		l.AddUser(t, name, password)
		other := newBrowser(t, l.URL)
		page := other.signInFor(web.DevicePath, name)
		for range 5 {
			other.enterCode(page, "BBBB-BBBB")
		}
	}
	l.AddUser(t, "frank", password)
	fresh := newBrowser(t, l.URL)
	page := fresh.signInFor(web.DevicePath, "frank")
	if resp := fresh.enterCode(page, d.userCode); resp.StatusCode != http.StatusTooManyRequests {
		t.Errorf("a fresh session from an address past its limit: %d %q", resp.StatusCode, resp.alert())
	}
}

// TestWrongUserCodesCountIPv6ByNetwork: an attacker who moves to a new
// IPv6 address of the same /64 for every guess, and signs in afresh (as
// other users) every five, is counted as one address: past twenty wrong
// codes, a fresh session from a fresh address of that /64 is refused at
// once, while the next /64 is not.
func TestWrongUserCodesCountIPv6ByNetwork(t *testing.T) {
	l := newLive(t, testdb.SQLite(t))
	d := l.startDevice()
	n := 0
	next := func(b *browser) { n++; b.from = "2001:db8:1:2:" + strconv.FormatInt(int64(n), 16) + "::1" }
	for _, name := range []string{"bob", "carol", "dave", "erin"} {
		l.AddUser(t, name, password)
		b := newBrowser(t, l.URL)
		next(b)
		page := b.signInFor(web.DevicePath, name)
		for i := range 5 {
			next(b)
			if resp := b.enterCode(page, "BBBB-BBBB"); resp.StatusCode != http.StatusOK {
				t.Fatalf("%s's wrong code %d from %s: %d %q", name, i+1, b.from, resp.StatusCode, resp.alert())
			}
		}
	}
	l.AddUser(t, "frank", password)
	b := newBrowser(t, l.URL)
	next(b)
	page := b.signInFor(web.DevicePath, "frank")
	next(b)
	if resp := b.enterCode(page, d.userCode); resp.StatusCode != http.StatusTooManyRequests || resp.header("Retry-After") == "" {
		t.Errorf("a fresh session from a fresh address of the same /64: %d %q", resp.StatusCode, resp.alert())
	}
	b.from = "2001:db8:1:3::1"
	if resp := b.enterCode(page, d.userCode); resp.StatusCode != http.StatusOK || !strings.Contains(resp.body, tvName) {
		t.Errorf("from another /64: %d %q", resp.StatusCode, resp.alert())
	}
}

// TestWrongUserCodesCountPerUser: a user who signs in afresh for every
// five guesses, each time from another network, is refused past ten
// wrong codes, on the first attempt of a fresh session from a fresh
// address; half a minute later one more attempt is allowed.
func TestWrongUserCodesCountPerUser(t *testing.T) {
	l := newLive(t, testdb.SQLite(t))
	d := l.startDevice()
	for s := range 2 {
		b := newBrowser(t, l.URL)
		b.from = "198.51.100." + strconv.Itoa(s+1)
		page := b.signInFor(web.DevicePath, "alice")
		for i := range 5 {
			if resp := b.enterCode(page, "BBBB-BBBB"); resp.StatusCode != http.StatusOK {
				t.Fatalf("session %d, wrong code %d: %d %q", s+1, i+1, resp.StatusCode, resp.alert())
			}
		}
	}
	b := newBrowser(t, l.URL)
	b.from = "203.0.113.9"
	page := b.signInFor(web.DevicePath, "alice")
	if resp := b.enterCode(page, d.userCode); resp.StatusCode != http.StatusTooManyRequests ||
		resp.header("Retry-After") != "30" || strings.Contains(resp.body, tvName) {
		t.Errorf("alice's third session from a third address: %d Retry-After %q %q", resp.StatusCode, resp.header("Retry-After"), resp.alert())
	}
	if evs := l.events(audit.UserCodeFailed); !hasReason(evs, audit.ReasonThrottled) {
		t.Errorf("no throttled user_code_failed event: %+v", evs)
	}
	l.clock.Advance(30 * time.Second)
	if resp := b.enterCode(page, d.userCode); resp.StatusCode != http.StatusOK || !strings.Contains(resp.body, tvName) {
		t.Errorf("half a minute later: %d %q", resp.StatusCode, resp.alert())
	}
}

func hasReason(evs []store.Event, reason string) bool {
	for _, e := range evs {
		if e.Reason == reason {
			return true
		}
	}
	return false
}

// TestDeviceFormsNeedCSRF: the code form and the confirmation without a
// valid csrf_token are refused, and the request stays pending.
func TestDeviceFormsNeedCSRF(t *testing.T) {
	l := newLive(t, testdb.SQLite(t))
	d := l.startDevice()
	b := newBrowser(t, l.URL)
	form := b.signInFor(web.DevicePath, "alice")
	confirm := b.enterCode(form, d.userCode)
	f := confirm.hidden()
	f.Set("decision", "allow")
	for name, edit := range map[string]func(url.Values){
		"missing": func(v url.Values) { v.Del("csrf_token") },
		"wrong":   func(v url.Values) { v.Set("csrf_token", strings.Repeat("A", 43)) },
	} {
		v := url.Values{}
		for k, vs := range f {
			v[k] = vs
		}
		edit(v)
		if resp := b.post(web.DevicePath, v); resp.StatusCode != http.StatusBadRequest || resp.alert() == "" {
			t.Errorf("%s CSRF token on Allow: %d", name, resp.StatusCode)
		}
		v.Del("decision")
		v.Del("session")
		if resp := b.post(web.DevicePath, v); resp.StatusCode != http.StatusBadRequest || strings.Contains(resp.body, tvName) {
			t.Errorf("%s CSRF token on the code form: %d", name, resp.StatusCode)
		}
	}
	l.pollError(d.deviceCode, "authorization_pending")
	if resp := b.post(web.DevicePath, url.Values{"user_code": {d.userCode}, "csrf_token": {f.Get("csrf_token")}, "decision": {"maybe"}}); resp.StatusCode != http.StatusBadRequest {
		t.Errorf("decision=maybe: %d", resp.StatusCode)
	}
}

// TestDeviceAnswerCountsOnlyForWhoSawIt: a confirmation shown to one
// person and sent after another signed in, in another tab, is shown again
// to the one signed in now, not decided.
func TestDeviceAnswerCountsOnlyForWhoSawIt(t *testing.T) {
	l := newLive(t, testdb.SQLite(t))
	l.AddUser(t, "bob", password)
	d := l.startDevice()
	b := newBrowser(t, l.URL)
	confirm := b.enterCode(b.signInFor(web.DevicePath, "alice"), d.userCode)
	// bob signs in in another tab of the same browser.
	if resp := b.post(web.LoginPath, url.Values{"csrf_token": {confirm.hidden().Get("csrf_token")}, "return": {web.SessionsPath},
		"username": {"bob"}, "password": {password}}); resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != web.SessionsPath {
		t.Fatalf("bob's sign-in: %d %q", resp.StatusCode, resp.Header.Get("Location"))
	}
	again := b.decideDevice(confirm, "allow")
	if again.StatusCode != http.StatusOK || !strings.Contains(again.body, "Signed in as <strong>bob</strong>") ||
		!strings.Contains(again.body, `name="decision"`) {
		t.Fatalf("a stale confirmation: %d %s", again.StatusCode, again.body)
	}
	l.pollError(d.deviceCode, "authorization_pending")
}

// TestLoginReturnGoesOnlyToRotorsPages: a login page for a return other
// than /device or /account/sessions is refused, and a wrong password on a
// login page for a return keeps the way back.
func TestLoginReturnGoesOnlyToRotorsPages(t *testing.T) {
	l := newLive(t, testdb.SQLite(t))
	b := newBrowser(t, l.URL)
	for _, ret := range []string{"https://evil.example/", "//evil.example/device", "/device?user_code=BCDF-GHJK&x=1", "/login"} {
		if resp := b.get(l.URL + web.LoginPath + "?" + url.Values{"return": {ret}}.Encode()); resp.StatusCode != http.StatusBadRequest {
			t.Errorf("return=%q: %d %q", ret, resp.StatusCode, resp.Header.Get("Location"))
		}
	}
	page := b.follow(b.get(l.URL + web.SessionsPath))
	if !strings.Contains(page.body, "to see your sessions") {
		t.Errorf("the login page does not say why: %s", page.body)
	}
	f := page.hidden()
	f.Set("username", "alice")
	f.Set("password", "wrong")
	again := b.post(web.LoginPath, f)
	if again.alert() != "Wrong username or password." || again.hidden().Get("return") != web.SessionsPath {
		t.Errorf("wrong password: alert %q, return %q", again.alert(), again.hidden().Get("return"))
	}
	f.Set("return", "https://evil.example/")
	f.Set("password", password)
	if resp := b.post(web.LoginPath, f); resp.StatusCode != http.StatusBadRequest || resp.Header.Get("Location") != "" {
		t.Errorf("a posted return to another site: %d %q", resp.StatusCode, resp.Header.Get("Location"))
	}
	f.Set("return", web.SessionsPath)
	f.Set("request", "x")
	if resp := b.post(web.LoginPath, f); resp.StatusCode != http.StatusBadRequest {
		t.Errorf("both request and return: %d", resp.StatusCode)
	}
}

// TestWrongUserCodeLimitsSurviveAFlood: a user who has spent their wrong
// codes cannot get them back by filling the table of counts: thousands
// of refused attempts, each from a fresh /64 (each a new key), leave the
// spent buckets where they were. The table holds 64 keys here.
func TestWrongUserCodeLimitsSurviveAFlood(t *testing.T) {
	r := newRig(t)
	web.SetCodeTable(r.web, 64)
	r.addUser(t, "bob")
	n := 0
	next := func(b *browser) { n++; b.from = "2001:db8:" + strconv.FormatInt(int64(n), 16) + "::1" }
	// alice, then bob, spend their ten wrong codes in two sessions each.
	for _, name := range []string{"alice", "alice", "bob", "bob"} {
		b := r.browser(t)
		next(b)
		page := b.signInFor(web.DevicePath, name)
		for range 5 {
			if resp := b.enterCode(page, "BBBB-BBBB"); resp.StatusCode != http.StatusOK {
				t.Fatalf("%s's wrong code: %d %q", name, resp.StatusCode, resp.alert())
			}
		}
	}
	flood := r.browser(t)
	next(flood)
	page := flood.signInFor(web.DevicePath, "bob")
	for i := range 2000 {
		next(flood)
		if resp := flood.enterCode(page, "BBBB-BBBB"); resp.StatusCode != http.StatusTooManyRequests {
			t.Fatalf("flood attempt %d: %d", i+1, resp.StatusCode)
		}
	}
	b := r.browser(t)
	next(b)
	page = b.signInFor(web.DevicePath, "alice")
	next(b)
	if resp := b.enterCode(page, "BBBB-BBBB"); resp.StatusCode != http.StatusTooManyRequests {
		t.Errorf("alice after the flood, from a fresh session and address: %d %q", resp.StatusCode, resp.alert())
	}
}
