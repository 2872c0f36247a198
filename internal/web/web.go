package web

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/netip"
	"net/url"
	"strings"
	"time"

	"github.com/rotor-auth/rotor/internal/audit"
	"github.com/rotor-auth/rotor/internal/authz"
	"github.com/rotor-auth/rotor/internal/family"
	"github.com/rotor-auth/rotor/internal/oauth"
	"github.com/rotor-auth/rotor/internal/ratelimit"
	"github.com/rotor-auth/rotor/internal/secret"
	"github.com/rotor-auth/rotor/internal/session"
	"github.com/rotor-auth/rotor/internal/store"
	"github.com/rotor-auth/rotor/internal/token"
	"github.com/rotor-auth/rotor/internal/users"
)

// Options configure a [Handler]. Every part is built by the caller.
type Options struct {
	// Issuer is the issuer URL, without a trailing slash. An https
	// issuer makes every cookie Secure with the __Host- prefix.
	Issuer   string
	Store    store.Store
	Secrets  *secret.Keys
	Authz    *authz.Service
	Sessions *session.Service
	Users    *users.Service
	// Families ends the families a user revokes on the sessions page.
	Families *family.Service
	// Tokens verifies the id_token_hint of a logout request.
	Tokens *token.Issuer
	// Refusals records failed sign-ins, which anyone may repeat at will:
	// an [audit.Aggregator], shared with the token endpoint.
	Refusals audit.Recorder
	// Now is the clock; time.Now when nil.
	Now func() time.Time
	// Log receives structured logs; never a password, cookie or token.
	Log *slog.Logger
	// TrustedProxies are the proxies whose X-Forwarded-For names the
	// client (see [oauth.ClientIP]), for the sign-in limits and the audit.
	TrustedProxies []netip.Prefix
	// DBTimeout bounds the database work of one page; DefaultDBTimeout
	// when zero.
	DBTimeout time.Duration
}

// DefaultDBTimeout bounds the database work of one page.
const DefaultDBTimeout = 5 * time.Second

// Paths of the pages. The authorization endpoint sends the browser to
// LoginPath with the sealed request in the query parameter "request".
const (
	LoginPath     = "/login"
	ConsentPath   = "/consent"
	LogoutPath    = "/oauth2/logout"
	AuthorizePath = "/oauth2/authorize"
	// DevicePath is where a person types a device's user code (RFC 8628
	// §3.3); the device authorization endpoint names it.
	DevicePath = "/device"
	// SessionsPath lists the signed-in user's sessions.
	SessionsPath = "/account/sessions"
	assetsPath   = "/assets/"
)

// Handler serves the pages. It is safe for concurrent use.
type Handler struct {
	opts   Options
	https  bool
	now    func() time.Time
	log    *slog.Logger
	pages  *pages
	hint   func(ctx context.Context, tok string) (*idHint, bool)
	cookie cookieNames
	mux    *http.ServeMux
	// codes counts the wrong user codes of the /device page, per browser
	// session, per address and per user (see device.go).
	codes *ratelimit.Memory
}

// idHint is what a logout needs of an id_token_hint: whose it is, for
// which client and from which browser session.
type idHint struct {
	Subject, ClientID, SessionID string
}

// New validates opts and returns a Handler.
func New(opts Options) (*Handler, error) {
	if opts.Store == nil || opts.Secrets == nil || opts.Authz == nil || opts.Sessions == nil || opts.Users == nil ||
		opts.Families == nil || opts.Tokens == nil || opts.Refusals == nil {
		return nil, errors.New("web: Store, Secrets, Authz, Sessions, Users, Families, Tokens and Refusals are required")
	}
	opts.Issuer = strings.TrimRight(opts.Issuer, "/")
	iss, err := url.Parse(opts.Issuer)
	if err != nil || (iss.Scheme != "https" && iss.Scheme != "http") || iss.Host == "" || iss.Path != "" || iss.RawQuery != "" {
		return nil, fmt.Errorf("web: issuer %q must be an absolute http(s) URL without path or query", opts.Issuer)
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Log == nil {
		opts.Log = slog.New(slog.DiscardHandler)
	}
	if opts.DBTimeout <= 0 {
		opts.DBTimeout = DefaultDBTimeout
	}
	p, err := loadPages()
	if err != nil {
		return nil, err
	}
	h := &Handler{opts: opts, https: iss.Scheme == "https", now: opts.Now, log: opts.Log, pages: p,
		codes: ratelimit.NewMemory(opts.Now, 0)}
	h.cookie = newCookieNames(h.https)
	h.hint = h.verifyHint
	h.mux = http.NewServeMux()
	h.Register(h.mux)
	return h, nil
}

// Register adds the pages to mux.
func (h *Handler) Register(mux *http.ServeMux) {
	mux.Handle("GET "+LoginPath, h.page(h.handleLoginPage))
	mux.Handle("POST "+LoginPath, h.page(h.handleLogin))
	mux.Handle("GET "+ConsentPath, h.page(h.handleConsentPage))
	mux.Handle("POST "+ConsentPath, h.page(h.handleConsent))
	mux.Handle("GET "+LogoutPath, h.page(h.handleLogout))
	mux.Handle("POST "+LogoutPath, h.page(h.handleLogout))
	mux.Handle("GET "+DevicePath, h.page(h.handleDevicePage))
	mux.Handle("POST "+DevicePath, h.page(h.handleDevice))
	mux.Handle("GET "+SessionsPath, h.page(h.handleSessionsPage))
	mux.Handle("POST "+SessionsPath, h.page(h.handleSessions))
	mux.Handle("GET "+assetsPath+"{file}", http.HandlerFunc(h.handleAsset))
}

// ServeHTTP serves the pages on a mux of their own, for tests and for a
// caller that mounts the handler as a whole.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) { h.mux.ServeHTTP(w, r) }

// maxFormBytes caps a page's form: the sealed request (authz.MaxSealedLen)
// and a few short fields.
const maxFormBytes = authz.MaxSealedLen + 8<<10

// page wraps a page handler: it caps the body and bounds the database
// work of the request. HEAD is refused: a GET of these pages may issue a
// code or end a session, and a link checker's HEAD must do neither.
func (h *Handler) page(fn func(http.ResponseWriter, *http.Request)) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodHead {
			w.Header().Set("Allow", "GET, POST")
			w.WriteHeader(http.StatusMethodNotAllowed)
			return
		}
		if r.Body != nil {
			r.Body = http.MaxBytesReader(w, r.Body, maxFormBytes)
		}
		ctx, cancel := context.WithTimeout(r.Context(), h.opts.DBTimeout)
		defer cancel()
		fn(w, r.WithContext(ctx))
	})
}

