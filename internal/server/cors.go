package server

import (
	"context"
	"errors"
	"net/http"
	"slices"
	"strings"
	"sync/atomic"
	"time"

	"github.com/rotor-auth/rotor/internal/audit"
	"github.com/rotor-auth/rotor/internal/clients"
	"github.com/rotor-auth/rotor/internal/oauth"
	"github.com/rotor-auth/rotor/internal/store"
)

// CORS (the Fetch standard's CORS protocol; RFC 9700 §2.6, SPEC §4) lets
// single-page apps call the token, revocation and userinfo endpoints, and
// read the JWKS and the metadata, from their own origin. Never the
// authorization endpoint, which a browser visits rather than calls, and
// never introspection, which is for servers. Rotor never answers "*" and
// never allows credentials: none of these endpoints reads a cookie.
//
// Who may read what:
//   - A preflight is answered for an origin that some enabled client lists
//     (clients.Origins): the preflight names no client, and must not cost
//     a client scan, so it is checked against an in-memory set (see
//     originSet).
//   - JWKS and metadata: any such origin may read them.
//   - Token and revocation: once the client has authenticated, the
//     request's origin must be one of that client's, or the request is
//     refused (invalid_request) before anything is done, and recorded: a
//     page on another origin cannot spend a public client's refresh token
//     or revoke its tokens, even with a "simple" request the browser sends
//     without a preflight. Answers before the client is known (a malformed
//     request, a failed authentication, a DPoP nonce to use) carry no token
//     and are readable by any registered origin, so that an SPA can react
//     to them.
//   - Userinfo: the origin must be one of the access token's client's.
//
// A request whose Origin is the issuer's own is same-origin, not CORS,
// and is neither refused nor given CORS headers.

// corsAllowHeaders are the request headers a preflight allows.
const corsAllowHeaders = "Authorization, Content-Type, DPoP"

// corsExposeHeaders are the answer headers a page may read beyond the
// safelisted ones.
const corsExposeHeaders = "DPoP-Nonce, WWW-Authenticate, Retry-After"

// corsMaxAge is how long a browser may cache a preflight answer, in
// seconds. Short, so that an origin removed from a client stops working
// soon.
const corsMaxAge = "600"

// originRefresh is the most often the origin set is reread from the
// store, and so the longest a change of a client's origins takes to be
// seen by preflights and by the JWKS and metadata answers (the token,
// revocation and userinfo endpoints read the client itself).
const originRefresh = 30 * time.Second

// originRetry is the pause after a failed reread of the origin set.
const originRetry = 5 * time.Second

// originSet is the set of the origins of every enabled client, reread
// from ListClients at most once per originRefresh by one caller at a
// time; the others keep using the set they have. Until it has loaded
// once (or while the database is down before that), no origin is in it:
// CORS fails closed. Its memory is that of the clients' origin lists,
// which ListClients loads anyway.
type originSet struct {
	st      store.ClientQueries
	now     func() time.Time
	timeout time.Duration

	// lock serialises rereads; a channel so that waiting can end with a
	// context.
	lock chan struct{}
	snap atomic.Pointer[originSnapshot]
	// retryAt, guarded by lock, delays the next attempt after a failure.
	retryAt time.Time
}

type originSnapshot struct {
	loaded time.Time
	set    map[string]struct{}
}

func newOriginSet(st store.ClientQueries, now func() time.Time, timeout time.Duration) *originSet {
	return &originSet{st: st, now: now, timeout: timeout, lock: make(chan struct{}, 1)}
}

// has reports whether some enabled client lists origin.
func (o *originSet) has(ctx context.Context, origin string) bool {
	s := o.current(ctx)
	if s == nil {
		return false
	}
	_, ok := s.set[origin]
	return ok
}

// current returns the snapshot, rereading it first when it is stale and
// no other caller is doing so; only a caller with no snapshot at all
// waits for another's reread.
func (o *originSet) current(ctx context.Context) *originSnapshot {
	s := o.snap.Load()
	if s != nil && o.now().Sub(s.loaded) < originRefresh {
		return s
	}
	select {
	case o.lock <- struct{}{}:
	default:
		if s != nil {
			return s
		}
		select {
		case o.lock <- struct{}{}:
		case <-ctx.Done():
			return nil
		}
	}
	defer func() { <-o.lock }()
	if cur := o.snap.Load(); cur != s {
		return cur // another caller reread it meanwhile
	}
	now := o.now()
	if now.Before(o.retryAt) {
		return s
	}
	ctx, cancel := context.WithTimeout(ctx, o.timeout)
	defer cancel()
	all, err := o.st.ListClients(ctx)
	if err != nil {
		o.retryAt = now.Add(originRetry)
		return s
	}
	next := &originSnapshot{loaded: now, set: map[string]struct{}{}}
	for i := range all {
		if all[i].Disabled {
			continue
		}
		for _, origin := range clients.Origins(&all[i]) {
			next.set[origin] = struct{}{}
		}
	}
	o.snap.Store(next)
	return next
}

