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
func (s *Service) RevokeToken(ctx context.Context, client *store.Client, token string, m audit.Meta) error {
	rt, err := s.keys.ParseRefresh(token)
	if err != nil {
		return ErrMalformed
	}
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
		m := m.At(s.now())
		return s.revokeLocked(ctx, tx, f, audit.NewFamilyRevoked(m, f, audit.ReasonRevocationEndpoint,
			audit.Token{ID: tid, Generation: rt.Generation}), m.Time)
	})
}

// RevokeFamily revokes one family by id, as an operator does. It reports
// whether the family was live.
func (s *Service) RevokeFamily(ctx context.Context, id string, reason audit.Reason, m audit.Meta) (bool, error) {
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
		revoked = true
		m := m.At(s.now())
		return s.revokeLocked(ctx, tx, f, audit.NewFamilyRevoked(m, f, reason, audit.Token{}), m.Time)
	})
	if err != nil {
		return false, fmt.Errorf("family: revoke %s: %w", id, err)
	}
	return revoked, nil
}

// RevokeIn revokes one family by id inside the caller's transaction, with
// its access tokens deny-listed and a family_revoked event; it reports
// whether the family was live. A second redemption of an authorization
// code revokes the family the first one created this way, in the
// transaction that refuses it.
func (s *Service) RevokeIn(ctx context.Context, tx store.Tx, id string, reason audit.Reason, m audit.Meta) (bool, error) {
	f, err := tx.LockFamily(ctx, id)
	if errors.Is(err, store.ErrNotFound) {
		return false, nil // collected by the janitor: nothing left to revoke
	}
	if err != nil || f.Revoked() {
		return false, err
	}
	m = m.At(s.now())
	return true, s.revokeLocked(ctx, tx, f, audit.NewFamilyRevoked(m, f, reason, audit.Token{}), m.Time)
}

// RevokeWhere revokes every live family of a user, a client, or both, in
// one statement, deny-lists their access tokens and records one event per
// family, all in one transaction. It returns the revoked ids.
func (s *Service) RevokeWhere(ctx context.Context, filter store.FamilyFilter, reason audit.Reason, m audit.Meta) ([]string, error) {
	var ids []string
	err := s.st.Tx(ctx, func(tx store.Tx) (err error) {
		ids, err = s.RevokeWhereIn(ctx, tx, filter, reason, m)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("family: revoke: %w", err)
	}
	return ids, nil
}

// RevokeWhereIn is [Service.RevokeWhere] inside the caller's transaction,
// for changes that end sessions with them (a disabled user or client, a
// password change). An operator's revocation (reason admin) of a user's or
// a client's families also forgets the consent given for them.
func (s *Service) RevokeWhereIn(ctx context.Context, tx store.Tx, filter store.FamilyFilter, reason audit.Reason, m audit.Meta) ([]string, error) {
	now := s.now()
	m = m.At(now)
	// Read the families first for their clients and subjects, which
	// the events and the deny-list lifetimes need.
	fams, err := tx.ListFamilies(ctx, store.FamilyFilter{ClientID: filter.ClientID, Subject: filter.Subject, SessionID: filter.SessionID})
	if err != nil {
		return nil, err
	}
	byID := make(map[string]*store.Family, len(fams))
	for i := range fams {
		byID[fams[i].ID] = &fams[i]
	}
	ids, err := tx.RevokeFamilies(ctx, filter, string(reason), now)
	if err != nil {
		return nil, err
	}
	if reason == audit.ReasonAdmin && (filter.Subject != "" || filter.ClientID != "") {
		// An operator who ends a user's or a client's grants takes back
		// what was agreed too: the next sign-in asks for consent again.
		if _, err := tx.DeleteConsents(ctx, filter.Subject, filter.ClientID); err != nil {
			return nil, err
		}
	}
	events := make([]*store.Event, 0, len(ids))
	for _, id := range ids {
		f := byID[id]
		if f == nil { // created after the listing; revoked all the same
			f = &store.Family{ID: id, ClientID: filter.ClientID, Subject: filter.Subject}
		}
		if err := s.denySID(ctx, tx, f, now); err != nil {
			return nil, err
		}
		events = append(events, audit.NewFamilyRevoked(m, f, reason, audit.Token{}))
	}
	if len(events) == 0 {
		return ids, nil
	}
	return ids, tx.AppendEvents(ctx, events...)
}

func (s *Service) revokeLocked(ctx context.Context, tx store.Tx, f *store.Family, ev *store.Event, now time.Time) error {
	if f.Revoked() {
		return nil
	}
	if _, err := tx.RevokeFamily(ctx, f.ID, ev.Reason, now); err != nil {
		return err
	}
	if err := s.denySID(ctx, tx, f, now); err != nil {
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
	if _, refusal, err := s.check(ctx, s.st, f, nil); refusal != nil {
		return nil, refusal
	} else if err != nil {
		return nil, err
	}
	return f, nil
}
