package postgres_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"os"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/rotor-auth/rotor/internal/store"
	"github.com/rotor-auth/rotor/internal/store/postgres"
)

// TEMPORARY until testdb compiles.
func pgDSN(t testing.TB) string {
	base := os.Getenv("ROTOR_TEST_POSTGRES_DSN")
	if base == "" {
		t.Skip("no dsn")
	}
	var b [8]byte
	rand.Read(b[:])
	schema := "rotor_test_" + hex.EncodeToString(b[:])
	conn, err := pgx.Connect(context.Background(), base)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(context.Background())
	if _, err := conn.Exec(context.Background(), "CREATE SCHEMA "+schema); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		conn, _ := pgx.Connect(context.Background(), base)
		conn.Exec(context.Background(), "DROP SCHEMA "+schema+" CASCADE")
		conn.Close(context.Background())
	})
	return base + "&search_path=" + schema
}

func pgStore(t testing.TB) store.Store {
	db, err := postgres.Open(context.Background(), pgDSN(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	if err := db.Migrate(context.Background()); err != nil {
		t.Fatal(err)
	}
	return db
}
