package postgres

import (
	"context"
	"errors"
	"time"

	"github.com/rotor-auth/rotor/internal/store"
)

// CreateSigningKeyIfNoneAfter inserts k unless a key has an ActiveAt after
// the given time, and reports whether it did.
//
// The check and the insert run in one SERIALIZABLE transaction: under READ
// COMMITTED two replicas would each find no such key and each insert
// theirs, a write skew that no row lock prevents (there is no row to lock
// yet). Serializable snapshot isolation aborts one of the two with a
// serialization failure, and [DB.Tx] runs it again, when it sees the other's
// key. It takes no table or advisory lock, so it works the same on the
// distributed engines that are serializable anyway.
func (db *DB) CreateSigningKeyIfNoneAfter(ctx context.Context, k *store.SigningKey, after time.Time) (bool, error) {
	var inserted bool
	err := db.Tx(ctx, func(stx store.Tx) error {
		t, ok := stx.(*tx)
		if !ok {
			return errors.New("postgres: unexpected transaction type")
		}
		// Allowed before the first query of the transaction.
		if _, err := t.q.Exec(ctx, `SET TRANSACTION ISOLATION LEVEL SERIALIZABLE`); err != nil {
			return mapErr(err)
		}
		n, err := rowCount(t.q.Exec(ctx, `INSERT INTO signing_keys (`+signingKeyCols+`)
			SELECT $1, $2, $3, $4, $5, $6
			WHERE NOT EXISTS (SELECT 1 FROM signing_keys WHERE $7::timestamptz IS NULL OR active_at > $7)`,
			k.ID, k.Algorithm, k.Sealed, k.PublicJWK, timeIn(k.CreatedAt), timeIn(k.ActiveAt), timeIn(after)))
		inserted = n == 1
		return err
	})
	if err != nil {
		return false, err
	}
	return inserted, nil
}
