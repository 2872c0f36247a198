package server

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/rotor-auth/rotor/internal/dpop"
	"github.com/rotor-auth/rotor/internal/family"
	"github.com/rotor-auth/rotor/internal/oauth"
	"github.com/rotor-auth/rotor/internal/secret"
	"github.com/rotor-auth/rotor/internal/store"
)

// Signer signs and verifies access tokens and publishes the JWKS; the keys
// package's Manager is the implementation. All methods are safe for
// concurrent use; Sign is on the hot path and must not touch the database.
type Signer interface {
	// Sign returns a compact JWS of claims with typ at+jwt.
	Sign(ctx context.Context, claims any) (token, kid string, err error)
	// Verify checks a token's signature against the published keys and
	// returns its payload; claims are the caller's to check.
	Verify(ctx context.Context, token string) ([]byte, error)
	// JWKS returns the JSON Web Key Set of the published keys.
	JWKS(ctx context.Context) ([]byte, error)
}

// Options configure a [Server].
type Options struct {
	// Issuer is the issuer URL, without a trailing slash.
	Issuer  string
	Store   store.Store
	Secrets *secret.Keys
	Signer  Signer
	// Family holds the token lifetimes and grace defaults.
	Family family.Config
	// Now is the clock; time.Now when nil.
	Now func() time.Time
	// Log receives structured logs; it never receives a token.
	Log *slog.Logger
	// MaxBodyBytes caps request bodies; oauth.MaxFormBytes when zero.
	MaxBodyBytes int64
	// DPoPNonce makes every DPoP proof carry a nonce the server issued
	// (RFC 9449 §8), which bounds the life of a proof made in advance.
	DPoPNonce bool
}

// Server is Rotor's http.Handler.
type Server struct {
	opts     Options
	issuer   *url.URL
	families *family.Service
	auth     *clientAuth
	dpop     *dpop.Verifier
	// tokenURL is the token endpoint as proofs name it (htu).
	tokenURL string
	grants   map[string]grant
	mux      *http.ServeMux
	log      *slog.Logger
	now      func() time.Time
}

// New validates opts and returns a Server.
func New(opts Options) (*Server, error) {
	if opts.Store == nil || opts.Secrets == nil || opts.Signer == nil {
		return nil, errors.New("server: Store, Secrets and Signer are required")
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
	if opts.Family.AccessTokenTTL <= 0 {
		opts.Family = family.DefaultConfig()
	}
	s := &Server{
		opts:     opts,
		issuer:   iss,
		families: family.New(opts.Store, opts.Secrets, opts.Family, opts.Now, opts.Log),
		auth:     newClientAuth(opts.Store, opts.Secrets, opts.Now),
		dpop:     dpop.NewVerifier(opts.Secrets.Hash("rotor dpop nonce"), opts.DPoPNonce, opts.Now),
		tokenURL: opts.Issuer + "/oauth2/token",
		log:      opts.Log,
		now:      opts.Now,
	}
	s.grants = map[string]grant{
		oauth.GrantRefreshToken:      refreshGrant{s},
		oauth.GrantClientCredentials: clientCredentialsGrant{s},
		oauth.GrantPassword:          passwordGrant{s},
	}
	s.routes()
	return s, nil
}

// Families returns the family service the server uses, for the CLI and
// for tests.
func (s *Server) Families() *family.Service { return s.families }

func (s *Server) routes() {
	m := http.NewServeMux()
	m.HandleFunc("POST /oauth2/token", s.handleToken)
	m.HandleFunc("POST /oauth2/revoke", s.handleRevoke)
	m.HandleFunc("POST /oauth2/introspect", s.handleIntrospect)
	m.HandleFunc("GET /.well-known/oauth-authorization-server", s.handleMetadata)
	m.HandleFunc("GET /.well-known/jwks.json", s.handleJWKS)
	m.HandleFunc("GET /oauth2/denylist", s.handleDenyList)
	m.HandleFunc("GET /healthz", s.handleHealth)
	m.HandleFunc("GET /readyz", s.handleReady)
	for _, p := range []string{"/oauth2/token", "/oauth2/revoke", "/oauth2/introspect"} {
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

// meta describes the request for the audit trail.
func meta(r *http.Request) family.Meta {
	ip, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		ip = r.RemoteAddr
	}
	return family.Meta{IP: cleanHeader(ip), UserAgent: cleanHeader(r.UserAgent())}
}

// cleanHeader makes a header value fit for the audit trail: valid UTF-8
// (HTTP allows Latin-1 bytes), no NUL, at most 256 bytes cut on a
// character boundary.
func cleanHeader(s string) string {
	s = strings.ReplaceAll(strings.ToValidUTF8(s, "\uFFFD"), "\x00", "")
	if len(s) <= 256 {
		return s
	}
	cut := 256
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut]
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

// internalError logs err and answers server_error without details.
func (s *Server) internalError(w http.ResponseWriter, r *http.Request, err error) {
	s.log.ErrorContext(r.Context(), "request failed", "path", r.URL.Path, "err", err)
	oauth.WriteError(w, oauth.ServerError("the server could not complete the request"))
}

// writeErr writes an *oauth.Error, or a server_error for anything else.
func (s *Server) writeErr(w http.ResponseWriter, r *http.Request, err error) {
	var oe *oauth.Error
	if errors.As(err, &oe) {
		oauth.WriteError(w, oe)
		return
	}
	s.internalError(w, r, err)
}
