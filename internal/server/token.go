package server

import (
	"context"
	"errors"
	"net/http"
	"slices"

	"github.com/rotor-auth/rotor/internal/audit"
	"github.com/rotor-auth/rotor/internal/dpop"
	"github.com/rotor-auth/rotor/internal/metrics"
	"github.com/rotor-auth/rotor/internal/oauth"
	"github.com/rotor-auth/rotor/internal/secret"
	"github.com/rotor-auth/rotor/internal/store"
)

// The token endpoint (RFC 6749 §3.2) owns the steps every grant shares:
// parse the form, verify the DPoP proof, authenticate the client, check
// that it may use the grant, resolve the audience, and write the answer.
// The grants themselves live one per file (grant_*.go) and are found in
// the registry of grants.go.

// tokenRequest is what the token endpoint hands to a grant: the parsed
// form and the authenticated client.
type tokenRequest struct {
	form   oauth.Form
	client *store.Client
	meta   audit.Meta
	// aud is the audience of the access token, resolved before the grant
	// runs so that a bad resource fails before anything is written.
	aud []string
	// jkt is the thumbprint of the request's verified DPoP proof key, or
	// "": the access token is bound to it, and a new family too.
	jkt string
}

func (s *Server) handleToken(w http.ResponseWriter, r *http.Request) {
	if s.dpop.RequiresNonce() {
		// Every answer carries the current nonce, so a client rarely
		// needs the use_dpop_nonce round trip.
		w.Header().Set("DPoP-Nonce", s.dpop.Nonce())
	}
	f, err := oauth.ParseForm(r, s.opts.MaxBodyBytes)
	if err != nil {
		s.opts.Metrics.TokenRequest(metrics.Other, outcome(err))
		s.writeErr(w, r, err)
		return
	}
	r, cancel := s.withDeadline(w, r)
	defer cancel()
	gt := f.Get("grant_type")
	if gt == "" {
		err := oauth.InvalidRequest("grant_type is required")
		s.opts.Metrics.TokenRequest(metrics.Other, outcome(err))
		oauth.WriteError(w, err)
		return
	}
	g, ok := s.grants[gt]
	if !ok {
		// An unknown grant type is the caller's string: never a label.
		err := oauth.UnsupportedGrantType("grant_type is not supported")
		s.opts.Metrics.TokenRequest(metrics.Other, outcome(err))
		oauth.WriteError(w, err)
		return
	}
	// err is the one error variable below, so the count sees the answer.
	defer func() { s.opts.Metrics.TokenRequest(gt, outcome(err)) }()
	proof, err := s.verifyProof(r)
	if err != nil {
		s.writeErr(w, r, err)
		return
	}
	c, err := s.authenticate(r, f)
	if err != nil {
		s.writeErr(w, r, err)
		return
	}
	req := &tokenRequest{form: f, client: c, meta: s.meta(r)}
	// A browser's request from an origin that is not the client's is
	// refused before the grant runs (cors.go).
	err = s.clientOrigin(w, r, c)
	if err == nil {
		err = s.grantRequest(r.Context(), g, gt, req, proof, w)
	}
	if err != nil {
		s.auditRefusal(r.Context(), req, gt, err)
		s.writeErr(w, r, err)
	}
}

// outcome is the metrics label of a token request's answer: "ok", or the
// error code writeErr answers with.
func outcome(err error) string {
	var oe *oauth.Error
	switch {
	case err == nil:
		return "ok"
	case errors.As(err, &oe):
		return oe.Code
	case errors.Is(err, secret.ErrBusy), errors.Is(err, store.ErrUnavailable), errors.Is(err, context.DeadlineExceeded):
		return "temporarily_unavailable"
	default:
		return "server_error"
	}
}

