package web_test

import (
	"context"
	"errors"
	"fmt"
	"html"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"
	"golang.org/x/oauth2"

	"github.com/rotor-auth/rotor/internal/authz"
	"github.com/rotor-auth/rotor/internal/server"
	"github.com/rotor-auth/rotor/internal/store"
	"github.com/rotor-auth/rotor/internal/store/testdb"
	"github.com/rotor-auth/rotor/internal/testrig"
	"github.com/rotor-auth/rotor/internal/web"
)

// These tests drive Debian's Chromium through whole sign-ins against a
// real Rotor (internal/testrig: the protocol endpoints and the pages on
// one loopback server, over SQLite) and a real client: a small
// server-side web app on another loopback port that starts each
// authorization and redeems the code with golang.org/x/oauth2, as the
// confidential-client pattern does.

const flowPassword = "correct horse battery staple"

// appResult is what the client app saw at one of its pages.
type appResult struct {
	path  string
	query url.Values
	// token is the answer to the code's exchange; err its failure.
	token *oauth2.Token
	err   error
}

// clientApp is the client: /start redirects to Rotor's authorization
// endpoint (PKCE S256, state, nonce; prompt and scope from its own
// query), /cb checks state and iss (RFC 9207) and redeems the code, then
// redirects to /done so that a reload of its page does not send the code
// again; /bye is its post-logout redirect URI.
type clientApp struct {
	t      *testing.T
	srv    *httptest.Server
	cfg    oauth2.Config
	issuer string

	mu sync.Mutex
	// pending maps each state to its PKCE verifier. A state stays valid
	// after use: the back button makes Rotor answer the same sealed
	// request again, with a new code and the same state and challenge.
	pending map[string]string
	results chan appResult
}

func newClientApp(t *testing.T, issuer string) *clientApp {
	t.Helper()
	a := &clientApp{t: t, issuer: issuer, pending: map[string]string{}, results: make(chan appResult, 32)}
	a.srv = httptest.NewServer(http.HandlerFunc(a.serve))
	t.Cleanup(a.srv.Close)
	a.cfg = oauth2.Config{
		ClientID: "webapp", ClientSecret: "webapp-secret-0123456789", RedirectURL: a.srv.URL + "/cb",
		Scopes: []string{"openid", "profile", "offline_access", "read"},
		Endpoint: oauth2.Endpoint{AuthURL: issuer + web.AuthorizePath, TokenURL: issuer + "/oauth2/token",
			AuthStyle: oauth2.AuthStyleInHeader},
	}
	return a
}

// register adds the app to Rotor as a confidential client. The redirect
// URI is registered without its port, which a loopback redirect URI may
// choose at each request (RFC 8252 §7.3).
func (a *clientApp) register(t *testing.T, r *testrig.Rig) {
	t.Helper()
	r.AddClient(t, store.Client{ID: a.cfg.ClientID, Name: "Example Web App",
		GrantTypes: []string{"authorization_code", "refresh_token"}, Scopes: []string{"read"},
		RedirectURIs: []string{"http://127.0.0.1/cb"}, PostLogoutRedirectURIs: []string{a.srv.URL + "/bye"},
		ReuseGrace: testrig.Dur(0)}, a.cfg.ClientSecret)
}

