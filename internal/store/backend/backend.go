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
// file path. PostgreSQL is named by a URL or by the keyword/value form
// that pgx and libpq read (host=... dbname=...). Any other form is an
// error that says which forms exist; no error shows a password.
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
	case looksLikeKeywords(dsn):
		pairs, err := parseKeywords(dsn)
		if err != nil {
			return "", "", fmt.Errorf(`the PostgreSQL keyword/value DSN %s is malformed: %v; write keyword=value pairs separated by spaces, quoting a value that holds spaces ('like this'), for example "host=db.internal dbname=rotor user=rotor"`, Redact(dsn), err)
		}
		for _, p := range pairs {
			if connectionKeywords[p.key] {
				return Postgres, "", nil
			}
		}
	}
	return "", "", fmt.Errorf(`database %q is not a DSN Rotor knows: use "sqlite:PATH", "postgres://USER:PASSWORD@HOST:PORT/DATABASE" or "host=HOST dbname=DATABASE user=USER"`, Redact(dsn))
}

// connectionKeywords are the keyword/value settings that say where and
// as whom to connect; a DSN of keywords names PostgreSQL only if it has
// one, so that a stray "a=b" is not taken for a database on localhost.
var connectionKeywords = map[string]bool{
	"host": true, "hostaddr": true, "port": true, "dbname": true, "user": true, "password": true, "service": true,
}

// looksLikeKeywords reports whether dsn starts as the keyword/value form
// does: a keyword, then "=" (blanks allowed around it).
func looksLikeKeywords(dsn string) bool {
	s := strings.TrimLeft(dsn, " \t\n\r\v\f")
	i := strings.IndexFunc(s, func(r rune) bool {
		return !(r == '_' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9')
	})
	return i > 0 && strings.HasPrefix(strings.TrimLeft(s[i:], " \t\n\r\v\f"), "=")
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
			return nil, fmt.Errorf("open PostgreSQL database %s: %w", Redact(dsn), scrub(err, dsn))
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
