package sqlite

import (
	"context"
	"database/sql"

	"github.com/rotor-auth/rotor/internal/store"
)

const signingKeyCols = `id, algorithm, sealed, public_jwk, created_at, active_at`

func scanSigningKey(s scanner) (*store.SigningKey, error) {
	var (
		k               store.SigningKey
		created, active sql.NullInt64
	)
	if err := s.Scan(&k.ID, &k.Algorithm, &k.Sealed, &k.PublicJWK, &created, &active); err != nil {
		return nil, mapErr(err)
	}
	k.Sealed, k.PublicJWK = bytesOut(k.Sealed), bytesOut(k.PublicJWK)
	k.CreatedAt, k.ActiveAt = timeOut(created), timeOut(active)
	return &k, nil
}

// CreateSigningKey inserts a key; [store.ErrConflict] if the id exists.
func (q *queries) CreateSigningKey(ctx context.Context, k *store.SigningKey) error {
	_, err := q.w.ExecContext(ctx, `INSERT INTO signing_keys (`+signingKeyCols+`) VALUES (?, ?, ?, ?, ?, ?)`,
		k.ID, k.Algorithm, k.Sealed, k.PublicJWK, timeIn(k.CreatedAt), timeIn(k.ActiveAt))
	return mapErr(err)
}

// ListSigningKeys returns all keys, oldest ActiveAt first.
func (q *queries) ListSigningKeys(ctx context.Context) ([]store.SigningKey, error) {
	return list(ctx, q.r, scanSigningKey, `SELECT `+signingKeyCols+` FROM signing_keys ORDER BY active_at, id`)
}

// DeleteSigningKey deletes a key; [store.ErrNotFound] if there is none.
func (q *queries) DeleteSigningKey(ctx context.Context, id string) error {
	return oneRow(q.w.ExecContext(ctx, `DELETE FROM signing_keys WHERE id = ?`, id))
}
