package server

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
	"github.com/rotor-auth/rotor/internal/clients"
	"github.com/rotor-auth/rotor/internal/dpop"
	"github.com/rotor-auth/rotor/internal/family"
	"github.com/rotor-auth/rotor/internal/metrics"
	"github.com/rotor-auth/rotor/internal/oauth"
	"github.com/rotor-auth/rotor/internal/ratelimit"
	"github.com/rotor-auth/rotor/internal/secret"
	"github.com/rotor-auth/rotor/internal/store"
	"github.com/rotor-auth/rotor/internal/token"
	"github.com/rotor-auth/rotor/internal/users"
)

// Signer signs and verifies access tokens and publishes the JWKS; see
// [token.Signer].
type Signer = token.Signer

// Options configure a [Server]. Every part is built by the caller and
// injected; New refuses a missing one rather than building a default.
type Options struct {
	// Issuer is the issuer URL, without a trailing slash.
	Issuer  string
	Store   store.Store
	Secrets *secret.Keys
	Signer  Signer
	// Families creates and rotates refresh-token families; its settings
	// (token lifetimes, grace) are the server's.
	Families *family.Service
	// Authz redeems authorization codes.
	Authz *authz.Service
	// Users authenticates users (the password grant).
	Users *users.Service
	// Passwords bounds the argon2id verifications of chosen client
	// secrets; Users shares it.
	Passwords *secret.Verifier
	// Refusals records the refusals of requests, which callers may
	// repeat at will without authenticating: an [audit.Aggregator], so
	// that they cost bounded rows. The family service's refusals should
	// go to the same one.
	Refusals audit.Recorder
	// Now is the clock; time.Now when nil.
	Now func() time.Time
	// Metrics counts token requests by grant and outcome; nil counts
	// nothing.
	Metrics *metrics.Metrics
	// Log receives structured logs; it never receives a token.
	Log *slog.Logger
	// MaxBodyBytes caps request bodies; oauth.MaxFormBytes when zero.
	MaxBodyBytes int64
	// DPoPNonce makes every DPoP proof carry a nonce the server issued
	// (RFC 9449 §8), which bounds the life of a proof made in advance.
	DPoPNonce bool
	// TrustedProxies are the proxies whose X-Forwarded-For names the
	// client (see [oauth.ClientIP]); behind a load balancer, without them every
	// client has the balancer's address, and one caller's failures count
	// against everyone's.
	TrustedProxies []netip.Prefix
	// DBTimeout bounds the database work of each request (client
	// authentication, the transaction, the commit): past it the answer is
	// 503 temporarily_unavailable with Retry-After. It must stay well under
	// the HTTP server's write timeout, so that no answer is lost. Zero
	// means DefaultDBTimeout.
	DBTimeout time.Duration
	// ErrorPage shows a person an error of the authorization endpoint
	// that must not be redirected to the client (unknown client,
	// unregistered redirect URI): internal/web's page, so that this
	// package writes no HTML.
	ErrorPage func(w http.ResponseWriter, r *http.Request, status int, message string)
}

// DefaultDBTimeout is the deadline of a request's database work.
const DefaultDBTimeout = 5 * time.Second

// Server is Rotor's http.Handler for machines: the OAuth endpoints.
type Server struct {
	opts     Options
	issuer   *url.URL
	families *family.Service
	tokens   *token.Issuer
	auth     *clientAuth
	// deviceStarts limits device authorization requests per address.
	deviceStarts *ratelimit.Memory
	dpop         *dpop.Verifier
	// tokenURL is the token endpoint as proofs name it (htu).
	tokenURL string
	grants   map[string]grant
	// origins are the CORS origins of the enabled clients (cors.go);
	// issuerOrigin is the issuer's own, whose requests are same-origin.
	origins      *originSet
	issuerOrigin string
	mux          *http.ServeMux
	log          *slog.Logger
	now          func() time.Time
}

