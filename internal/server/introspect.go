package server

import (
	"context"
	"errors"
	"net/http"
	"slices"
	"strings"

	"github.com/rotor-auth/rotor/internal/family"
	"github.com/rotor-auth/rotor/internal/oauth"
	"github.com/rotor-auth/rotor/internal/secret"
	"github.com/rotor-auth/rotor/internal/store"
	"github.com/rotor-auth/rotor/internal/token"
)

// handleIntrospect is RFC 7662. Who may see what is the server's decision
// (§4): a refresh token is active only to its own client; an access token
// only to a client marked as a resource server (Introspect) or named in
// the token's audience; public clients may not introspect at all. An
// unknown, expired, revoked or deny-listed token, or one the caller may
// not see, is {"active": false} and nothing more.
func (s *Server) handleIntrospect(w http.ResponseWriter, r *http.Request) {
	r, c, tok, cancel, ok := s.tokenRequest(w, r)
	defer cancel()
	if !ok {
		return
	}
	if c.Public {
		s.writeErr(w, r, oauth.InvalidClient("public clients may not introspect tokens"))
		return
	}
	var (
		resp *oauth.Introspection
		err  error
	)
	if strings.HasPrefix(tok, secret.PrefixRefreshToken) {
		resp, err = s.introspectRefresh(r.Context(), c, tok)
	} else {
		resp, err = s.introspectAccess(r.Context(), c, tok)
	}
	if err != nil {
		s.internalError(w, r, err)
		return
	}
	oauth.WriteJSON(w, resp)
}

// tokenRequest does what introspection and revocation share: parse the
// form, put the deadline on the database work that follows, authenticate
// the client, and read the token parameter. It returns the request with
// the deadline, to be released with cancel. When ok is false the error
// answer has been written.
func (s *Server) tokenRequest(w http.ResponseWriter, r *http.Request) (_ *http.Request, c *store.Client, tok string, cancel context.CancelFunc, ok bool) {
	cancel = func() {}
	f, err := oauth.ParseForm(r, s.opts.MaxBodyBytes)
	if err == nil {
		r, cancel = s.withDeadline(w, r)
		c, err = s.authenticate(r, f)
	}
	if err == nil {
		if tok = f.Get("token"); tok == "" {
			err = oauth.InvalidRequest("token is required")
		}
	}
	if err != nil {
		s.writeErr(w, r, err)
		return r, nil, "", cancel, false
	}
	return r, c, tok, cancel, true
}

var inactive = &oauth.Introspection{Active: false}

func (s *Server) introspectRefresh(ctx context.Context, caller *store.Client, tok string) (*oauth.Introspection, error) {
	fam, err := s.families.Inspect(ctx, tok)
	var fe *family.Error
	if errors.As(err, &fe) {
		return inactive, nil
	}
	if err != nil {
		return nil, err
	}
	if fam.ClientID != caller.ID {
		return inactive, nil
	}
	// No token_type: "refresh_token" is not a token type of RFC 6749 §7.1
	// (RFC 7662 §2.2). iat is when this token was issued: the family's
	// last rotation, or its creation.
	resp := &oauth.Introspection{
		Active: true, Scope: oauth.JoinScope(fam.Scopes), ClientID: fam.ClientID,
		Exp: fam.ExpiresAt.Unix(), Sub: fam.Subject,
		Iss: s.opts.Issuer, Sid: fam.ID, Iat: fam.CreatedAt.Unix(),
	}
	if fam.DPoPJKT != "" {
		resp.Cnf = &oauth.Confirmation{JKT: fam.DPoPJKT}
	}
	if !fam.RotatedAt.IsZero() {
		resp.Iat = fam.RotatedAt.Unix()
	}
	if u, err := s.opts.Store.GetUser(ctx, fam.Subject); err == nil {
		resp.Username = u.Username
	}
	return resp, nil
}

func (s *Server) introspectAccess(ctx context.Context, caller *store.Client, tok string) (*oauth.Introspection, error) {
	c, ok := s.tokens.Verify(ctx, tok, true)
	if !ok {
		return inactive, nil
	}
	if !caller.Introspect && !slices.Contains(c.Audience, caller.ID) {
		return inactive, nil
	}
	switch _, live, err := s.accessLive(ctx, c); {
	case err != nil:
		return nil, err
	case !live:
		return inactive, nil
	}
	if c.SID == "" && c.Subject != c.ClientID {
		// A user's token without a family (a password grant for a client
		// that may not refresh): no sid to deny-list, so the user's state
		// decides, as a refresh would.
		switch u, err := s.opts.Store.GetUser(ctx, c.Subject); {
		case errors.Is(err, store.ErrNotFound):
			return inactive, nil
		case err != nil:
			return nil, err
		case !userLive(u, c.IssuedAt):
			return inactive, nil
		}
	}
	var aud any = c.Audience
	if len(c.Audience) == 1 {
		aud = c.Audience[0]
	}
	return &oauth.Introspection{
		Active: true, Scope: c.Scope, ClientID: c.ClientID, TokenType: c.TokenType(),
		Exp: c.Expiry, Iat: c.IssuedAt, Nbf: c.NotBefore, Sub: c.Subject, Aud: aud,
		Iss: c.Issuer, Jti: c.JTI, Sid: c.SID, Cnf: c.Cnf,
	}, nil
}

// accessLive reports whether an access token whose signature and
// lifetime have been checked is still honoured: neither it (jti) nor its
// family (sid) is deny-listed, and its client still exists, is enabled,
// and is the client it was issued to. It returns that client.
func (s *Server) accessLive(ctx context.Context, c *token.Claims) (*store.Client, bool, error) {
	keys := []string{family.DenyJTI(c.JTI)}
	if c.SID != "" {
		keys = append(keys, family.DenySID(c.SID))
	}
	denied, err := s.opts.Store.Denied(ctx, keys, s.now())
	if err != nil || denied {
		return nil, false, err
	}
	// A deleted or disabled client's tokens are no longer honoured, nor
	// those of an earlier client with the same id: a client created again
	// after a delete is another client.
	switch cl, err := s.opts.Store.GetClient(ctx, c.ClientID); {
	case errors.Is(err, store.ErrNotFound):
		return nil, false, nil
	case err != nil:
		return nil, false, err
	case cl.Disabled, cl.CreatedAt.Unix() > c.IssuedAt, cl.TokensValidAfter.Unix() >= c.IssuedAt:
		return nil, false, nil
	default:
		return cl, true, nil
	}
}

// userLive reports whether u's tokens issued at iat (Unix seconds) are
// still honoured: u is enabled and has not invalidated them since.
// Second by second (iat has no finer grain), the change wins: a token
// issued in the same second as a password change is refused, not kept.
func userLive(u *store.User, iat int64) bool {
	return !u.Disabled && u.TokensValidAfter.Unix() < iat
}
