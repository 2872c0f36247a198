package web

import (
	"errors"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/rotor-auth/rotor/internal/audit"
	"github.com/rotor-auth/rotor/internal/authz"
	"github.com/rotor-auth/rotor/internal/store"
	"github.com/rotor-auth/rotor/internal/users"
)

// wrongPassword is the one message of a failed sign-in: an unknown user,
// a wrong password and a disabled account read the same, so that the page
// does not tell which names exist.
const wrongPassword = "Wrong username or password."

// handleLoginPage is GET /login?request=…: with a usable session the flow
// goes on to consent; with prompt=none and none, the client is told
// login_required (OIDC Core §3.1.2.6); otherwise the login form. GET
// /login?return=… is a sign-in no application asked for, on the way to
// one of Rotor's own pages (see [localReturn]).
func (h *Handler) handleLoginPage(w http.ResponseWriter, r *http.Request) {
	q, err := parseQuery(r, loginQuery)
	if err != nil || (q.Has("request") && q.Has("return")) {
		h.invalidRequest(w, r)
		return
	}
	if q.Has("return") {
		h.loginPageFor(w, r, q.Get("return"))
		return
	}
	req, ok := h.openRequest(w, r, q.Get("request"))
	if !ok {
		return
	}
	b, err := h.currentSession(r.Context(), r)
	if err != nil {
		h.unavailable(w, r, err)
		return
	}
	if b.signedIn() && fresh(req, b.sess, h.now()) {
		h.proceed(w, r, req, q.Get("request"), b)
		return
	}
	if req.Has("none") {
		http.Redirect(w, r, req.ErrorRedirect(h.opts.Issuer, "login_required", "the user is not signed in"), http.StatusSeeOther)
		return
	}
	name := req.LoginHint
	if b.signedIn() {
		name = b.user.Username // asked again (prompt=login, max_age): the same person, most likely
	}
	h.loginForm(w, r, http.StatusOK, next{req: req, sealed: q.Get("request")}, name, "")
}

// loginPageFor is the login page on the way to a page of Rotor's own: a
// browser signed in already goes straight there.
func (h *Handler) loginPageFor(w http.ResponseWriter, r *http.Request, raw string) {
	ret, ok := localReturn(raw)
	if !ok {
		h.invalidRequest(w, r)
		return
	}
	b, err := h.currentSession(r.Context(), r)
	if err != nil {
		h.unavailable(w, r, err)
		return
	}
	if b.signedIn() {
		http.Redirect(w, r, ret, http.StatusSeeOther)
		return
	}
	h.loginForm(w, r, http.StatusOK, next{ret: ret}, "", "")
}

// next is where a sign-in goes on: the consent step of an application's
// sealed request, or a page of Rotor's own (ret, from [localReturn]).
type next struct {
	req    *authz.Request
	sealed string
	ret    string
}

// purposes say on the login page why a person signs in when no
// application asked.
var purposes = map[string]string{
	DevicePath:   "to connect a device",
	SessionsPath: "to see your sessions",
}

// loginForm renders the login page.
func (h *Handler) loginForm(w http.ResponseWriter, r *http.Request, status int, n next, username, alert string) {
	v := &view{Title: "Sign in", Alert: alert, CSRF: h.csrfToken(w, r), Request: n.sealed, Return: n.ret, Username: clip(username, 256)}
	if n.req == nil {
		path, _, _ := strings.Cut(n.ret, "?")
		v.Purpose = purposes[path]
		h.render(w, status, "login", v)
		return
	}
	if c, err := h.opts.Store.GetClient(r.Context(), n.req.ClientID); err == nil {
		v.Client = clientName(c)
	}
	h.render(w, status, "login", v, n.req.RedirectURI)
}

// toLoginFor sends the browser to the login page, on the way to ret.
func toLoginFor(w http.ResponseWriter, r *http.Request, ret string) {
	http.Redirect(w, r, LoginPath+"?"+url.Values{"return": {ret}}.Encode(), http.StatusSeeOther)
}

