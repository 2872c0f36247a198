package testdb

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/rotor-auth/rotor/internal/store"
	"github.com/rotor-auth/rotor/internal/store/postgres"
	"github.com/rotor-auth/rotor/internal/store/sqlite"
)

// Environment variables that point tests at services.
const (
	// EnvPostgresDSN names a PostgreSQL database where tests may create
	// and drop schemas.
	EnvPostgresDSN = "ROTOR_TEST_POSTGRES_DSN"
	// EnvRequireServices, set to 1, makes a missing service fail the test
	// rather than skip it, so that CI cannot pass by testing less.
	EnvRequireServices = "ROTOR_TEST_REQUIRE_SERVICES"
)

// cleanupTimeout bounds creating and dropping a schema, so that a server
// that stopped answering fails the test rather than hanging it.
const cleanupTimeout = 30 * time.Second

// SQLite returns a freshly migrated SQLite store on a file in t.TempDir(),
// closed when the test ends.
func SQLite(t testing.TB) store.Store {
	t.Helper()
	ctx := context.Background()
	db, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "rotor.db"))
	if err != nil {
		t.Fatalf("testdb: open sqlite: %v", err)
	}
	t.Cleanup(func() {
		if err := db.Close(); err != nil {
			t.Errorf("testdb: close sqlite: %v", err)
		}
	})
	if err := db.Migrate(ctx); err != nil {
		t.Fatalf("testdb: migrate sqlite: %v", err)
	}
	return db
}

// PostgresDSN creates a schema with a random name on the server named by
// ROTOR_TEST_POSTGRES_DSN, drops it with everything in it when the test
// ends, and returns a DSN whose sessions use it as their search_path. Each
// call gets its own empty schema; open it as many times as the test needs
// replicas.
//
// Without the variable the test is skipped, or fails if
// ROTOR_TEST_REQUIRE_SERVICES=1.
func PostgresDSN(t testing.TB) string {
	t.Helper()
	base := os.Getenv(EnvPostgresDSN)
	if base == "" {
		msg := "set " + EnvPostgresDSN + "=postgres://postgres@127.0.0.1:5432/test?sslmode=disable to run PostgreSQL tests"
		if os.Getenv(EnvRequireServices) == "1" {
			t.Fatal("testdb: " + EnvRequireServices + "=1 but " + EnvPostgresDSN + " is unset: " + msg)
		}
		t.Skip("testdb: " + msg)
	}

	var b [8]byte
	_, _ = rand.Read(b[:]) // never fails, by its documentation
	schema := "rotor_test_" + hex.EncodeToString(b[:])
	// The name is ours, lower-case hex: it needs no quoting.
	if err := admin(base, "CREATE SCHEMA "+schema); err != nil {
		t.Fatalf("testdb: %v", err)
	}
	t.Cleanup(func() {
		if err := admin(base, "DROP SCHEMA IF EXISTS "+schema+" CASCADE"); err != nil {
			t.Errorf("testdb: %v", err)
		}
	})

	dsn, err := withSearchPath(base, schema)
	if err != nil {
		t.Fatalf("testdb: %s: %v", EnvPostgresDSN, err)
	}
	return dsn
}

// Postgres returns a freshly migrated PostgreSQL store in a schema of its
// own (see [PostgresDSN]), closed and dropped when the test ends.
func Postgres(t testing.TB) store.Store {
	t.Helper()
	dsn := PostgresDSN(t)
	ctx := context.Background()
	db, err := postgres.Open(ctx, dsn)
	if err != nil {
		t.Fatalf("testdb: open postgres: %v", err)
	}
	// Registered after the schema's drop, so it runs before it: cleanups
	// run last-in first-out.
	t.Cleanup(func() {
		if err := db.Close(); err != nil {
			t.Errorf("testdb: close postgres: %v", err)
		}
	})
	if err := db.Migrate(ctx); err != nil {
		t.Fatalf("testdb: migrate postgres: %v", err)
	}
	return db
}

// Each runs fn once per backend, as the subtests "sqlite" and "postgres".
// The postgres subtest skips or fails as [PostgresDSN] says.
func Each(t *testing.T, fn func(t *testing.T, st store.Store)) {
	t.Helper()
	t.Run("sqlite", func(t *testing.T) { fn(t, SQLite(t)) })
	t.Run("postgres", func(t *testing.T) { fn(t, Postgres(t)) })
}

// admin runs one statement on its own connection to the base DSN.
func admin(dsn, sql string) error {
	ctx, cancel := context.WithTimeout(context.Background(), cleanupTimeout)
	defer cancel()
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		return fmt.Errorf("connect to %s: %w", EnvPostgresDSN, err)
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, sql); err != nil {
		return fmt.Errorf("%s: %w", sql, err)
	}
	return nil
}

// withSearchPath sets search_path in a URL or keyword/value DSN. pgx sends
// parameters it does not know itself to the server as session settings.
func withSearchPath(dsn, schema string) (string, error) {
	if strings.HasPrefix(dsn, "postgres://") || strings.HasPrefix(dsn, "postgresql://") {
		u, err := url.Parse(dsn)
		if err != nil {
			return "", err
		}
		q := u.Query()
		q.Set("search_path", schema)
		u.RawQuery = q.Encode()
		return u.String(), nil
	}
	// In keyword/value form a later keyword overrides an earlier one.
	return fmt.Sprintf("%s search_path=%s", dsn, schema), nil
}
