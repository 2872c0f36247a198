package web

import (
	"crypto/rand"
	"encoding/base64"
	"net/http"

	"github.com/rotor-auth/rotor/internal/secret"
)

// CSRF protection is stateless and bound to the browser (the "double
// submit" pattern with a keyed MAC): the CSRF cookie holds 256 random
// bits, and every form carries csrf_token, the keyed hash of that value
// under a server key. A cross-site form post lacks the cookie (SameSite)
// and cannot know the token; a token lifted from one browser is worthless
// in another, whose cookie differs; and the server stores nothing.

// csrfCookieLen is the length of a CSRF cookie value: 32 bytes base64url.
const csrfCookieLen = 43

// csrfMaxAge is how long the browser keeps the CSRF cookie. Each page
// with a form sends it again, so it outlives any open page.
const csrfMaxAge = 24 * 60 * 60

// csrfContext separates CSRF tokens from every other keyed hash.
const csrfContext = "rotor csrf v1\x00"

// csrfToken returns the csrf_token for the browser's CSRF cookie, and
// sends the cookie (a fresh value if the browser has none).
func (h *Handler) csrfToken(w http.ResponseWriter, r *http.Request) string {
	v, ok := h.csrfCookie(r)
	if !ok {
		b := make([]byte, 32)
		rand.Read(b)
		v = base64.RawURLEncoding.EncodeToString(b)
	}
	http.SetCookie(w, h.cookie.cookie(h.cookie.csrf, v, csrfMaxAge))
	return h.csrfFor(v)
}

func (h *Handler) csrfFor(cookie string) string {
	return base64.RawURLEncoding.EncodeToString(h.opts.Secrets.Hash(csrfContext + cookie))
}

// csrfCookie returns the browser's CSRF cookie value if it is well formed.
func (h *Handler) csrfCookie(r *http.Request) (string, bool) {
	c, err := r.Cookie(h.cookie.csrf)
	if err != nil || len(c.Value) != csrfCookieLen {
		return "", false
	}
	if _, err := base64.RawURLEncoding.DecodeString(c.Value); err != nil {
		return "", false
	}
	return c.Value, true
}

// csrfValid reports whether token is the csrf_token of the browser's CSRF
// cookie, compared in constant time.
func (h *Handler) csrfValid(r *http.Request, token string) bool {
	v, ok := h.csrfCookie(r)
	if !ok || token == "" || len(token) > 64 {
		return false
	}
	return secret.Equal([]byte(h.csrfFor(v)), []byte(token))
}

// csrfFailed answers a form whose CSRF token is missing or wrong: the page
// may be old (its cookie expired or cleared) or the post came from
// elsewhere. restart, when not "", starts the flow again.
func (h *Handler) csrfFailed(w http.ResponseWriter, restart string) {
	v := &view{
		Title: "This form can’t be sent",
		Alert: "This form has expired or was not sent from this site, so nothing was done.",
		Help:  "Go back to the application you came from and sign in again.",
	}
	if restart != "" {
		v.Help, v.Link, v.LinkText = "You can start again from the beginning.", restart, "Start again"
	}
	h.render(w, http.StatusBadRequest, "message", v)
}
