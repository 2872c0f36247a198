package keys_test

import (
	"context"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/rotor-auth/rotor/internal/keys"
	"github.com/rotor-auth/rotor/internal/secret"
	"github.com/rotor-auth/rotor/internal/store"
	"github.com/rotor-auth/rotor/internal/store/postgres"
	"github.com/rotor-auth/rotor/internal/store/sqlite"
	"github.com/rotor-auth/rotor/internal/store/testdb"
)

// twoReplicas opens one database twice, as two processes would, on each
// backend.
func twoReplicas(t *testing.T, fn func(t *testing.T, a, b store.Store)) {
	ctx := context.Background()
	t.Run("sqlite", func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "rotor.db")
		var sts [2]store.Store
		for i := range sts {
			db, err := sqlite.Open(ctx, path)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { db.Close() })
			sts[i] = db
		}
		if err := sts[0].Migrate(ctx); err != nil {
			t.Fatal(err)
		}
		fn(t, sts[0], sts[1])
	})
	t.Run("postgres", func(t *testing.T) {
		dsn := testdb.PostgresDSN(t)
		var sts [2]store.Store
		for i := range sts {
			db, err := postgres.Open(ctx, dsn)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { db.Close() })
			sts[i] = db
		}
		if err := sts[0].Migrate(ctx); err != nil {
			t.Fatal(err)
		}
		fn(t, sts[0], sts[1])
	})
}

// race runs fn on both managers at the same moment.
func race(t *testing.T, ms [2]*keys.Manager, fn func(m *keys.Manager) error) {
	t.Helper()
	start := make(chan struct{})
	var wg sync.WaitGroup
	for _, m := range ms {
		wg.Go(func() {
			<-start
			if err := fn(m); err != nil {
				t.Error(err)
			}
		})
	}
	close(start)
	wg.Wait()
}

// TestReplicasStartingTogetherMakeOneKey: two replicas that start at the
// same moment on an empty database end with one active key between them,
// and sign with it; when the rotation period has passed, two replicas
// checking at the same moment rotate once between them.
func TestReplicasStartingTogetherMakeOneKey(t *testing.T) {
	twoReplicas(t, func(t *testing.T, a, b store.Store) {
		ctx := context.Background()
		sk, err := secret.Derive(secret.NewMasterKey())
		if err != nil {
			t.Fatal(err)
		}
		clk := &clock{t: time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)}
		const period = 30 * 24 * time.Hour
		for round := range 20 {
			all, err := a.ListSigningKeys(ctx)
			if err != nil {
				t.Fatal(err)
			}
			for _, k := range all {
				if err := a.DeleteSigningKey(ctx, k.ID); err != nil {
					t.Fatal(err)
				}
			}
			var ms [2]*keys.Manager
			for i, st := range []store.Store{a, b} {
				ms[i] = keys.NewManager(st, sk, keys.Options{Prepublish: 10 * time.Minute, RotationPeriod: period,
					MaxTokenTTL: time.Hour, ReloadInterval: time.Minute, Now: clk.Now})
			}

			race(t, ms, func(m *keys.Manager) error { return m.EnsureCurrent(ctx) })
			all, err = a.ListSigningKeys(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if len(all) != 1 {
				t.Fatalf("round %d: two replicas starting on an empty database made %d keys, want 1", round, len(all))
			}
			for i, m := range ms {
				tok, kid := sign(t, m)
				if kid != all[0].ID {
					t.Fatalf("round %d: replica %d signs with %s, not the one key %s", round, i, kid, all[0].ID)
				}
				if _, err := ms[1-i].Verify(ctx, keys.TypeAccessToken, tok); err != nil {
					t.Fatalf("round %d: a replica does not verify the other's token: %v", round, err)
				}
			}

			clk.Advance(period)
			race(t, ms, func(m *keys.Manager) error { return m.EnsureCurrent(ctx) })
			all, err = a.ListSigningKeys(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if len(all) != 2 {
				t.Fatalf("round %d: two replicas rotating at once left %d keys, want 2", round, len(all))
			}
			clk.Advance(time.Hour)
		}
	})
}
