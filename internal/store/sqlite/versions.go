package sqlite

import (
	"context"
	"fmt"
	"io/fs"
	"path"
	"sort"
	"strings"
)

// MigrationNames returns the names of the embedded migrations, such as
// "0001_init", in the order [DB.Migrate] applies them.
func (db *DB) MigrationNames() ([]string, error) {
	files, err := fs.Glob(migrations, "migrations/*.sql")
	if err != nil {
		return nil, err
	}
	sort.Strings(files)
	names := make([]string, len(files))
	for i, f := range files {
		names[i] = strings.TrimSuffix(path.Base(f), ".sql")
	}
	return names, nil
}

// AppliedVersions returns the versions recorded in schema_migrations, in
// increasing order; none for a database never migrated. Comparing them
// before and after [DB.Migrate] tells what it applied.
func (db *DB) AppliedVersions(ctx context.Context) ([]int, error) {
	var n int
	if err := db.reader.QueryRowContext(ctx,
		`SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = 'schema_migrations'`).Scan(&n); err != nil {
		return nil, fmt.Errorf("sqlite: applied migrations: %w", err)
	}
	if n == 0 {
		return nil, nil
	}
	rows, err := db.reader.QueryContext(ctx, `SELECT version FROM schema_migrations ORDER BY version`)
	if err != nil {
		return nil, fmt.Errorf("sqlite: applied migrations: %w", err)
	}
	defer rows.Close()
	var vs []int
	for rows.Next() {
		var v int
		if err := rows.Scan(&v); err != nil {
			return nil, fmt.Errorf("sqlite: applied migrations: %w", err)
		}
		vs = append(vs, v)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("sqlite: applied migrations: %w", err)
	}
	return vs, nil
}