func (a *clientApp) serve(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Cache-Control", "no-store")
	q := r.URL.Query()
	switch r.URL.Path {
	case "/start":
		state, verifier := oauth2.GenerateVerifier(), oauth2.GenerateVerifier()
		a.mu.Lock()
		a.pending[state] = verifier
		a.mu.Unlock()
		opts := []oauth2.AuthCodeOption{oauth2.S256ChallengeOption(verifier), oauth2.SetAuthURLParam("nonce", "n-"+state[:8])}
		if p := q.Get("prompt"); p != "" {
			opts = append(opts, oauth2.SetAuthURLParam("prompt", p))
		}
		cfg := a.cfg
		if s := q.Get("scope"); s != "" {
			cfg.Scopes = strings.Fields(s)
		}
		http.Redirect(w, r, cfg.AuthCodeURL(state, opts...), http.StatusSeeOther)
	case "/cb":
		res := appResult{path: r.URL.Path, query: q}
		a.mu.Lock()
		verifier, known := a.pending[q.Get("state")]
		a.mu.Unlock()
		switch {
		case !known:
			res.err = errors.New("unknown state")
		case q.Get("iss") != a.issuer:
			res.err = fmt.Errorf("iss %q, want %q", q.Get("iss"), a.issuer)
		case q.Get("code") != "":
			res.token, res.err = a.cfg.Exchange(r.Context(), q.Get("code"), oauth2.VerifierOption(verifier))
		}
		a.results <- res
		switch {
		case res.err != nil:
			a.page(w, http.StatusBadRequest, "failed", res.err.Error())
		case res.token == nil:
			a.page(w, http.StatusOK, "error", q.Get("error"))
		default:
			http.Redirect(w, r, "/done", http.StatusSeeOther)
		}
	case "/done":
		a.page(w, http.StatusOK, "signed-in", "Signed in")
	case "/bye":
		a.results <- appResult{path: r.URL.Path, query: q}
		a.page(w, http.StatusOK, "bye", "Signed out")
	default:
		http.NotFound(w, r)
	}
}

func (a *clientApp) page(w http.ResponseWriter, status int, id, text string) {
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(status)
	fmt.Fprintf(w, `<!doctype html><html lang="en"><title>app</title><p id="%s">%s</p></html>`, id, html.EscapeString(text))
}

// next waits for what the app saw next.
func (a *clientApp) next(ctx context.Context) appResult {
	a.t.Helper()
	select {
	case res := <-a.results:
		return res
	case <-ctx.Done():
		a.t.Fatal("the client app received nothing")
		return appResult{}
	}
}

// nothing checks that the app has received nothing (more).
func (a *clientApp) nothing() {
	a.t.Helper()
	select {
	case res := <-a.results:
		a.t.Fatalf("the client app received %s %v", res.path, res.query)
	default:
	}
}

// signedIn waits for the app's next result and checks it holds tokens.
func (a *clientApp) signedIn(ctx context.Context) *oauth2.Token {
	a.t.Helper()
	res := a.next(ctx)
	if res.err != nil || res.token == nil {
		a.t.Fatalf("the client app at %s %v: %v", res.path, res.query, res.err)
	}
	return res.token
}

// refresh runs the refresh_token grant for tok as x/oauth2 does when
// the access token has expired.
func (a *clientApp) refresh(ctx context.Context, tok *oauth2.Token) (*oauth2.Token, error) {
	old := *tok
	old.Expiry = time.Now().Add(-time.Minute)
	return a.cfg.TokenSource(ctx, &old).Token()
}

// document is a page the browser loaded: the final answer of a
// navigation, after its redirects.
type document struct {
	url    string
	status int64
}

// tab is one headless Chromium with a record of its documents.
type tab struct {
	t   *testing.T
	ctx context.Context
	mu  sync.Mutex
	doc []document
}

func openTab(t *testing.T) *tab {
	t.Helper()
	b := &tab{t: t, ctx: newChromium(t)}
	if err := chromedp.Listen(b.ctx, b.record); err != nil {
		t.Fatal(err)
	}
	return b
}

// another opens a second tab in the same browser, which shares its
// cookies.
func (b *tab) another() *tab {
	b.t.Helper()
	ctx, cancel := chromedp.NewContext(b.ctx)
	b.t.Cleanup(cancel)
	o := &tab{t: b.t, ctx: ctx}
	if err := chromedp.Listen(ctx, o.record); err != nil {
		b.t.Fatal(err)
	}
	b.t.Cleanup(o.noServerErrors)
	return o
}

func (b *tab) record(ev any) {
	if e, ok := ev.(*network.EventResponseReceived); ok && e.Type == network.ResourceTypeDocument && e.Response != nil {
		b.mu.Lock()
		b.doc = append(b.doc, document{url: e.Response.URL, status: e.Response.Status})
		b.mu.Unlock()
	}
}

func (b *tab) run(what string, actions ...chromedp.Action[chromedp.Void]) {
	b.t.Helper()
	if err := chromedp.Do(b.ctx, actions...); err != nil {
		b.t.Fatalf("%s: %v", what, err)
	}
}

func (b *tab) text(sel string) string {
	b.t.Helper()
	s, err := chromedp.Run(b.ctx, chromedp.Text(sel))
	if err != nil {
		b.t.Fatalf("text of %s: %v", sel, err)
	}
	return s
}

