package web_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/rotor-auth/rotor/internal/audit"
	"github.com/rotor-auth/rotor/internal/authz"
	"github.com/rotor-auth/rotor/internal/store"
	"github.com/rotor-auth/rotor/internal/store/testdb"
	"github.com/rotor-auth/rotor/internal/web"
)

// TestSignInIssuesACodeBoundToTheSession: login, consent, and the code
// the client gets redeems into a family of the browser session.
func TestSignInIssuesACodeBoundToTheSession(t *testing.T) {
	testdb.Each(t, func(t *testing.T, st store.Store) { testSignIn(t, newRigOn(t, st)) })
}

func testSignIn(t *testing.T, r *rig) {
	b := r.browser(t)
	page := b.get(r.request())
	if page.StatusCode != http.StatusOK || page.alert() != "" {
		t.Fatalf("login page: %d %q", page.StatusCode, page.alert())
	}
	for _, want := range []string{`name="username"`, `name="password"`, `type="password"`, `Example Web App`} {
		if !strings.Contains(page.body, want) {
			t.Errorf("login page lacks %s", want)
		}
	}
	after := b.login(page, "alice", password)
	if after.StatusCode != http.StatusSeeOther || !strings.HasPrefix(after.Header.Get("Location"), web.ConsentPath+"?request=") {
		t.Fatalf("after login: %d %q", after.StatusCode, after.Header.Get("Location"))
	}
	consent := b.follow(after)
	if consent.StatusCode != http.StatusOK || !strings.Contains(consent.body, `name="decision" value="allow"`) ||
		!strings.Contains(consent.body, `name="decision" value="deny"`) {
		t.Fatalf("consent page: %d %s", consent.StatusCode, consent.body)
	}
	for _, want := range []string{"Example Web App", "Know who you are", "<code>read</code>", "alice"} {
		if !strings.Contains(consent.body, want) {
			t.Errorf("consent page lacks %q", want)
		}
	}
	q := callback(t, b.decide(consent, "allow"))
	if q.Get("state") != "st-1" || q.Get("iss") != r.issuer || !strings.HasPrefix(q.Get("code"), authz.PrefixCode) {
		t.Fatalf("callback %v", q)
	}
	got := r.redeem(t, q.Get("code"))
	if got.Grant == nil || got.Grant.Family.SessionID == "" || got.User.ID != r.user.ID {
		t.Fatalf("redeemed %+v", got)
	}
	sess, err := r.st.GetSession(context.Background(), got.Grant.Family.SessionID)
	if err != nil || sess.Subject != r.user.ID {
		t.Fatalf("session %+v %v", sess, err)
	}
}

// TestFormWithoutCSRFTokenIsRefused: a login or consent post without its
// csrf_token (or with another browser's) does nothing and says so, with a
// way to start again.
func TestFormWithoutCSRFTokenIsRefused(t *testing.T) {
	r := newRig(t)
	b := r.browser(t)
	page := b.get(r.request())
	for name, edit := range map[string]func(url.Values){
		"missing": func(f url.Values) { f.Del("csrf_token") },
		"wrong":   func(f url.Values) { f.Set("csrf_token", strings.Repeat("A", 43)) },
	} {
		f := page.hidden()
		edit(f)
		f.Set("username", "alice")
		f.Set("password", password)
		resp := b.post(web.LoginPath, f)
		if resp.StatusCode != http.StatusBadRequest || resp.alert() == "" || !strings.Contains(resp.body, "Start again") {
			t.Errorf("%s token: %d %q", name, resp.StatusCode, resp.alert())
		}
		if resp.Header.Get("Location") != "" || hasCookie(resp, "rotor_session") {
			t.Errorf("%s token: signed in anyway", name)
		}
	}
	// Another browser's token: its cookie differs.
	other := r.browser(t)
	f := page.hidden()
	other.get(r.request())
	f.Set("username", "alice")
	f.Set("password", password)
	if resp := other.post(web.LoginPath, f); resp.StatusCode != http.StatusBadRequest {
		t.Errorf("another browser's token: %d", resp.StatusCode)
	}
	// The consent form too.
	consent := b.follow(b.login(page, "alice", password))
	f = consent.hidden()
	f.Del("csrf_token")
	f.Set("decision", "allow")
	if resp := b.post(web.ConsentPath, f); resp.StatusCode != http.StatusBadRequest || resp.alert() == "" || resp.Header.Get("Location") != "" {
		t.Errorf("consent without token: %d %q", resp.StatusCode, resp.alert())
	}
}

