package sqlite

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	sqlite3 "modernc.org/sqlite/lib"

	"github.com/rotor-auth/rotor/internal/store"
)

func openTest(t *testing.T) (*DB, string) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "rotor.db")
	db, err := Open(context.Background(), path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	if err := db.Migrate(context.Background()); err != nil {
		t.Fatal(err)
	}
	return db, path
}

func fam(id string) *store.Family {
	now := time.Now()
	return &store.Family{ID: id, ClientID: "c", Subject: "u", Generation: 1, LiveHash: []byte(id),
		CreatedAt: now, LastUsedAt: now, ExpiresAt: now.Add(time.Hour), AbsoluteExpiresAt: now.Add(time.Hour)}
}

// holdCommitter makes the committer run a transaction that waits until
// release is called, so that the transactions started meanwhile queue up
// and form the next batch together. queued waits until every goroutine
// of the test's testing/synctest bubble is blocked, and checks that n
// transactions wait; db and the test must run in that bubble.
func holdCommitter(t *testing.T, db *DB) (queued func(n int), release func()) {
	t.Helper()
	started, hold, done := make(chan struct{}), make(chan struct{}), make(chan error, 1)
	go func() {
		done <- db.Tx(context.Background(), func(store.Tx) error {
			close(started)
			<-hold
			return nil
		})
	}()
	<-started
	queued = func(n int) {
		t.Helper()
		synctest.Wait()
		if got := len(db.group.queue); got < n {
			t.Fatalf("%d transactions queued, want %d", got, n)
		}
	}
	release = func() {
		t.Helper()
		close(hold)
		if err := <-done; err != nil {
			t.Fatal(err)
		}
	}
	return queued, release
}

// TestGroupCommitSharesOneCommit: transactions waiting together are
// committed together, and every one of them is durable when Tx returns.
func TestGroupCommitSharesOneCommit(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		db, path := openTest(t)
		ctx := context.Background()
		before := db.group.batches.Load()
		queued, release := holdCommitter(t, db)
		const n = 40
		var wg sync.WaitGroup
		errs := make([]error, n)
		for i := range n {
			wg.Go(func() { errs[i] = db.CreateFamily(ctx, fam(fmt.Sprint("f", i))) })
		}
		queued(n)
		release()
		wg.Wait()
		for i, err := range errs {
			if err != nil {
				t.Fatalf("transaction %d: %v", i, err)
			}
		}
		if got := db.group.batches.Load() - before; got != 2 {
			t.Fatalf("%d commits for the held transaction and %d waiting ones; want 2", got, n)
		}
		// Durable: a fresh connection after Close sees every row.
		if err := db.Close(); err != nil {
			t.Fatal(err)
		}
		again, err := Open(ctx, path)
		if err != nil {
			t.Fatal(err)
		}
		defer again.Close()
		if c, err := again.CountFamilies(ctx); err != nil || c != n {
			t.Fatalf("%d families after reopening (%v), want %d", c, err, n)
		}
	})
}

// TestGroupCommitKeepsEachTransactionAtomic: in one shared commit, a
// transaction that fails or panics leaves nothing behind, the panic comes
// back to its caller, and the others commit.
func TestGroupCommitKeepsEachTransactionAtomic(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		db, _ := openTest(t)
		ctx := context.Background()
		boom := errors.New("boom")
		queued, release := holdCommitter(t, db)
		const n = 30
		var wg sync.WaitGroup
		errs := make([]error, n)
		panics := make([]any, n)
		for i := range n {
			wg.Go(func() {
				defer func() { panics[i] = recover() }()
				errs[i] = db.Tx(ctx, func(tx store.Tx) error {
					if err := tx.CreateFamily(ctx, fam(fmt.Sprint("f", i))); err != nil {
						return err
					}
					if err := tx.AppendEvents(ctx, &store.Event{Time: time.Now(), Type: "t", FamilyID: fmt.Sprint("f", i)}); err != nil {
						return err
					}
					switch i % 3 {
					case 1:
						return fmt.Errorf("tx %d: %w", i, boom)
					case 2:
						panic(fmt.Sprint("panic ", i))
					}
					return nil
				})
			})
		}
		queued(n)
		before := db.group.batches.Load()
		release()
		wg.Wait()
		if got := db.group.batches.Load() - before; got != 2 {
			t.Fatalf("%d commits, want 2 (the held one and the %d waiting)", got, n)
		}
		for i := range n {
			_, getErr := db.GetFamily(ctx, fmt.Sprint("f", i))
			evs, err := db.ListEvents(ctx, store.EventFilter{FamilyID: fmt.Sprint("f", i)})
			if err != nil {
				t.Fatal(err)
			}
			switch i % 3 {
			case 0:
				if errs[i] != nil || panics[i] != nil || getErr != nil || len(evs) != 1 {
					t.Errorf("tx %d: err %v panic %v row %v events %d; want committed", i, errs[i], panics[i], getErr, len(evs))
				}
			case 1:
				if !errors.Is(errs[i], boom) || !errors.Is(getErr, store.ErrNotFound) || len(evs) != 0 {
					t.Errorf("tx %d: err %v row %v events %d; want its error and nothing written", i, errs[i], getErr, len(evs))
				}
			case 2:
				if panics[i] != fmt.Sprint("panic ", i) || !errors.Is(getErr, store.ErrNotFound) || len(evs) != 0 {
					t.Errorf("tx %d: panic %v row %v events %d; want its panic back and nothing written", i, panics[i], getErr, len(evs))
				}
			}
		}
	})
}