func (b *tab) location() string {
	b.t.Helper()
	s, err := chromedp.Run(b.ctx, chromedp.Location())
	if err != nil {
		b.t.Fatal(err)
	}
	return s
}

// mark returns a position in the record of documents.
func (b *tab) mark() int { b.mu.Lock(); defer b.mu.Unlock(); return len(b.doc) }

// since returns the documents loaded after mark m.
func (b *tab) since(m int) []document {
	b.mu.Lock()
	defer b.mu.Unlock()
	return append([]document(nil), b.doc[m:]...)
}

// last is the status of the document loaded last.
func (b *tab) last() document {
	b.t.Helper()
	b.mu.Lock()
	defer b.mu.Unlock()
	if len(b.doc) == 0 {
		b.t.Fatal("no document loaded")
	}
	return b.doc[len(b.doc)-1]
}

// noServerErrors fails on any document answered with a 5xx.
func (b *tab) noServerErrors() {
	b.t.Helper()
	for _, d := range b.since(0) {
		if d.status >= 500 {
			b.t.Errorf("%s answered %d", d.url, d.status)
		}
	}
}

// login fills the login form and sends it.
func (b *tab) login(username, password string) {
	b.t.Helper()
	b.run("login form", chromedp.WaitVisible(`input[name=username]`), chromedp.SetValue(`input[name=username]`, username),
		chromedp.SendKeys(`input[name=password]`, password),
		chromedp.Click(`form button[type=submit]`))
}

// allow waits for the consent page and presses Allow.
func (b *tab) allow() {
	b.t.Helper()
	b.run("consent", chromedp.WaitVisible(`button[name=decision][value=allow]`), chromedp.Click(`button[name=decision][value=allow]`))
}

// flow is a Rotor, the client app registered with it, the user alice
// and a browser.
type flow struct {
	r   *testrig.Rig
	app *clientApp
	b   *tab
}

func newFlow(t *testing.T, opts ...testrig.Option) *flow {
	t.Helper()
	b := openTab(t) // first: without Chromium the test skips or fails before anything starts
	r := testrig.Start(t, testdb.SQLite(t), nil, opts...)
	app := newClientApp(t, r.URL)
	app.register(t, r)
	r.AddUser(t, "alice", flowPassword)
	t.Cleanup(b.noServerErrors)
	return &flow{r: r, app: app, b: b}
}

// start opens the app's sign-in link with query q.
func (f *flow) start(q url.Values) {
	f.b.t.Helper()
	f.b.run("start", chromedp.Navigate(f.app.srv.URL+"/start?"+q.Encode()))
}

// signIn is a whole first sign-in: login, consent, tokens.
func (f *flow) signIn(q url.Values) *oauth2.Token {
	f.b.t.Helper()
	f.start(q)
	f.b.login("alice", flowPassword)
	f.b.allow()
	return f.signedIn()
}

// signedIn waits for the app's page and checks that the app redeemed a
// code for tokens.
func (f *flow) signedIn() *oauth2.Token {
	f.b.t.Helper()
	f.b.run("the app's page", chromedp.WaitVisible(chromedp.CSS(`#signed-in, #failed, #error`)))
	tok := f.app.signedIn(f.b.ctx)
	if loc := f.b.location(); loc != f.app.srv.URL+"/done" {
		f.b.t.Errorf("the browser is at %s, want the app's page", loc)
	}
	return tok
}

// rotorPages returns the documents Rotor itself answered among docs: a
// login, consent or error page, where every other step is a redirect.
func (f *flow) rotorPages(docs []document) []document {
	var out []document
	for _, d := range docs {
		if strings.HasPrefix(d.url, f.r.URL+"/") && !strings.HasPrefix(d.url, f.r.URL+"/favicon") {
			out = append(out, d)
		}
	}
	return out
}

func wantInvalidGrant(t *testing.T, what string, err error) {
	t.Helper()
	var re *oauth2.RetrieveError
	if !errors.As(err, &re) || re.ErrorCode != "invalid_grant" {
		t.Fatalf("%s: %v, want invalid_grant", what, err)
	}
}