func hasCookie(resp *response, name string) bool {
	for _, c := range resp.Cookies() {
		if c.Name == name && c.Value != "" {
			return true
		}
	}
	return false
}

// TestWrongPasswordShowsAnAlertAndNoCode: a wrong password and an unknown
// user get the same page again, with the alert, no session and no code;
// the failure is audited.
func TestWrongPasswordShowsAnAlertAndNoCode(t *testing.T) {
	r := newRig(t)
	b := r.browser(t)
	page := b.get(r.request())
	for _, c := range []struct{ user, pw string }{{"alice", "wrong password"}, {"nobody", password}} {
		resp := b.login(page, c.user, c.pw)
		if resp.StatusCode != http.StatusOK || resp.alert() != "Wrong username or password." {
			t.Fatalf("%s: %d %q", c.user, resp.StatusCode, resp.alert())
		}
		if resp.Header.Get("Location") != "" || hasCookie(resp, "rotor_session") {
			t.Fatalf("%s: signed in", c.user)
		}
		if !strings.Contains(resp.body, `value="`+c.user+`"`) {
			t.Errorf("%s: the username is not kept in the form", c.user)
		}
		page = resp
	}
	r.refusals.Flush(context.Background())
	evs, err := r.st.ListEvents(context.Background(), store.EventFilter{Type: audit.LoginFailed})
	if err != nil {
		t.Fatal(err)
	}
	reasons := map[string]bool{}
	for _, e := range evs {
		reasons[e.Reason] = true
	}
	if !reasons[audit.ReasonWrongPassword] || !reasons[audit.ReasonUnknownUser] {
		t.Errorf("audited reasons %v", reasons)
	}
	codes, _ := r.st.ListEvents(context.Background(), store.EventFilter{Type: audit.SessionStarted})
	if len(codes) != 0 {
		t.Errorf("%d sessions started", len(codes))
	}
}

// TestRepeatedFailuresAreThrottled: past the username's failure budget the
// page answers 429 with Retry-After and an alert, whatever the password.
func TestRepeatedFailuresAreThrottled(t *testing.T) {
	r := newRig(t)
	b := r.browser(t)
	page := b.get(r.request())
	var resp *response
	for range 20 {
		if resp = b.login(page, "alice", "wrong"); resp.StatusCode == http.StatusTooManyRequests {
			break
		}
	}
	if resp.StatusCode != http.StatusTooManyRequests || resp.Header.Get("Retry-After") == "" || !strings.Contains(resp.alert(), "Too many") {
		t.Fatalf("after 20 failures: %d %q", resp.StatusCode, resp.alert())
	}
	if resp = b.login(resp, "alice", password); resp.StatusCode != http.StatusTooManyRequests {
		t.Errorf("right password while throttled: %d", resp.StatusCode)
	}
}

// TestPromptNoneWithoutSessionIsLoginRequired (OIDC Core §3.1.2.6).
func TestPromptNoneWithoutSessionIsLoginRequired(t *testing.T) {
	r := newRig(t)
	b := r.browser(t)
	q := callback(t, b.get(r.request(func(q *authz.Request) { q.Prompt = []string{"none"} })))
	if q.Get("error") != "login_required" || q.Get("state") != "st-1" || q.Get("iss") != r.issuer || q.Get("code") != "" {
		t.Fatalf("callback %v", q)
	}
}

// TestPromptNoneWithoutConsentIsConsentRequired: signed in, but never
// agreed: consent_required, no page.
func TestPromptNoneWithoutConsentIsConsentRequired(t *testing.T) {
	r := newRig(t)
	b := r.browser(t)
	b.signIn(r.request())
	q := callback(t, b.get(r.request(func(q *authz.Request) {
		q.Prompt = []string{"none"}
		q.Scopes = []string{"openid", "profile"} // profile is new
	})))
	if q.Get("error") != "consent_required" {
		t.Fatalf("callback %v", q)
	}
	// With the consent remembered, prompt=none gives a code silently.
	q = callback(t, b.get(r.request(func(q *authz.Request) { q.Prompt = []string{"none"} })))
	if q.Get("code") == "" {
		t.Fatalf("callback %v", q)
	}
}

