package backend

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"strings"

	"github.com/rotor-auth/rotor/internal/store"
	"github.com/rotor-auth/rotor/internal/store/postgres"
	"github.com/rotor-auth/rotor/internal/store/sqlite"
)

// Kind names a storage backend.
type Kind string

// The backends a DSN can name.
const (
	SQLite   Kind = "sqlite"
	Postgres Kind = "postgres"
)

const sqlitePrefix = "sqlite:"

// Parse checks a DSN and returns its backend and, for SQLite, the database
// file path. Any other form is an error that says which forms exist.
func Parse(dsn string) (kind Kind, path string, err error) {
	switch {
	case strings.HasPrefix(dsn, sqlitePrefix):
		path = strings.TrimPrefix(dsn, sqlitePrefix)
		if path == "" {
			return "", "", errors.New(`the SQLite DSN has no file path: write "sqlite:PATH", for example "sqlite:rotor.db"`)
		}
		// "sqlite://x.db" would silently mean the file /x.db.
		if strings.HasPrefix(path, "//") {
			return "", "", fmt.Errorf(`%q: write "sqlite:PATH" without "//", for example "sqlite:rotor.db" or "sqlite:/var/lib/rotor/rotor.db"`, dsn)
		}
		return SQLite, path, nil
	case strings.HasPrefix(dsn, "postgres://"), strings.HasPrefix(dsn, "postgresql://"):
		u, err := url.Parse(dsn)
		if err != nil || u.Host == "" {
			return "", "", fmt.Errorf("%s is not a valid PostgreSQL URL: write postgres://USER:PASSWORD@HOST:PORT/DATABASE", Redact(dsn))
		}
		return Postgres, "", nil
	case dsn == "":
		return "", "", errors.New(`no database given: use "sqlite:PATH" or "postgres://USER:PASSWORD@HOST:PORT/DATABASE"`)
	default:
		return "", "", fmt.Errorf(`database %q is not a DSN Rotor knows: use "sqlite:PATH" or "postgres://USER:PASSWORD@HOST:PORT/DATABASE"`, Redact(dsn))
	}
}

// Open opens the store named by dsn. It does not migrate: callers call
// [store.Store.Migrate] where the operator asked for it.
func Open(ctx context.Context, dsn string) (store.Store, error) {
	kind, path, err := Parse(dsn)
	if err != nil {
		return nil, err
	}
	switch kind {
	case SQLite:
		db, err := sqlite.Open(ctx, path)
		if err != nil {
			return nil, fmt.Errorf("open SQLite database %s: %w", path, err)
		}
		return db, nil
	default:
		db, err := postgres.Open(ctx, dsn)
		if err != nil {
			return nil, fmt.Errorf("open PostgreSQL database %s: %w", Redact(dsn), err)
		}
		return db, nil
	}
}

// IsEmbedded reports whether dsn names the embedded SQLite backend, which
// `rotor serve` migrates by itself and whose master key may live in a file
// beside the database.
func IsEmbedded(dsn string) bool {
	kind, _, err := Parse(dsn)
	return err == nil && kind == SQLite
}

// SQLitePath returns the database file of a "sqlite:PATH" DSN, and false
// for any other DSN.
func SQLitePath(dsn string) (string, bool) {
	kind, path, err := Parse(dsn)
	if err != nil || kind != SQLite {
		return "", false
	}
	return path, true
}

// Redact returns dsn with any password replaced by "xxxxx", fit for logs
// and error messages.
func Redact(dsn string) string {
	u, err := url.Parse(dsn)
	if err != nil {
		if !strings.Contains(dsn, "@") && !strings.Contains(dsn, "password") {
			return dsn
		}
		// Unparseable and may hold credentials: show only the scheme.
		if scheme, _, ok := strings.Cut(dsn, "://"); ok {
			return scheme + "://(redacted)"
		}
		return "(redacted)"
	}
	if u.User != nil {
		if _, has := u.User.Password(); has {
			u.User = url.UserPassword(u.User.Username(), "xxxxx")
		}
	}
	if q := u.Query(); q.Has("password") {
		q.Set("password", "xxxxx")
		u.RawQuery = q.Encode()
	}
	return u.String()
}
