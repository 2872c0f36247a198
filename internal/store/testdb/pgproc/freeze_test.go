//go:build linux

package pgproc

import (
	"context"
	"testing"

	"github.com/jackc/pgx/v5/pgconn"
)

// TestFreezeStopsEveryProcess: Freeze stops the postmaster and every
// other process of the cluster (PostgreSQL makes each child the leader of
// its own process group, so signalling the postmaster's group would not
// reach them), Thaw resumes them all, and the cleanup leaves none.
func TestFreezeStopsEveryProcess(t *testing.T) {
	var pids []int
	t.Run("server", func(t *testing.T) {
		srv := New(t)
		ctx := context.Background()
		c, err := pgconn.Connect(ctx, srv.DSN()) // a backend of its own
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close(ctx)
		srv.Freeze(t)
		pids = append(srv.processes(), srv.pid)
		// The postmaster, its backend, and the auxiliary processes
		// (checkpointer, background writer, WAL writer, ...).
		if len(pids) < 4 {
			t.Fatalf("cluster processes %v: want the postmaster, a backend and the auxiliary processes", pids)
		}
		for _, pid := range pids {
			// Z: a backend that exited just before, not reaped by the
			// stopped postmaster.
			if st := state(pid); st != 'T' && st != 'Z' {
				t.Errorf("process %d is in state %q while frozen, want T (stopped)", pid, st)
			}
		}
		srv.Thaw(t)
		for _, pid := range pids {
			if st := state(pid); st == 'T' {
				t.Errorf("process %d is still stopped after Thaw", pid)
			}
		}
		if err := c.Exec(ctx, "SELECT 1").Close(); err != nil {
			t.Errorf("the backend after Thaw: %v", err)
		}
	})
	for _, pid := range pids {
		if st := state(pid); st != 0 {
			t.Errorf("process %d of the cluster outlived its test, in state %q", pid, st)
		}
	}
}
