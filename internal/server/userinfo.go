package server

import (
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"mime"
	"net/http"
	"slices"
	"strconv"
	"strings"

	"github.com/rotor-auth/rotor/internal/dpop"
	"github.com/rotor-auth/rotor/internal/oauth"
	"github.com/rotor-auth/rotor/internal/store"
)

// handleUserInfo is the OpenID Connect UserInfo endpoint (Core §5.3), GET
// or POST, for an access token with scope openid. The token comes in the
// Authorization header, as Bearer (RFC 6750 §2.1) or, when it is
// DPoP-bound, as DPoP with a proof for this request (RFC 9449 §7); or, on
// POST, as access_token in a form body (RFC 6750 §2.2), for clients that
// cannot set headers. Never in the query string, which ends up in logs
// (RFC 6750 §2.3, §5.3).
//
// The token must verify (signature, type, issuer, lifetime), be neither
// deny-listed nor its family, belong to a live client and a user who is
// enabled and has not invalidated it; a DPoP-bound token must come with a
// proof of its key, a Bearer one without. The answer is sub, plus
// preferred_username for scope profile and email and email_verified for
// scope email. Refusals are RFC 6750 §3 challenges.
//
// The token's audience is not checked: an access token with scope openid
// was granted for this endpoint among others, whatever resources it also
// names.
func (s *Server) handleUserInfo(w http.ResponseWriter, r *http.Request) {
	h := w.Header()
	h.Set("Cache-Control", "no-store")
	if s.dpop.RequiresNonce() {
		h.Set("DPoP-Nonce", s.dpop.Nonce())
	}
	tok, scheme, uerr := userInfoToken(r, s.opts.MaxBodyBytes)
	if uerr != nil {
		s.writeUserInfoError(w, uerr)
		return
	}
	r, cancel := s.withDeadline(w, r)
	defer cancel()
	info, uerr, err := s.userInfo(w, r, tok, scheme)
	switch {
	case err != nil:
		s.writeErr(w, r, err)
	case uerr != nil:
		s.writeUserInfoError(w, uerr)
	default:
		oauth.WriteJSON(w, info)
	}
}

// userInfoError is an RFC 6750 §3 refusal, answered with a
// WWW-Authenticate challenge of scheme (Bearer or DPoP).
type userInfoError struct {
	status      int
	scheme      string
	code        string
	description string
	// scope is the scope the token lacks, for insufficient_scope.
	scope string
}

func invalidToken(scheme, desc string) *userInfoError {
	return &userInfoError{status: http.StatusUnauthorized, scheme: scheme, code: "invalid_token", description: desc}
}

func invalidUserInfoRequest(desc string) *userInfoError {
	return &userInfoError{status: http.StatusBadRequest, scheme: schemeBearer, code: "invalid_request", description: desc}
}

const (
	schemeBearer = "Bearer"
	schemeDPoP   = "DPoP"
)

// writeUserInfoError answers e: its challenge, and the same in a JSON
// body for clients that read bodies. A request without any token gets
// both challenges and no error code (RFC 6750 §3.1).
func (s *Server) writeUserInfoError(w http.ResponseWriter, e *userInfoError) {
	h := w.Header()
	algs := `algs="` + strings.Join(dpop.AlgorithmNames(), " ") + `"`
	if e.code == "" {
		h.Add("WWW-Authenticate", schemeBearer)
		h.Add("WWW-Authenticate", schemeDPoP+" "+algs)
		w.WriteHeader(e.status)
		return
	}
	params := []string{`error="` + e.code + `"`}
	if e.description != "" {
		// RFC 6750 §3: a quoted string of visible ASCII without '"' or '\'.
		desc := strings.Map(func(r rune) rune {
			if r < 0x20 || r > 0x7e || r == '"' || r == '\\' {
				return '\''
			}
			return r
		}, e.description)
		params = append(params, `error_description="`+desc+`"`)
	}
	if e.scope != "" {
		params = append(params, `scope="`+e.scope+`"`)
	}
	if e.scheme == schemeDPoP {
		params = append(params, algs)
	}
	h.Set("WWW-Authenticate", e.scheme+" "+strings.Join(params, ", "))
	h.Set("Content-Type", "application/json")
	h.Set("Cache-Control", "no-store")
	w.WriteHeader(e.status)
	_, _ = w.Write([]byte(`{"error":` + strconv.Quote(e.code) + `,"error_description":` + strconv.Quote(e.description) + "}\n"))
}

// userInfoToken reads the access token and the scheme it came with. A
// request with none is answered 401 with no error code; two ways at once,
// a scheme other than Bearer and DPoP, or a malformed value is
// invalid_request.
func userInfoToken(r *http.Request, maxBody int64) (tok, scheme string, _ *userInfoError) {
	authz := r.Header.Values("Authorization")
	if len(authz) > 1 {
		return "", "", invalidUserInfoRequest("send at most one Authorization header")
	}
	var bodyTok string
	var inBody bool
	if r.Method == http.MethodPost {
		if ct, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type")); ct == "application/x-www-form-urlencoded" {
			f, err := oauth.ParseForm(r, maxBody)
			if err != nil {
				return "", "", invalidUserInfoRequest("the form body is malformed or too large")
			}
			bodyTok, inBody = f.Get("access_token"), f.Has("access_token")
		}
	}
	if r.URL.Query().Has("access_token") {
		return "", "", invalidUserInfoRequest("send the access token in the Authorization header, not the URL")
	}
	switch {
	case len(authz) == 1 && inBody:
		return "", "", invalidUserInfoRequest("send the access token one way only")
	case inBody && bodyTok == "":
		return "", "", invalidUserInfoRequest("access_token is empty")
	case inBody:
		return bodyTok, schemeBearer, nil
	case len(authz) == 0:
		return "", "", &userInfoError{status: http.StatusUnauthorized}
	}
	sch, val, ok := strings.Cut(authz[0], " ")
	switch {
	case !ok:
		return "", "", invalidUserInfoRequest("the Authorization header is malformed")
	case strings.EqualFold(sch, schemeBearer):
		scheme = schemeBearer
	case strings.EqualFold(sch, schemeDPoP):
		scheme = schemeDPoP
	default:
		return "", "", invalidUserInfoRequest("use the Bearer or DPoP authorization scheme")
	}
	val = strings.TrimSpace(val)
	if val == "" || strings.ContainsAny(val, " \t,\"") {
		return "", "", invalidUserInfoRequest("the Authorization header is malformed")
	}
	return val, scheme, nil
}

