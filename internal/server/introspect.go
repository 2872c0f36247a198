package server

import (
	"context"
	"errors"
	"net/http"
	"strings"

	"github.com/rotor-auth/rotor/internal/family"
	"github.com/rotor-auth/rotor/internal/oauth"
	"github.com/rotor-auth/rotor/internal/secret"
	"github.com/rotor-auth/rotor/internal/store"
)

// handleIntrospect is RFC 7662. Any authenticated confidential client may
// introspect any token; public clients may not. An unknown, expired,
// revoked or deny-listed token is {"active": false} and nothing more.
func (s *Server) handleIntrospect(w http.ResponseWriter, r *http.Request) {
	c, tok, ok := s.tokenRequest(w, r)
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
		resp, err = s.introspectRefresh(r.Context(), tok)
	} else {
		resp, err = s.introspectAccess(r.Context(), tok)
	}
	if err != nil {
		s.internalError(w, r, err)
		return
	}
	oauth.WriteJSON(w, resp)
}

// tokenRequest does what introspection and revocation share: parse the
// form, authenticate the client, and read the token parameter. When ok is
// false the error answer has been written.
func (s *Server) tokenRequest(w http.ResponseWriter, r *http.Request) (c *store.Client, tok string, ok bool) {
	f, err := oauth.ParseForm(r, s.opts.MaxBodyBytes)
	if err == nil {
		c, err = s.authenticate(r, f)
	}
	if err == nil {
		if tok = f.Get("token"); tok == "" {
			err = oauth.InvalidRequest("token is required")
		}
	}
	if err != nil {
		s.writeErr(w, r, err)
		return nil, "", false
	}
	return c, tok, true
}

var inactive = &oauth.Introspection{Active: false}

func (s *Server) introspectRefresh(ctx context.Context, tok string) (*oauth.Introspection, error) {
	fam, err := s.families.Inspect(ctx, tok)
	var fe *family.Error
	if errors.As(err, &fe) {
		return inactive, nil
	}
	if err != nil {
		return nil, err
	}
	resp := &oauth.Introspection{
		Active: true, Scope: oauth.JoinScope(fam.Scopes), ClientID: fam.ClientID,
		TokenType: "refresh_token", Exp: fam.ExpiresAt.Unix(), Sub: fam.Subject,
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

func (s *Server) introspectAccess(ctx context.Context, tok string) (*oauth.Introspection, error) {
	c, ok := s.tokens.Verify(ctx, tok, true)
	if !ok {
		return inactive, nil
	}
	keys := []string{family.DenyJTI(c.JTI)}
	if c.SID != "" {
		keys = append(keys, family.DenySID(c.SID))
	}
	denied, err := s.opts.Store.Denied(ctx, keys, s.now())
	if err != nil {
		return nil, err
	}
	if denied {
		return inactive, nil
	}
	// A deleted or disabled client's tokens are no longer honoured.
	switch cl, err := s.opts.Store.GetClient(ctx, c.ClientID); {
	case errors.Is(err, store.ErrNotFound):
		return inactive, nil
	case err != nil:
		return nil, err
	case cl.Disabled:
		return inactive, nil
	}
	var aud any = c.Audience
	if len(c.Audience) == 1 {
		aud = c.Audience[0]
	}
	return &oauth.Introspection{
		Active: true, Scope: c.Scope, ClientID: c.ClientID, TokenType: "Bearer",
		Exp: c.Expiry, Iat: c.IssuedAt, Nbf: c.NotBefore, Sub: c.Subject, Aud: aud,
		Iss: c.Issuer, Jti: c.JTI, Sid: c.SID, Cnf: c.Cnf,
	}, nil
}
