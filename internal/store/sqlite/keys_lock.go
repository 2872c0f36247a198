package sqlite

import (
	"context"
	"errors"
	"time"

	"github.com/rotor-auth/rotor/internal/store"
)

// CreateSigningKeyIfNoneAfter inserts k unless a key has an ActiveAt after
// the given time, and reports whether it did. The check and the insert are
// one statement in a write transaction (BEGIN IMMEDIATE), which holds the
// database file's write lock: another process on the same file runs its
// check after this insert has committed.
func (db *DB) CreateSigningKeyIfNoneAfter(ctx context.Context, k *store.SigningKey, after time.Time) (bool, error) {
	var inserted bool
	err := db.Tx(ctx, func(stx store.Tx) error {
		q, ok := stx.(*queries)
		if !ok {
			return errors.New("sqlite: unexpected transaction type")
		}
		a := timeIn(after)
		n, err := rowCount(q.w.ExecContext(ctx, `INSERT INTO signing_keys (`+signingKeyCols+`)
			SELECT ?, ?, ?, ?, ?, ?
			WHERE NOT EXISTS (SELECT 1 FROM signing_keys WHERE ? IS NULL OR active_at > ?)`,
			k.ID, k.Algorithm, k.Sealed, k.PublicJWK, timeIn(k.CreatedAt), timeIn(k.ActiveAt), a, a))
		inserted = n == 1
		return err
	})
	if err != nil {
		return false, err
	}
	return inserted, nil
}