// New validates opts and returns a Server.
func New(opts Options) (*Server, error) {
	if opts.Store == nil || opts.Secrets == nil || opts.Signer == nil || opts.Families == nil || opts.Users == nil || opts.Passwords == nil || opts.Refusals == nil || opts.Authz == nil || opts.ErrorPage == nil {
		return nil, errors.New("server: Store, Secrets, Signer, Families, Users, Passwords, Refusals, Authz and ErrorPage are required")
	}
	opts.Issuer = strings.TrimRight(opts.Issuer, "/")
	iss, err := url.Parse(opts.Issuer)
	if err != nil || (iss.Scheme != "https" && iss.Scheme != "http") || iss.Host == "" || iss.RawQuery != "" || iss.Fragment != "" || iss.Path != "" {
		return nil, fmt.Errorf("server: issuer %q must be an absolute http(s) URL without path, query or fragment", opts.Issuer)
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Log == nil {
		opts.Log = slog.New(slog.DiscardHandler)
	}
	if opts.MaxBodyBytes <= 0 {
		opts.MaxBodyBytes = oauth.MaxFormBytes
	}
	if opts.DBTimeout <= 0 {
		opts.DBTimeout = DefaultDBTimeout
	}
	s := &Server{
		opts:         opts,
		issuer:       iss,
		families:     opts.Families,
		tokens:       token.NewIssuer(opts.Issuer, opts.Signer, opts.Now),
		auth:         newClientAuth(opts.Store, opts.Secrets, opts.Passwords, opts.Now),
		deviceStarts: ratelimit.NewMemory(opts.Now, 0),
		dpop:         dpop.NewVerifier(opts.Secrets.Hash("rotor dpop nonce"), opts.DPoPNonce, opts.Now),
		tokenURL:     opts.Issuer + "/oauth2/token",
		log:          opts.Log,
		now:          opts.Now,
	}
	s.origins = newOriginSet(opts.Store, opts.Now, opts.DBTimeout)
	if s.issuerOrigin, err = clients.ParseOrigin(iss.Scheme + "://" + iss.Host); err != nil {
		return nil, fmt.Errorf("server: issuer %q: %v", opts.Issuer, err)
	}
	s.grants = newGrants(grantDeps{
		store: opts.Store, families: opts.Families, users: opts.Users, authz: opts.Authz, tokens: s.tokens, refusals: opts.Refusals, now: opts.Now, log: opts.Log,
	})
	s.routes()
	return s, nil
}

// Families returns the family service the server uses, for tests.
func (s *Server) Families() *family.Service { return s.families }

func (s *Server) routes() {
	m := http.NewServeMux()
	m.HandleFunc("GET /oauth2/authorize", s.handleAuthorize)
	m.HandleFunc("POST /oauth2/authorize", s.handleAuthorize)
	// CORS (cors.go): the token, revocation and userinfo endpoints for
	// the origins of the client each request is for; the JWKS and the
	// metadata for any registered origin; nothing else, and never the
	// authorization endpoint or introspection.
	m.HandleFunc("POST /oauth2/token", s.withCORS(s.handleToken))
	m.HandleFunc("OPTIONS /oauth2/token", s.preflight(http.MethodPost))
	m.HandleFunc("POST /oauth2/revoke", s.withCORS(s.handleRevoke))
	m.HandleFunc("OPTIONS /oauth2/revoke", s.preflight(http.MethodPost))
	m.HandleFunc("GET /userinfo", s.withCORS(s.handleUserInfo))
	m.HandleFunc("POST /userinfo", s.withCORS(s.handleUserInfo))
	m.HandleFunc("OPTIONS /userinfo", s.preflight(http.MethodGet, http.MethodPost))
	m.HandleFunc("POST /oauth2/introspect", s.handleIntrospect)
	m.HandleFunc("POST /oauth2/device_authorization", s.handleDeviceAuthorization)
	// One document answers both metadata URLs (metadata.go).
	m.HandleFunc("GET /.well-known/oauth-authorization-server", s.withCORS(s.handleMetadata))
	m.HandleFunc("OPTIONS /.well-known/oauth-authorization-server", s.preflight(http.MethodGet))
	m.HandleFunc("GET /.well-known/openid-configuration", s.withCORS(s.handleMetadata))
	m.HandleFunc("OPTIONS /.well-known/openid-configuration", s.preflight(http.MethodGet))
	m.HandleFunc("GET /.well-known/jwks.json", s.withCORS(s.handleJWKS))
	m.HandleFunc("OPTIONS /.well-known/jwks.json", s.preflight(http.MethodGet))
	m.HandleFunc("GET /oauth2/denylist", s.handleDenyList)
	m.HandleFunc("GET /healthz", s.handleHealth)
	m.HandleFunc("GET /readyz", s.handleReady)
	for _, p := range []string{"/oauth2/token", "/oauth2/revoke", "/oauth2/introspect", "/oauth2/device_authorization"} {
		m.HandleFunc(p, func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Allow", http.MethodPost)
			e := oauth.InvalidRequest("the request must use POST")
			e.Status = http.StatusMethodNotAllowed
			oauth.WriteError(w, e)
		})
	}
	s.mux = m
}

