package server

import (
	"errors"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"

	"github.com/rotor-auth/rotor/internal/authz"
	"github.com/rotor-auth/rotor/internal/clients"
	"github.com/rotor-auth/rotor/internal/oauth"
	"github.com/rotor-auth/rotor/internal/store"
)

// The authorization endpoint (RFC 6749 §3.1, §4.1.1) validates a request
// in two stages. Until the client and its redirect URI are known good,
// every error is shown on a Rotor page and nothing is redirected, so the
// endpoint never becomes an open redirector (RFC 6749 §4.1.2.1, RFC 9700
// §4.11). After that, errors go back to the client with error, state and
// iss (RFC 9207). A valid request is sealed (internal/authz) and the
// browser is sent on to the login page, which owns cookies and people.

// maxAuthorizeBytes caps the query or body of an authorization request.
const maxAuthorizeBytes = 8 << 10

// LoginPath is the page the authorization endpoint sends a valid request
// to, carrying it sealed in the "request" parameter.
const LoginPath = "/login"

// Bounds of the free-text parameters a client relays.
const (
	maxState     = 2048
	maxNonce     = 512
	maxLoginHint = 256
)

// OIDC scopes (OIDC Core §5.4, §11) that a client of the code flow may ask
// for without registering them.
var oidcScopes = []string{"openid", "profile", "email"}

// ScopeOfflineAccess asks for a refresh token in an OpenID Connect
// request (OIDC Core §11).
const ScopeOfflineAccess = "offline_access"

func (s *Server) handleAuthorize(w http.ResponseWriter, r *http.Request) {
	raw, msg := authorizeParams(r)
	if msg != "" {
		s.opts.ErrorPage(w, r, http.StatusBadRequest, msg)
		return
	}
	f, err := oauth.ParseFormBody(raw)
	if err != nil {
		s.opts.ErrorPage(w, r, http.StatusBadRequest, "This sign-in link is malformed: "+describe(err)+" Go back to the application and try again.")
		return
	}
	r, cancel := s.withDeadline(w, r)
	defer cancel()
	c, redirect, given, msg, err := s.authorizeClient(r, f)
	if err != nil {
		s.log.WarnContext(r.Context(), "database unavailable; answering 503", "path", r.URL.Path, "err", err)
		w.Header().Set("Retry-After", "5")
		s.opts.ErrorPage(w, r, http.StatusServiceUnavailable, "Sign-in is unavailable for a moment. Please try again shortly.")
		return
	}
	if msg != "" {
		s.opts.ErrorPage(w, r, http.StatusBadRequest, msg)
		return
	}
	req, oe := ParseAuthorize(f, c)
	req.RedirectURI, req.RedirectGiven = redirect, given
	if oe != nil {
		s.redirectError(w, r, req, oe)
		return
	}
	req.IssuedAt = s.now()
	sealed := authz.Seal(s.opts.Secrets, req)
	if len(sealed) > authz.MaxSealedLen {
		// Values each within its cap, but too much together to carry
		// through the pages.
		s.redirectError(w, r, req, oauth.InvalidRequest("the request's parameters are too long"))
		return
	}
	w.Header().Set("Cache-Control", "no-store")
	http.Redirect(w, r, LoginPath+"?"+url.Values{"request": {sealed}}.Encode(), http.StatusSeeOther)
}

// redirectError sends an error back to the client (RFC 6749 §4.1.2.1).
func (s *Server) redirectError(w http.ResponseWriter, r *http.Request, req *authz.Request, oe *oauth.Error) {
	w.Header().Set("Cache-Control", "no-store")
	http.Redirect(w, r, req.ErrorRedirect(s.opts.Issuer, oe.Code, oe.Description), http.StatusSeeOther)
}

// authorizeParams returns the request's parameters, from the query of a
// GET or the form body of a POST (RFC 6749 §3.1), capped in size, or the
// words of an error page.
func authorizeParams(r *http.Request) (raw, msg string) {
	if r.Method == http.MethodGet {
		if len(r.URL.RawQuery) > maxAuthorizeBytes {
			return "", "This sign-in link is too long. Go back to the application and try again."
		}
		return r.URL.RawQuery, ""
	}
	if mt := r.Header.Get("Content-Type"); !strings.HasPrefix(mt, "application/x-www-form-urlencoded") {
		return "", "This sign-in request must be sent as a form. Go back to the application and try again."
	}
	b, err := io.ReadAll(io.LimitReader(r.Body, maxAuthorizeBytes+1))
	if err != nil || len(b) > maxAuthorizeBytes {
		return "", "This sign-in request is too large or could not be read. Go back to the application and try again."
	}
	return string(b), ""
}

