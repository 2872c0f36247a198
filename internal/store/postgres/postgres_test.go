package postgres_test

import (
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/rotor-auth/rotor/internal/store"
	"github.com/rotor-auth/rotor/internal/store/postgres"
	"github.com/rotor-auth/rotor/internal/store/storetest"
	"github.com/rotor-auth/rotor/internal/store/testdb"
)

// The shared conformance suite, concurrency included, each test on a
// fresh schema.
func TestConformance(t *testing.T) {
	storetest.Run(t, func(t *testing.T) store.Store { return testdb.Postgres(t) })
}

// openReplica opens one more handle on the schema of dsn, as another
// replica of the server would.
func openReplica(t *testing.T, dsn string) *postgres.DB {
	t.Helper()
	db, err := postgres.Open(t.Context(), dsn)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() { _ = db.Close() })
	return db
}

// replicas opens n handles on one fresh schema and migrates them all at
// once, as replicas starting together do.
func replicas(t *testing.T, n int) []*postgres.DB {
	t.Helper()
	dsn := testdb.PostgresDSN(t)
	dbs := make([]*postgres.DB, n)
	for i := range dbs {
		dbs[i] = openReplica(t, dsn)
	}
	errs := make(chan error, n)
	for _, db := range dbs {
		go func() { errs <- db.Migrate(t.Context()) }()
	}
	for range dbs {
		if err := <-errs; err != nil {
			t.Fatalf("concurrent Migrate: %v", err)
		}
	}
	return dbs
}

func newFamily(id string) *store.Family {
	now := time.Now().UTC().Truncate(time.Microsecond)
	return &store.Family{
		ID: id, ClientID: "app", Subject: "alice", Scopes: []string{"openid"},
		Generation: 1, LiveHash: []byte("live"), CreatedAt: now, LastUsedAt: now,
		ExpiresAt: now.Add(time.Hour), AbsoluteExpiresAt: now.Add(24 * time.Hour),
	}
}

func TestMigrateConcurrentAndIdempotent(t *testing.T) {
	dbs := replicas(t, 4)
	for _, db := range dbs {
		if err := db.Migrate(t.Context()); err != nil {
			t.Fatalf("second Migrate: %v", err)
		}
	}
	n, err := dbs[0].CountFamilies(t.Context())
	if err != nil || n != 0 {
		t.Fatalf("CountFamilies on a fresh schema = %d, %v; want 0, nil", n, err)
	}
}

// Two replicas on one database: while one holds a family's row lock, the
// other's LockFamily waits, then sees the first one's write.
func TestReplicasSerializeLockFamily(t *testing.T) {
	dbs := replicas(t, 2)
	a, b := dbs[0], dbs[1]
	ctx := t.Context()
	if err := a.CreateFamily(ctx, newFamily("f1")); err != nil {
		t.Fatal(err)
	}

	locked, release := make(chan struct{}), make(chan struct{})
	var once sync.Once
	errA := make(chan error, 1)
	go func() {
		errA <- a.Tx(ctx, func(tx store.Tx) error {
			f, err := tx.LockFamily(ctx, "f1")
			if err != nil {
				return err
			}
			once.Do(func() { close(locked) })
			<-release
			f.Generation++
			return tx.UpdateFamily(ctx, f)
		})
	}()
	<-locked

	genB, errB := make(chan uint64, 1), make(chan error, 1)
	go func() {
		errB <- b.Tx(ctx, func(tx store.Tx) error {
			f, err := tx.LockFamily(ctx, "f1")
			if err != nil {
				return err
			}
			genB <- f.Generation
			return nil
		})
	}()
	select {
	case g := <-genB:
		t.Fatalf("replica B locked the family (generation %d) while replica A held it", g)
	case <-time.After(300 * time.Millisecond):
	}
	close(release)
	if err := <-errA; err != nil {
		t.Fatalf("replica A: %v", err)
	}
	if g := <-genB; g != 2 {
		t.Errorf("replica B saw generation %d after A committed; want 2", g)
	}
	if err := <-errB; err != nil {
		t.Fatalf("replica B: %v", err)
	}
}

