package server

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"time"

	"github.com/rotor-auth/rotor/internal/audit"
	"github.com/rotor-auth/rotor/internal/family"
	"github.com/rotor-auth/rotor/internal/secret"
	"github.com/rotor-auth/rotor/internal/store"
)

// handleRevoke is RFC 7009. A refresh token revokes its whole family; an
// access token is deny-listed until it expires. A token Rotor does not
// know, and a token issued to another client, are answered 200 and left
// alone (§2.2), so that revocation tells nothing about other clients'
// tokens.
func (s *Server) handleRevoke(w http.ResponseWriter, r *http.Request) {
	r, c, tok, cancel, ok := s.tokenRequest(w, r)
	defer cancel()
	if !ok {
		return
	}
	ctx := r.Context()
	if err := s.clientOrigin(w, r, c); err != nil {
		s.recordOriginRefusal(ctx, r, c.ID, "revocation", err)
		s.writeErr(w, r, err)
		return
	}
	var err error
	if strings.HasPrefix(tok, secret.PrefixRefreshToken) {
		err = s.families.RevokeToken(ctx, c, tok, s.meta(r))
		var fe *family.Error
		if errors.As(err, &fe) {
			err = nil // unknown, malformed or another client's: nothing to revoke
		}
	} else {
		err = s.revokeAccess(ctx, c, tok, s.meta(r))
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
		return nil // another client's: as for an unknown token
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