// TestBrowserConfidentialClient: login, consent, the code at the app,
// tokens, and a refresh that rotates the refresh token and refuses the
// old one.
func TestBrowserConfidentialClient(t *testing.T) {
	f := newFlow(t)
	tok := f.signIn(nil)
	if tok.AccessToken == "" || tok.RefreshToken == "" || tok.Extra("id_token") == nil {
		t.Fatalf("tokens: access %t refresh %t id_token %t", tok.AccessToken != "", tok.RefreshToken != "", tok.Extra("id_token") != nil)
	}
	next, err := f.app.refresh(f.b.ctx, tok)
	if err != nil {
		t.Fatalf("refresh: %v", err)
	}
	if next.RefreshToken == "" || next.RefreshToken == tok.RefreshToken || next.AccessToken == tok.AccessToken {
		t.Fatal("the refresh did not rotate the tokens")
	}
	// The client has no reuse grace: the old refresh token is a replay.
	_, err = f.app.refresh(f.b.ctx, tok)
	wantInvalidGrant(t, "the old refresh token", err)
}

// TestBrowserWrongPassword: the login page again with an alert, and no
// code for the app.
func TestBrowserWrongPassword(t *testing.T) {
	f := newFlow(t)
	f.start(nil)
	f.b.login("alice", "not the password")
	f.b.run("alert", chromedp.WaitVisible(`[role=alert]`))
	if got := f.b.text(`[role=alert]`); got != "Wrong username or password." {
		t.Errorf("alert %q", got)
	}
	if loc := f.b.location(); !strings.HasPrefix(loc, f.r.URL+web.LoginPath) {
		t.Errorf("the browser is at %s, want the login page", loc)
	}
	f.b.run("the form again", chromedp.WaitVisible(`input[name=password]`))
	f.app.nothing()
}

// TestBrowserFormWithoutCSRFToken: the login and consent forms, sent
// without their csrf_token, are refused with a 400 page that offers to
// start again, and no code reaches the app.
func TestBrowserFormWithoutCSRFToken(t *testing.T) {
	f := newFlow(t)
	dropCSRF := chromedp.Evaluate[bool](`(() => { const i = document.querySelector('input[name=csrf_token]'); i.remove(); return document.querySelector('input[name=csrf_token]') === null })()`)
	refused := func(what string) {
		t.Helper()
		f.b.run(what, chromedp.WaitVisible(`[role=alert]`))
		if d := f.b.last(); d.status != http.StatusBadRequest || !strings.HasPrefix(d.url, f.r.URL) {
			t.Errorf("%s: %s answered %d, want a Rotor page with 400", what, d.url, d.status)
		}
		f.app.nothing()
	}

	f.start(nil)
	f.b.run("login page", chromedp.WaitVisible(`input[name=username]`))
	if gone, err := chromedp.Run(f.b.ctx, dropCSRF); err != nil || !gone {
		t.Fatalf("remove csrf_token: %v %v", gone, err)
	}
	f.b.login("alice", flowPassword)
	refused("login without csrf_token")

	// The way forward: start again, sign in, and the consent form.
	f.b.run("start again", chromedp.Click(`a.button`))
	f.b.login("alice", flowPassword)
	f.b.run("consent page", chromedp.WaitVisible(`button[name=decision][value=allow]`))
	if gone, err := chromedp.Run(f.b.ctx, dropCSRF); err != nil || !gone {
		t.Fatalf("remove csrf_token: %v %v", gone, err)
	}
	f.b.run("allow", chromedp.Click(`button[name=decision][value=allow]`))
	refused("consent without csrf_token")

	f.b.run("start again", chromedp.Click(`a.button`))
	f.b.allow()
	f.signedIn()
}

