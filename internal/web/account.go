package web

import (
	"errors"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/rotor-auth/rotor/internal/audit"
	"github.com/rotor-auth/rotor/internal/store"
	"github.com/rotor-auth/rotor/internal/users"
)

// The sessions page (/account/sessions): every live family of the
// signed-in user, that is every app or device that can refresh tokens in
// their name, each of which they can end; every browser signed in to
// Rotor as them, each of which but this one they can end (this one signs
// out); and "sign out everywhere".

// familyLine is one family as the sessions page shows it.
type familyLine struct {
	// ID is the family id: the sid claim of its access tokens.
	ID                         string
	Client                     string
	Created, LastUsed, Expires string
	CreatedISO, LastUsedISO    string
	ExpiresISO                 string
	IP, UserAgent              string
	// ThisBrowser: the family was created in the browser session that
	// shows the page.
	ThisBrowser bool
}

// browserLine is one browser session as the sessions page shows it.
type browserLine struct {
	// ID is the session's id (not its cookie).
	ID string
	// Name is what the user agent says it is, in two words.
	Name                    string
	Created, LastSeen       string
	CreatedISO, LastSeenISO string
	IP, UserAgent           string
	// ThisBrowser: the session is the one showing the page.
	ThisBrowser bool
}

// handleSessionsPage is GET /account/sessions.
func (h *Handler) handleSessionsPage(w http.ResponseWriter, r *http.Request) {
	q, err := parseQuery(r, sessionsQuery)
	if err != nil {
		q = nil
	}
	b, err := h.currentSession(r.Context(), r)
	if err != nil {
		h.unavailable(w, r, err)
		return
	}
	if !b.signedIn() {
		toLoginFor(w, r, SessionsPath)
		return
	}
	now := h.now()
	fams, err := h.opts.Store.ListFamilies(r.Context(), store.FamilyFilter{Subject: b.sess.Subject, LiveOnly: true, Now: now})
	if err != nil {
		h.unavailable(w, r, err)
		return
	}
	// Most recently used first: what the person did last is on top.
	slices.Reverse(fams)
	names := map[string]string{}
	lines := make([]familyLine, 0, len(fams))
	for _, f := range fams {
		name, ok := names[f.ClientID]
		if !ok {
			name = f.ClientID
			c, err := h.opts.Store.GetClient(r.Context(), f.ClientID)
			switch {
			case err == nil:
				name = clientName(c)
			case !errors.Is(err, store.ErrNotFound):
				h.unavailable(w, r, err)
				return
			}
			names[f.ClientID] = name
		}
		lines = append(lines, familyLine{
			ID: f.ID, Client: name,
			Created: when(f.CreatedAt), LastUsed: when(f.LastUsedAt), Expires: when(f.ExpiresAt),
			CreatedISO: iso(f.CreatedAt), LastUsedISO: iso(f.LastUsedAt), ExpiresISO: iso(f.ExpiresAt),
			IP: orUnknown(f.LastIP), UserAgent: orUnknown(clip(f.LastUserAgent, 512)),
			ThisBrowser: f.SessionID != "" && f.SessionID == b.sess.ID,
		})
	}
	sessions, err := h.opts.Store.ListSessions(r.Context(), b.sess.Subject, now)
	if err != nil {
		h.unavailable(w, r, err)
		return
	}
	browsers := make([]browserLine, 0, len(sessions))
	for _, s := range sessions {
		l := browserLine{ID: s.ID, Name: browserName(s.UserAgent),
			Created: when(s.CreatedAt), LastSeen: when(s.LastSeenAt), CreatedISO: iso(s.CreatedAt), LastSeenISO: iso(s.LastSeenAt),
			IP: orUnknown(s.IP), UserAgent: orUnknown(clip(s.UserAgent, 512)), ThisBrowser: s.ID == b.sess.ID}
		if l.ThisBrowser {
			// On top: the one the person knows.
			browsers = slices.Insert(browsers, 0, l)
			continue
		}
		browsers = append(browsers, l)
	}
	v := &view{Title: "Your sessions", SignedInAs: b.user.Username, CSRF: h.csrfToken(w, r), Families: lines, Browsers: browsers, Wide: true}
	switch q.Get("ended") {
	case "1":
		v.Notice = "That session has ended. Its app or device must sign in again."
	case "browser":
		v.Notice = "That browser is signed out, and the apps it signed in to have ended."
	}
	h.render(w, http.StatusOK, "sessions", v)
}