// TestGroupCommitFailureFailsTheWholeBatch: when the shared transaction
// itself breaks, no caller of the batch is told its writes committed, and
// none of them are.
func TestGroupCommitFailureFailsTheWholeBatch(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		db, _ := openTest(t)
		ctx := context.Background()
		queued, release := holdCommitter(t, db)
		errs := make([]error, 3)
		var wg sync.WaitGroup
		for i := range 3 {
			wg.Go(func() {
				errs[i] = db.Tx(ctx, func(tx store.Tx) error {
					if i == 1 {
						// Ends the shared transaction behind the committer's back.
						_, err := tx.(*queries).w.ExecContext(ctx, `ROLLBACK`)
						return err
					}
					return tx.CreateFamily(ctx, fam(fmt.Sprint("f", i)))
				})
			})
			queued(i + 1) // in this order
		}
		release()
		wg.Wait()
		for i, err := range errs {
			if err == nil {
				t.Errorf("transaction %d reported success in a batch that did not commit", i)
			}
		}
		if c, err := db.CountFamilies(ctx); err != nil || c != 0 {
			t.Fatalf("%d families (%v); want none committed", c, err)
		}
		// The committer goes on.
		if err := db.CreateFamily(ctx, fam("after")); err != nil {
			t.Fatal(err)
		}
	})
}

// TestGroupCommitSkipsCancelledCallers: a caller whose context is done
// before its turn gets the context's error and its function never runs.
func TestGroupCommitSkipsCancelledCallers(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		db, _ := openTest(t)
		queued, release := holdCommitter(t, db)
		ctx, cancel := context.WithCancel(context.Background())
		ran := false
		done := make(chan error, 1)
		go func() { done <- db.Tx(ctx, func(store.Tx) error { ran = true; return nil }) }()
		queued(1)
		cancel()
		release()
		if err := <-done; !errors.Is(err, context.Canceled) || ran {
			t.Fatalf("err %v, ran %v; want context.Canceled and not run", err, ran)
		}
	})
}

// TestGroupCommitSurvivesGoexit: a transaction function that ends its
// goroutine (as t.FailNow does) fails its batch, not the store.
func TestGroupCommitSurvivesGoexit(t *testing.T) {
	db, _ := openTest(t)
	ctx := context.Background()
	err := db.Tx(ctx, func(tx store.Tx) error {
		if err := tx.CreateFamily(ctx, fam("lost")); err != nil {
			return err
		}
		runtime.Goexit()
		return nil
	})
	if !errors.Is(err, errAborted) {
		t.Fatalf("err %v, want errAborted", err)
	}
	if _, err := db.GetFamily(ctx, "lost"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("a row of the aborted transaction: %v", err)
	}
	if err := db.CreateFamily(ctx, fam("after")); err != nil {
		t.Fatalf("the store stopped committing: %v", err)
	}
}

func TestTxAfterClose(t *testing.T) {
	db, _ := openTest(t)
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	if err := db.Tx(context.Background(), func(store.Tx) error { return nil }); !errors.Is(err, errClosed) {
		t.Fatalf("Tx after Close: %v, want errClosed", err)
	}
}

