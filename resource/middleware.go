package resource

import (
	"context"
	"fmt"
	"net/http"
	"strings"
)

// claimsKey is the context key of the claims; being unexported, only
// this package can set them.
type claimsKey struct{}

// claimsContext is the request context the middleware hands on: the
// parent context, plus the verified claims. The claims live in the
// context node itself, so that putting them in the context costs no
// allocation beyond the node Verify's claims would have needed anyway.
type claimsContext struct {
	context.Context
	v      *Verifier
	claims Claims
}

// Value returns the node itself for claimsKey, and defers to the parent
// for every other key.
func (c *claimsContext) Value(key any) any {
	if _, ok := key.(claimsKey); ok {
		return c
	}
	return c.Context.Value(key)
}

// ClaimsFrom returns the claims [Verifier.Middleware] (or
// [Verifier.Require]) verified for the request whose context is ctx.
func ClaimsFrom(ctx context.Context) (*Claims, bool) {
	if c, ok := ctx.Value(claimsKey{}).(*claimsContext); ok {
		return &c.claims, true
	}
	return nil, false
}

// Canonical header keys, so that lookups go straight to the map.
var (
	headerAuthorization = http.CanonicalHeaderKey("Authorization")
	headerDPoP          = http.CanonicalHeaderKey("DPoP")
)

// Middleware returns a handler that verifies the request's access token
// before calling next, and answers the request itself when it fails
// ([Verifier.WriteError]). The token is read from the Authorization header
// only (RFC 6750 §2.1; tokens in query strings leak into logs): "Bearer
// <token>", or "DPoP <token>" with a DPoP header carrying the proof. next
// finds the claims with [ClaimsFrom].
func (v *Verifier) Middleware(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		cc := &claimsContext{Context: r.Context(), v: v}
		if err := v.verifyRequest(r, &cc.claims, nil); err != nil {
			v.WriteError(w, err)
			return
		}
		next.ServeHTTP(w, r.WithContext(cc))
	})
}

// Require returns middleware that lets a request through only if its
// token carries every one of scopes (on top of [Config.RequiredScopes]),
// and answers 403 insufficient_scope otherwise. Under
// [Verifier.Middleware] it checks the claims already verified; on its own
// it verifies the token first, so v.Require("write")(h) protects h alone.
// It panics if a scope is not a valid scope token, like
// [regexp.MustCompile], since that is a mistake in the program.
func (v *Verifier) Require(scopes ...string) func(http.Handler) http.Handler {
	for _, s := range scopes {
		if !validScope(s) {
			panic(fmt.Sprintf("resource: Require: %q is not a scope", s))
		}
	}
	scopeParam := joinScopes(v.cfg.RequiredScopes, scopes)
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if cc, ok := r.Context().Value(claimsKey{}).(*claimsContext); ok && cc.v == v {
				for _, s := range scopes {
					if !cc.claims.HasScope(s) {
						e := fail(ErrInsufficientScope, "the token lacks a scope this request needs")
						e.Scheme = schemeOf(&cc.claims)
						e.Scope = scopeParam
						v.WriteError(w, e)
						return
					}
				}
				next.ServeHTTP(w, r)
				return
			}
			cc := &claimsContext{Context: r.Context(), v: v}
			if err := v.verifyRequest(r, &cc.claims, scopes); err != nil {
				v.WriteError(w, err)
				return
			}
			next.ServeHTTP(w, r.WithContext(cc))
		})
	}
}

// schemeOf is the scheme a verified token came with.
func schemeOf(c *Claims) string {
	if c.KeyThumbprint != "" {
		return SchemeDPoP
	}
	return SchemeBearer
}

// verifyRequest reads the credentials of r and verifies them into c.
func (v *Verifier) verifyRequest(r *http.Request, c *Claims, scopes []string) *Error {
	authz := r.Header[headerAuthorization]
	switch len(authz) {
	case 0:
		return fail(ErrNoToken, "")
	case 1:
	default:
		return fail(ErrMalformedRequest, "the request has more than one Authorization header")
	}
	scheme, token, _ := strings.Cut(authz[0], " ")
	token = strings.Trim(token, " ")
	switch {
	case strings.EqualFold(scheme, SchemeBearer):
		if token == "" {
			return fail(ErrMalformedRequest, "the Authorization header has no token")
		}
		return v.verifyBearer(r.Context(), token, c, scopes)
	case strings.EqualFold(scheme, SchemeDPoP):
		if token == "" {
			e := fail(ErrMalformedRequest, "the Authorization header has no token")
			e.Scheme = SchemeDPoP
			return e
		}
		proofs := r.Header[headerDPoP]
		if len(proofs) != 1 {
			return fail(ErrInvalidProof, "the request must carry exactly one DPoP header")
		}
		return v.verifyDPoP(r.Context(), token, DPoPRequest{Proof: proofs[0], Method: r.Method, URL: v.requestURL(r)}, c, scopes)
	default:
		// Another scheme (Basic, ...) is no token of ours: answered with
		// the challenges and no error code, as a request without one.
		return fail(ErrNoToken, "")
	}
}