// userInfo checks the token and builds the answer. uerr is a refusal to
// answer with a challenge; err a failure of the server or the database.
func (s *Server) userInfo(w http.ResponseWriter, r *http.Request, tok, scheme string) (_ *oauth.UserInfo, uerr *userInfoError, err error) {
	ctx := r.Context()
	c, ok := s.tokens.Verify(ctx, tok, true)
	if !ok {
		return nil, invalidToken(scheme, "the access token is invalid or expired"), nil
	}
	var proof *dpop.Proof
	switch {
	case c.Cnf != nil && scheme != schemeDPoP:
		// RFC 9449 §7.1: a bound token presented as a bearer token is
		// refused, or a thief would need no key.
		return nil, invalidToken(schemeDPoP, "the access token is DPoP-bound: send it with the DPoP scheme and a proof"), nil
	case c.Cnf == nil && scheme == schemeDPoP:
		return nil, invalidToken(schemeDPoP, "the access token is not DPoP-bound: send it with the Bearer scheme"), nil
	case c.Cnf != nil:
		if proof, uerr = s.userInfoProof(r, tok, c.Cnf.JKT); uerr != nil {
			return nil, uerr, nil
		}
	}
	cl, live, err := s.accessLive(ctx, c)
	if err != nil {
		return nil, nil, err
	}
	if !live {
		return nil, invalidToken(scheme, "the access token has been revoked"), nil
	}
	if err := s.clientOrigin(w, r, cl); err != nil {
		s.recordOriginRefusal(ctx, r, cl.ID, "userinfo", err)
		return nil, invalidUserInfoRequest("the request's origin is not allowed for this client"), nil
	}
	scopes := strings.Fields(c.Scope)
	if !slices.Contains(scopes, "openid") {
		return nil, &userInfoError{status: http.StatusForbidden, scheme: scheme, code: "insufficient_scope",
			description: "the access token lacks scope openid", scope: "openid"}, nil
	}
	u, err := s.opts.Store.GetUser(ctx, c.Subject)
	switch {
	case errors.Is(err, store.ErrNotFound):
		return nil, invalidToken(scheme, "the access token's user no longer exists"), nil
	case err != nil:
		return nil, nil, err
	case !userLive(u, c.IssuedAt):
		return nil, invalidToken(scheme, "the access token has been revoked"), nil
	}
	if proof != nil && !s.dpop.Remember(proof) {
		return nil, dpopRefusal("the DPoP proof was already used"), nil
	}
	return claimsFor(u, scopes), nil, nil
}

// userInfoProof checks the DPoP proof of a request with a token bound to
// jkt (RFC 9449 §7.1): one proof, for this method and URL, of that key,
// over this token (ath), not seen before.
func (s *Server) userInfoProof(r *http.Request, tok, jkt string) (*dpop.Proof, *userInfoError) {
	values := r.Header.Values("DPoP")
	if len(values) != 1 {
		return nil, dpopRefusal("send exactly one DPoP header")
	}
	p, err := s.dpop.Verify(values[0], r.Method, s.opts.Issuer+"/userinfo")
	var de *dpop.Error
	switch {
	case errors.As(err, &de) && de.NonceRequired:
		return nil, &userInfoError{status: http.StatusUnauthorized, scheme: schemeDPoP, code: "use_dpop_nonce",
			description: "the DPoP proof must carry the nonce in the DPoP-Nonce header"}
	case errors.As(err, &de):
		return nil, dpopRefusal(de.Reason)
	case err != nil:
		return nil, dpopRefusal("the DPoP proof is invalid")
	}
	sum := sha256.Sum256([]byte(tok))
	if subtle.ConstantTimeCompare([]byte(p.ATH), []byte(base64.RawURLEncoding.EncodeToString(sum[:]))) != 1 {
		return nil, dpopRefusal("the DPoP proof's ath is not the hash of this access token")
	}
	if p.JKT != jkt {
		return nil, dpopRefusal("the DPoP proof is not made with the access token's key")
	}
	if s.dpop.Seen(p) {
		return nil, dpopRefusal("the DPoP proof was already used")
	}
	return p, nil
}

func dpopRefusal(desc string) *userInfoError {
	return &userInfoError{status: http.StatusUnauthorized, scheme: schemeDPoP, code: "invalid_dpop_proof", description: desc}
}

// claimsFor is the UserInfo answer for u under scopes (OpenID Connect
// Core §5.4): claims the user has no value for are left out.
func claimsFor(u *store.User, scopes []string) *oauth.UserInfo {
	info := &oauth.UserInfo{Subject: u.ID}
	if slices.Contains(scopes, "profile") {
		info.PreferredUsername = u.Username
	}
	if slices.Contains(scopes, "email") && u.Email != "" {
		verified := u.EmailVerified
		info.Email, info.EmailVerified = u.Email, &verified
	}
	return info
}