// TestRememberedConsentSkipsTheScreen, and prompt=consent shows it again;
// a scope not agreed before asks again.
func TestRememberedConsentSkipsTheScreen(t *testing.T) {
	r := newRig(t)
	b := r.browser(t)
	b.signIn(r.request())
	// Signed in and agreed: straight back to the client.
	if q := callback(t, b.get(r.request())); q.Get("code") == "" {
		t.Fatalf("callback %v", q)
	}
	// Another browser signs in; consent is remembered per user.
	other := r.browser(t)
	after := other.login(other.get(r.request()), "alice", password)
	if q := callback(t, other.follow(after)); q.Get("code") == "" {
		t.Fatalf("after login in another browser: %v", q)
	}
	for name, edit := range map[string]func(*authz.Request){
		"prompt=consent": func(q *authz.Request) { q.Prompt = []string{"consent"} },
		"a new scope":    func(q *authz.Request) { q.Scopes = append(q.Scopes, "offline_access") },
	} {
		page := b.get(r.request(edit))
		if page.StatusCode != http.StatusOK || !strings.Contains(page.body, `value="allow"`) {
			t.Errorf("%s: %d, no consent page", name, page.StatusCode)
		}
	}
	page := b.get(r.request(func(q *authz.Request) { q.Scopes = append(q.Scopes, "offline_access") }))
	if !strings.Contains(page.body, "Stay signed in (keep access when you are not using the app)") {
		t.Error("offline_access is not described")
	}
}

// TestConsentIsAskedAgainAfterRevocation: an operator revoking a user's
// grants (rotor revoke --user) takes back the consent too.
func TestConsentIsAskedAgainAfterRevocation(t *testing.T) {
	r := newRig(t)
	b := r.browser(t)
	b.signIn(r.request())
	if q := callback(t, b.get(r.request())); q.Get("code") == "" {
		t.Fatalf("remembered consent did not skip the screen: %v", q)
	}
	if _, err := r.families.RevokeWhere(context.Background(), store.FamilyFilter{Subject: r.user.ID}, audit.ReasonAdmin, audit.Meta{Actor: audit.ActorCLI}); err != nil {
		t.Fatal(err)
	}
	page := b.get(r.request())
	if page.StatusCode != http.StatusOK || !strings.Contains(page.body, `value="allow"`) {
		t.Fatalf("after revocation: %d, no consent page", page.StatusCode)
	}
}

// TestSkipConsentClient: a first-party client never shows the screen.
func TestSkipConsentClient(t *testing.T) {
	r := newRig(t)
	r.client = r.addClient(t, store.Client{ID: "first", GrantTypes: []string{"authorization_code"},
		RedirectURIs: []string{redirectURI}, SkipConsent: true})
	b := r.browser(t)
	after := b.login(b.get(r.request()), "alice", password)
	if q := callback(t, b.follow(after)); q.Get("code") == "" {
		t.Fatalf("callback %v", q)
	}
}

// TestDenySendsAccessDenied (RFC 6749 §4.1.2.1).
func TestDenySendsAccessDenied(t *testing.T) {
	r := newRig(t)
	b := r.browser(t)
	consent := b.follow(b.login(b.get(r.request()), "alice", password))
	q := callback(t, b.decide(consent, "deny"))
	if q.Get("error") != "access_denied" || q.Get("code") != "" || q.Get("state") != "st-1" {
		t.Fatalf("callback %v", q)
	}
	if _, err := r.st.GetConsent(context.Background(), r.user.ID, r.client.ID); err == nil {
		t.Error("a denial was remembered as consent")
	}
}

// TestPromptLoginAndMaxAgeAskForThePassword: a live session is not enough
// under prompt=login, or when it signed in longer ago than max_age; after
// the password the flow goes on, in the same session.
func TestPromptLoginAndMaxAgeAskForThePassword(t *testing.T) {
	r := newRig(t)
	b := r.browser(t)
	b.signIn(r.request())
	r.clock.Add(2 * time.Minute)
	for name, edit := range map[string]func(*authz.Request){
		"prompt=login": func(q *authz.Request) { q.Prompt = []string{"login"} },
		"max_age=60":   func(q *authz.Request) { q.MaxAge = 60 },
		// max_age=0 asks for the password every time (OIDC Core
		// §3.1.2.1); once given, the flow goes on.
		"max_age=0": func(q *authz.Request) { q.MaxAge = 0 },
	} {
		u := r.request(edit)
		page := b.get(u)
		if page.StatusCode != http.StatusOK || !strings.Contains(page.body, `name="password"`) {
			t.Fatalf("%s: %d, no login form", name, page.StatusCode)
		}
		if !strings.Contains(page.body, `value="alice"`) {
			t.Errorf("%s: the signed-in user is not suggested", name)
		}
		after := b.login(page, "alice", password)
		r.clock.Add(1500 * time.Millisecond) // the next page comes a moment later
		if q := callback(t, b.follow(after)); q.Get("code") == "" {
			t.Fatalf("%s: %v", name, q)
		}
		r.clock.Add(2 * time.Minute)
	}
	if q := callback(t, b.get(r.request(func(q *authz.Request) { q.MaxAge = 600 }))); q.Get("code") == "" {
		t.Fatalf("max_age satisfied: %v", q)
	}
}

