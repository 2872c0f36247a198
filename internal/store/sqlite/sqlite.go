package sqlite

import (
	"context"
	"database/sql"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"os"
	"sort"
	"strconv"
	"strings"
	"time"

	sqlite "modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"

	"github.com/rotor-auth/rotor/internal/store"
)

var _ store.Store = (*DB)(nil)

//go:embed migrations/*.sql
var migrations embed.FS

// DB is a [store.Store] over one SQLite file.
type DB struct {
	// queries run outside a transaction: reads on the reader pool, and no
	// writes (see writes.go).
	queries
	// writer is one connection; transactions BEGIN IMMEDIATE. Only the
	// committer (group.go) uses it.
	writer *sql.DB
	reader *sql.DB // several read-only connections
	group  *group  // the committer that owns the writer's transactions
	reads  *readPool
}

// Open opens, creating it if needed, the database file at path. It does
// not migrate: call [DB.Migrate].
func Open(ctx context.Context, path string) (*DB, error) {
	if path == "" {
		return nil, errors.New("sqlite: empty database path")
	}
	// The file holds password hashes: create it readable by its owner
	// only (SQLite gives its -wal and -shm files the same mode).
	if f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o600); err == nil {
		f.Close()
	} else if !errors.Is(err, fs.ErrExist) {
		return nil, fmt.Errorf("sqlite: create %s: %w", path, err)
	}
	common := "_pragma=busy_timeout(10000)&_pragma=journal_mode(WAL)&_pragma=synchronous(FULL)"
	u := "file:" + (&url.URL{Path: path}).EscapedPath()
	w, err := sql.Open("sqlite", u+"?_txlock=immediate&"+common)
	if err != nil {
		return nil, fmt.Errorf("sqlite: open %s: %w", path, err)
	}
	// One writer: SQLite serialises writers anyway, and one connection
	// turns contention into a queue in Go instead of busy retries.
	w.SetMaxOpenConns(1)
	w.SetConnMaxLifetime(0)
	if err := w.PingContext(ctx); err != nil {
		w.Close()
		return nil, fmt.Errorf("sqlite: open %s: %w", path, err)
	}
	r, err := sql.Open("sqlite", u+"?"+common+"&_pragma=query_only(1)")
	if err != nil {
		w.Close()
		return nil, fmt.Errorf("sqlite: open %s: %w", path, err)
	}
	r.SetMaxOpenConns(8)
	r.SetMaxIdleConns(8)
	db := &DB{writer: w, reader: r, reads: newReadPool(r)}
	db.queries = queries{r: db.reads, w: committerOnly{}}
	db.startGroup()
	return db, nil
}

// Ping checks that the database file answers.
func (db *DB) Ping(ctx context.Context) error { return db.reader.PingContext(ctx) }

// Close commits the transactions already waiting, then closes both pools.
func (db *DB) Close() error {
	db.stopGroup()
	db.reads.close()
	return errors.Join(db.reader.Close(), db.writer.Close())
}

// Migrate applies the embedded migrations that are missing, each in its
// own transaction.
func (db *DB) Migrate(ctx context.Context) error {
	err := db.Tx(ctx, func(tx store.Tx) error {
		_, err := tx.(*queries).w.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (
			version INTEGER PRIMARY KEY, applied_at INTEGER NOT NULL)`)
		return err
	})
	if err != nil {
		return fmt.Errorf("sqlite: migrate: %w", err)
	}
	names, err := fs.Glob(migrations, "migrations/*.sql")
	if err != nil {
		return err
	}
	sort.Strings(names)
	for _, name := range names {
		base := strings.TrimPrefix(name, "migrations/")
		v, err := strconv.Atoi(strings.SplitN(base, "_", 2)[0])
		if err != nil {
			return fmt.Errorf("sqlite: migration %s has no version number", base)
		}
		body, err := migrations.ReadFile(name)
		if err != nil {
			return err
		}
		err = db.Tx(ctx, func(tx store.Tx) error {
			q := tx.(*queries)
			var n int
			if err := q.w.QueryRowContext(ctx, `SELECT count(*) FROM schema_migrations WHERE version = ?`, v).Scan(&n); err != nil {
				return err
			}
			if n > 0 {
				return nil
			}
			if _, err := q.w.ExecContext(ctx, string(body)); err != nil {
				return err
			}
			_, err := q.w.ExecContext(ctx, `INSERT INTO schema_migrations (version, applied_at) VALUES (?, ?)`, v, time.Now().UnixMicro())
			return err
		})
		if err != nil {
			return fmt.Errorf("sqlite: migration %s: %w", base, err)
		}
	}
	return nil
}

func code(err error) int {
	var e *sqlite.Error
	if errors.As(err, &e) {
		return e.Code() & 0xff
	}
	return 0
}

func busy(err error) bool {
	c := code(err)
	return c == sqlite3.SQLITE_BUSY || c == sqlite3.SQLITE_LOCKED
}

// mapErr turns driver errors into the store's sentinels.
func mapErr(err error) error {
	switch {
	case err == nil:
		return nil
	case errors.As(err, new(*bypassError)):
		return err // a bug, named as it is
	case errors.Is(err, sql.ErrNoRows):
		return store.ErrNotFound
	case code(err) == sqlite3.SQLITE_CONSTRAINT:
		return fmt.Errorf("%w: %w", store.ErrConflict, err)
	case errors.Is(err, context.DeadlineExceeded):
		// A read outside a transaction whose caller's deadline passed.
		return fmt.Errorf("%w: sqlite: %w", store.ErrUnavailable, err)
	default:
		return fmt.Errorf("sqlite: %w", err)
	}
}
