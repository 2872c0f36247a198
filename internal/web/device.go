package web

import (
	"errors"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/rotor-auth/rotor/internal/audit"
	"github.com/rotor-auth/rotor/internal/authz"
	"github.com/rotor-auth/rotor/internal/ratelimit"
	"github.com/rotor-auth/rotor/internal/store"
	"github.com/rotor-auth/rotor/internal/users"
)

// The /device page (RFC 8628 §3.3): a signed-in person types the user code
// a device shows, sees which application on which device asks for what,
// and allows or denies it.
//
// A user code has about 34.6 bits (20^8), so guessing is what the page
// must stop (RFC 8628 §5.1). Wrong codes are counted three times, before
// any lookup: per browser session (sessionCodeLimit), so that a person
// who mistypes a few times barely notices; per address
// (addressCodeLimit), an IPv6 address counted by its /64 as the sign-in
// limits count it ([users.Source]), so that signing in again for a fresh
// session, or moving to another address of the same network, buys no
// more guesses; and per signed-in user (userCodeLimit), so that fresh
// sessions from fresh networks buy none either. Past any of them, the
// page answers 429 with Retry-After and does not even look the code up.
// An attempt is reserved in every bucket before the lookup and given
// back when the code was right (and in the buckets already taken when a
// later one refuses), so parallel posts cannot overrun the limits and a
// refused attempt leaves the buckets it passed as it found them.
//
// Once spent, a user gets 2 guesses a minute and an address 4. At the
// default 1000 pending requests per client, finding some pending code
// takes a user about 8,900 days' worth of guesses per client (20^8 /
// 1000 / 2,880 a day), and an address about 4,400; a code lives 10
// minutes. The counts are in memory, per replica (as the sign-in
// limits): N replicas behind a balancer allow up to N times as much.
//
// The counts are bounded ([ratelimit.Memory]): when the table is full it
// drops the buckets that have refilled first, so the keys a flood makes
// (each attempt a refused one gives back) are what goes. Used buckets go
// only when the table is full of them: a wrong guess leaves at most two
// new keys below full (a fresh session's for a minute, a fresh network's
// for 15 s), so that takes some 50,000 counted guesses within a minute,
// thousands of users' worth at the per-user limit.
var (
	sessionCodeLimit = ratelimit.Limit{Burst: 5, Every: time.Minute}
	addressCodeLimit = ratelimit.Limit{Burst: 20, Every: 15 * time.Second}
	userCodeLimit    = ratelimit.Limit{Burst: 10, Every: 30 * time.Second}
)

// wrongCode is the one message for a code that is unknown, expired or
// decided already: which of them is the device's to say.
const wrongCode = "That code is not valid or has expired. Check the code on your device."

// handleDevicePage is GET /device, with user_code pre-filled from the
// query (verification_uri_complete, RFC 8628 §3.3.1). The code is not
// looked up on a GET: the person confirms it with the button, so a link
// alone never shows the confirmation, and every lookup goes through the
// attempt limits of the POST.
func (h *Handler) handleDevicePage(w http.ResponseWriter, r *http.Request) {
	q, err := parseQuery(r, deviceQuery)
	if err != nil {
		q = nil // a mangled link: the empty form
	}
	typed := q.Get("user_code")
	b, err := h.currentSession(r.Context(), r)
	if err != nil {
		h.unavailable(w, r, err)
		return
	}
	if !b.signedIn() {
		toLoginFor(w, r, deviceReturn(typed))
		return
	}
	prefill := ""
	if code, ok := authz.NormalizeUserCode(typed); ok {
		prefill = authz.FormatUserCode(code)
	}
	h.deviceForm(w, r, http.StatusOK, b, prefill, "")
}

// deviceForm renders the code form.
func (h *Handler) deviceForm(w http.ResponseWriter, r *http.Request, status int, b *browser, typed, alert string) {
	h.render(w, status, "device", &view{Title: "Connect a device", Alert: alert, CSRF: h.csrfToken(w, r),
		UserCode: clip(typed, 64), SignedInAs: b.user.Username})
}

// handleDevice is POST /device: the code form (no decision), then the
// confirmation's Allow or Deny. Both look the code up through the attempt
// limits, so the confirmation's form cannot be used to guess either.
func (h *Handler) handleDevice(w http.ResponseWriter, r *http.Request) {
	f, err := parseForm(r, deviceFields)
	if err != nil {
		h.ErrorPage(w, r, http.StatusBadRequest, "The code form was not sent as this page sends it.")
		return
	}
	typed := f.Get("user_code")
	if !h.csrfValid(r, f.Get("csrf_token")) {
		h.csrfFailed(w, deviceReturn(typed))
		return
	}
	decision := f.Get("decision")
	if decision != "" && decision != "allow" && decision != "deny" {
		h.ErrorPage(w, r, http.StatusBadRequest, "Choose Allow or Deny.")
		return
	}
	b, err := h.currentSession(r.Context(), r)
	if err != nil {
		h.unavailable(w, r, err)
		return
	}
	if !b.signedIn() {
		// Signed out in another tab: sign in, then back here with the code.
		toLoginFor(w, r, deviceReturn(typed))
		return
	}
	if strings.TrimSpace(typed) == "" {
		h.deviceForm(w, r, http.StatusOK, b, "", "Enter the code shown on your device.")
		return
	}
	d, ok := h.pendingDevice(w, r, b, typed)
	if !ok {
		return
	}
	if decision == "" || f.Get("session") != b.sess.ID {
		// The code form; or someone else signed in, in another tab, since
		// the confirmation was shown: show it to the one signed in now.
		h.confirmDevice(w, r, b, d, typed)
		return
	}
	m := h.meta(r)
	m.Actor = audit.User(b.sess.Subject)
	allow := decision == "allow"
	if _, err := h.opts.Authz.DecideDevice(r.Context(), typed, b.sess, allow, m); errors.Is(err, authz.ErrUserCodeUnknown) {
		// Expired, or answered in another tab, since the lookup.
		h.deviceForm(w, r, http.StatusOK, b, "", wrongCode)
		return
	} else if err != nil {
		h.unavailable(w, r, err)
		return
	}
	v := &view{Title: "Your device is signed in", Notice: "You can go back to your device: it continues on its own in a few seconds.",
		Help: "You can end its access at any time on your sessions page.", Link: SessionsPath, LinkText: "Your sessions"}
	if !allow {
		v.Title, v.Notice = "Denied", "The device was not signed in. If it shows the code again, you can ignore it."
		v.Help = "If you did not start this yourself, check which apps and devices can use your account."
	}
	h.render(w, http.StatusOK, "message", v)
}