// TestBrowserBackAndReload: a reload of the consent page, and the back
// button after Allow, land on pages that work, and each way ends at the
// app with tokens.
func TestBrowserBackAndReload(t *testing.T) {
	f := newFlow(t)
	f.start(nil)
	f.b.login("alice", flowPassword)
	f.b.run("consent page", chromedp.WaitVisible(`button[name=decision][value=allow]`))
	f.b.run("reload the consent page", chromedp.Reload(), chromedp.WaitVisible(`button[name=decision][value=allow]`))
	f.b.allow()
	first := f.signedIn()

	// Back from the app: the consent step answers the same request
	// again; consent is remembered, so the app gets a new code.
	f.b.run("back", chromedp.NavigateBack())
	again := f.signedIn()
	if again.RefreshToken == first.RefreshToken {
		t.Error("the back button got the same refresh token")
	}
	f.b.run("reload the app's page", chromedp.Reload(), chromedp.WaitVisible(`#signed-in`))
	f.app.nothing()

	// prompt=consent shows the consent page (at the login step's URL);
	// back after Allow shows it again, a reload keeps it, Allow works.
	f.start(url.Values{"prompt": {"consent"}})
	f.b.allow()
	f.signedIn()
	f.b.run("back to the consent page", chromedp.NavigateBack(), chromedp.WaitVisible(`button[name=decision][value=allow]`))
	f.b.run("reload it", chromedp.Reload(), chromedp.WaitVisible(`button[name=decision][value=allow]`))
	f.app.nothing()
	f.b.allow()
	f.signedIn()
}

// TestBrowserExpiredPage: a login page sent after the sealed request's
// lifetime says so and starts again; the restarted flow, with the app's
// own state and PKCE challenge, ends at the app with tokens.
func TestBrowserExpiredPage(t *testing.T) {
	clk := &clock{t: time.Now()}
	f := newFlow(t, func(o *server.Options) { o.Now = clk.Now })
	f.start(nil)
	f.b.run("login page", chromedp.WaitVisible(`input[name=username]`))
	clk.Add(authz.RequestTTL + time.Minute)
	f.b.login("alice", flowPassword)
	f.b.run("expired page", chromedp.WaitVisible(`a.button`))
	if d := f.b.last(); d.status >= 400 {
		t.Errorf("the expired page answered %d", d.status)
	}
	f.app.nothing()
	f.b.run("start again", chromedp.Click(`a.button`))
	f.b.login("alice", flowPassword)
	f.b.allow()
	f.signedIn()
}

// TestBrowserSecondTab: two tabs open the sign-in; after the first signs
// in, the second's stale login form still works and, consent being
// remembered, reaches the app too.
func TestBrowserSecondTab(t *testing.T) {
	f := newFlow(t)
	first, second := f.b, f.b.another()
	f.start(nil)
	first.run("login page", chromedp.WaitVisible(`input[name=username]`))
	f.b = second
	f.start(nil)
	second.run("login page in the second tab", chromedp.WaitVisible(`input[name=username]`))

	f.b = first
	first.login("alice", flowPassword)
	first.allow()
	one := f.signedIn()

	f.b = second
	second.login("alice", flowPassword)
	two := f.signedIn()
	if one.RefreshToken == two.RefreshToken {
		t.Error("two sign-ins, one refresh token")
	}
	for _, tok := range []*oauth2.Token{one, two} {
		if _, err := f.app.refresh(second.ctx, tok); err != nil {
			t.Errorf("refresh: %v", err)
		}
	}
}

// TestBrowserDenyThenBack: Deny sends access_denied to the app; the
// back button returns to the consent page, whose Allow then works.
func TestBrowserDenyThenBack(t *testing.T) {
	f := newFlow(t)
	f.start(nil)
	f.b.login("alice", flowPassword)
	f.b.run("deny", chromedp.WaitVisible(`button[name=decision][value=deny]`), chromedp.Click(`button[name=decision][value=deny]`),
		chromedp.WaitVisible(`#error`))
	if res := f.app.next(f.b.ctx); res.err != nil || res.query.Get("error") != "access_denied" || res.query.Get("code") != "" {
		t.Fatalf("after Deny the app got %v (%v)", res.query, res.err)
	}
	f.b.run("back", chromedp.NavigateBack())
	f.b.allow()
	f.signedIn()
}

// TestBrowserRememberedConsent: a second sign-in of the same client and
// scopes goes straight to the app; prompt=consent asks again.
func TestBrowserRememberedConsent(t *testing.T) {
	f := newFlow(t)
	f.signIn(nil)

	m := f.b.mark()
	f.start(nil)
	f.signedIn()
	if pages := f.rotorPages(f.b.since(m)); len(pages) != 0 {
		t.Errorf("remembered consent still showed Rotor pages: %v", pages)
	}

	m = f.b.mark()
	f.start(url.Values{"prompt": {"consent"}})
	f.b.run("consent page", chromedp.WaitVisible(`button[name=decision][value=allow]`))
	if pages := f.rotorPages(f.b.since(m)); len(pages) != 1 || pages[0].status != http.StatusOK {
		t.Errorf("prompt=consent: Rotor pages %v, want the consent page", pages)
	}
	f.app.nothing()
	f.b.allow()
	f.signedIn()
}