// TestExpiredRequestOffersToStartAgain: the login page of a request past
// its time says so and links to the authorization endpoint with the
// original parameters; so do its forms.
func TestExpiredRequestOffersToStartAgain(t *testing.T) {
	r := newRig(t)
	b := r.browser(t)
	u := r.request()
	page := b.get(u)
	r.clock.Add(authz.RequestTTL + time.Second)
	restart := r.issuer + "/oauth2/authorize?client_id=webapp"
	for name, resp := range map[string]*response{
		"GET /login":   b.get(u),
		"POST /login":  b.login(page, "alice", password),
		"GET /consent": b.get(strings.Replace(u, web.LoginPath, web.ConsentPath, 1)),
	} {
		if resp.StatusCode != http.StatusOK || !strings.Contains(resp.body, "expired") ||
			!strings.Contains(resp.body, `href="`+strings.ReplaceAll(restart, "&", "&amp;")) {
			t.Errorf("%s: %d %s", name, resp.StatusCode, resp.body)
		}
		if !strings.Contains(resp.body, "Start again") {
			t.Errorf("%s: no Start again link", name)
		}
	}
}

// TestInvalidRequestIsAnErrorPage: a request that does not open, or a
// query with the request twice.
func TestInvalidRequestIsAnErrorPage(t *testing.T) {
	r := newRig(t)
	b := r.browser(t)
	good := r.request()
	for name, u := range map[string]string{
		"garbage":    r.issuer + web.LoginPath + "?request=abc",
		"missing":    r.issuer + web.LoginPath,
		"twice":      good + "&" + strings.SplitN(good, "?", 2)[1],
		"consent":    r.issuer + web.ConsentPath + "?request=abc",
		"bad escape": r.issuer + web.LoginPath + "?request=%zz",
	} {
		resp := b.get(u)
		if resp.StatusCode != http.StatusBadRequest || resp.alert() == "" {
			t.Errorf("%s: %d %q", name, resp.StatusCode, resp.alert())
		}
	}
}

// TestReloadAndBackButtonContinue: a reload of the consent answer (the
// POST again) issues a new code; the back button to the consent page
// re-evaluates it (consent is remembered now) and continues; a login
// post with a live session of the same user continues too.
func TestReloadAndBackButtonContinue(t *testing.T) {
	r := newRig(t)
	b := r.browser(t)
	login := b.get(r.request())
	consentURL := b.login(login, "alice", password).Header.Get("Location")
	consent := b.get(r.issuer + consentURL)
	first := callback(t, b.decide(consent, "allow")).Get("code")
	second := callback(t, b.decide(consent, "allow")).Get("code")
	if first == "" || second == "" || first == second {
		t.Fatalf("codes %q %q", first, second)
	}
	if q := callback(t, b.get(r.issuer+consentURL)); q.Get("code") == "" {
		t.Fatalf("back to the consent page: %v", q)
	}
	if q := callback(t, b.follow(b.login(login, "alice", password))); q.Get("code") == "" {
		t.Fatalf("login sent again: %v", q)
	}
}

// TestConsentNeedsALiveSession: a consent post after the session ended
// (logout in another tab) goes to the login page of the same request.
func TestConsentNeedsALiveSession(t *testing.T) {
	r := newRig(t)
	b := r.browser(t)
	consent := b.follow(b.login(b.get(r.request()), "alice", password))
	for _, c := range b.jar.Cookies(mustURL(r.issuer)) {
		if c.Name == "rotor_session" {
			sess, err := r.sessions.Lookup(context.Background(), c.Value, audit.Meta{})
			if err != nil {
				t.Fatal(err)
			}
			if _, err := r.sessions.End(context.Background(), sess.ID, audit.ReasonLogout, audit.Meta{}); err != nil {
				t.Fatal(err)
			}
		}
	}
	resp := b.decide(consent, "allow")
	if resp.StatusCode != http.StatusSeeOther || !strings.HasPrefix(resp.Header.Get("Location"), web.LoginPath+"?request=") {
		t.Fatalf("consent after logout: %d %q", resp.StatusCode, resp.Header.Get("Location"))
	}
	if page := b.follow(resp); !strings.Contains(page.body, `name="password"`) {
		t.Fatal("no login form")
	}
}

