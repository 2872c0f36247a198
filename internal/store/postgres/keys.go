package postgres

import (
	"context"
	"time"

	"github.com/rotor-auth/rotor/internal/store"
)

const signingKeyCols = `id, algorithm, sealed, public_jwk, created_at, active_at`

func scanSigningKey(s scanner) (*store.SigningKey, error) {
	var (
		k               store.SigningKey
		created, active *time.Time
	)
	if err := s.Scan(&k.ID, &k.Algorithm, &k.Sealed, &k.PublicJWK, &created, &active); err != nil {
		return nil, mapErr(err)
	}
	k.Sealed, k.PublicJWK = bytesOut(k.Sealed), bytesOut(k.PublicJWK)
	k.CreatedAt, k.ActiveAt = timeOut(created), timeOut(active)
	return &k, nil
}

// CreateSigningKey inserts a signing key; [store.ErrConflict] if the id
// exists.
func (q *queries) CreateSigningKey(ctx context.Context, k *store.SigningKey) error {
	tag, err := q.q.Exec(ctx, `INSERT INTO signing_keys (`+signingKeyCols+`)
		VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT DO NOTHING`,
		k.ID, k.Algorithm, k.Sealed, k.PublicJWK, timeIn(k.CreatedAt), timeIn(k.ActiveAt))
	return insertResult(tag, err)
}

// ListSigningKeys returns all signing keys, oldest ActiveAt first.
func (q *queries) ListSigningKeys(ctx context.Context) ([]store.SigningKey, error) {
	return list(ctx, q.q, scanSigningKey,
		`SELECT `+signingKeyCols+` FROM signing_keys ORDER BY active_at NULLS FIRST, id`)
}

// DeleteSigningKey deletes a key; [store.ErrNotFound] if there is none.
func (q *queries) DeleteSigningKey(ctx context.Context, id string) error {
	return oneRow(q.q.Exec(ctx, `DELETE FROM signing_keys WHERE id = $1`, id))
}