// grantRequest runs the steps after client authentication and writes the
// answer on success. Its refusals are the authenticated client's, for the
// audit trail.
func (s *Server) grantRequest(ctx context.Context, g grant, gt string, req *tokenRequest, proof *dpop.Proof, w http.ResponseWriter) error {
	c := req.client
	if !c.AllowsGrant(gt) {
		return oauth.UnauthorizedClient("the client may not use this grant type")
	}
	switch {
	case proof == nil && c.RequireDPoP:
		return oauth.InvalidDPoPProof("this client must send a DPoP proof")
	case proof != nil && s.dpop.Seen(proof):
		return oauth.InvalidDPoPProof("the DPoP proof was already used")
	case proof != nil:
		req.jkt = proof.JKT
	}
	var err error
	if req.aud, err = s.audience(req.form, c); err != nil {
		return err
	}
	resp, err := g.token(ctx, req)
	if err != nil {
		return err
	}
	if proof != nil {
		// Remembered once the grant succeeded, so failing requests (a
		// public client's id and a made-up token) cannot fill the cache.
		s.dpop.Remember(proof)
	}
	oauth.WriteJSON(w, resp)
	return nil
}

// recorded marks a refusal whose audit event its maker wrote already (a
// failed refresh, password or client authentication), so that the token
// endpoint does not record it a second time as token_request_failed.
// Only the code that records an event wraps its refusal in it.
type recorded struct{ error }

func (r recorded) Unwrap() error { return r.error }

// auditRefusal records a refusal of an authenticated client's request
// that nothing has recorded yet; server errors go to the log instead.
func (s *Server) auditRefusal(ctx context.Context, req *tokenRequest, gt string, err error) {
	var (
		oe  *oauth.Error
		rec recorded
	)
	if errors.As(err, &rec) || !errors.As(err, &oe) {
		return
	}
	s.opts.Refusals.Record(ctx, audit.NewTokenRequestFailed(req.meta.At(s.now()), req.client.ID, gt, oe.Code, oe.Description))
}

// verifyProof checks the request's DPoP proof (RFC 9449 §4.3); it returns
// nil without error when the request has none.
func (s *Server) verifyProof(r *http.Request) (*dpop.Proof, error) {
	values := r.Header.Values("DPoP")
	switch len(values) {
	case 0:
		return nil, nil
	case 1:
	default:
		return nil, oauth.InvalidDPoPProof("send exactly one DPoP header")
	}
	p, err := s.dpop.Verify(values[0], r.Method, s.tokenURL)
	var de *dpop.Error
	switch {
	case errors.As(err, &de) && de.NonceRequired:
		return nil, oauth.UseDPoPNonce("the DPoP proof must carry the nonce in the DPoP-Nonce header")
	case errors.As(err, &de):
		return nil, oauth.InvalidDPoPProof(de.Reason)
	}
	return p, err
}

// audience resolves the access token's aud (RFC 8707): the requested
// resources when the client may ask for each of them, else all the
// client's audiences, else the issuer.
func (s *Server) audience(f oauth.Form, c *store.Client) ([]string, error) {
	asked := append(slices.Clone(f.All("resource")), f.All("audience")...)
	if len(asked) == 0 {
		if len(c.Audiences) > 0 {
			return c.Audiences, nil
		}
		return []string{s.opts.Issuer}, nil
	}
	var aud []string
	for _, a := range asked {
		if !slices.Contains(c.Audiences, a) {
			return nil, oauth.InvalidTarget("the requested resource is not allowed for this client")
		}
		if !slices.Contains(aud, a) {
			aud = append(aud, a)
		}
	}
	return aud, nil
}

// requestedScopes parses the scope parameter and checks it against what
// the client may ask for; no scope parameter means all of them.
func requestedScopes(f oauth.Form, allowed []string) ([]string, error) {
	if !f.Has("scope") {
		return allowed, nil
	}
	asked, err := oauth.ParseScope(f.Get("scope"))
	if err != nil {
		return nil, err
	}
	for _, sc := range asked {
		if !slices.Contains(allowed, sc) {
			return nil, oauth.InvalidScope("the requested scope is not allowed for this client")
		}
	}
	return asked, nil
}
