package web

import (
	"context"
	"errors"
	"net/http"
	"net/url"

	"github.com/rotor-auth/rotor/internal/audit"
	"github.com/rotor-auth/rotor/internal/clients"
	"github.com/rotor-auth/rotor/internal/oauth"
	"github.com/rotor-auth/rotor/internal/session"
	"github.com/rotor-auth/rotor/internal/store"
)

// verifyHint checks an id_token_hint (OIDC RP-Initiated Logout 1.0 §2):
// issued by us, to one client. An expired hint still names its session,
// which is all logout uses it for.
func (h *Handler) verifyHint(ctx context.Context, tok string) (*idHint, bool) {
	c, err := h.opts.Tokens.VerifyIDHint(ctx, tok)
	if err != nil {
		return nil, false
	}
	return &idHint{Subject: c.Subject, ClientID: c.ClientID, SessionID: c.SID}, true
}

// logoutRequest is an RP-initiated logout request.
type logoutRequest struct {
	hint        *idHint
	client      *store.Client
	redirectURI string
	state       string
	// confirmed: the person pressed the confirmation page's button.
	confirmed bool
}

// handleLogout is GET and POST /oauth2/logout, the end_session_endpoint
// (OIDC RP-Initiated Logout 1.0). With an id_token_hint issued in this
// browser's session the session ends at once; otherwise the person is
// asked, on a page whose form comes back here with logout=yes. Ending the
// session revokes the families created in it (session.End). Then the
// browser goes to post_logout_redirect_uri, if the client registered it
// exactly, with state; or it sees a page that says it is signed out.
func (h *Handler) handleLogout(w http.ResponseWriter, r *http.Request) {
	var (
		f   oauth.Form
		err error
	)
	if r.Method == http.MethodPost {
		f, err = parseForm(r, logoutFields)
	} else {
		f, err = parseQuery(r, logoutFields)
	}
	if err != nil {
		h.ErrorPage(w, r, http.StatusBadRequest, "The sign-out request is not valid.")
		return
	}
	lr, ok := h.logoutRequest(w, r, f)
	if !ok {
		return
	}
	b, err := h.currentSession(r.Context(), r)
	if err != nil {
		h.unavailable(w, r, err)
		return
	}
	sess, who := b.sess, ""
	if b.signedIn() {
		who = b.user.Username
	} else if b.cookie != "" {
		// A session that went idle, or whose user was disabled, is no
		// sign-in any more, but the grants made in it may still be
		// live: a logout ends them too.
		found, err := h.opts.Sessions.Find(r.Context(), b.cookie)
		switch {
		case err == nil && !found.Ended():
			sess = found
		case err != nil && !errors.Is(err, session.ErrNoSession):
			h.unavailable(w, r, err)
			return
		}
	}
	if sess == nil {
		if b.cookie != "" {
			h.clearSession(w)
		}
		h.signedOut(w, r, lr)
		return
	}
	own := lr.hint != nil && lr.hint.SessionID != "" && lr.hint.SessionID == sess.ID && lr.hint.Subject == sess.Subject
	if !lr.confirmed && !own {
		v := &view{Title: "Sign out?", SignedInAs: who, CSRF: h.csrfToken(w, r),
			PostLogoutRedirectURI: lr.redirectURI, State: lr.state}
		if lr.client != nil {
			v.Client, v.ClientID = clientName(lr.client), lr.client.ID
		}
		h.render(w, http.StatusOK, "logout", v, lr.redirectURI)
		return
	}
	m := h.meta(r)
	m.Actor = audit.User(sess.Subject)
	if _, err := h.opts.Sessions.End(r.Context(), sess.ID, audit.ReasonLogout, m); err != nil {
		h.unavailable(w, r, err)
		return
	}
	h.clearSession(w)
	h.signedOut(w, r, lr)
}

// logoutRequest reads and checks the parameters; ok is false when an
// error page has been written. Nothing happens, and the browser goes
// nowhere, unless the post-logout redirect URI is one the client
// registered: an open redirector is what an exact match prevents.
func (h *Handler) logoutRequest(w http.ResponseWriter, r *http.Request, f oauth.Form) (*logoutRequest, bool) {
	lr := &logoutRequest{redirectURI: f.Get("post_logout_redirect_uri"), state: f.Get("state")}
	if f.Has("logout") {
		if r.Method != http.MethodPost || f.Get("logout") != "yes" {
			h.ErrorPage(w, r, http.StatusBadRequest, "The sign-out request is not valid.")
			return nil, false
		}
		if !h.csrfValid(r, f.Get("csrf_token")) {
			h.csrfFailed(w, "")
			return nil, false
		}
		lr.confirmed = true
	}
	clientID := f.Get("client_id")
	if tok := f.Get("id_token_hint"); tok != "" {
		hint, ok := h.hint(r.Context(), tok)
		if !ok {
			h.ErrorPage(w, r, http.StatusBadRequest, "The sign-out request names a sign-in this service did not issue.")
			return nil, false
		}
		if clientID != "" && clientID != hint.ClientID {
			// RP-Initiated Logout §2: client_id, when sent with a hint,
			// must be the hint's audience.
			h.ErrorPage(w, r, http.StatusBadRequest, "The sign-out request names two different applications.")
			return nil, false
		}
		lr.hint, clientID = hint, hint.ClientID
	}
	if clientID != "" {
		c, err := h.opts.Store.GetClient(r.Context(), clientID)
		switch {
		case errors.Is(err, store.ErrNotFound):
			h.ErrorPage(w, r, http.StatusBadRequest, "The application that sent you here is not registered with this sign-in service.")
			return nil, false
		case err != nil:
			h.unavailable(w, r, err)
			return nil, false
		}
		lr.client = c
	}
	if lr.redirectURI != "" && (lr.client == nil || !clients.PostLogoutAllowed(lr.client, lr.redirectURI)) {
		h.ErrorPage(w, r, http.StatusBadRequest, "The application asked to send you to an address it has not registered, so you were not signed out and were not sent anywhere.")
		return nil, false
	}
	return lr, true
}

// signedOut ends a logout: to the client's post-logout redirect URI with
// state, or a page.
func (h *Handler) signedOut(w http.ResponseWriter, r *http.Request, lr *logoutRequest) {
	if lr.redirectURI != "" {
		u, err := url.Parse(lr.redirectURI)
		if err == nil {
			if lr.state != "" {
				q := u.Query()
				q.Set("state", lr.state)
				u.RawQuery = q.Encode()
			}
			pageHeaders(w.Header(), "")
			http.Redirect(w, r, u.String(), http.StatusSeeOther)
			return
		}
	}
	v := &view{Title: "You are signed out", Notice: "You are signed out of this sign-in service in this browser.",
		Help: "You can close this page."}
	if lr.client != nil {
		v.Help = "You can close this page, or go back to " + clientName(lr.client) + "."
	}
	h.render(w, http.StatusOK, "message", v)
}
