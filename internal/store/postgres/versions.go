package postgres

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5"
)

// MigrationNames returns the names of the embedded migrations, such as
// "0001_init", in the order [DB.Migrate] applies them.
func (db *DB) MigrationNames() ([]string, error) {
	ms, err := migrations()
	if err != nil {
		return nil, err
	}
	names := make([]string, len(ms))
	for i, m := range ms {
		names[i] = fmt.Sprintf("%04d_%s", m.version, m.name)
	}
	return names, nil
}

// AppliedVersions returns the versions recorded in schema_migrations of
// the current schema, in increasing order; none for a schema never
// migrated. Comparing them before and after [DB.Migrate] tells what it
// applied (and what concurrent runs applied meanwhile).
func (db *DB) AppliedVersions(ctx context.Context) ([]int, error) {
	var exists bool
	if err := db.pool.QueryRow(ctx, `SELECT to_regclass('schema_migrations') IS NOT NULL`).Scan(&exists); err != nil {
		return nil, fmt.Errorf("postgres: applied migrations: %w", err)
	}
	if !exists {
		return nil, nil
	}
	rows, err := db.pool.Query(ctx, `SELECT version FROM schema_migrations ORDER BY version`)
	if err != nil {
		return nil, fmt.Errorf("postgres: applied migrations: %w", err)
	}
	vs, err := pgx.CollectRows(rows, pgx.RowTo[int])
	if err != nil {
		return nil, fmt.Errorf("postgres: applied migrations: %w", err)
	}
	return vs, nil
}
