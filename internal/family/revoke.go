package family

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/rotor-auth/rotor/internal/audit"
	"github.com/rotor-auth/rotor/internal/secret"
	"github.com/rotor-auth/rotor/internal/store"
)

// RevokeToken revokes the family of a refresh token presented by client
// (RFC 7009 §2.1): any generation of the family with a valid MAC revokes
// it, in one row update whatever the length of its chain, and its access
// tokens are deny-listed. It returns ErrMalformed or ErrUnknown for a
// token Rotor does not know (the endpoint still answers 200), and
// ErrWrongClient for a token issued to another client.
func (s *Service) RevokeToken(ctx context.Context, client *store.Client, token string, m Meta) error {
	rt, err := s.keys.ParseRefresh(token)
	if err != nil {
		return ErrMalformed
	}
	now := s.now()
	tid := s.keys.TokenID(token)
	return s.st.Tx(ctx, func(tx store.Tx) error {
		f, err := tx.LockFamily(ctx, rt.FamilyID)
		if errors.Is(err, store.ErrNotFound) {
			return ErrUnknown
		}
		if err != nil {
			return err
		}
		if f.ClientID != client.ID {
			return ErrWrongClient
		}
		if rt.Generation > f.Generation {
			return ErrUnknown
		}
		ev := s.event(now, audit.FamilyRevoked, f, m, tid, rt.Generation, audit.ReasonRevocationEndpoint)
		return s.revokeLocked(ctx, tx, f, client, ev, now)
	})
}

// RevokeFamily revokes one family by id, as an operator does. It reports
// whether the family was live.
func (s *Service) RevokeFamily(ctx context.Context, id, reason string, m Meta) (bool, error) {
	now := s.now()
	var revoked bool
	err := s.st.Tx(ctx, func(tx store.Tx) error {
		revoked = false
		f, err := tx.LockFamily(ctx, id)
		if err != nil {
			return err
		}
		if f.Revoked() {
			return nil
		}
		c, err := tx.GetClient(ctx, f.ClientID)
		if err != nil && !errors.Is(err, store.ErrNotFound) {
			return err
		}
		revoked = true
		return s.revokeLocked(ctx, tx, f, c, s.event(now, audit.FamilyRevoked, f, m, "", f.Generation, reason), now)
	})
	if err != nil {
		return false, fmt.Errorf("family: revoke %s: %w", id, err)
	}
	return revoked, nil
}

// RevokeWhere revokes every live family of a user, a client, or both, in
// one statement, deny-lists their access tokens and records one event per
// family, all in one transaction. It returns the revoked ids.
func (s *Service) RevokeWhere(ctx context.Context, filter store.FamilyFilter, reason string, m Meta) ([]string, error) {
	var ids []string
	err := s.st.Tx(ctx, func(tx store.Tx) (err error) {
		ids, err = s.revokeWhere(ctx, tx, filter, reason, m, s.now())
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("family: revoke: %w", err)
	}
	return ids, nil
}

// ChangeUser applies change to the user with id and revokes every live
// family of the user, in one transaction: a password change or a
// disabled account ends every session at once, deny-lists its access
// tokens and is recorded, or nothing happens.
func (s *Service) ChangeUser(ctx context.Context, id string, change func(u *store.User), reason string, m Meta) (*store.User, []string, error) {
	var (
		u   *store.User
		ids []string
	)
	err := s.st.Tx(ctx, func(tx store.Tx) error {
		var err error
		if u, err = tx.LockUser(ctx, id); err != nil {
			return err
		}
		change(u)
		if err := tx.UpdateUser(ctx, u); err != nil {
			return err
		}
		ids, err = s.revokeWhere(ctx, tx, store.FamilyFilter{Subject: id}, reason, m, s.now())
		return err
	})
	if err != nil {
		return nil, nil, fmt.Errorf("family: change user: %w", err)
	}
	return u, ids, nil
}

func (s *Service) revokeWhere(ctx context.Context, tx store.Tx, filter store.FamilyFilter, reason string, m Meta, now time.Time) ([]string, error) {
	// Read the families first for their clients and subjects, which
	// the events and the deny-list lifetimes need.
	fams, err := tx.ListFamilies(ctx, store.FamilyFilter{ClientID: filter.ClientID, Subject: filter.Subject})
	if err != nil {
		return nil, err
	}
	byID := make(map[string]*store.Family, len(fams))
	for i := range fams {
		byID[fams[i].ID] = &fams[i]
	}
	ids, err := tx.RevokeFamilies(ctx, filter, reason, now)
	if err != nil {
		return nil, err
	}
	clients := map[string]*store.Client{}
	events := make([]*store.Event, 0, len(ids))
	for _, id := range ids {
		f := byID[id]
		if f == nil { // created after the listing; revoked all the same
			f = &store.Family{ID: id, ClientID: filter.ClientID, Subject: filter.Subject}
		}
		c, seen := clients[f.ClientID]
		if !seen {
			if c, err = tx.GetClient(ctx, f.ClientID); err != nil && !errors.Is(err, store.ErrNotFound) {
				return nil, err
			}
			clients[f.ClientID] = c
		}
		if err := tx.Deny(ctx, s.sidDenial(id, c, now)); err != nil {
			return nil, err
		}
		events = append(events, s.event(now, audit.FamilyRevoked, f, m, "", f.Generation, reason))
	}
	if len(events) == 0 {
		return ids, nil
	}
	return ids, tx.AppendEvents(ctx, events...)
}

func (s *Service) revokeLocked(ctx context.Context, tx store.Tx, f *store.Family, c *store.Client, ev *store.Event, now time.Time) error {
	if f.Revoked() {
		return nil
	}
	if _, err := tx.RevokeFamily(ctx, f.ID, ev.Reason, now); err != nil {
		return err
	}
	if err := tx.Deny(ctx, s.sidDenial(f.ID, c, now)); err != nil {
		return err
	}
	return tx.AppendEvents(ctx, ev)
}

// Inspect returns the family whose live refresh token is token, if that
// family is active now: not revoked, not expired, and its user still
// enabled and signed in. Used, forged and unknown tokens are ErrUnknown or
// another *Error; nothing is changed and nothing is recorded.
func (s *Service) Inspect(ctx context.Context, token string) (*store.Family, error) {
	rt, err := s.keys.ParseRefresh(token)
	if err != nil {
		return nil, ErrMalformed
	}
	now := s.now()
	f, err := s.st.GetFamily(ctx, rt.FamilyID)
	if errors.Is(err, store.ErrNotFound) {
		return nil, ErrUnknown
	}
	if err != nil {
		return nil, err
	}
	switch {
	case f.Revoked():
		return nil, ErrRevoked
	case !now.Before(f.AbsoluteExpiresAt):
		return nil, ErrExpiredAbsolute
	case !now.Before(f.ExpiresAt):
		return nil, ErrExpiredIdle
	case rt.Generation != f.Generation || !secret.Equal(s.keys.Hash(token), f.LiveHash):
		return nil, ErrUnknown
	}
	// What the token endpoint would refuse is not active either.
	c, err := s.st.GetClient(ctx, f.ClientID)
	switch {
	case errors.Is(err, store.ErrNotFound):
		return nil, ErrClientInvalid
	case err != nil:
		return nil, err
	case c.Disabled || !c.AllowsGrant(grantRefresh):
		return nil, ErrClientInvalid
	}
	if _, err := s.check(ctx, s.st, f, nil); err != nil {
		return nil, err
	}
	return f, nil
}
