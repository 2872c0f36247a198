package web_test

import (
	"context"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/rotor-auth/rotor/internal/audit"
	"github.com/rotor-auth/rotor/internal/store"
	"github.com/rotor-auth/rotor/internal/store/testdb"
	"github.com/rotor-auth/rotor/internal/token"
	"github.com/rotor-auth/rotor/internal/web"
)

// twoSessions gives alice a family of the web app's code flow, signed in
// in b, and one of the TV's device flow, approved in b; it returns both
// token answers.
func twoSessions(t *testing.T, l *live, b *browser) (code, tv answer) {
	t.Helper()
	code = l.codeFlow(b)
	d := l.startDevice()
	if done := b.approveDevice(d.userCode, "allow"); !strings.Contains(done.body, "Your device is signed in") {
		t.Fatalf("device approval: %d %s", done.StatusCode, done.body)
	}
	tv = l.poll(d.deviceCode)
	if tv.status != http.StatusOK || tv.str("refresh_token") == "" {
		t.Fatalf("device tokens: %d %v", tv.status, tv.body)
	}
	return code, tv
}

// sid is the family id of a token answer: the sid claim of its access
// token, as the sessions page names it.
func (l *live) sid(a answer) string {
	l.t.Helper()
	c, ok := token.NewIssuer(l.URL, l.Keys, l.clock.Now).Verify(context.Background(), a.str("access_token"), false)
	if !ok || c.SID == "" {
		l.t.Fatalf("an access token without a family: %v", a.body)
	}
	return c.SID
}

var sessionRE = regexp.MustCompile(`(?s)<li class="session" data-sid="([^"]+)">(.*?)</li>`)

// sessionsOn returns the sessions page's entries, by family id.
func sessionsOn(page *response) map[string]string {
	out := map[string]string{}
	for _, m := range sessionRE.FindAllStringSubmatch(page.body, -1) {
		out[m[1]] = m[2]
	}
	return out
}

// TestSessionsPageListsEachLiveFamily: the code flow's family and the
// device flow's are listed with their clients, the one created in this
// browser session is marked, and ending one makes its refresh token
// invalid_grant while the other keeps working.
func TestSessionsPageListsEachLiveFamily(t *testing.T) {
	testdb.Each(t, func(t *testing.T, st store.Store) {
		l := newLive(t, st)
		b := newBrowser(t, l.URL)
		webTok, tvTok := twoSessions(t, l, b)
		webSID, tvSID := l.sid(webTok), l.sid(tvTok)

		page := b.get(l.URL + web.SessionsPath)
		if page.StatusCode != http.StatusOK {
			t.Fatalf("sessions page: %d %s", page.StatusCode, page.body)
		}
		got := sessionsOn(page)
		if len(got) != 2 {
			t.Fatalf("the page lists %d sessions, want 2: %s", len(got), page.body)
		}
		for sid, want := range map[string]string{webSID: webappName, tvSID: tvName} {
			entry := got[sid]
			for _, part := range []string{want, `name="revoke" value="` + sid + `"`, "Signed in", "Last used", "Expires", "127.0.0.1"} {
				if !strings.Contains(entry, part) {
					t.Errorf("the entry of %s lacks %q: %s", want, part, entry)
				}
			}
		}
		if !strings.Contains(got[webSID], "This browser") || strings.Contains(got[tvSID], "This browser") {
			t.Error("only the code flow's family was created in this browser session")
		}
		if !strings.Contains(got[tvSID], deviceAgent) {
			t.Error("the TV's entry does not show its user agent")
		}

		// End the TV's.
		f := page.hidden()
		f.Set("revoke", tvSID)
		resp := b.post(web.SessionsPath, f)
		if resp.StatusCode != http.StatusSeeOther {
			t.Fatalf("revoke: %d %s", resp.StatusCode, resp.body)
		}
		after := b.follow(resp)
		if got := sessionsOn(after); len(got) != 1 || got[webSID] == "" || !strings.Contains(after.body, "That session has ended") {
			t.Errorf("after ending the TV's: %v", got)
		}
		if a := l.refresh("tv", tvTok.str("refresh_token")); a.status != http.StatusBadRequest || a.str("error") != "invalid_grant" {
			t.Errorf("the ended family's refresh: %d %v", a.status, a.body)
		}
		if a := l.refresh("webapp", webTok.str("refresh_token")); a.status != http.StatusOK {
			t.Errorf("the other family's refresh: %d %v", a.status, a.body)
		}
		evs := l.events(audit.FamilyRevoked)
		if len(evs) != 1 || evs[0].FamilyID != tvSID || evs[0].Reason != audit.ReasonUser || evs[0].Actor != audit.User(l.user.ID) {
			t.Errorf("family_revoked events: %+v", evs)
		}
	})
}