// Many refreshes of one family from two replicas: each is a locked
// read-modify-write plus audit events, and none may be lost.
func TestReplicasRefreshWithoutLostUpdates(t *testing.T) {
	dbs := replicas(t, 2)
	ctx := t.Context()
	if err := dbs[0].CreateFamily(ctx, newFamily("f1")); err != nil {
		t.Fatal(err)
	}
	const workers, each = 8, 10
	var wg sync.WaitGroup
	errs := make(chan error, workers*each)
	for w := range workers {
		db := dbs[w%len(dbs)]
		wg.Go(func() {
			for range each {
				errs <- db.Tx(ctx, func(tx store.Tx) error {
					f, err := tx.LockFamily(ctx, "f1")
					if err != nil {
						return err
					}
					f.Generation++
					f.LastUsedAt = time.Now()
					if err := tx.UpdateFamily(ctx, f); err != nil {
						return err
					}
					return tx.AppendEvents(ctx,
						&store.Event{Type: "token_rotated", FamilyID: f.ID, Generation: f.Generation},
						&store.Event{Type: "access_token_issued", FamilyID: f.ID, Generation: f.Generation})
				})
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatalf("refresh: %v", err)
		}
	}
	f, err := dbs[1].GetFamily(ctx, "f1")
	if err != nil {
		t.Fatal(err)
	}
	if want := uint64(1 + workers*each); f.Generation != want {
		t.Errorf("generation = %d after %d refreshes; want %d", f.Generation, workers*each, want)
	}
	events, err := dbs[0].ListEvents(ctx, store.EventFilter{FamilyID: "f1", Type: "token_rotated"})
	if err != nil {
		t.Fatal(err)
	}
	seen := map[uint64]bool{}
	for _, e := range events {
		if seen[e.Generation] {
			t.Errorf("generation %d rotated twice", e.Generation)
		}
		seen[e.Generation] = true
	}
	if len(events) != workers*each {
		t.Errorf("%d token_rotated events; want %d", len(events), workers*each)
	}
}

// Two transactions that lock two families in opposite orders deadlock;
// the server aborts one, and Tx runs it again, so both succeed.
func TestTxRetriesDeadlock(t *testing.T) {
	db := replicas(t, 1)[0]
	ctx := t.Context()
	for _, id := range []string{"f1", "f2"} {
		if err := db.CreateFamily(ctx, newFamily(id)); err != nil {
			t.Fatal(err)
		}
	}
	var attempts atomic.Int32
	// Both transactions hold their first lock before either asks for its
	// second; retries find the barrier open and go straight through.
	var ready sync.WaitGroup
	ready.Add(2)
	var onceA, onceB sync.Once
	lockBoth := func(first, second string, once *sync.Once) error {
		return db.Tx(ctx, func(tx store.Tx) error {
			attempts.Add(1)
			if _, err := tx.LockFamily(ctx, first); err != nil {
				return err
			}
			once.Do(ready.Done)
			ready.Wait()
			f, err := tx.LockFamily(ctx, second)
			if err != nil {
				return err
			}
			f.LastIP = "locked by " + first
			return tx.UpdateFamily(ctx, f)
		})
	}
	errs := make(chan error, 2)
	go func() { errs <- lockBoth("f1", "f2", &onceA) }()
	go func() { errs <- lockBoth("f2", "f1", &onceB) }()
	for range 2 {
		if err := <-errs; err != nil {
			t.Fatalf("Tx surfaced contention: %v", err)
		}
	}
	if n := attempts.Load(); n < 3 {
		t.Errorf("%d attempts; want at least 3 (one transaction retried after the deadlock)", n)
	}
}

func TestTxRetriesSerializationFailure(t *testing.T) {
	db := replicas(t, 1)[0]
	ctx := t.Context()
	calls := 0
	err := db.Tx(ctx, func(tx store.Tx) error {
		calls++
		if err := tx.CreateClient(ctx, &store.Client{ID: "app"}); err != nil {
			return err
		}
		if calls == 1 {
			return fmt.Errorf("family: %w", &pgconn.PgError{Code: "40001"})
		}
		return nil
	})
	if err != nil || calls != 2 {
		t.Fatalf("Tx = %v after %d calls; want nil after 2", err, calls)
	}
	if _, err := db.GetClient(ctx, "app"); err != nil {
		t.Errorf("GetClient after the retried Tx: %v", err)
	}

	// Contention that never clears ends, with the driver's error.
	calls = 0
	err = db.Tx(ctx, func(tx store.Tx) error {
		calls++
		return &pgconn.PgError{Code: "40P01"}
	})
	var pgErr *pgconn.PgError
	if !errors.As(err, &pgErr) || calls < 2 || calls > 20 {
		t.Errorf("Tx = %v after %d calls; want the deadlock error after a few retries", err, calls)
	}
}

func TestTxRollsBackOnError(t *testing.T) {
	db := replicas(t, 1)[0]
	ctx := t.Context()
	boom := errors.New("boom")
	calls := 0
	err := db.Tx(ctx, func(tx store.Tx) error {
		calls++
		if err := tx.CreateClient(ctx, &store.Client{ID: "app"}); err != nil {
			return err
		}
		return boom
	})
	if !errors.Is(err, boom) || calls != 1 {
		t.Fatalf("Tx = %v after %d calls; want boom after 1", err, calls)
	}
	if _, err := db.GetClient(ctx, "app"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("GetClient after rollback = %v; want ErrNotFound", err)
	}
}

// A conflict inside a transaction must not abort it: callers may handle
// ErrConflict and go on.
func TestConflictKeepsTxUsable(t *testing.T) {
	db := replicas(t, 1)[0]
	ctx := t.Context()
	if err := db.CreateUser(ctx, &store.User{ID: "u1", Username: "alice"}); err != nil {
		t.Fatal(err)
	}
	err := db.Tx(ctx, func(tx store.Tx) error {
		if err := tx.CreateUser(ctx, &store.User{ID: "u2", Username: "alice"}); !errors.Is(err, store.ErrConflict) {
			return fmt.Errorf("CreateUser with a taken username = %v; want ErrConflict", err)
		}
		return tx.CreateUser(ctx, &store.User{ID: "u2", Username: "bob"})
	})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.GetUserByUsername(ctx, "bob"); err != nil {
		t.Errorf("GetUserByUsername(bob): %v", err)
	}
}

// pgx passes search_path through to the server: the handle works in its
// own schema, not in public.
func TestSearchPathIsolatesSchema(t *testing.T) {
	dsn := testdb.PostgresDSN(t)
	conn, err := pgx.Connect(t.Context(), dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(t.Context())
	var schema string
	if err := conn.QueryRow(t.Context(), "SELECT current_schema()").Scan(&schema); err != nil {
		t.Fatal(err)
	}
	if len(schema) < len("rotor_test_") || schema[:len("rotor_test_")] != "rotor_test_" {
		t.Errorf("current_schema() = %q; want the test's own rotor_test_ schema", schema)
	}
}