// handleSessions is POST /account/sessions: revoke=<family id> ends one
// family of the signed-in user; end_browser=<session id> ends another of
// their browser sessions, with the families created in it;
// sign_out_everywhere ends them all, with every browser session, this
// one too, at once: the button is the confirmation (a mistaken press
// costs a sign-in, not a secret).
func (h *Handler) handleSessions(w http.ResponseWriter, r *http.Request) {
	f, err := parseForm(r, sessionsFields)
	if err != nil {
		h.ErrorPage(w, r, http.StatusBadRequest, "The sessions form was not sent as this page sends it.")
		return
	}
	if !h.csrfValid(r, f.Get("csrf_token")) {
		h.csrfFailed(w, SessionsPath)
		return
	}
	b, err := h.currentSession(r.Context(), r)
	if err != nil {
		h.unavailable(w, r, err)
		return
	}
	if !b.signedIn() {
		toLoginFor(w, r, SessionsPath)
		return
	}
	m := h.meta(r)
	m.Actor = audit.User(b.sess.Subject)
	asked := 0
	for _, k := range []string{"revoke", "end_browser", "sign_out_everywhere"} {
		if f.Has(k) {
			asked++
		}
	}
	switch {
	case asked != 1:
		h.ErrorPage(w, r, http.StatusBadRequest, "The sessions form was not sent as this page sends it.")
	case f.Has("revoke"):
		h.revoke(w, r, b, f.Get("revoke"), m)
	case f.Has("end_browser"):
		h.endBrowser(w, r, b, f.Get("end_browser"), m)
	case f.Get("sign_out_everywhere") == "yes":
		_, _, err := h.opts.Users.SignOutEverywhere(r.Context(), b.sess.Subject, m)
		if err != nil && !errors.Is(err, users.ErrNotFound) {
			h.unavailable(w, r, err)
			return
		}
		h.clearSession(w)
		h.render(w, http.StatusOK, "message", &view{Title: "You are signed out everywhere",
			Notice: "Every app, device and browser that was signed in to your account is signed out, this one too.",
			Help:   "Each of them asks you to sign in again the next time you use it."})
	default:
		h.ErrorPage(w, r, http.StatusBadRequest, "The sessions form was not sent as this page sends it.")
	}
}

// revoke ends one family, if it is the signed-in user's. Another user's
// family, or one that does not exist, gets the same page, and nothing is
// revoked: the page does not tell which ids exist.
func (h *Handler) revoke(w http.ResponseWriter, r *http.Request, b *browser, id string, m audit.Meta) {
	fam, err := h.opts.Store.GetFamily(r.Context(), id)
	if errors.Is(err, store.ErrNotFound) || (err == nil && fam.Subject != b.sess.Subject) {
		h.sessionNotFound(w)
		return
	}
	if err != nil {
		h.unavailable(w, r, err)
		return
	}
	if _, err := h.opts.Families.RevokeFamily(r.Context(), id, audit.ReasonUser, m); err != nil {
		h.unavailable(w, r, err)
		return
	}
	http.Redirect(w, r, SessionsPath+"?ended=1", http.StatusSeeOther)
}

// endBrowser ends another browser session of the signed-in user, and
// the families created in it (session.Service.End), so that its cookie
// signs in no more. A session of another user, or one that does not
// exist, gets the page a foreign family gets. This browser's own session
// is not offered: signing out is the logout's, or sign out everywhere's.
func (h *Handler) endBrowser(w http.ResponseWriter, r *http.Request, b *browser, id string, m audit.Meta) {
	if id == b.sess.ID {
		h.ErrorPage(w, r, http.StatusBadRequest, "The sessions form was not sent as this page sends it.")
		return
	}
	sess, err := h.opts.Store.GetSession(r.Context(), id)
	if errors.Is(err, store.ErrNotFound) || (err == nil && sess.Subject != b.sess.Subject) {
		h.sessionNotFound(w)
		return
	}
	if err != nil {
		h.unavailable(w, r, err)
		return
	}
	// An ended one ends again harmlessly: the page it came from was
	// stale, and what the person wanted is done.
	if _, err := h.opts.Sessions.End(r.Context(), id, audit.ReasonUser, m); err != nil {
		h.unavailable(w, r, err)
		return
	}
	http.Redirect(w, r, SessionsPath+"?ended=browser", http.StatusSeeOther)
}

// sessionNotFound is the one answer for an id that is not the user's,
// whether it exists or not: the page does not tell which ids exist.
func (h *Handler) sessionNotFound(w http.ResponseWriter) {
	h.render(w, http.StatusNotFound, "message", &view{Title: "Session not found",
		Alert: "That session is not one of yours, or it no longer exists, so nothing was ended.",
		Link:  SessionsPath, LinkText: "Your sessions"})
}

// browserName names a browser by its user agent, as a person knows it:
// "Firefox on Windows". It is a label, not a fact: a user agent says
// what it likes, and the full string is shown beside it.
func browserName(ua string) string {
	name := "A browser"
	for _, b := range [...]struct{ token, name string }{
		{"Edg/", "Edge"}, {"OPR/", "Opera"}, {"Firefox/", "Firefox"}, {"Chrome/", "Chrome"}, {"Chromium/", "Chromium"},
		{"Safari/", "Safari"},
	} {
		if strings.Contains(ua, b.token) {
			name = b.name
			break
		}
	}
	for _, o := range [...]struct{ token, name string }{
		{"Windows", "Windows"}, {"iPhone", "iOS"}, {"iPad", "iPadOS"}, {"Android", "Android"}, {"CrOS", "ChromeOS"},
		{"Mac OS X", "macOS"}, {"Linux", "Linux"},
	} {
		if strings.Contains(ua, o.token) {
			return name + " on " + o.name
		}
	}
	return name
}

// when writes a time for the sessions page, in UTC: the page knows no
// time zone of the person's.
func when(t time.Time) string {
	if t.IsZero() {
		return "never"
	}
	return t.UTC().Format("2 Jan 2006, 15:04 UTC")
}

func iso(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format(time.RFC3339)
}
