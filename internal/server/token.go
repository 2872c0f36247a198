package server

import (
	"context"
	"errors"
	"net/http"
	"slices"
	"time"

	"github.com/rotor-auth/rotor/internal/audit"
	"github.com/rotor-auth/rotor/internal/dpop"
	"github.com/rotor-auth/rotor/internal/family"
	"github.com/rotor-auth/rotor/internal/oauth"
	"github.com/rotor-auth/rotor/internal/secret"
	"github.com/rotor-auth/rotor/internal/store"
)

// tokenRequest is what the token endpoint hands to a grant: the parsed
// form and the authenticated client.
type tokenRequest struct {
	form   oauth.Form
	client *store.Client
	meta   family.Meta
	// aud is the audience of the access token, resolved before the grant
	// runs so that a bad resource fails before anything is written.
	aud []string
	// jkt is the thumbprint of the request's verified DPoP proof key, or
	// "": the access token is bound to it, and a new family too.
	jkt string
}

// grant is one grant type. The token endpoint has already parsed the form,
// authenticated the client and checked that it may use the grant.
type grant interface {
	token(ctx context.Context, req *tokenRequest) (*oauth.TokenResponse, error)
}

func (s *Server) handleToken(w http.ResponseWriter, r *http.Request) {
	if s.dpop.RequiresNonce() {
		// Every answer carries the current nonce, so a client rarely
		// needs the use_dpop_nonce round trip.
		w.Header().Set("DPoP-Nonce", s.dpop.Nonce())
	}
	f, err := oauth.ParseForm(r, s.opts.MaxBodyBytes)
	if err != nil {
		s.writeErr(w, r, err)
		return
	}
	gt := f.Get("grant_type")
	if gt == "" {
		oauth.WriteError(w, oauth.InvalidRequest("grant_type is required"))
		return
	}
	g, ok := s.grants[gt]
	if !ok {
		oauth.WriteError(w, oauth.UnsupportedGrantType("grant_type is not supported"))
		return
	}
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
	req := &tokenRequest{form: f, client: c, meta: meta(r)}
	if err := s.grantRequest(r.Context(), g, gt, req, proof, w); err != nil {
		s.auditRefusal(r.Context(), req, gt, err)
		s.writeErr(w, r, err)
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

// recorded marks a refusal already in the audit trail (a failed refresh,
// password or client authentication), so it is not recorded twice.
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
	ev := &store.Event{Time: s.now(), Type: audit.TokenRequestFailed, ClientID: req.client.ID, IP: req.meta.IP,
		UserAgent: req.meta.UserAgent, Reason: oe.Code, Detail: "grant=" + gt + ": " + oe.Description}
	if aerr := s.opts.Store.AppendEvents(ctx, ev); aerr != nil {
		s.log.ErrorContext(ctx, "audit: cannot record a refused token request", "err", aerr)
	}
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

// authenticate parses and checks the request's client credentials,
// recording failures in the audit trail.
func (s *Server) authenticate(r *http.Request, f oauth.Form) (*store.Client, error) {
	creds, err := parseCredentials(r, f)
	if err != nil {
		return nil, err
	}
	if creds.Method == oauth.AuthPrivateKeyJWT {
		// Built only for assertions: every other token request skips it.
		creds.Audiences = []string{s.opts.Issuer, s.tokenURL, s.opts.Issuer + r.URL.Path}
	}
	c, err := s.auth.authenticate(r.Context(), creds)
	var oe *oauth.Error
	if errors.As(err, &oe) {
		m := meta(r)
		ev := &store.Event{Time: s.now(), Type: audit.ClientAuthFailed, ClientID: creds.ClientID,
			IP: m.IP, UserAgent: m.UserAgent, Reason: oe.Description}
		if len(ev.ClientID) > 128 {
			ev.ClientID = ev.ClientID[:128]
		}
		if aerr := s.opts.Store.AppendEvents(r.Context(), ev); aerr != nil {
			s.log.ErrorContext(r.Context(), "audit: cannot record client authentication failure", "err", aerr)
		}
		return nil, recorded{err}
	}
	return c, err
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

// accessClaims are the claims of an RFC 9068 access token (SPEC §2).
type accessClaims struct {
	Issuer    string   `json:"iss"`
	Subject   string   `json:"sub"`
	Audience  []string `json:"aud"`
	Expiry    int64    `json:"exp"`
	IssuedAt  int64    `json:"iat"`
	NotBefore int64    `json:"nbf"`
	JTI       string   `json:"jti"`
	ClientID  string   `json:"client_id"`
	Scope     string   `json:"scope,omitempty"`
	SID       string   `json:"sid,omitempty"`
	// Cnf binds a DPoP token to its key (RFC 9449 §6.1).
	Cnf *oauth.Confirmation `json:"cnf,omitempty"`
}

// accessToken describes an access token to sign.
type accessToken struct {
	jti     string
	subject string
	sid     string
	scopes  []string
}

func (s *Server) accessTTL(c *store.Client) time.Duration {
	if c.AccessTokenTTL != nil {
		return *c.AccessTokenTTL
	}
	return s.opts.Family.AccessTokenTTL
}

// respond signs the access token and builds the token response.
func (s *Server) respond(ctx context.Context, req *tokenRequest, at accessToken, g *family.Grant) (*oauth.TokenResponse, error) {
	now := s.now()
	ttl := s.accessTTL(req.client)
	claims := accessClaims{
		Issuer: s.opts.Issuer, Subject: at.subject, Audience: req.aud,
		Expiry: now.Add(ttl).Unix(), IssuedAt: now.Unix(), NotBefore: now.Unix(),
		JTI: at.jti, ClientID: req.client.ID, Scope: oauth.JoinScope(at.scopes), SID: at.sid,
	}
	tokenType := "Bearer"
	if req.jkt != "" {
		claims.Cnf, tokenType = &oauth.Confirmation{JKT: req.jkt}, "DPoP"
	}
	tok, _, err := s.opts.Signer.Sign(ctx, claims)
	if err != nil {
		return nil, err
	}
	resp := &oauth.TokenResponse{
		AccessToken: tok,
		TokenType:   tokenType,
		ExpiresIn:   int64(ttl / time.Second),
		Scope:       oauth.JoinScope(at.scopes),
	}
	if g != nil {
		resp.RefreshToken = g.RefreshToken
		resp.RefreshTokenExpiresIn = int64(g.RefreshExpiresIn(now) / time.Second)
	}
	return resp, nil
}

// refreshGrant is grant_type=refresh_token (RFC 6749 §6, SPEC §3).
type refreshGrant struct{ s *Server }

func (g refreshGrant) token(ctx context.Context, req *tokenRequest) (*oauth.TokenResponse, error) {
	rt := req.form.Get("refresh_token")
	if rt == "" {
		return nil, oauth.InvalidRequest("refresh_token is required")
	}
	var scopes []string
	if req.form.Has("scope") {
		var err error
		if scopes, err = oauth.ParseScope(req.form.Get("scope")); err != nil {
			return nil, err
		}
		if scopes == nil {
			scopes = []string{}
		}
	}
	jti := secret.NewID()
	fg, err := g.s.families.Refresh(ctx, family.RefreshParams{
		Client: req.client, Token: rt, Scopes: scopes, DPoPJKT: req.jkt, AccessTokenID: jti, Meta: req.meta,
	})
	if err != nil {
		if fe := familyError(err); fe != err {
			return nil, recorded{fe} // the family service recorded it
		}
		return nil, err
	}
	return g.s.respond(ctx, req, accessToken{jti: jti, subject: fg.Family.Subject, sid: fg.Family.ID, scopes: fg.Scopes}, fg)
}

// familyError maps the family package's domain errors to RFC codes; other
// errors pass through as server errors.
func familyError(err error) error {
	var fe *family.Error
	if !errors.As(err, &fe) {
		return err
	}
	switch fe {
	case family.ErrInvalidScope:
		return oauth.InvalidScope("the requested scope exceeds the grant")
	case family.ErrReplayed:
		return oauth.InvalidGrant("the refresh token was already used; the grant has been revoked")
	case family.ErrExpiredIdle, family.ErrExpiredAbsolute:
		return oauth.InvalidGrant("the refresh token has expired")
	case family.ErrRevoked:
		return oauth.InvalidGrant("the grant has been revoked")
	case family.ErrUserDisabled, family.ErrUserDeleted, family.ErrTokensInvalidated:
		return oauth.InvalidGrant("the grant is no longer valid; sign in again")
	case family.ErrDPoPMismatch:
		return oauth.InvalidGrant("the DPoP key does not match the grant; the grant has been revoked")
	case family.ErrDPoPMissing:
		return oauth.InvalidDPoPProof("the grant is bound to a key; send a DPoP proof")
	default:
		return oauth.InvalidGrant("the refresh token is invalid")
	}
}

// clientCredentialsGrant is grant_type=client_credentials (RFC 6749 §4.4):
// an access token for the client itself, no refresh token, no family.
type clientCredentialsGrant struct{ s *Server }

func (g clientCredentialsGrant) token(ctx context.Context, req *tokenRequest) (*oauth.TokenResponse, error) {
	if req.client.Public {
		return nil, oauth.UnauthorizedClient("public clients may not use client_credentials")
	}
	scopes, err := requestedScopes(req.form, req.client.Scopes)
	if err != nil {
		return nil, err
	}
	return g.s.issueOnly(ctx, req, accessToken{jti: secret.NewID(), subject: req.client.ID, scopes: scopes}, oauth.GrantClientCredentials)
}

// issueOnly answers with an access token and no refresh token, and
// records the issue.
func (s *Server) issueOnly(ctx context.Context, req *tokenRequest, at accessToken, grant string) (*oauth.TokenResponse, error) {
	resp, err := s.respond(ctx, req, at, nil)
	if err != nil {
		return nil, err
	}
	ev := &store.Event{Time: s.now(), Type: audit.AccessTokenIssued, ClientID: req.client.ID, Subject: at.subject,
		TokenID: at.jti, IP: req.meta.IP, UserAgent: req.meta.UserAgent, Detail: "grant=" + grant}
	if err := s.opts.Store.AppendEvents(ctx, ev); err != nil {
		return nil, err
	}
	return resp, nil
}

// passwordGrant is grant_type=password (RFC 6749 §4.3), for clients that
// enable it. It creates a family like any user grant.
type passwordGrant struct{ s *Server }

func (g passwordGrant) token(ctx context.Context, req *tokenRequest) (*oauth.TokenResponse, error) {
	username, password := req.form.Get("username"), req.form.Get("password")
	if username == "" || !req.form.Has("password") {
		return nil, oauth.InvalidRequest("username and password are required")
	}
	if len(username) > 256 || len(password) > 1024 {
		return nil, oauth.InvalidGrant("invalid username or password")
	}
	scopes, err := requestedScopes(req.form, req.client.Scopes)
	if err != nil {
		return nil, err
	}
	u, err := g.s.opts.Store.GetUserByUsername(ctx, username)
	if errors.Is(err, store.ErrNotFound) {
		u, err = &store.User{}, nil // checked against a dummy hash: same time as a wrong password
	}
	if err != nil {
		return nil, err
	}
	ok, err := g.s.auth.slow.verify(ctx, u.PasswordPHC, password)
	switch {
	case err != nil:
		return nil, err
	case u.ID == "":
		return nil, g.fail(ctx, req, "", "unknown_user")
	case !ok:
		return nil, g.fail(ctx, req, u.ID, "wrong_password")
	case u.Disabled:
		return nil, g.fail(ctx, req, u.ID, audit.ReasonUserDisabled)
	}
	jti := secret.NewID()
	if !req.client.AllowsGrant(oauth.GrantRefreshToken) {
		// No refresh token will be handed out, so no family: an access
		// token alone, recorded like client_credentials.
		return g.s.issueOnly(ctx, req, accessToken{jti: jti, subject: u.ID, scopes: scopes}, oauth.GrantPassword)
	}
	fg, err := g.s.families.Create(ctx, family.CreateParams{
		Client: req.client, User: u, Scopes: scopes, AccessTokenID: jti, Grant: oauth.GrantPassword, DPoPJKT: req.jkt, Meta: req.meta,
	})
	if err != nil {
		return nil, familyError(err)
	}
	return g.s.respond(ctx, req, accessToken{jti: jti, subject: u.ID, sid: fg.Family.ID, scopes: scopes}, fg)
}

func (g passwordGrant) fail(ctx context.Context, req *tokenRequest, subject, reason string) error {
	ev := &store.Event{Time: g.s.now(), Type: audit.PasswordGrantFailed, ClientID: req.client.ID, Subject: subject,
		IP: req.meta.IP, UserAgent: req.meta.UserAgent, Reason: reason}
	if err := g.s.opts.Store.AppendEvents(ctx, ev); err != nil {
		g.s.log.ErrorContext(ctx, "audit: cannot record password grant failure", "err", err)
	}
	return recorded{oauth.InvalidGrant("invalid username or password")}
}
