package postgres

import (
	"context"
	"errors"
	"time"

	"github.com/rotor-auth/rotor/internal/store"
)

// GetConsent returns what subject consented to for client;
// [store.ErrNotFound] if nothing.
func (q *queries) GetConsent(ctx context.Context, subject, clientID string) (*store.Consent, error) {
	var (
		c       = store.Consent{Subject: subject, ClientID: clientID}
		scopes  []string
		granted *time.Time
	)
	err := q.q.QueryRow(ctx, `SELECT scopes, granted_at FROM consents WHERE subject = $1 AND client_id = $2`,
		subject, clientID).Scan(&scopes, &granted)
	if err != nil {
		return nil, mapErr(err)
	}
	c.Scopes, c.GrantedAt = listOut(scopes), timeOut(granted)
	return &c, nil
}

// PutConsent inserts or replaces the consent of (Subject, ClientID).
func (q *queries) PutConsent(ctx context.Context, c *store.Consent) error {
	_, err := q.q.Exec(ctx, `INSERT INTO consents (subject, client_id, scopes, granted_at) VALUES ($1, $2, $3, $4)
		ON CONFLICT (subject, client_id) DO UPDATE SET scopes = excluded.scopes, granted_at = excluded.granted_at`,
		c.Subject, c.ClientID, listIn(c.Scopes), timeIn(c.GrantedAt))
	return mapErr(err)
}

// DeleteConsents deletes the consents of a subject, a client or both.
func (q *queries) DeleteConsents(ctx context.Context, subject, clientID string) (int, error) {
	if subject == "" && clientID == "" {
		return 0, errors.New("postgres: DeleteConsents needs a subject or a client")
	}
	var w where
	if subject != "" {
		w.add("subject = %s", subject)
	}
	if clientID != "" {
		w.add("client_id = %s", clientID)
	}
	return rowCount(q.q.Exec(ctx, `DELETE FROM consents`+w.sql(), w.args...))
}
