package sqlite_test

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/rotor-auth/rotor/internal/store"
	"github.com/rotor-auth/rotor/internal/store/sqlite"
	"github.com/rotor-auth/rotor/internal/store/storetest"
	"github.com/rotor-auth/rotor/internal/store/testdb"
)

func TestConformance(t *testing.T) {
	storetest.Run(t, func(t *testing.T) store.Store { return testdb.SQLite(t) })
}

func TestDurableAcrossReopenAndIdempotentMigrate(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "rotor.db")
	db, err := sqlite.Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	if err := db.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	now := time.Now().UTC().Truncate(time.Microsecond)
	if err := db.CreateClient(ctx, &store.Client{ID: "kept", CreatedAt: now, UpdatedAt: now}); err != nil {
		t.Fatal(err)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	db, err = sqlite.Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if err := db.Migrate(ctx); err != nil {
		t.Fatalf("second Migrate: %v", err)
	}
	c, err := db.GetClient(ctx, "kept")
	if err != nil || !c.CreatedAt.Equal(now) {
		t.Fatalf("after reopen: %+v %v", c, err)
	}
}