// TestDisabledUsersSessionIsNone: a session whose user was disabled
// since no longer signs anyone in.
func TestDisabledUsersSessionIsNone(t *testing.T) {
	r := newRig(t)
	b := r.browser(t)
	b.signIn(r.request())
	u, _ := r.st.GetUser(context.Background(), r.user.ID)
	u.Disabled = true
	if err := r.st.UpdateUser(context.Background(), u); err != nil {
		t.Fatal(err)
	}
	if page := b.get(r.request()); page.StatusCode != http.StatusOK || !strings.Contains(page.body, `name="password"`) {
		t.Fatalf("%d: no login form", page.StatusCode)
	}
}

// TestMalformedFormsAreRefused: a field twice, an unknown field, or a
// field too long is refused before anything is checked.
func TestMalformedFormsAreRefused(t *testing.T) {
	r := newRig(t)
	b := r.browser(t)
	page := b.get(r.request())
	base := page.hidden()
	base.Set("username", "alice")
	base.Set("password", password)
	for name, edit := range map[string]func(url.Values){
		"twice":    func(f url.Values) { f.Add("username", "bob") },
		"unknown":  func(f url.Values) { f.Set("admin", "1") },
		"too long": func(f url.Values) { f.Set("username", strings.Repeat("a", 2000)) },
	} {
		f := url.Values{}
		for k, v := range base {
			f[k] = append([]string(nil), v...)
		}
		edit(f)
		resp := b.post(web.LoginPath, f)
		if resp.StatusCode != http.StatusBadRequest || resp.alert() == "" || hasCookie(resp, "rotor_session") {
			t.Errorf("%s: %d %q", name, resp.StatusCode, resp.alert())
		}
	}
}

// TestPagesCarryTheSecurityHeaders: CSP without inline anything, framing
// refused, nothing cached, no referrer; form-action names the client's
// origin, which Chromium checks on the redirect after a submission.
func TestPagesCarryTheSecurityHeaders(t *testing.T) {
	r := newRig(t)
	b := r.browser(t)
	login := b.get(r.request())
	consent := b.follow(b.login(login, "alice", password))
	errPage := b.get(r.issuer + web.LoginPath + "?request=x")
	for name, resp := range map[string]*response{"login": login, "consent": consent, "error": errPage} {
		h := resp.Header
		csp := h.Get("Content-Security-Policy")
		for _, want := range []string{"default-src 'none'", "style-src 'self'", "frame-ancestors 'none'", "base-uri 'none'"} {
			if !strings.Contains(csp, want) {
				t.Errorf("%s: CSP %q lacks %s", name, csp, want)
			}
		}
		if strings.Contains(csp, "unsafe") {
			t.Errorf("%s: CSP %q", name, csp)
		}
		for k, v := range map[string]string{"X-Frame-Options": "DENY", "Cache-Control": "no-store",
			"Referrer-Policy": "no-referrer", "X-Content-Type-Options": "nosniff"} {
			if h.Get(k) != v {
				t.Errorf("%s: %s %q, want %q", name, k, h.Get(k), v)
			}
		}
		if !strings.Contains(resp.body, `<html lang="en">`) || !strings.Contains(resp.body, `name="viewport"`) ||
			strings.Contains(resp.body, "<script") || strings.Contains(resp.body, "style=") {
			t.Errorf("%s: page markup", name)
		}
	}
	for name, resp := range map[string]*response{"login": login, "consent": consent} {
		if csp := resp.Header.Get("Content-Security-Policy"); !strings.Contains(csp, "form-action 'self' http://127.0.0.1:9") {
			t.Errorf("%s: CSP %q does not let the form's redirect reach the client", name, csp)
		}
	}
	if csp := errPage.Header.Get("Content-Security-Policy"); !strings.Contains(csp, "form-action 'none'") {
		t.Errorf("error page: CSP %q", csp)
	}
	for _, c := range login.Cookies() {
		if !c.HttpOnly || (c.SameSite != http.SameSiteLaxMode && c.SameSite != http.SameSiteStrictMode) || c.Path != "/" || c.Domain != "" {
			t.Errorf("cookie %s: %+v", c.Name, c)
		}
	}
	css := b.get(r.issuer + "/assets/rotor.css")
	if css.StatusCode != http.StatusOK || !strings.HasPrefix(css.Header.Get("Content-Type"), "text/css") {
		t.Errorf("stylesheet: %d %s", css.StatusCode, css.Header.Get("Content-Type"))
	}
	if resp := b.get(r.issuer + "/assets/other.css"); resp.StatusCode != http.StatusNotFound {
		t.Errorf("other asset: %d", resp.StatusCode)
	}
	// A HEAD of a page (a link checker) does nothing.
	head, err := b.c.Head(r.request())
	if err != nil {
		t.Fatal(err)
	}
	head.Body.Close()
	if head.StatusCode != http.StatusMethodNotAllowed {
		t.Errorf("HEAD: %d", head.StatusCode)
	}
}