// authorizeClient is the first stage: the client and the redirect URI.
// msg, when not empty, is the page's text; err is a storage failure.
func (s *Server) authorizeClient(r *http.Request, f oauth.Form) (c *store.Client, redirect string, given bool, msg string, err error) {
	id := f.Get("client_id")
	if id == "" {
		return nil, "", false, "This sign-in link names no application (client_id is missing). Go back to the application and try again.", nil
	}
	if len(id) > 256 || !oauth.CleanText(id) {
		return nil, "", false, "This sign-in link names an application Rotor does not know.", nil
	}
	c, err = s.opts.Store.GetClient(r.Context(), id)
	if errors.Is(err, store.ErrNotFound) || (err == nil && c.Disabled) {
		return nil, "", false, "This sign-in link names an application Rotor does not know, or one that is disabled.", nil
	}
	if err != nil {
		return nil, "", false, "", err
	}
	redirect, given = f.Get("redirect_uri"), f.Has("redirect_uri")
	switch {
	case !given && len(c.RedirectURIs) == 1 && !isLoopbackRedirect(c.RedirectURIs[0]):
		// RFC 6749 §3.1.2.3: with one registered URI it may be left out.
		return c, c.RedirectURIs[0], false, "", nil
	case !given:
		return nil, "", false, "This sign-in link does not say where to return (redirect_uri is missing).", nil
	case !clients.RedirectAllowed(c, redirect):
		return nil, "", false, "This sign-in link would return to an address that is not registered for the application, so Rotor will not follow it.", nil
	}
	return c, redirect, true, "", nil
}

// isLoopbackRedirect reports whether a registered URI is a loopback one,
// whose port the request must give (RFC 8252 §7.3).
func isLoopbackRedirect(uri string) bool {
	u, err := url.Parse(uri)
	return err == nil && u.Scheme == "http" && oauth.IsLoopback(u.Hostname())
}