// pendingDevice looks the typed code up through the attempt limits; ok is
// false when a page has been written (throttled, or a wrong code).
func (h *Handler) pendingDevice(w http.ResponseWriter, r *http.Request, b *browser, typed string) (*store.DeviceCode, bool) {
	m := h.meta(r)
	counts := []codeCount{
		{"session:" + b.sess.ID, sessionCodeLimit},
		{"address:" + users.Source(m.IP), addressCodeLimit},
		{"user:" + b.sess.Subject, userCodeLimit},
	}
	if ok, retry := h.takeCodes(counts); !ok {
		h.opts.Refusals.Record(r.Context(), audit.NewUserCodeFailed(m, b.sess.Subject, audit.ReasonThrottled))
		w.Header().Set("Retry-After", strconv.Itoa(max(1, int((retry+time.Second-1)/time.Second))))
		h.deviceForm(w, r, http.StatusTooManyRequests, b, "",
			"Too many wrong codes; wait "+minutesText(retry)+" and try again.")
		return nil, false
	}
	d, err := h.opts.Authz.PendingDevice(r.Context(), typed)
	if errors.Is(err, authz.ErrUserCodeUnknown) {
		h.opts.Refusals.Record(r.Context(), audit.NewUserCodeFailed(m, b.sess.Subject, audit.ReasonUnknown))
		h.deviceForm(w, r, http.StatusOK, b, typed, wrongCode)
		return nil, false
	}
	// A right code, or a failure of ours, costs the person no attempt.
	h.giveCodes(counts)
	if err != nil {
		h.unavailable(w, r, err)
		return nil, false
	}
	return d, true
}

// codeCount is one bucket a user-code attempt is counted in.
type codeCount struct {
	key   string
	limit ratelimit.Limit
}

// takeCodes reserves one attempt in each bucket, in order. When one
// refuses, the ones taken before it are given back, and retry says when
// the refusing one has an attempt again.
func (h *Handler) takeCodes(counts []codeCount) (ok bool, retry time.Duration) {
	for i, c := range counts {
		if ok, retry = h.codes.Take(c.key, c.limit); !ok {
			h.giveCodes(counts[:i])
			return false, retry
		}
	}
	return true, 0
}

// giveCodes gives back an attempt reserved by takeCodes.
func (h *Handler) giveCodes(counts []codeCount) {
	for _, c := range counts {
		h.codes.Give(c.key, c.limit)
	}
}

// confirmDevice shows what the code would allow: the client, the scopes
// in words, and the address and user agent of the device that asked,
// beside the person's own address, so that a person sent someone else's
// code (RFC 8628 §5.4, remote phishing) can see it is not their own
// device. The user agent is the device's word: the page says so.
func (h *Handler) confirmDevice(w http.ResponseWriter, r *http.Request, b *browser, d *store.DeviceCode, typed string) {
	name := d.ClientID
	c, err := h.opts.Store.GetClient(r.Context(), d.ClientID)
	switch {
	case err == nil:
		name = clientName(c)
	case !errors.Is(err, store.ErrNotFound):
		h.unavailable(w, r, err)
		return
	}
	code, _ := authz.NormalizeUserCode(typed)
	v := &view{
		Title:      "Sign in a device?",
		Client:     name,
		Scopes:     describe(d.Scopes),
		SignedInAs: b.user.Username,
		Session:    b.sess.ID,
		CSRF:       h.csrfToken(w, r),
		UserCode:   authz.FormatUserCode(code),
		DeviceIP:   orUnknown(d.IP),
		YourIP:     orUnknown(h.meta(r).IP),
		DeviceUA:   orUnknown(clip(d.UserAgent, 512)),
		Asked:      ago(h.now().Sub(d.CreatedAt)),
	}
	h.render(w, http.StatusOK, "device_confirm", v)
}

func orUnknown(s string) string {
	if s == "" {
		return "unknown"
	}
	return s
}

// ago says how long ago something was, to the minute.
func ago(d time.Duration) string {
	switch m := int(d / time.Minute); {
	case m < 1:
		return "just now"
	case m == 1:
		return "1 minute ago"
	case m < 120:
		return strconv.Itoa(m) + " minutes ago"
	default:
		return strconv.Itoa(m/60) + " hours ago"
	}
}

// minutesText says how long to wait, rounded up to the minute.
func minutesText(d time.Duration) string {
	m := max(1, int((d+time.Minute-1)/time.Minute))
	if m == 1 {
		return "1 minute"
	}
	return strconv.Itoa(m) + " minutes"
}
