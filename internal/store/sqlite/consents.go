package sqlite

import (
	"context"
	"database/sql"
	"errors"

	"github.com/rotor-auth/rotor/internal/store"
)

// GetConsent returns what subject consented to for client;
// [store.ErrNotFound] if nothing.
func (q *queries) GetConsent(ctx context.Context, subject, clientID string) (*store.Consent, error) {
	var (
		c       = store.Consent{Subject: subject, ClientID: clientID}
		scopes  string
		granted sql.NullInt64
	)
	err := q.r.QueryRowContext(ctx, `SELECT scopes, granted_at FROM consents WHERE subject = ? AND client_id = ?`,
		subject, clientID).Scan(&scopes, &granted)
	if err != nil {
		return nil, mapErr(err)
	}
	c.Scopes, c.GrantedAt = listOut(scopes), timeOut(granted)
	return &c, nil
}

// PutConsent inserts or replaces the consent of (Subject, ClientID).
func (q *queries) PutConsent(ctx context.Context, c *store.Consent) error {
	_, err := q.w.ExecContext(ctx, `INSERT INTO consents (subject, client_id, scopes, granted_at) VALUES (?, ?, ?, ?)
		ON CONFLICT (subject, client_id) DO UPDATE SET scopes = excluded.scopes, granted_at = excluded.granted_at`,
		c.Subject, c.ClientID, listIn(c.Scopes), timeIn(c.GrantedAt))
	return mapErr(err)
}

// DeleteConsents deletes the consents of a subject, a client or both.
func (q *queries) DeleteConsents(ctx context.Context, subject, clientID string) (int, error) {
	if subject == "" && clientID == "" {
		return 0, errors.New("sqlite: DeleteConsents needs a subject or a client")
	}
	w := where{}
	if subject != "" {
		w.add("subject = ?", subject)
	}
	if clientID != "" {
		w.add("client_id = ?", clientID)
	}
	return rowCount(q.w.ExecContext(ctx, `DELETE FROM consents`+w.sql(), w.args...))
}
