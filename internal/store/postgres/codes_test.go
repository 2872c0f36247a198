package postgres_test

import (
	"context"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/rotor-auth/rotor/internal/store"
	"github.com/rotor-auth/rotor/internal/store/testdb"
)

// Two redemptions of one code on two replicas: the second's LockAuthCode
// waits, inside PostgreSQL, for the first's transaction, and then sees
// its redemption. The test watches the second wait in pg_stat_activity
// rather than guessing with a timer.
func TestReplicasSerializeLockAuthCode(t *testing.T) {
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	dsn := testdb.PostgresDSN(t)
	a, b := openReplica(t, dsn), openReplica(t, dsn)
	if err := a.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	now := time.Now().UTC().Truncate(time.Microsecond)
	hash := []byte("code-hash")
	if err := a.CreateAuthCode(ctx, &store.AuthCode{Hash: hash, ClientID: "app", Subject: "alice",
		CreatedAt: now, ExpiresAt: now.Add(time.Minute)}); err != nil {
		t.Fatal(err)
	}
	// A watcher on the same schema (the DSN's search_path), to see B wait.
	watch, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer watch.Close(context.Background())

	locked, release := make(chan struct{}), make(chan struct{})
	errA := make(chan error, 1)
	go func() {
		first := true
		errA <- a.Tx(ctx, func(tx store.Tx) error {
			c, err := tx.LockAuthCode(ctx, hash)
			if err != nil {
				return err
			}
			if first {
				first = false
				close(locked)
				<-release
			}
			c.UsedAt, c.FamilyID, c.AccessTokenID = now, "fam-a", "jti-a"
			return tx.UpdateAuthCode(ctx, c)
		})
	}()
	<-locked

	seenB, errB := make(chan *store.AuthCode, 1), make(chan error, 1)
	go func() {
		errB <- b.Tx(ctx, func(tx store.Tx) error {
			c, err := tx.LockAuthCode(ctx, hash)
			if err != nil {
				return err
			}
			seenB <- c
			return nil
		})
	}()
	for waiting := false; !waiting; {
		select {
		case c := <-seenB:
			close(release)
			t.Fatalf("replica B read the code (used=%v) while replica A held its lock", c.Used())
		default:
		}
		err := watch.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM pg_stat_activity a
			JOIN pg_locks l ON l.pid = a.pid AND l.relation = to_regclass('auth_codes')
			WHERE a.wait_event_type = 'Lock')`).Scan(&waiting)
		if err != nil {
			close(release)
			t.Fatalf("watching for B to wait: %v", err)
		}
	}
	close(release)
	if err := <-errA; err != nil {
		t.Fatalf("replica A: %v", err)
	}
	c := <-seenB
	if !c.Used() || c.FamilyID != "fam-a" || c.AccessTokenID != "jti-a" {
		t.Fatalf("replica B, after A committed, saw used=%v family %q jti %q; want A's redemption", c.Used(), c.FamilyID, c.AccessTokenID)
	}
	if err := <-errB; err != nil {
		t.Fatalf("replica B: %v", err)
	}
}