// TestBrowserPromptNoneWithoutSession: the app gets login_required with
// its state and Rotor's iss, and the browser sees no Rotor page.
func TestBrowserPromptNoneWithoutSession(t *testing.T) {
	f := newFlow(t)
	f.start(url.Values{"prompt": {"none"}})
	f.b.run("the app's error page", chromedp.WaitVisible(`#error`))
	res := f.app.next(f.b.ctx)
	// The app checked state and iss; its error would be in res.err.
	if res.err != nil || res.query.Get("error") != "login_required" || res.query.Get("code") != "" {
		t.Fatalf("the app got %v (%v), want error=login_required", res.query, res.err)
	}
	if res.query.Get("state") == "" || res.query.Get("iss") != f.r.URL {
		t.Errorf("state %q iss %q", res.query.Get("state"), res.query.Get("iss"))
	}
	if pages := f.rotorPages(f.b.since(0)); len(pages) != 0 {
		t.Errorf("prompt=none showed Rotor pages: %v", pages)
	}
}

// TestBrowserLogoutRevokesTheFamily: RP-initiated logout with an
// id_token_hint ends the session without a question and revokes the
// family its tokens came from; without a hint, the confirmation page's
// button does the same.
func TestBrowserLogoutRevokesTheFamily(t *testing.T) {
	f := newFlow(t)
	scope := url.Values{"scope": {"openid offline_access"}}
	tok := f.signIn(scope)
	idToken, _ := tok.Extra("id_token").(string)
	if idToken == "" || tok.RefreshToken == "" {
		t.Fatalf("want an id_token and a refresh token for openid offline_access")
	}
	// A refresh first: logout must end the family's live token, not
	// only the one the code gave.
	live, err := f.app.refresh(f.b.ctx, tok)
	if err != nil {
		t.Fatalf("refresh before logout: %v", err)
	}

	f.b.run("logout with a hint", chromedp.Navigate(f.r.URL+web.LogoutPath+"?"+url.Values{
		"id_token_hint": {idToken}, "post_logout_redirect_uri": {f.app.srv.URL + "/bye"}, "state": {"x"}}.Encode()),
		chromedp.WaitVisible(`#bye`))
	if res := f.app.next(f.b.ctx); res.path != "/bye" || res.query.Get("state") != "x" {
		t.Fatalf("after logout the app got %s %v", res.path, res.query)
	}
	_, err = f.app.refresh(f.b.ctx, live)
	wantInvalidGrant(t, "refresh after logout", err)
	f.signedOut()

	// Without a hint: the confirmation page, then signed out.
	tok = f.signInAgain(scope)
	f.b.run("logout page", chromedp.Navigate(f.r.URL+web.LogoutPath), chromedp.WaitVisible(`button[name=logout]`))
	f.app.nothing()
	f.b.run("confirm", chromedp.Click(`button[name=logout]`), chromedp.WaitVisible(`p.notice`))
	if got := f.b.text(`h1`); got != "You are signed out" {
		t.Errorf("after the button: %q", got)
	}
	_, err = f.app.refresh(f.b.ctx, tok)
	wantInvalidGrant(t, "refresh after the confirmed logout", err)
	f.signedOut()
}

// signedOut checks that the browser has no session: prompt=none answers
// login_required.
func (f *flow) signedOut() {
	f.b.t.Helper()
	f.start(url.Values{"prompt": {"none"}})
	f.b.run("prompt=none", chromedp.WaitVisible(`#error`))
	if res := f.app.next(f.b.ctx); res.query.Get("error") != "login_required" {
		f.b.t.Fatalf("prompt=none after logout: %v %v", res.query, res.err)
	}
}

// signInAgain signs in with consent remembered: login, then the app.
func (f *flow) signInAgain(q url.Values) *oauth2.Token {
	f.b.t.Helper()
	f.start(q)
	f.b.login("alice", flowPassword)
	return f.signedIn()
}
