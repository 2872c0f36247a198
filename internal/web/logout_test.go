package web_test

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/rotor-auth/rotor/internal/secret"
	"github.com/rotor-auth/rotor/internal/store"
	"github.com/rotor-auth/rotor/internal/store/testdb"
	"github.com/rotor-auth/rotor/internal/token"
	"github.com/rotor-auth/rotor/internal/users"
	"github.com/rotor-auth/rotor/internal/web"
)

func mustUsers(r *rig) *users.Service {
	return users.New(r.st, r.families, secret.NewVerifier(0), r.clock.Now)
}

// signedInWithFamily signs b in, redeems the code into a family, and
// returns the family and an id_token of the session, as the token
// endpoint would issue it.
func signedInWithFamily(t *testing.T, r *rig, b *browser) (*store.Family, string) {
	t.Helper()
	got := r.redeem(t, b.signIn(r.request()))
	idt, err := r.tokens.IssueID(context.Background(), token.ID{Subject: got.User.ID, ClientID: r.client.ID,
		SID: got.Code.SessionID, AuthTime: got.Code.AuthTime, TTL: 5 * time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	return &got.Grant.Family, idt
}

func (r *rig) familyRevoked(t *testing.T, id string) bool {
	t.Helper()
	f, err := r.st.GetFamily(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	return f.Revoked()
}

func logoutURL(r *rig, q url.Values) string { return r.issuer + web.LogoutPath + "?" + q.Encode() }

// TestLogoutWithHintEndsTheSessionAndItsFamilies: an id_token_hint of this
// browser's session signs out without a question, revokes the families
// created in the session, clears the cookie and goes to the registered
// post-logout URI with state. The hint works once expired, too.
func TestLogoutWithHintEndsTheSessionAndItsFamilies(t *testing.T) {
	testdb.Each(t, func(t *testing.T, st store.Store) { testLogoutWithHint(t, newRigOn(t, st)) })
}

func testLogoutWithHint(t *testing.T, r *rig) {
	b := r.browser(t)
	fam, idt := signedInWithFamily(t, r, b)
	r.clock.Add(10 * time.Minute) // the hint has expired: RP-Initiated Logout §2 allows it
	resp := b.get(logoutURL(r, url.Values{"id_token_hint": {idt}, "post_logout_redirect_uri": {logoutURI}, "state": {"bye"}}))
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != logoutURI+"?state=bye" {
		t.Fatalf("logout: %d %q %s", resp.StatusCode, resp.Header.Get("Location"), resp.body)
	}
	if !r.familyRevoked(t, fam.ID) {
		t.Error("the session's family is live after logout")
	}
	cleared := false
	for _, c := range resp.Cookies() {
		cleared = cleared || (c.Name == "rotor_session" && c.MaxAge < 0)
	}
	if !cleared {
		t.Error("the session cookie was not cleared")
	}
	sess, err := r.st.GetSession(context.Background(), fam.SessionID)
	if err != nil || !sess.Ended() {
		t.Errorf("session %+v %v", sess, err)
	}
	// Signed out: the next sign-in asks for the password.
	if page := b.get(r.request()); !strings.Contains(page.body, `name="password"`) {
		t.Error("still signed in")
	}
}

// TestLogoutWithoutHintAsks: without a hint (or with one from another
// session) nothing ends until the person confirms on a page with
// button[name=logout]; the confirmation carries the parameters.
func TestLogoutWithoutHintAsks(t *testing.T) {
	r := newRig(t)
	b := r.browser(t)
	fam, _ := signedInWithFamily(t, r, b)
	other := r.browser(t)
	_, otherHint := signedInWithFamily(t, r, other)
	for name, q := range map[string]url.Values{
		"no hint":           {"client_id": {r.client.ID}, "post_logout_redirect_uri": {logoutURI}, "state": {"s"}},
		"another's session": {"id_token_hint": {otherHint}, "post_logout_redirect_uri": {logoutURI}, "state": {"s"}},
	} {
		page := b.get(logoutURL(r, q))
		if page.StatusCode != http.StatusOK || !strings.Contains(page.body, `<button type="submit" name="logout"`) {
			t.Fatalf("%s: %d %s", name, page.StatusCode, page.body)
		}
		if !strings.Contains(page.header("Content-Security-Policy"), "form-action 'self' http://127.0.0.1:9") {
			t.Errorf("%s: CSP %q", name, page.header("Content-Security-Policy"))
		}
		if r.familyRevoked(t, fam.ID) {
			t.Fatalf("%s: signed out without asking", name)
		}
		if h := page.hidden(); h.Get("client_id") != r.client.ID || h.Get("post_logout_redirect_uri") != logoutURI || h.Get("state") != "s" {
			t.Errorf("%s: carried %v", name, h)
		}
	}
	page := b.get(logoutURL(r, url.Values{"client_id": {r.client.ID}, "post_logout_redirect_uri": {logoutURI}, "state": {"s"}}))
	// Without its CSRF token the confirmation does nothing.
	f := page.hidden()
	f.Del("csrf_token")
	f.Set("logout", "yes")
	if resp := b.post(web.LogoutPath, f); resp.StatusCode != http.StatusBadRequest || r.familyRevoked(t, fam.ID) {
		t.Fatalf("confirmation without token: %d", resp.StatusCode)
	}
	f = page.hidden()
	f.Set("logout", "yes")
	resp := b.post(web.LogoutPath, f)
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != logoutURI+"?state=s" {
		t.Fatalf("confirmed: %d %q", resp.StatusCode, resp.Header.Get("Location"))
	}
	if !r.familyRevoked(t, fam.ID) {
		t.Error("the family is live after a confirmed logout")
	}
	// A reload of the confirmation, signed out already: a page, not an error.
	if again := b.post(web.LogoutPath, f); again.StatusCode != http.StatusSeeOther {
		t.Errorf("confirmation sent again: %d", again.StatusCode)
	}
	// Without a redirect URI: the signed-out page.
	b.signIn(r.request())
	page = b.get(r.issuer + web.LogoutPath)
	f = page.hidden()
	f.Set("logout", "yes")
	if done := b.post(web.LogoutPath, f); done.StatusCode != http.StatusOK || !strings.Contains(done.body, "You are signed out") {
		t.Errorf("plain logout: %d %s", done.StatusCode, done.body)
	}
}

func (resp *response) header(k string) string { return resp.Header.Get(k) }

// TestLogoutRefusesAnUnregisteredRedirect: a post_logout_redirect_uri
// that is not exactly registered (or with no client to check it against)
// is an error page: no redirect, and nobody is signed out.
func TestLogoutRefusesAnUnregisteredRedirect(t *testing.T) {
	r := newRig(t)
	b := r.browser(t)
	fam, idt := signedInWithFamily(t, r, b)
	for name, q := range map[string]url.Values{
		"other uri":         {"id_token_hint": {idt}, "post_logout_redirect_uri": {"https://evil.example/"}},
		"prefix":            {"id_token_hint": {idt}, "post_logout_redirect_uri": {logoutURI + "/x"}},
		"no client":         {"post_logout_redirect_uri": {logoutURI}},
		"unknown client":    {"client_id": {"nope"}, "post_logout_redirect_uri": {logoutURI}},
		"client and hint":   {"id_token_hint": {idt}, "client_id": {"other"}},
		"forged hint":       {"id_token_hint": {idt + "x"}},
		"access token hint": {"id_token_hint": {"eyJhbGciOiJub25lIn0.e30."}},
	} {
		resp := b.get(logoutURL(r, q))
		if resp.StatusCode != http.StatusBadRequest || resp.alert() == "" || resp.Header.Get("Location") != "" {
			t.Errorf("%s: %d %q %q", name, resp.StatusCode, resp.alert(), resp.Header.Get("Location"))
		}
	}
	if r.familyRevoked(t, fam.ID) {
		t.Error("signed out by a refused request")
	}
}

// TestLogoutWithoutSession: nothing to end; the registered redirect, or
// the signed-out page.
func TestLogoutWithoutSession(t *testing.T) {
	r := newRig(t)
	b := r.browser(t)
	resp := b.get(logoutURL(r, url.Values{"client_id": {r.client.ID}, "post_logout_redirect_uri": {logoutURI}, "state": {"z"}}))
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != logoutURI+"?state=z" {
		t.Fatalf("%d %q", resp.StatusCode, resp.Header.Get("Location"))
	}
	resp = b.get(r.issuer + web.LogoutPath)
	if resp.StatusCode != http.StatusOK || !strings.Contains(resp.body, "You are signed out") {
		t.Fatalf("%d %s", resp.StatusCode, resp.body)
	}
	// An RP may POST the logout request (RP-Initiated Logout §2).
	resp = b.post(web.LogoutPath, url.Values{"client_id": {r.client.ID}})
	if resp.StatusCode != http.StatusOK || !strings.Contains(resp.body, "Example Web App") {
		t.Fatalf("POST: %d %s", resp.StatusCode, resp.body)
	}
}

// TestLogoutOfAnIdleSessionRevokesItsFamilies: a browser session past its
// idle expiry signs in no one, but the grants made in it live on (their
// own idle time is longer); a logout from that browser ends them too.
func TestLogoutOfAnIdleSessionRevokesItsFamilies(t *testing.T) {
	r := newRig(t)
	b := r.browser(t)
	fam, idt := signedInWithFamily(t, r, b)
	r.clock.Add(13 * time.Hour) // past session.IdleTTL, well inside the family's
	resp := b.get(logoutURL(r, url.Values{"id_token_hint": {idt}, "post_logout_redirect_uri": {logoutURI}, "state": {"bye"}}))
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != logoutURI+"?state=bye" {
		t.Fatalf("logout: %d %q", resp.StatusCode, resp.Header.Get("Location"))
	}
	if !r.familyRevoked(t, fam.ID) {
		t.Fatal("the idle session's family is live after logout")
	}
}