// handleLogin is POST /login: the password is checked (limited per
// username and per address, by the limiter the password grant uses), a
// session starts, and the browser goes on to the consent step (or to the
// page of Rotor's own the form's return names) with a 303,
// so that a reload or the back button lands on a page that evaluates the
// request again rather than on a form to send twice.
func (h *Handler) handleLogin(w http.ResponseWriter, r *http.Request) {
	f, err := parseForm(r, loginFields)
	if err != nil {
		h.ErrorPage(w, r, http.StatusBadRequest, "The sign-in form was not sent as this page sends it.")
		return
	}
	sealed, raw := f.Get("request"), f.Get("return")
	ret, retOK := localReturn(raw)
	if !h.csrfValid(r, f.Get("csrf_token")) {
		restart := h.restartURL(sealed)
		if sealed == "" && retOK {
			restart = ret
		}
		h.csrfFailed(w, restart)
		return
	}
	var n next
	switch {
	case sealed != "" && raw == "":
		req, ok := h.openRequest(w, r, sealed)
		if !ok {
			return
		}
		n = next{req: req, sealed: sealed}
	case sealed == "" && retOK:
		n = next{ret: ret}
	default:
		h.invalidRequest(w, r)
		return
	}
	username := f.Get("username")
	if username == "" || !f.Has("password") {
		h.loginForm(w, r, http.StatusOK, n, username, "Enter your username and password.")
		return
	}
	m := h.meta(r)
	u, reason, err := h.opts.Users.Authenticate(r.Context(), username, f.Get("password"), m.IP)
	var th *users.Throttled
	if errors.As(err, &th) {
		h.opts.Refusals.Record(r.Context(), audit.NewLoginFailed(m.At(h.now()), "", audit.ReasonThrottled))
		retry := max(1, int(th.RetryAfter.Round(time.Second)/time.Second))
		w.Header().Set("Retry-After", strconv.Itoa(retry))
		h.loginForm(w, r, http.StatusTooManyRequests, n, username,
			"Too many failed sign-ins. Wait "+waitText(th.RetryAfter)+" and try again.")
		return
	}
	if err != nil {
		h.unavailable(w, r, err)
		return
	}
	if reason != "" {
		subject := ""
		if u != nil {
			subject = u.ID
		}
		h.opts.Refusals.Record(r.Context(), audit.NewLoginFailed(m.At(h.now()), subject, reason))
		h.loginForm(w, r, http.StatusOK, n, username, wrongPassword)
		return
	}
	b, err := h.currentSession(r.Context(), r)
	if err != nil {
		h.unavailable(w, r, err)
		return
	}
	cookie, sess, err := h.opts.Sessions.Start(r.Context(), u, b.sess, b.cookie, m)
	if err != nil {
		h.unavailable(w, r, err)
		return
	}
	h.setSession(w, cookie, sess)
	if n.req == nil {
		http.Redirect(w, r, n.ret, http.StatusSeeOther)
		return
	}
	http.Redirect(w, r, ConsentPath+"?"+url.Values{"request": {sealed}}.Encode(), http.StatusSeeOther)
}

// fresh reports whether the session satisfies the request: with
// prompt=login the person must have entered their password since the
// request was made, and with max_age no longer ago than that (OIDC Core
// §3.1.2.1). A password entered after the request was made satisfies
// both: max_age=0 means "sign in again", not "never". The request's time
// is cut to the second because a store may keep auth_time to the second.
func fresh(req *authz.Request, sess *store.Session, now time.Time) bool {
	if !sess.AuthTime.Before(req.IssuedAt.Truncate(time.Second)) {
		return true
	}
	if req.Has("login") {
		return false
	}
	return req.MaxAge < 0 || now.Sub(sess.AuthTime) <= time.Duration(req.MaxAge)*time.Second
}

// restartURL is the authorization request's URL to start again, if the
// sealed request opens (expired or not), else "".
func (h *Handler) restartURL(sealed string) string {
	req, err := authz.Open(h.opts.Secrets, sealed, h.now())
	if req == nil || (err != nil && !errors.Is(err, authz.ErrExpired)) {
		return ""
	}
	return req.Restart(h.opts.Issuer + AuthorizePath)
}

func clientName(c *store.Client) string {
	if c.Name != "" {
		return c.Name
	}
	return c.ID
}

func clip(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return strings.ToValidUTF8(s[:n], "")
}

func waitText(d time.Duration) string {
	switch s := int((d + time.Second - 1) / time.Second); {
	case s <= 1:
		return "a second"
	case s < 90:
		return strconv.Itoa(s) + " seconds"
	default:
		return strconv.Itoa((s+59)/60) + " minutes"
	}
}
