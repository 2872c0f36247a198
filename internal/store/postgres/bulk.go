package postgres

import (
	"context"

	"github.com/jackc/pgx/v5"

	"github.com/rotor-auth/rotor/internal/store"
)

// CreateFamilies inserts families with one COPY, the fastest way into
// PostgreSQL: a single statement, so all or none. [store.ErrConflict] if
// any id exists or repeats (COPY has no ON CONFLICT; the unique violation
// aborts it).
func (db *DB) CreateFamilies(ctx context.Context, families []*store.Family) error {
	if len(families) == 0 {
		return nil
	}
	// The column names are those of familyColumns, in its order.
	zero, err := familyColumns(&store.Family{})
	if err != nil {
		return err
	}
	names := make([]string, len(zero))
	for i, c := range zero {
		names[i] = c.name
	}
	_, err = db.pool.CopyFrom(ctx, pgx.Identifier{"families"}, names,
		pgx.CopyFromSlice(len(families), func(i int) ([]any, error) {
			cols, err := familyColumns(families[i])
			if err != nil {
				return nil, err
			}
			row := make([]any, len(cols))
			for j, c := range cols {
				row[j] = c.value
			}
			return row, nil
		}))
	return mapErr(err)
}