// meta describes the request for the audit trail and the limits.
func (h *Handler) meta(r *http.Request) audit.Meta {
	return audit.Meta{
		Time:      h.now(),
		IP:        oauth.CleanHeader(oauth.ClientIP(r, h.opts.TrustedProxies)),
		UserAgent: oauth.CleanHeader(r.UserAgent()),
	}
}

// ErrorPage answers with a page that explains, in plain words, why the
// sign-in cannot go on and what the person can do. The authorization
// endpoint uses it for the errors that must not be redirected to the
// client (RFC 6749 §4.1.2.1: an unknown client or an unregistered
// redirect URI). message is shown as written: it must hold no value
// taken from the request.
func (h *Handler) ErrorPage(w http.ResponseWriter, r *http.Request, status int, message string) {
	h.render(w, status, "message", &view{
		Title: "Sign-in can’t continue",
		Alert: message,
		Help:  "Go back to the application you came from and try again. If this keeps happening, tell the people who run it.",
	})
}

// unavailable answers a failure of the database or of a dependency: the
// person may reload the page.
func (h *Handler) unavailable(w http.ResponseWriter, r *http.Request, err error) {
	if errors.Is(err, store.ErrUnavailable) || errors.Is(err, context.DeadlineExceeded) || errors.Is(err, secret.ErrBusy) {
		// The database down or slow, or every argon2id slot taken: a
		// condition of the moment, which the page asks to wait out.
		h.log.WarnContext(r.Context(), "page unavailable; answering 503", "path", r.URL.Path, "err", err)
	} else {
		h.log.ErrorContext(r.Context(), "page failed", "path", r.URL.Path, "err", err)
	}
	w.Header().Set("Retry-After", "5")
	h.render(w, http.StatusServiceUnavailable, "message", &view{
		Title: "Rotor is busy",
		Alert: "The sign-in service could not answer just now.",
		Help:  "Wait a few seconds and reload this page.",
	})
}

// expired answers a sealed request past authz.RequestTTL: a page that
// starts the flow again with the original parameters.
func (h *Handler) expired(w http.ResponseWriter, req *authz.Request) {
	h.render(w, http.StatusOK, "message", &view{
		Title:    "This sign-in page has expired",
		Notice:   "You took longer than " + minutes(authz.RequestTTL) + " to sign in, so this page stopped working. Nothing was shared with the application.",
		Link:     req.Restart(h.opts.Issuer + AuthorizePath),
		LinkText: "Start again",
	})
}

// invalidRequest answers a request parameter that does not open.
func (h *Handler) invalidRequest(w http.ResponseWriter, r *http.Request) {
	h.ErrorPage(w, r, http.StatusBadRequest, "This sign-in link is not valid. It may have been cut short or changed.")
}

// openRequest opens the sealed request of a page; ok is false when a page
// has been written (expired or invalid).
func (h *Handler) openRequest(w http.ResponseWriter, r *http.Request, sealed string) (*authz.Request, bool) {
	req, err := authz.Open(h.opts.Secrets, sealed, h.now())
	switch {
	case errors.Is(err, authz.ErrExpired):
		h.expired(w, req)
		return nil, false
	case err != nil:
		h.invalidRequest(w, r)
		return nil, false
	}
	return req, true
}

func minutes(d time.Duration) string {
	return fmt.Sprintf("%d minutes", int(d/time.Minute))
}
