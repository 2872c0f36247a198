package web

import (
	"context"
	"errors"
	"net/http"
	"time"

	"github.com/rotor-auth/rotor/internal/session"
	"github.com/rotor-auth/rotor/internal/store"
)

// cookieNames are the names of Rotor's cookies. On an https issuer they
// carry the __Host- prefix, which browsers honour only for a cookie that
// is Secure, has Path=/ and no Domain: no other host (a sibling
// subdomain) can set or shadow them (RFC 6265bis §4.1.3.2).
type cookieNames struct {
	session, csrf string
	secure        bool
}

func newCookieNames(https bool) cookieNames {
	if https {
		return cookieNames{session: "__Host-rotor_session", csrf: "__Host-rotor_csrf", secure: true}
	}
	return cookieNames{session: "rotor_session", csrf: "rotor_csrf"}
}

// cookie returns a cookie of Rotor's: HttpOnly (no script reads it),
// SameSite=Lax, host-only, for the whole site. Lax, not Strict, for both:
// the flow arrives from the client's site by a top-level redirect, and a
// Strict cookie would be missing on that first page, so the signed-in
// person would be asked again and a second tab would get a new CSRF
// cookie that breaks the first tab's form. Lax still keeps both out of
// cross-site POSTs, which is what CSRF needs.
func (n cookieNames) cookie(name, value string, maxAge int) *http.Cookie {
	return &http.Cookie{Name: name, Value: value, Path: "/", MaxAge: maxAge,
		HttpOnly: true, Secure: n.secure, SameSite: http.SameSiteLaxMode}
}

// setSession sends the session cookie, kept by the browser until the
// session's absolute expiry (the server ends it sooner when idle).
func (h *Handler) setSession(w http.ResponseWriter, value string, sess *store.Session) {
	age := int(sess.AbsoluteExpiresAt.Sub(h.now()) / time.Second)
	if age < 1 {
		age = 1
	}
	http.SetCookie(w, h.cookie.cookie(h.cookie.session, value, age))
}

// clearSession tells the browser to forget the session cookie.
func (h *Handler) clearSession(w http.ResponseWriter) {
	http.SetCookie(w, h.cookie.cookie(h.cookie.session, "", -1))
}

// browser is the browser's live session, if any.
type browser struct {
	// cookie is the session cookie's value as sent, or "".
	cookie string
	sess   *store.Session
	user   *store.User
}

// signedIn reports whether the browser has a live session of a user who
// may still sign in.
func (b *browser) signedIn() bool { return b.sess != nil }

// currentSession reads the session cookie and returns the live session
// and its user. A cookie of an ended session, or of a user disabled or
// signed out everywhere since, counts as none; err is for the database.
func (h *Handler) currentSession(ctx context.Context, r *http.Request) (*browser, error) {
	b := &browser{}
	c, err := r.Cookie(h.cookie.session)
	if err != nil || c.Value == "" || len(c.Value) > session.MaxCookieLen {
		return b, nil
	}
	b.cookie = c.Value
	sess, err := h.opts.Sessions.Lookup(ctx, c.Value, h.meta(r))
	if errors.Is(err, session.ErrNoSession) {
		return b, nil
	}
	if err != nil {
		return nil, err
	}
	u, err := h.opts.Store.GetUser(ctx, sess.Subject)
	if errors.Is(err, store.ErrNotFound) {
		return b, nil
	}
	if err != nil {
		return nil, err
	}
	if u.Disabled || u.TokensValidAfter.After(sess.AuthTime) {
		return b, nil
	}
	b.sess, b.user = sess, u
	return b, nil
}
