package web

import (
	"errors"
	"net/http"
	"net/url"

	"github.com/rotor-auth/rotor/internal/audit"
	"github.com/rotor-auth/rotor/internal/authz"
	"github.com/rotor-auth/rotor/internal/store"
)

// scopeLine is one requested scope as the consent page shows it.
type scopeLine struct {
	Text string
	// Known scopes are described in words; others are shown by name.
	Known bool
}

// scopeWords describe the scopes of OpenID Connect (Core §5.4, §11) to a
// person. Other scopes are the client's and the resource servers', and
// only they know what those mean: the page shows their names.
var scopeWords = map[string]string{
	"openid":         "Know who you are",
	"profile":        "See your username",
	"email":          "See your email address",
	"offline_access": "Stay signed in (keep access when you are not using the app)",
}

func describe(scopes []string) []scopeLine {
	out := make([]scopeLine, 0, len(scopes))
	for _, s := range scopes {
		if w, ok := scopeWords[s]; ok {
			out = append(out, scopeLine{Text: w, Known: true})
		} else {
			out = append(out, scopeLine{Text: s})
		}
	}
	return out
}

// handleConsentPage is GET /consent?request=…, where a sign-in lands, and
// where a reload or the back button returns: it evaluates the request
// again and goes on.
func (h *Handler) handleConsentPage(w http.ResponseWriter, r *http.Request) {
	q, err := parseQuery(r, requestQuery)
	if err != nil {
		h.invalidRequest(w, r)
		return
	}
	sealed := q.Get("request")
	req, ok := h.openRequest(w, r, sealed)
	if !ok {
		return
	}
	b, err := h.currentSession(r.Context(), r)
	if err != nil {
		h.unavailable(w, r, err)
		return
	}
	if !b.signedIn() || !fresh(req, b.sess, h.now()) {
		h.toLogin(w, r, sealed)
		return
	}
	h.proceed(w, r, req, sealed, b)
}

// toLogin sends the browser to the login page of the request.
func (h *Handler) toLogin(w http.ResponseWriter, r *http.Request, sealed string) {
	http.Redirect(w, r, LoginPath+"?"+url.Values{"request": {sealed}}.Encode(), http.StatusSeeOther)
}

// proceed is the consent step for a signed-in person: a code at once
// when consent is remembered (or the client skips it), consent_required
// under prompt=none, or the consent page.
func (h *Handler) proceed(w http.ResponseWriter, r *http.Request, req *authz.Request, sealed string, b *browser) {
	c, ok := h.client(w, r, req)
	if !ok {
		return
	}
	need, err := h.opts.Authz.NeedsConsent(r.Context(), c, b.sess.Subject, req.Scopes, req.Has("consent"))
	if err != nil {
		h.unavailable(w, r, err)
		return
	}
	if !need {
		h.issue(w, r, req, b.sess)
		return
	}
	if req.Has("none") {
		http.Redirect(w, r, req.ErrorRedirect(h.opts.Issuer, "consent_required", "the user has not agreed to the requested scopes"), http.StatusSeeOther)
		return
	}
	h.render(w, http.StatusOK, "consent", &view{
		Title:      "Allow access?",
		Client:     clientName(c),
		Scopes:     describe(req.Scopes),
		SignedInAs: b.user.Username,
		Session:    b.sess.ID,
		CSRF:       h.csrfToken(w, r),
		Request:    sealed,
	}, req.RedirectURI)
}

// client returns the request's client; a client deleted or disabled since
// the request was made gets an error page, not a redirect.
func (h *Handler) client(w http.ResponseWriter, r *http.Request, req *authz.Request) (*store.Client, bool) {
	c, err := h.opts.Store.GetClient(r.Context(), req.ClientID)
	if errors.Is(err, store.ErrNotFound) || (err == nil && c.Disabled) {
		h.ErrorPage(w, r, http.StatusBadRequest, "The application that sent you here is no longer registered with this sign-in service.")
		return nil, false
	}
	if err != nil {
		h.unavailable(w, r, err)
		return nil, false
	}
	return c, true
}

// issue mints a code for the request and sends it to the client (RFC 6749
// §4.1.2). Every scope requested is granted: the person agreed to all of
// them, or had agreed before.
func (h *Handler) issue(w http.ResponseWriter, r *http.Request, req *authz.Request, sess *store.Session) {
	code, err := h.opts.Authz.IssueCode(r.Context(), req, req.Scopes, sess)
	if err != nil {
		h.unavailable(w, r, err)
		return
	}
	http.Redirect(w, r, req.Redirect(h.opts.Issuer, url.Values{"code": {code}}), http.StatusSeeOther)
}

// handleConsent is POST /consent. Allow remembers the consent and sends a
// code; deny sends access_denied (RFC 6749 §4.1.2.1). A reload of the
// answer sends the form again and, with its CSRF token still valid, gets
// a new code: never a dead end.
func (h *Handler) handleConsent(w http.ResponseWriter, r *http.Request) {
	f, err := parseForm(r, consentFields)
	if err != nil {
		h.ErrorPage(w, r, http.StatusBadRequest, "The consent form was not sent as this page sends it.")
		return
	}
	sealed := f.Get("request")
	if !h.csrfValid(r, f.Get("csrf_token")) {
		h.csrfFailed(w, h.restartURL(sealed))
		return
	}
	req, ok := h.openRequest(w, r, sealed)
	if !ok {
		return
	}
	decision := f.Get("decision")
	if decision != "allow" && decision != "deny" {
		h.ErrorPage(w, r, http.StatusBadRequest, "Choose Allow or Deny.")
		return
	}
	b, err := h.currentSession(r.Context(), r)
	if err != nil {
		h.unavailable(w, r, err)
		return
	}
	if !b.signedIn() || !fresh(req, b.sess, h.now()) {
		// Signed out in another tab, or too long ago for max_age: sign
		// in again, then this request goes on.
		h.toLogin(w, r, sealed)
		return
	}
	if f.Get("session") != b.sess.ID {
		// Someone else signed in in another tab since this page was
		// shown: what was agreed to was shown to another person. Ask
		// again, for the one signed in now.
		http.Redirect(w, r, ConsentPath+"?"+url.Values{"request": {sealed}}.Encode(), http.StatusSeeOther)
		return
	}
	if decision == "deny" {
		http.Redirect(w, r, req.ErrorRedirect(h.opts.Issuer, "access_denied", "the user denied the request"), http.StatusSeeOther)
		return
	}
	c, ok := h.client(w, r, req)
	if !ok {
		return
	}
	m := h.meta(r)
	m.Actor = audit.User(b.sess.Subject)
	if err := h.opts.Authz.Remember(r.Context(), c, b.sess.Subject, req.Scopes, m); err != nil {
		h.unavailable(w, r, err)
		return
	}
	h.issue(w, r, req, b.sess)
}
