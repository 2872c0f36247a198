package pgproc_test

import (
	"context"
	"errors"
	"syscall"
	"testing"
	"time"

	"github.com/rotor-auth/rotor/internal/store"
	"github.com/rotor-auth/rotor/internal/store/postgres"
	"github.com/rotor-auth/rotor/internal/store/testdb/pgproc"
)

func family(id string) *store.Family {
	now := time.Now().UTC().Truncate(time.Microsecond)
	return &store.Family{ID: id, ClientID: "app", Subject: "alice", Generation: 1, LiveHash: []byte(id),
		CreatedAt: now, LastUsedAt: now, ExpiresAt: now.Add(time.Hour), AbsoluteExpiresAt: now.Add(time.Hour)}
}

// within runs fn with a context that ends after d, and fails the test if
// fn takes much longer than that.
func within(t *testing.T, d time.Duration, fn func(ctx context.Context) error) error {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	start := time.Now()
	err := fn(ctx)
	if took := time.Since(start); took > d+2*time.Second {
		t.Errorf("the call took %v with a deadline of %v", took, d)
	}
	return err
}

// TestServerLifecycle: the private server answers; frozen, a call with a
// deadline gives up at the deadline with store.ErrUnavailable; thawed, it
// answers again; stopped, connections are refused, which is
// store.ErrUnavailable; started again on the same port and data, the same
// store (its pool) works again without being reopened.
func TestServerLifecycle(t *testing.T) {
	srv := pgproc.New(t)
	ctx := context.Background()
	db, err := postgres.Open(ctx, srv.DSN())
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if err := db.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	if err := db.CreateFamily(ctx, family("kept")); err != nil {
		t.Fatal(err)
	}

	srv.Freeze(t)
	err = within(t, 500*time.Millisecond, func(ctx context.Context) error {
		_, err := db.GetFamily(ctx, "kept")
		return err
	})
	if !errors.Is(err, store.ErrUnavailable) || !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("a read from the frozen server: %v; want store.ErrUnavailable and context.DeadlineExceeded", err)
	}
	err = within(t, 500*time.Millisecond, func(ctx context.Context) error {
		return db.Tx(ctx, func(tx store.Tx) error { return tx.CreateFamily(ctx, family("frozen")) })
	})
	if !errors.Is(err, store.ErrUnavailable) {
		t.Errorf("a transaction on the frozen server: %v; want store.ErrUnavailable", err)
	}

	srv.Thaw(t)
	err = within(t, 5*time.Second, func(ctx context.Context) error {
		_, err := db.GetFamily(ctx, "kept")
		return err
	})
	if err != nil {
		t.Fatalf("a read after the thaw: %v", err)
	}

	port := srv.Port()
	srv.Stop(t)
	for i := range 2 { // on the pooled connection the server ended, then on a new one
		err = within(t, 5*time.Second, func(ctx context.Context) error {
			_, err := db.GetFamily(ctx, "kept")
			return err
		})
		if !errors.Is(err, store.ErrUnavailable) {
			t.Errorf("read %d from the stopped server: %v; want store.ErrUnavailable", i, err)
		}
	}
	_, err = postgres.Open(ctx, srv.DSN())
	if !errors.Is(err, store.ErrUnavailable) || !errors.Is(err, syscall.ECONNREFUSED) {
		t.Errorf("connecting to the stopped server: %v; want store.ErrUnavailable and ECONNREFUSED", err)
	}

	srv.Start(t)
	if srv.Port() != port {
		t.Errorf("restarted on port %d, want %d", srv.Port(), port)
	}
	err = within(t, 10*time.Second, func(ctx context.Context) error {
		return db.Tx(ctx, func(tx store.Tx) error {
			f, err := tx.LockFamily(ctx, "kept")
			if err != nil {
				return err
			}
			f.Generation++
			return tx.UpdateFamily(ctx, f)
		})
	})
	if err != nil {
		t.Fatalf("a transaction after the restart, on the same store: %v", err)
	}
	if f, err := db.GetFamily(ctx, "kept"); err != nil || f.Generation != 2 {
		t.Fatalf("after the restart: %+v, %v; want the family kept, at generation 2", f, err)
	}
}

// TestCleanupKillsTheServer: when its test ends, the server and every
// process of its cluster are gone, even if the test left it frozen.
func TestCleanupKillsTheServer(t *testing.T) {
	var pid int
	t.Run("frozen at the end", func(t *testing.T) {
		srv := pgproc.New(t)
		pid = srv.PID()
		srv.Freeze(t)
	})
	if pid == 0 {
		t.Skip("no server was started")
	}
	// Signal 0 checks that a process exists; the postmaster was our
	// child and has been reaped, so ESRCH.
	if err := syscall.Kill(pid, 0); !errors.Is(err, syscall.ESRCH) {
		t.Fatalf("postmaster %d after its test: kill(0) = %v, want ESRCH", pid, err)
	}
}