// TestSessionsPageWithNone: a user with no live family reads so; signed
// out, the page goes through the login page and back.
func TestSessionsPageWithNone(t *testing.T) {
	l := newLive(t, testdb.SQLite(t))
	b := newBrowser(t, l.URL)
	page := b.signInFor(web.SessionsPath, "alice")
	if page.StatusCode != http.StatusOK || !strings.Contains(page.body, "No apps are signed in.") ||
		!strings.Contains(page.body, `name="sign_out_everywhere"`) {
		t.Fatalf("empty sessions page: %d %s", page.StatusCode, page.body)
	}
}

// TestRevokingAnotherUsersFamilyIsRefused: bob's browser posting alice's
// family id (or a made-up one) gets a not-found page, and nothing ends.
func TestRevokingAnotherUsersFamilyIsRefused(t *testing.T) {
	l := newLive(t, testdb.SQLite(t))
	l.AddUser(t, "bob", password)
	alice := newBrowser(t, l.URL)
	tok := l.codeFlow(alice)
	sid := l.sid(tok)

	bob := newBrowser(t, l.URL)
	page := bob.signInFor(web.SessionsPath, "bob")
	for _, id := range []string{sid, "no-such-family"} {
		f := page.hidden()
		f.Set("revoke", id)
		resp := bob.post(web.SessionsPath, f)
		if resp.StatusCode != http.StatusNotFound || resp.alert() == "" {
			t.Errorf("bob revoking %q: %d %s", id, resp.StatusCode, resp.body)
		}
	}
	if a := l.refresh("webapp", tok.str("refresh_token")); a.status != http.StatusOK {
		t.Errorf("alice's family after bob's attempt: %d %v", a.status, a.body)
	}
	if evs := l.events(audit.FamilyRevoked); len(evs) != 0 {
		t.Errorf("family_revoked events: %+v", evs)
	}
}

// TestSessionsFormsNeedCSRF: without a valid csrf_token, neither ending
// one session nor signing out everywhere does anything.
func TestSessionsFormsNeedCSRF(t *testing.T) {
	l := newLive(t, testdb.SQLite(t))
	b := newBrowser(t, l.URL)
	tok := l.codeFlow(b)
	for _, f := range []url.Values{
		{"revoke": {l.sid(tok)}},
		{"sign_out_everywhere": {"yes"}},
		{"sign_out_everywhere": {"yes"}, "csrf_token": {strings.Repeat("A", 43)}},
	} {
		if resp := b.post(web.SessionsPath, f); resp.StatusCode != http.StatusBadRequest {
			t.Errorf("%v: %d", f, resp.StatusCode)
		}
	}
	if a := l.refresh("webapp", tok.str("refresh_token")); a.status != http.StatusOK {
		t.Errorf("after refused forms: %d %v", a.status, a.body)
	}
	if page := b.get(l.URL + web.SessionsPath); page.StatusCode != http.StatusOK {
		t.Errorf("the browser session ended: %d", page.StatusCode)
	}
	// Both buttons at once, or neither, is not a form the page sends.
	csrf := b.get(l.URL + web.SessionsPath).hidden().Get("csrf_token")
	for _, f := range []url.Values{
		{"csrf_token": {csrf}},
		{"csrf_token": {csrf}, "revoke": {l.sid(tok)}, "sign_out_everywhere": {"yes"}},
	} {
		if resp := b.post(web.SessionsPath, f); resp.StatusCode != http.StatusBadRequest {
			t.Errorf("%v: %d", f, resp.StatusCode)
		}
	}
}