// TestHTTPSIssuerUsesHostCookies: on an https issuer the cookies are
// __Host- prefixed and Secure.
func TestHTTPSIssuerUsesHostCookies(t *testing.T) {
	r := newRig(t)
	h, err := web.New(web.Options{Issuer: "https://login.example", Store: r.st, Secrets: r.secrets, Authz: r.authz,
		Sessions: r.sessions, Users: mustUsers(r), Families: r.families, Tokens: r.tokens, Refusals: r.refusals, Now: r.clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, strings.Replace(r.request(), r.issuer, "https://login.example", 1), nil))
	cookies := rec.Result().Cookies()
	if len(cookies) == 0 {
		t.Fatalf("%d: no cookie", rec.Code)
	}
	for _, c := range cookies {
		if !strings.HasPrefix(c.Name, "__Host-rotor_") || !c.Secure || !c.HttpOnly || c.Path != "/" || c.Domain != "" {
			t.Errorf("cookie %+v", c)
		}
	}
}

// TestErrorPage: what the authorization endpoint shows for an unknown
// client: 400, the message as an alert, page headers.
func TestErrorPage(t *testing.T) {
	r := newRig(t)
	rec := httptest.NewRecorder()
	r.web.ErrorPage(rec, httptest.NewRequest(http.MethodGet, "/oauth2/authorize", nil), http.StatusBadRequest, "This application is not registered.")
	resp := &response{Response: rec.Result(), body: rec.Body.String()}
	if resp.StatusCode != http.StatusBadRequest || resp.alert() != "This application is not registered." ||
		resp.Header.Get("X-Frame-Options") != "DENY" {
		t.Fatalf("%d %q", resp.StatusCode, resp.alert())
	}
}

func mustURL(s string) *url.URL {
	u, err := url.Parse(s)
	if err != nil {
		panic(err)
	}
	return u
}

// TestConsentCountsOnlyForWhoSawIt: a consent page shown to alice, answered
// after bob signed in in another tab of the same browser, grants bob
// nothing: the page is shown again, to bob.
func TestConsentCountsOnlyForWhoSawIt(t *testing.T) {
	r := newRig(t)
	r.addUser(t, "bob")
	b := r.browser(t)
	alicesPage := b.follow(b.login(b.get(r.request()), "alice", password))
	if alicesPage.StatusCode != http.StatusOK || !strings.Contains(alicesPage.body, "alice") {
		t.Fatalf("alice's consent page: %d", alicesPage.StatusCode)
	}
	// Another tab, a little later: sign in again, as bob.
	r.clock.Add(2 * time.Second)
	relogin := r.request(func(req *authz.Request) { req.Prompt = []string{"login"} })
	if bobs := b.follow(b.login(b.get(relogin), "bob", password)); !strings.Contains(bobs.body, "bob") {
		t.Fatalf("bob's consent page: %d", bobs.StatusCode)
	}
	resp := b.decide(alicesPage, "allow")
	if resp.StatusCode != http.StatusSeeOther || !strings.HasPrefix(resp.Header.Get("Location"), web.ConsentPath+"?") {
		t.Fatalf("answer to alice's page after bob signed in: %d %q, want the consent page again", resp.StatusCode, resp.Header.Get("Location"))
	}
	if again := b.follow(resp); !strings.Contains(again.body, "Signed in as <strong>bob</strong>") {
		t.Fatalf("the page asked again is not bob's: %s", again.body)
	}
	if _, err := r.st.GetConsent(context.Background(), r.user.ID, r.client.ID); err == nil {
		t.Fatal("alice's consent was recorded")
	}
}
