package testdb

import (
	"context"
	"errors"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/rotor-auth/rotor/internal/store"
)

func TestWithSearchPath(t *testing.T) {
	tests := []struct {
		name, dsn, want string
	}{
		{"url with query", "postgres://postgres@127.0.0.1:5432/test?sslmode=disable",
			"postgres://postgres@127.0.0.1:5432/test?search_path=s1&sslmode=disable"},
		{"url replaces a search_path", "postgresql://h/db?search_path=public",
			"postgresql://h/db?search_path=s1"},
		{"keyword/value", "host=127.0.0.1 user=postgres dbname=test",
			"host=127.0.0.1 user=postgres dbname=test search_path=s1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := withSearchPath(tt.dsn, "s1")
			if err != nil || got != tt.want {
				t.Errorf("withSearchPath(%q) = %q, %v; want %q", tt.dsn, got, err, tt.want)
			}
		})
	}
}

// Each backend starts empty and usable, and two stores of one backend
// never share data.
func TestEachGivesFreshStores(t *testing.T) {
	Each(t, func(t *testing.T, st store.Store) {
		ctx := t.Context()
		if err := st.CreateClient(ctx, &store.Client{ID: "app"}); err != nil {
			t.Fatalf("CreateClient: %v", err)
		}
		if _, err := st.GetClient(ctx, "app"); err != nil {
			t.Fatalf("GetClient: %v", err)
		}
	})
	Each(t, func(t *testing.T, st store.Store) {
		if _, err := st.GetClient(t.Context(), "app"); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("GetClient in a new store = %v; want ErrNotFound", err)
		}
	})
}

// The schema of a PostgresDSN is dropped with the test that made it.
func TestPostgresSchemaDropped(t *testing.T) {
	var dsn string
	t.Run("make", func(t *testing.T) { dsn = PostgresDSN(t) })
	if dsn == "" {
		t.Skip("no PostgreSQL")
	}
	conn, err := pgx.Connect(context.Background(), dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(context.Background())
	var schema *string
	if err := conn.QueryRow(t.Context(), "SELECT current_schema()").Scan(&schema); err != nil {
		t.Fatal(err)
	}
	// current_schema() is NULL when no schema of the search_path exists.
	if schema != nil {
		t.Errorf("schema %q still exists after its test ended", *schema)
	}
}
