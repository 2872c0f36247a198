package bench

import (
	"context"
	"database/sql"
	"fmt"
	"net/url"

	"github.com/jackc/pgx/v5"
	_ "modernc.org/sqlite" // the driver of the read-only size queries

	"github.com/rotor-auth/rotor/internal/store/backend"
)

// TableSize is one table's row count and its bytes on disk, indexes
// included.
type TableSize struct {
	Table string `json:"table"`
	Rows  int64  `json:"rows"`
	Bytes int64  `json:"bytes"`
}

// sizedTables are the tables whose growth the bench reports: families
// must not grow with refreshes; events (the audit trail) does, and has a
// retention.
var sizedTables = []string{"families", "events"}

// tableSizes measures sizedTables with read-only queries of the backend's
// own catalogue: SQLite's dbstat (pages of the table and its indexes) and
// PostgreSQL's pg_total_relation_size (heap, TOAST and indexes).
func tableSizes(ctx context.Context, dsn string) ([]TableSize, error) {
	kind, path, err := backend.Parse(dsn)
	if err != nil {
		return nil, err
	}
	if kind == backend.SQLite {
		return sqliteSizes(ctx, path)
	}
	return postgresSizes(ctx, dsn)
}

func sqliteSizes(ctx context.Context, path string) ([]TableSize, error) {
	db, err := sql.Open("sqlite", "file:"+(&url.URL{Path: path}).EscapedPath()+"?mode=ro&_pragma=busy_timeout(10000)")
	if err != nil {
		return nil, err
	}
	defer db.Close()
	var out []TableSize
	for _, t := range sizedTables {
		s := TableSize{Table: t}
		// The table name is one of ours, never input.
		if err := db.QueryRowContext(ctx, `SELECT count(*) FROM `+t).Scan(&s.Rows); err != nil {
			return nil, fmt.Errorf("bench: count %s: %w", t, err)
		}
		if err := db.QueryRowContext(ctx, `SELECT coalesce(sum(pgsize), 0) FROM dbstat('main', 1)
			WHERE name IN (SELECT name FROM sqlite_schema WHERE tbl_name = ?)`, t).Scan(&s.Bytes); err != nil {
			return nil, fmt.Errorf("bench: size of %s: %w", t, err)
		}
		out = append(out, s)
	}
	return out, nil
}

func postgresSizes(ctx context.Context, dsn string) ([]TableSize, error) {
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		return nil, fmt.Errorf("bench: connect for sizes: %w", err)
	}
	defer conn.Close(ctx)
	var out []TableSize
	for _, t := range sizedTables {
		s := TableSize{Table: t}
		if err := conn.QueryRow(ctx, `SELECT count(*) FROM `+t).Scan(&s.Rows); err != nil {
			return nil, fmt.Errorf("bench: count %s: %w", t, err)
		}
		if err := conn.QueryRow(ctx, `SELECT pg_total_relation_size(to_regclass($1))`, t).Scan(&s.Bytes); err != nil {
			return nil, fmt.Errorf("bench: size of %s: %w", t, err)
		}
		out = append(out, s)
	}
	return out, nil
}

// walPosition returns PostgreSQL's current write-ahead log position in
// bytes, for the WAL written per request. It counts everything the whole
// server writes, other databases' included, so it is exact only on a
// server the bench has to itself.
func walPosition(ctx context.Context, dsn string) (int64, error) {
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		return 0, err
	}
	defer conn.Close(ctx)
	var pos int64
	err = conn.QueryRow(ctx, `SELECT pg_current_wal_lsn() - '0/0'::pg_lsn`).Scan(&pos)
	return pos, err
}

// settle brings the database to a steady state after a bulk load, so that
// the next measurement does not pay for it: on SQLite a checkpoint moves
// the loaded pages from the WAL into the database file (otherwise the
// server's next commits would); on PostgreSQL, ANALYZE refreshes the
// planner's statistics of the grown table (otherwise autovacuum would, at
// a moment of its choosing, in the middle of a cell).
func settle(ctx context.Context, dsn string) error {
	kind, path, err := backend.Parse(dsn)
	if err != nil {
		return err
	}
	if kind == backend.SQLite {
		db, err := sql.Open("sqlite", "file:"+(&url.URL{Path: path}).EscapedPath()+"?_pragma=busy_timeout(10000)")
		if err != nil {
			return err
		}
		defer db.Close()
		_, err = db.ExecContext(ctx, `PRAGMA wal_checkpoint(TRUNCATE)`)
		return err
	}
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		return err
	}
	defer conn.Close(ctx)
	_, err = conn.Exec(ctx, `ANALYZE families`)
	return err
}
