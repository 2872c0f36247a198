package sqlite

import (
	"context"
	"strings"

	"github.com/rotor-auth/rotor/internal/store"
)

// bulkRows is how many families one INSERT statement carries: 22
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
		for rest := families; len(rest) > 0; {
			n := min(len(rest), bulkRows)
			var names []string
			args := make([]any, 0, n*22)
			for _, f := range rest[:n] {
				cols, err := familyColumns(f)
				if err != nil {
					return err
				}
				names = names[:0]
				for _, c := range cols {
					names = append(names, c.name)
					args = append(args, c.value)
				}
			}
			if _, err := w.ExecContext(ctx, insertFamilies(names, n), args...); err != nil {
				return mapErr(err)
			}
			rest = rest[n:]
		}
		return nil
	})
}

// insertFamilies is an INSERT of n rows of the columns names.
func insertFamilies(names []string, n int) string {
	row := "(" + placeholders(len(names)) + ")"
	var b strings.Builder
	b.WriteString("INSERT INTO families (" + strings.Join(names, ", ") + ") VALUES ")
	for i := range n {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString(row)
	}
	return b.String()
}