// TestLoneTransactionRollsBack: a transaction alone in its batch (no
// savepoint) that fails or panics leaves nothing behind either.
func TestLoneTransactionRollsBack(t *testing.T) {
	db, _ := openTest(t)
	ctx := context.Background()
	boom := errors.New("boom")
	err := db.Tx(ctx, func(tx store.Tx) error {
		if err := tx.CreateFamily(ctx, fam("failed")); err != nil {
			return err
		}
		return boom
	})
	if !errors.Is(err, boom) {
		t.Fatalf("err %v, want boom", err)
	}
	func() {
		defer func() {
			if v := recover(); v != "lone panic" {
				t.Errorf("recovered %v, want the transaction's panic", v)
			}
		}()
		_ = db.Tx(ctx, func(tx store.Tx) error {
			if err := tx.CreateFamily(ctx, fam("panicked")); err != nil {
				return err
			}
			panic("lone panic")
		})
	}()
	for _, id := range []string{"failed", "panicked"} {
		if _, err := db.GetFamily(ctx, id); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("family %s of a rolled-back transaction: %v", id, err)
		}
	}
}

// TestGroupCommitCallerGivesUpWhileQueued: a caller whose deadline passes
// while the committer is busy returns at once with the context's error,
// rather than when the committer gets to it, and its function never runs.
func TestGroupCommitCallerGivesUpWhileQueued(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		db, _ := openTest(t)
		queued, release := holdCommitter(t, db)
		ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
		defer cancel()
		var ran atomic.Bool
		done := make(chan error, 1)
		go func() { done <- db.Tx(ctx, func(store.Tx) error { ran.Store(true); return nil }) }()
		queued(1)
		select {
		case err := <-done:
			if !errors.Is(err, context.DeadlineExceeded) {
				t.Fatalf("err %v, want context.DeadlineExceeded", err)
			}
		case <-time.After(5 * time.Second):
			t.Fatal("a caller past its deadline is still waiting for the committer")
		}
		release()
		// The committer skips it: a later transaction runs, the abandoned one never.
		if err := db.Tx(context.Background(), func(store.Tx) error { return nil }); err != nil {
			t.Fatal(err)
		}
		if ran.Load() {
			t.Fatal("an abandoned transaction ran")
		}
	})
}

// TestWriteOutsideCommitterFails: the queries a DB runs outside a
// transaction cannot write. A write method without its override in
// writes.go would reach the writer connection behind the committer's back
// (it happened once, with DenyOnce); instead it fails, naming itself, and
// writes nothing.
func TestWriteOutsideCommitterFails(t *testing.T) {
	db, _ := openTest(t)
	ctx := context.Background()
	now := time.Now()
	d := store.Denial{Key: "jti:x", ExpiresAt: now.Add(time.Hour)}
	_, err := db.queries.DenyOnce(ctx, d, now) // the embedded method, not DB.DenyOnce
	var bypass *bypassError
	if !errors.As(err, &bypass) || bypass.method != "DenyOnce" || !strings.Contains(err.Error(), "write outside the committer") {
		t.Fatalf("DenyOnce outside the committer: %v; want a bypassError naming DenyOnce", err)
	}
	if denied, err := db.Denied(ctx, []string{d.Key}, now); err != nil || denied {
		t.Fatalf("Denied = %v, %v: the refused write must have written nothing", denied, err)
	}
	// Through its override the same write goes through the committer.
	if added, err := db.DenyOnce(ctx, d, now); err != nil || !added {
		t.Fatalf("DB.DenyOnce = %v, %v", added, err)
	}
}

// fillDisk makes the database full for the rest of the connection's life
// (a page limit a few pages above its size) and then writes more than
// fits: SQLITE_FULL, which SQLite answers by rolling back the whole
// transaction, not only the statement. restore lifts the limit.
func fillDisk(ctx context.Context, tx store.Tx) error {
	w := tx.(*queries).w
	var pages int
	if err := w.QueryRowContext(ctx, `PRAGMA page_count`).Scan(&pages); err != nil {
		return err
	}
	if _, err := w.ExecContext(ctx, fmt.Sprintf(`PRAGMA max_page_count = %d`, pages+50)); err != nil {
		return err
	}
	_, err := w.ExecContext(ctx, `INSERT INTO filler (b) VALUES (zeroblob(4194304))`)
	return err
}