// TestSignOutEverywhere ends both families, and the browser session: the
// cookie is cleared, and the page asks for a sign-in again.
func TestSignOutEverywhere(t *testing.T) {
	testdb.Each(t, func(t *testing.T, st store.Store) {
		l := newLive(t, st)
		b := newBrowser(t, l.URL)
		webTok, tvTok := twoSessions(t, l, b)
		page := b.get(l.URL + web.SessionsPath)
		f := page.hidden()
		f.Set("sign_out_everywhere", "yes")
		l.clock.Advance(time.Second)
		resp := b.post(web.SessionsPath, f)
		if resp.StatusCode != http.StatusOK || !strings.Contains(resp.body, "You are signed out everywhere") {
			t.Fatalf("sign out everywhere: %d %s", resp.StatusCode, resp.body)
		}
		cleared := false
		for _, c := range resp.Cookies() {
			cleared = cleared || (c.Name == "rotor_session" && c.MaxAge < 0)
		}
		if !cleared {
			t.Error("the session cookie was not cleared")
		}
		for client, tok := range map[string]answer{"webapp": webTok, "tv": tvTok} {
			if a := l.refresh(client, tok.str("refresh_token")); a.status != http.StatusBadRequest || a.str("error") != "invalid_grant" {
				t.Errorf("%s's refresh after signing out everywhere: %d %v", client, a.status, a.body)
			}
		}
		if again := b.get(l.URL + web.SessionsPath); again.StatusCode != http.StatusSeeOther {
			t.Errorf("the sessions page after signing out everywhere: %d", again.StatusCode)
		}
		if evs := l.events(audit.SignedOutEverywhere); len(evs) != 1 || evs[0].Actor != audit.User(l.user.ID) {
			t.Errorf("signed_out_everywhere events: %+v", evs)
		}
	})
}

// TestConsentAndLogoutLinkToSessions: the consent and logout pages carry
// the small "Your sessions" link.
func TestConsentAndLogoutLinkToSessions(t *testing.T) {
	r := newRig(t)
	b := r.browser(t)
	consent := b.follow(b.login(b.get(r.request()), "alice", password))
	logout := b.get(r.issuer + web.LogoutPath)
	for name, page := range map[string]*response{"consent": consent, "logout": logout} {
		if !strings.Contains(page.body, `<a href="/account/sessions">Your sessions</a>`) {
			t.Errorf("the %s page has no link to the sessions page: %s", name, page.body)
		}
	}
}

const (
	firefoxAgent = "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:128.0) Gecko/20100101 Firefox/128.0"
	chromeAgent  = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0.0.0 Safari/537.36"
)

var browserRE = regexp.MustCompile(`(?s)<li class="session browser" data-browser="([^"]+)">(.*?)</li>`)

// browsersOn returns the sessions page's browser entries, by session id.
func browsersOn(page *response) map[string]string {
	out := map[string]string{}
	for _, m := range browserRE.FindAllStringSubmatch(page.body, -1) {
		out[m[1]] = m[2]
	}
	return out
}

// otherBrowser is the one entry of browsers not marked "This browser".
func otherBrowser(t *testing.T, browsers map[string]string) string {
	t.Helper()
	other := ""
	for id, entry := range browsers {
		if !strings.Contains(entry, "This browser") {
			if other != "" {
				t.Fatalf("more than one other browser: %v", browsers)
			}
			other = id
		}
	}
	if other == "" {
		t.Fatalf("no other browser: %v", browsers)
	}
	return other
}