// requestOrigin returns the request's Origin header and whether there is
// one. Several Origin headers are returned as "", present, which matches
// no origin.
func requestOrigin(r *http.Request) (string, bool) {
	v := r.Header.Values("Origin")
	switch len(v) {
	case 0:
		return "", false
	case 1:
		return v[0], true
	default:
		return "", true
	}
}

// allowOrigin lets the page at origin read this answer.
func allowOrigin(w http.ResponseWriter, origin string) {
	h := w.Header()
	h.Set("Access-Control-Allow-Origin", origin)
	h.Set("Access-Control-Expose-Headers", corsExposeHeaders)
}

func disallowOrigin(w http.ResponseWriter) {
	h := w.Header()
	h.Del("Access-Control-Allow-Origin")
	h.Del("Access-Control-Expose-Headers")
}

// withCORS wraps the handler of a CORS endpoint's real requests (not
// preflights): every answer varies with Origin, and an origin registered
// for an enabled client may read it, unless the handler, once it knows
// the request's client, decides otherwise with [Server.clientOrigin].
func (s *Server) withCORS(h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		// Caches (the JWKS and metadata are public, max-age) must keep
		// one answer per origin.
		w.Header().Add("Vary", "Origin")
		if origin, ok := requestOrigin(r); ok && origin != "" && origin != s.issuerOrigin && s.origins.has(r.Context(), origin) {
			allowOrigin(w, origin)
		}
		h(w, r)
	}
}

// preflight answers CORS preflights (OPTIONS with Origin and
// Access-Control-Request-Method) for an endpoint that serves methods: 204,
// and the CORS headers only when the origin is registered for an enabled
// client and the method is one of methods. Any other OPTIONS request gets
// 204 with Allow and nothing else.
func (s *Server) preflight(methods ...string) http.HandlerFunc {
	allow := strings.Join(methods, ", ")
	return func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Add("Vary", "Origin")
		h.Add("Vary", "Access-Control-Request-Method")
		h.Add("Vary", "Access-Control-Request-Headers")
		h.Set("Allow", "OPTIONS, "+allow)
		origin, ok := requestOrigin(r)
		method := r.Header.Get("Access-Control-Request-Method")
		if ok && origin != "" && slices.Contains(methods, method) && s.origins.has(r.Context(), origin) {
			h.Set("Access-Control-Allow-Origin", origin)
			h.Set("Access-Control-Allow-Methods", allow)
			h.Set("Access-Control-Allow-Headers", corsAllowHeaders)
			h.Set("Access-Control-Max-Age", corsMaxAge)
		}
		w.WriteHeader(http.StatusNoContent)
	}
}

// clientOrigin checks a request to the token, revocation or userinfo
// endpoint once its client c is known: without an Origin header (not a browser) or from the
// issuer's own origin, nothing to do; from one of c's origins, the answer
// becomes readable by it; from any other, the answer is made unreadable
// and the request is refused.
func (s *Server) clientOrigin(w http.ResponseWriter, r *http.Request, c *store.Client) error {
	origin, ok := requestOrigin(r)
	if !ok || (origin != "" && origin == s.issuerOrigin) {
		return nil
	}
	if origin != "" && slices.Contains(clients.Origins(c), origin) {
		allowOrigin(w, origin)
		return nil
	}
	disallowOrigin(w)
	return oauth.InvalidRequest("the request's origin is not allowed for this client")
}

// recordOriginRefusal records a request refused by clientOrigin at an
// endpoint other than the token endpoint (which records its own).
func (s *Server) recordOriginRefusal(ctx context.Context, r *http.Request, clientID, endpoint string, err error) {
	var oe *oauth.Error
	if errors.As(err, &oe) {
		s.opts.Refusals.Record(ctx, audit.NewTokenRequestFailed(s.meta(r).At(s.now()), clientID, endpoint, oe.Code, oe.Description))
	}
}