func restoreDisk(t *testing.T, db *DB) {
	t.Helper()
	err := db.Tx(context.Background(), func(tx store.Tx) error {
		_, err := tx.(*queries).w.ExecContext(context.Background(), `PRAGMA max_page_count = 4294967294`)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
}

// TestGroupCommitDiskFullFailsOnlyItsFunction: when one function of a
// batch hits SQLITE_FULL (or IOERR, NOMEM), SQLite has rolled back the
// whole shared transaction, the writes of the functions before it
// included. That function's caller gets its error; the others are run
// again without it and committed, rather than all failing with "no such
// savepoint".
func TestGroupCommitDiskFullFailsOnlyItsFunction(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		db, _ := openTest(t)
		ctx := context.Background()
		err := db.Tx(ctx, func(tx store.Tx) error {
			_, err := tx.(*queries).w.ExecContext(ctx, `CREATE TABLE filler (b BLOB)`)
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
		const n, failing = 12, 5
		queued, release := holdCommitter(t, db)
		errs := make([]error, n)
		var wg sync.WaitGroup
		for i := range n {
			wg.Go(func() {
				errs[i] = db.Tx(ctx, func(tx store.Tx) error {
					if i == failing {
						return fillDisk(ctx, tx)
					}
					if err := tx.CreateFamily(ctx, fam(fmt.Sprint("f", i))); err != nil {
						return err
					}
					return tx.AppendEvents(ctx, &store.Event{Time: time.Now(), Type: "t", FamilyID: fmt.Sprint("f", i)})
				})
			})
			queued(i + 1) // in this order: some before the failing one, some after
		}
		release()
		wg.Wait()
		restoreDisk(t, db)
		if code(errs[failing]) != sqlite3.SQLITE_FULL {
			t.Errorf("the function that filled the disk: %v; want SQLITE_FULL", errs[failing])
		}
		for i := range n {
			if i == failing {
				continue
			}
			if errs[i] != nil {
				t.Errorf("transaction %d, innocent: %v", i, errs[i])
				continue
			}
			if _, err := db.GetFamily(ctx, fmt.Sprint("f", i)); err != nil {
				t.Errorf("transaction %d was told it committed, but: %v", i, err)
			}
			if evs, err := db.ListEvents(ctx, store.EventFilter{FamilyID: fmt.Sprint("f", i)}); err != nil || len(evs) != 1 {
				t.Errorf("transaction %d: %d events (%v), want its one", i, len(evs), err)
			}
		}
		if c, err := db.CountFamilies(ctx); err != nil || c != n-1 {
			t.Errorf("%d families (%v), want %d", c, err, n-1)
		}
	})
}

// TestGroupCommitNoWriteAfterSQLiteRolledBack: a function that goes on
// after SQLite rolled the transaction back (it ignored the error) cannot
// write: its statements would run in autocommit mode, each committed at
// once, outside the batch and whatever the function returns.
func TestGroupCommitNoWriteAfterSQLiteRolledBack(t *testing.T) {
	db, _ := openTest(t)
	ctx := context.Background()
	err := db.Tx(ctx, func(tx store.Tx) error {
		_, err := tx.(*queries).w.ExecContext(ctx, `CREATE TABLE filler (b BLOB)`)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	boom := errors.New("boom")
	var afterErr error
	err = db.Tx(ctx, func(tx store.Tx) error {
		_ = fillDisk(ctx, tx) // ignored
		afterErr = tx.CreateFamily(ctx, fam("autocommitted"))
		return boom
	})
	restoreDisk(t, db)
	if !errors.Is(err, boom) {
		t.Errorf("Tx: %v, want the function's error", err)
	}
	if afterErr == nil {
		t.Error("a write after SQLite rolled back the transaction was accepted")
	}
	if _, err := db.GetFamily(ctx, "autocommitted"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("the family written after the rollback: %v; want it never written", err)
	}
}

// TestGroupCommitDeadlineIsUnavailable: a caller whose deadline passes
// while it waits for the committer gets store.ErrUnavailable (the edge
// answers 503), with context.DeadlineExceeded still in the chain; a
// caller that cancels is not told the database is unavailable.
func TestGroupCommitDeadlineIsUnavailable(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		db, _ := openTest(t)
		queued, release := holdCommitter(t, db)
		defer release()
		ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
		defer cancel()
		done := make(chan error, 1)
		go func() { done <- db.Tx(ctx, func(store.Tx) error { return nil }) }()
		queued(1)
		if err := <-done; !errors.Is(err, store.ErrUnavailable) || !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("deadline while queued: %v; want store.ErrUnavailable and context.DeadlineExceeded", err)
		}
		ctx, cancel = context.WithCancel(context.Background())
		go func() { done <- db.Tx(ctx, func(store.Tx) error { return nil }) }()
		queued(2) // behind the abandoned one
		cancel()
		if err := <-done; !errors.Is(err, context.Canceled) || errors.Is(err, store.ErrUnavailable) {
			t.Errorf("cancelled while queued: %v; want context.Canceled, not store.ErrUnavailable", err)
		}
	})
}