// TestSessionsPageListsBrowsers: each live browser session of the user is
// listed with when it signed in, was last seen, its address and user
// agent; this one is marked and offers nothing to end; ending the other
// revokes the family created in it and signs its cookie out, while this
// browser and its family go on.
func TestSessionsPageListsBrowsers(t *testing.T) {
	testdb.Each(t, func(t *testing.T, st store.Store) {
		l := newLive(t, st)
		laptop := newBrowser(t, l.URL)
		laptop.from, laptop.agent = "198.51.100.7", firefoxAgent
		laptop.signInFor(web.SessionsPath, "alice")
		mine := l.codeFlow(laptop)
		phone := newBrowser(t, l.URL)
		phone.from, phone.agent = "203.0.113.5", chromeAgent
		theirs := l.codeFlow(phone)

		page := laptop.get(l.URL + web.SessionsPath)
		got := browsersOn(page)
		if len(got) != 2 {
			t.Fatalf("the page lists %d browsers, want 2: %s", len(got), page.body)
		}
		other := otherBrowser(t, got)
		for id, entry := range got {
			if id == other {
				for _, part := range []string{"Chrome on Linux", "203.0.113.5", chromeAgent, "Signed in", "Last seen", `name="end_browser" value="` + id + `"`} {
					if !strings.Contains(entry, part) {
						t.Errorf("the other browser's entry lacks %q: %s", part, entry)
					}
				}
				continue
			}
			for _, part := range []string{"Firefox on Windows", "198.51.100.7", firefoxAgent, "This browser"} {
				if !strings.Contains(entry, part) {
					t.Errorf("this browser's entry lacks %q: %s", part, entry)
				}
			}
			if strings.Contains(entry, "end_browser") {
				t.Errorf("this browser's entry offers to end it: %s", entry)
			}
		}
		if !strings.Contains(page.body, "<h2>Browsers signed in</h2>") {
			t.Error("no Browsers signed in section")
		}
		if fams := sessionsOn(page); len(fams) != 2 {
			t.Errorf("the page lists %d families, want 2", len(fams))
		}

		f := page.hidden()
		f.Set("end_browser", other)
		resp := laptop.post(web.SessionsPath, f)
		if resp.StatusCode != http.StatusSeeOther {
			t.Fatalf("end_browser: %d %s", resp.StatusCode, resp.body)
		}
		after := laptop.follow(resp)
		if got := browsersOn(after); len(got) != 1 || got[other] != "" || !strings.Contains(after.body, "That browser is signed out") {
			t.Errorf("after ending the other browser: %v %s", got, after.alert())
		}
		if a := l.refresh("webapp", theirs.str("refresh_token")); a.status != http.StatusBadRequest || a.str("error") != "invalid_grant" {
			t.Errorf("the family of the ended browser session: %d %v", a.status, a.body)
		}
		if a := l.refresh("webapp", mine.str("refresh_token")); a.status != http.StatusOK {
			t.Errorf("this browser's family: %d %v", a.status, a.body)
		}
		if resp := phone.get(l.URL + web.SessionsPath); resp.StatusCode != http.StatusSeeOther ||
			!strings.HasPrefix(resp.Header.Get("Location"), web.LoginPath) {
			t.Errorf("the ended browser's cookie still signs in: %d %q", resp.StatusCode, resp.Header.Get("Location"))
		}
		if resp := laptop.get(l.URL + web.SessionsPath); resp.StatusCode != http.StatusOK {
			t.Errorf("this browser was signed out: %d", resp.StatusCode)
		}
		evs := l.events(audit.SessionEnded)
		if len(evs) != 1 || evs[0].Reason != audit.ReasonUser || evs[0].Actor != audit.User(l.user.ID) {
			t.Errorf("session_ended events: %+v", evs)
		}
	})
}

// TestEndingAnotherUsersBrowserIsRefused: alice posting bob's browser
// session id, or a made-up one, gets the page a foreign family gets, and
// bob stays signed in; her own browser's id is not a form the page sends.
func TestEndingAnotherUsersBrowserIsRefused(t *testing.T) {
	l := newLive(t, testdb.SQLite(t))
	l.AddUser(t, "bob", password)
	bob := newBrowser(t, l.URL)
	bobPage := bob.signInFor(web.SessionsPath, "bob")
	bobSession := ""
	for id := range browsersOn(bobPage) {
		bobSession = id
	}
	alice := newBrowser(t, l.URL)
	page := alice.signInFor(web.SessionsPath, "alice")
	own := ""
	for id := range browsersOn(page) {
		own = id
	}
	if bobSession == "" || own == "" {
		t.Fatalf("no browser entries: %s", page.body)
	}
	for _, id := range []string{bobSession, "no-such-session"} {
		f := page.hidden()
		f.Set("end_browser", id)
		resp := alice.post(web.SessionsPath, f)
		if resp.StatusCode != http.StatusNotFound || resp.alert() != "That session is not one of yours, or it no longer exists, so nothing was ended." {
			t.Errorf("alice ending %q: %d %q", id, resp.StatusCode, resp.alert())
		}
	}
	f := page.hidden()
	f.Set("end_browser", own)
	if resp := alice.post(web.SessionsPath, f); resp.StatusCode != http.StatusBadRequest {
		t.Errorf("alice ending her own browser from the list: %d", resp.StatusCode)
	}
	f.Set("revoke", "x")
	if resp := alice.post(web.SessionsPath, f); resp.StatusCode != http.StatusBadRequest {
		t.Errorf("end_browser and revoke at once: %d", resp.StatusCode)
	}
	if resp := bob.get(l.URL + web.SessionsPath); resp.StatusCode != http.StatusOK {
		t.Errorf("bob was signed out: %d", resp.StatusCode)
	}
	if resp := alice.get(l.URL + web.SessionsPath); resp.StatusCode != http.StatusOK {
		t.Errorf("alice was signed out: %d", resp.StatusCode)
	}
	if evs := l.events(audit.SessionEnded); len(evs) != 0 {
		t.Errorf("session_ended events: %+v", evs)
	}
}
