package authz

import (
	"context"
	"errors"
	"fmt"
	"slices"

	"github.com/rotor-auth/rotor/internal/audit"
	"github.com/rotor-auth/rotor/internal/store"
)

// NeedsConsent reports whether the person must be asked before client c
// gets scopes for user: unless c skips consent, when prompt=consent asked
// for it, or when a scope is outside what the user agreed to before.
func (s *Service) NeedsConsent(ctx context.Context, c *store.Client, userID string, scopes []string, prompt bool) (bool, error) {
	if c.SkipConsent {
		return false, nil
	}
	if prompt {
		return true, nil
	}
	prev, err := s.st.GetConsent(ctx, userID, c.ID)
	if errors.Is(err, store.ErrNotFound) {
		return true, nil
	}
	if err != nil {
		return false, fmt.Errorf("authz: consent: %w", err)
	}
	for _, sc := range scopes {
		if !slices.Contains(prev.Scopes, sc) {
			return true, nil
		}
	}
	return false, nil
}

// Remember records that user agreed client c may have scopes, beside what
// they agreed to before, and audits it.
func (s *Service) Remember(ctx context.Context, c *store.Client, userID string, scopes []string, m audit.Meta) error {
	err := s.st.Tx(ctx, func(tx store.Tx) error {
		now := s.now()
		all := slices.Clone(scopes)
		prev, err := tx.GetConsent(ctx, userID, c.ID)
		switch {
		case errors.Is(err, store.ErrNotFound):
		case err != nil:
			return err
		default:
			for _, sc := range prev.Scopes {
				if !slices.Contains(all, sc) {
					all = append(all, sc)
				}
			}
		}
		slices.Sort(all)
		if err := tx.PutConsent(ctx, &store.Consent{Subject: userID, ClientID: c.ID, Scopes: all, GrantedAt: now}); err != nil {
			return err
		}
		return tx.AppendEvents(ctx, audit.NewConsentGranted(m.At(now), userID, c.ID, scopes))
	})
	if err != nil {
		return fmt.Errorf("authz: remember consent: %w", err)
	}
	return nil
}