// ServeHTTP implements http.Handler.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	h := w.Header()
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "no-referrer")
	if r.Body != nil {
		r.Body = http.MaxBytesReader(w, r.Body, s.opts.MaxBodyBytes)
	}
	s.mux.ServeHTTP(w, r)
}

// meta describes the request for the audit trail and the limits: the
// client's address and user agent.
func (s *Server) meta(r *http.Request) audit.Meta {
	return audit.Meta{IP: oauth.CleanHeader(oauth.ClientIP(r, s.opts.TrustedProxies)), UserAgent: oauth.CleanHeader(r.UserAgent())}
}

func (s *Server) handleHealth(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	_, _ = w.Write([]byte("ok\n"))
}

func (s *Server) handleReady(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
	defer cancel()
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	if err := s.opts.Store.Ping(ctx); err != nil {
		s.log.WarnContext(ctx, "readiness check failed", "err", err)
		w.WriteHeader(http.StatusServiceUnavailable)
		_, _ = w.Write([]byte("database unreachable\n"))
		return
	}
	_, _ = w.Write([]byte("ok\n"))
}

// internalError logs err and answers server_error without details (or
// 503 for a database that is unavailable).
func (s *Server) internalError(w http.ResponseWriter, r *http.Request, err error) {
	if errors.Is(err, store.ErrUnavailable) || errors.Is(err, context.DeadlineExceeded) {
		s.writeErr(w, r, err)
		return
	}
	s.log.ErrorContext(r.Context(), "request failed", "path", r.URL.Path, "err", err)
	oauth.WriteError(w, oauth.ServerError("the server could not complete the request"))
}

// writeErr writes an *oauth.Error; temporarily_unavailable (503 with
// Retry-After) for a busy password verifier, a database that is down,
// restarting or slower than the deadline; or a server_error for anything
// else.
func (s *Server) writeErr(w http.ResponseWriter, r *http.Request, err error) {
	var oe *oauth.Error
	switch {
	case errors.As(err, &oe):
		oauth.WriteError(w, oe)
	case errors.Is(err, secret.ErrBusy):
		e := oauth.TemporarilyUnavailable("the server is busy verifying credentials; retry shortly")
		e.RetryAfter = 1
		oauth.WriteError(w, e)
	case errors.Is(err, store.ErrUnavailable), errors.Is(err, context.DeadlineExceeded):
		s.log.WarnContext(r.Context(), "database unavailable; answering 503", "path", r.URL.Path, "err", err)
		e := oauth.TemporarilyUnavailable("the database is unavailable; retry shortly")
		e.RetryAfter = max(1, int(s.opts.DBTimeout/time.Second))
		oauth.WriteError(w, e)
	default:
		s.internalError(w, r, err)
	}
}

// withDeadline bounds the database work of a request that has been read
// (the time a slow client takes to send its body does not count), and
// lets its answer be written even when that work ends late: a commit that
// landed is always answered.
func (s *Server) withDeadline(w http.ResponseWriter, r *http.Request) (*http.Request, context.CancelFunc) {
	// The family service may wait for the outcome of a commit it could
	// not see; the answer must still go out afterwards.
	_ = http.NewResponseController(w).SetWriteDeadline(time.Now().Add(s.opts.DBTimeout + 3*time.Minute))
	ctx, cancel := context.WithTimeout(r.Context(), s.opts.DBTimeout)
	return r.WithContext(ctx), cancel
}