// ParseAuthorize is the second stage: the parameters of an authorization
// request of client c, whose redirect URI is already checked. It returns
// the request (always, so that an error can be redirected with its state)
// and the error to send back to the client, or nil.
func ParseAuthorize(f oauth.Form, c *store.Client) (*authz.Request, *oauth.Error) {
	req := &authz.Request{ClientID: c.ID, MaxAge: -1}
	if st := f.Get("state"); len(st) <= maxState && oauth.CleanText(st) {
		req.State = st
	} else {
		return req, oauth.InvalidRequest("state is too long")
	}
	switch {
	case f.Has("request"):
		return req, &oauth.Error{Code: "request_not_supported", Description: "request objects are not supported", Status: http.StatusBadRequest}
	case f.Has("request_uri"):
		return req, &oauth.Error{Code: "request_uri_not_supported", Description: "request_uri is not supported", Status: http.StatusBadRequest}
	}
	switch rt := f.Get("response_type"); {
	case rt == "":
		return req, oauth.InvalidRequest("response_type is required")
	case rt != "code":
		return req, &oauth.Error{Code: "unsupported_response_type", Description: "only response_type=code is supported", Status: http.StatusBadRequest}
	}
	if rm := f.Get("response_mode"); rm != "" && rm != "query" {
		return req, oauth.InvalidRequest("only response_mode=query is supported")
	}
	if !c.AllowsGrant(oauth.GrantAuthorizationCode) {
		return req, oauth.UnauthorizedClient("the client may not use the authorization code grant")
	}
	// PKCE S256 for every client (OAuth 2.1 §4.1.1, RFC 9700 §2.1.1):
	// plain, or no method (which RFC 7636 §4.3 reads as plain), is refused.
	switch m := f.Get("code_challenge_method"); {
	case !f.Has("code_challenge"):
		return req, oauth.InvalidRequest("code_challenge is required (PKCE with S256)")
	case m != "S256":
		return req, oauth.InvalidRequest("code_challenge_method must be S256")
	case !authz.ValidChallenge(f.Get("code_challenge")):
		return req, oauth.InvalidRequest("code_challenge must be the base64url SHA-256 of the code_verifier")
	}
	req.CodeChallenge = f.Get("code_challenge")
	scopes, oe := authorizeScopes(f, c)
	if oe != nil {
		return req, oe
	}
	req.Scopes = scopes
	if n := f.Get("nonce"); len(n) > maxNonce || !oauth.CleanText(n) {
		return req, oauth.InvalidRequest("nonce is too long")
	} else {
		req.Nonce = n
	}
	if h := f.Get("login_hint"); len(h) > maxLoginHint || !oauth.CleanText(h) {
		return req, oauth.InvalidRequest("login_hint is too long")
	} else {
		req.LoginHint = h
	}
	prompt, oe := parsePrompt(f.Get("prompt"))
	if oe != nil {
		return req, oe
	}
	req.Prompt = prompt
	if f.Has("max_age") {
		n, err := strconv.ParseInt(f.Get("max_age"), 10, 64)
		if err != nil || n < 0 || n > 1<<31 {
			return req, oauth.InvalidRequest("max_age must be a number of seconds")
		}
		req.MaxAge = n
	}
	for _, res := range f.All("resource") {
		// RFC 8707 §2: the resources the client may ask for.
		if !slices.Contains(c.Audiences, res) {
			return req, oauth.InvalidTarget("the requested resource is not allowed for this client")
		}
		if !slices.Contains(req.Resources, res) {
			req.Resources = append(req.Resources, res)
		}
	}
	if jkt := f.Get("dpop_jkt"); jkt != "" {
		// RFC 9449 §10: a SHA-256 JWK thumbprint in base64url.
		if len(jkt) != 43 || !authz.ValidChallenge(jkt) {
			return req, oauth.InvalidRequest("dpop_jkt must be a JWK SHA-256 thumbprint")
		}
		req.DPoPJKT = jkt
	}
	return req, nil
}

// authorizeScopes checks the scope parameter of an authorization or a
// device authorization request: the client's registered scopes, the
// OpenID Connect ones, and offline_access when the client may refresh
// (the device flow needs no offline_access for a refresh token, but
// takes it). No scope parameter means the client's registered scopes.
func authorizeScopes(f oauth.Form, c *store.Client) ([]string, *oauth.Error) {
	if !f.Has("scope") {
		return slices.Clone(c.Scopes), nil
	}
	asked, err := oauth.ParseScope(f.Get("scope"))
	if err != nil {
		var oe *oauth.Error
		if errors.As(err, &oe) {
			return nil, oe
		}
		return nil, oauth.InvalidScope("the scope is malformed")
	}
	for _, sc := range asked {
		switch {
		case slices.Contains(c.Scopes, sc), slices.Contains(oidcScopes, sc):
		case sc == ScopeOfflineAccess && c.AllowsGrant(oauth.GrantRefreshToken):
		default:
			return nil, oauth.InvalidScope("the requested scope is not allowed for this client")
		}
	}
	return asked, nil
}

// parsePrompt reads the OIDC prompt parameter (OIDC Core §3.1.2.1):
// space-separated none, login, consent or select_account; none alone.
func parsePrompt(p string) ([]string, *oauth.Error) {
	if p == "" {
		return nil, nil
	}
	var out []string
	for v := range strings.FieldsSeq(p) {
		switch v {
		case "none", "login", "consent":
		case "select_account":
			// Rotor has one account per browser session, so choosing
			// one is signing in again, as login asks.
			v = "login"
		default:
			return nil, oauth.InvalidRequest("prompt must be none, login, consent or select_account")
		}
		if !slices.Contains(out, v) {
			out = append(out, v)
		}
	}
	if slices.Contains(out, "none") && len(out) > 1 {
		return nil, oauth.InvalidRequest("prompt=none cannot be combined with other values")
	}
	return out, nil
}

// describe returns an error's description in words for a page.
func describe(err error) string {
	var oe *oauth.Error
	if errors.As(err, &oe) {
		d := oe.Description
		if d != "" && !strings.HasSuffix(d, ".") {
			d += "."
		}
		return d
	}
	return "it could not be read."
}
