package postgres_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"net"
	"net/url"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/rotor-auth/rotor/internal/store"
	"github.com/rotor-auth/rotor/internal/store/postgres"
	"github.com/rotor-auth/rotor/internal/store/testdb"
)

// withParams adds query parameters to a postgres:// DSN.
func withParams(t *testing.T, dsn string, kv ...string) string {
	t.Helper()
	u, err := url.Parse(dsn)
	if err != nil {
		t.Fatal(err)
	}
	q := u.Query()
	for i := 0; i+1 < len(kv); i += 2 {
		q.Set(kv[i], kv[i+1])
	}
	u.RawQuery = q.Encode()
	return u.String()
}

// TestTxSurvivesTerminatedBackend: after an administrator (or a server
// restart) ends the backend of a pooled connection, the next transaction
// on that connection fails before its commit is sent; Tx runs it again,
// once, on a live connection, and the caller never sees the stale one.
func TestTxSurvivesTerminatedBackend(t *testing.T) {
	var b [6]byte
	_, _ = rand.Read(b[:])
	app := "rotor_test_" + hex.EncodeToString(b[:])
	// One pooled connection, named so that a second connection finds its
	// backend.
	dsn := withParams(t, testdb.PostgresDSN(t), "pool_max_conns", "1", "application_name", app)
	ctx := t.Context()
	db := openReplica(t, dsn)
	if err := db.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	if err := db.CreateFamily(ctx, newFamily("before")); err != nil {
		t.Fatal(err)
	}

	admin, err := pgx.Connect(ctx, testdb.PostgresDSN(t))
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close(context.Background())
	// First the pid, then the one call: in one statement the server may
	// evaluate pg_terminate_backend on rows the filter would drop.
	var pids []int32
	rows, err := admin.Query(ctx, `SELECT pid FROM pg_stat_activity WHERE application_name = $1`, app)
	if err == nil {
		pids, err = pgx.CollectRows(rows, pgx.RowTo[int32])
	}
	if err != nil || len(pids) != 1 {
		t.Fatalf("backends of the pool: %v (%v), want one", pids, err)
	}
	// The timeout makes pg_terminate_backend wait until the backend is gone.
	var ok bool
	if err := admin.QueryRow(ctx, `SELECT pg_terminate_backend($1, 5000)`, pids[0]).Scan(&ok); err != nil || !ok {
		t.Fatalf("pg_terminate_backend(%d) = %v, %v", pids[0], ok, err)
	}

	err = db.Tx(ctx, func(tx store.Tx) error {
		f, err := tx.LockFamily(ctx, "before")
		if err != nil {
			return err
		}
		f.Generation++
		return tx.UpdateFamily(ctx, f)
	})
	if err != nil {
		t.Fatalf("Tx on a pool whose connection was terminated: %v", err)
	}
	if f, err := db.GetFamily(ctx, "before"); err != nil || f.Generation != 2 {
		t.Fatalf("after the Tx: %+v, %v; want generation 2", f, err)
	}
}

// TestUnreachableIsErrUnavailable: a server that refuses connections is
// [store.ErrUnavailable], the driver's error kept in the chain.
func TestUnreachableIsErrUnavailable(t *testing.T) {
	// A port that was free a moment ago: nothing listens there.
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	_, err = postgres.Open(t.Context(), "postgres://postgres@"+addr+"/test?sslmode=disable&connect_timeout=5")
	if !errors.Is(err, store.ErrUnavailable) {
		t.Fatalf("Open on a closed port: %v; want store.ErrUnavailable", err)
	}
	var op *net.OpError
	if !errors.As(err, &op) {
		t.Errorf("the driver's error is not in the chain: %v", err)
	}
}
