package sqlite

import (
	"context"
	"strings"

	"github.com/rotor-auth/rotor/internal/store"
)

// bulkRows is how many families one INSERT statement carries: 19
// parameters each, far below SQLite's limit of 32,766 parameters, and
// enough that statement overhead disappears.
const bulkRows = 500

// CreateFamilies inserts families in one transaction, bulkRows per INSERT
// statement, so that a million rows take seconds rather than a commit (and
// an fsync) each. All or none: [store.ErrConflict] if any id exists or
// repeats.
func (db *DB) CreateFamilies(ctx context.Context, families []*store.Family) error {
	if len(families) == 0 {
		return nil
	}
	return db.Tx(ctx, func(tx store.Tx) error {
		w := tx.(*queries).w
		full := insertFamilies(bulkRows)
		for rest := families; len(rest) > 0; {
			n := min(len(rest), bulkRows)
			query := full
			if n < bulkRows {
				query = insertFamilies(n)
			}
			args := make([]any, 0, n*19)
			for _, f := range rest[:n] {
				a, err := familyRow(f)
				if err != nil {
					return err
				}
				args = append(args, a...)
			}
			if _, err := w.ExecContext(ctx, query, args...); err != nil {
				return mapErr(err)
			}
			rest = rest[n:]
		}
		return nil
	})
}

// insertFamilies is an INSERT of n families.
func insertFamilies(n int) string {
	row := "(" + placeholders(19) + ")"
	var b strings.Builder
	b.WriteString("INSERT INTO families (" + familyCols + ") VALUES ")
	for i := range n {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString(row)
	}
	return b.String()
}

// familyRow is a family's values in familyCols order, as CreateFamily
// writes them.
func familyRow(f *store.Family) ([]any, error) {
	gen, err := genIn(f.Generation)
	if err != nil {
		return nil, err
	}
	return []any{f.ID, f.ClientID, f.Subject, listIn(f.Scopes), f.DPoPJKT, gen, f.LiveHash, f.PrevHash,
		timeIn(f.RotatedAt), f.GraceSealed, timeIn(f.GraceUntil), timeIn(f.CreatedAt), timeIn(f.LastUsedAt),
		timeIn(f.ExpiresAt), timeIn(f.AbsoluteExpiresAt), f.LastIP, f.LastUserAgent, timeIn(f.RevokedAt), f.RevokeReason}, nil
}
