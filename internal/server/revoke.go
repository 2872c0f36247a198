package server

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"time"

	"github.com/rotor-auth/rotor/internal/audit"
	"github.com/rotor-auth/rotor/internal/family"
	"github.com/rotor-auth/rotor/internal/oauth"
	"github.com/rotor-auth/rotor/internal/secret"
	"github.com/rotor-auth/rotor/internal/store"
)

// handleRevoke is RFC 7009. A refresh token revokes its whole family; an
// access token is deny-listed until it expires; a token Rotor does not
// know is answered 200 like a revoked one (§2.2), and a token issued to
// another client is refused.
func (s *Server) handleRevoke(w http.ResponseWriter, r *http.Request) {
	c, tok, ok := s.tokenRequest(w, r)
	if !ok {
		return
	}
	ctx := r.Context()
	var err error
	if strings.HasPrefix(tok, secret.PrefixRefreshToken) {
		err = s.families.RevokeToken(ctx, c, tok, meta(r))
		var fe *family.Error
		switch {
		case errors.Is(err, family.ErrWrongClient):
			oauth.WriteError(w, oauth.UnauthorizedClient("the token was not issued to this client"))
			return
		case errors.As(err, &fe):
			err = nil // unknown or malformed: nothing to revoke
		}
	} else {
		err = s.revokeAccess(ctx, c, tok, meta(r))
	}
	if err != nil {
		s.writeErr(w, r, err)
		return
	}
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(http.StatusOK)
}

func (s *Server) revokeAccess(ctx context.Context, c *store.Client, tok string, m audit.Meta) error {
	claims, ok := s.tokens.Verify(ctx, tok, false)
	if !ok {
		return nil
	}
	if claims.ClientID != c.ID {
		return oauth.UnauthorizedClient("the token was not issued to this client")
	}
	now := s.now()
	exp := time.Unix(claims.Expiry, 0)
	if !exp.After(now) {
		return nil // expired already: nothing to deny
	}
	return s.opts.Store.Tx(ctx, func(tx store.Tx) error {
		if err := tx.Deny(ctx, store.Denial{Key: family.DenyJTI(claims.JTI), ExpiresAt: exp.Add(time.Minute)}); err != nil {
			return err
		}
		return tx.AppendEvents(ctx, audit.NewAccessTokenRevoked(m.At(now),
			audit.Issued{ClientID: c.ID, Subject: claims.Subject, FamilyID: claims.SID, JTI: claims.JTI}, audit.ReasonRevocationEndpoint))
	})
}
