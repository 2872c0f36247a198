package postgres

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/rotor-auth/rotor/internal/store"
)

var _ store.Store = (*DB)(nil)

// DB is a [store.Store] over a PostgreSQL connection pool. It is safe for
// concurrent use; the methods it has outside [DB.Tx] each run as one
// statement on a pooled connection.
type DB struct {
	queries
	pool *pgxpool.Pool
}

// Open connects to the database named by dsn (a postgres:// URL or a
// keyword/value string; pool_* parameters tune the pool, and other unknown
// parameters such as search_path become session settings) and checks that
// it answers. It does not migrate: call [DB.Migrate].
func Open(ctx context.Context, dsn string) (*DB, error) {
	cfg, err := pgxpool.ParseConfig(dsn)
	if err != nil {
		return nil, fmt.Errorf("postgres: parse dsn: %w", err)
	}
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("postgres: open: %w", err)
	}
	// The pool connects lazily; ping now so that a wrong address or
	// credential fails at start rather than on the first request.
	if err := pool.Ping(ctx); err != nil {
		pool.Close()
		return nil, fmt.Errorf("postgres: connect: %w", mapErr(err))
	}
	return &DB{queries: queries{q: pool}, pool: pool}, nil
}

// Ping checks that the database answers.
func (db *DB) Ping(ctx context.Context) error {
	if err := db.pool.Ping(ctx); err != nil {
		return fmt.Errorf("postgres: ping: %w", mapErr(err))
	}
	return nil
}

// Close closes every pooled connection, waiting for those in use.
func (db *DB) Close() error {
	db.pool.Close()
	return nil
}

// Retry policy of [DB.Tx]. Under READ COMMITTED with row locks, conflicts
// are rare (deadlocks between multi-row statements, serialization failures
// on a distributed engine) and clear at once, so a few quick tries suffice;
// the bound keeps a pathological case from spinning forever.
const (
	txAttempts    = 10
	txBackoffBase = 2 * time.Millisecond
	txBackoffMax  = 100 * time.Millisecond
)

// Tx runs fn in one READ COMMITTED transaction and commits if fn returns
// nil. On a serialization failure or a deadlock, from fn or from the
// commit, the whole transaction is rolled back and fn runs again after a
// short jittered pause, up to a bound. When the connection fails before
// the COMMIT is sent (a stale pooled connection whose backend was
// terminated or whose server restarted), nothing of it can have
// committed, so fn runs again at once, once, on a connection that has
// just answered a ping. So fn must have no effect outside tx. A database
// that does not answer is [store.ErrUnavailable].
func (db *DB) Tx(ctx context.Context, fn func(tx store.Tx) error) error {
	reconnected := false
	for attempt := 1; ; attempt++ {
		err := db.tx(ctx, fn, reconnected)
		if err == nil {
			return nil
		}
		if !reconnected && lostBeforeCommit(err) && ctx.Err() == nil {
			reconnected = true
			attempt--
			continue
		}
		if !retryable(err) || attempt == txAttempts {
			return err
		}
		// Full jitter, so that the transactions that collided do not
		// collide again in step.
		backoff := min(txBackoffBase<<(attempt-1), txBackoffMax)
		t := time.NewTimer(rand.N(backoff) + time.Millisecond)
		select {
		case <-ctx.Done():
			t.Stop()
			return errors.Join(err, ctx.Err())
		case <-t.C:
		}
	}
}

// tx runs fn in one transaction, on a pooled connection, or with live on
// one that answers a ping first.
func (db *DB) tx(ctx context.Context, fn func(tx store.Tx) error, live bool) error {
	opts := pgx.TxOptions{IsoLevel: pgx.ReadCommitted}
	var (
		ptx pgx.Tx
		err error
	)
	if live {
		var c *pgxpool.Conn
		if c, err = db.liveConn(ctx); err != nil {
			return fmt.Errorf("postgres: begin: %w", mapErr(err))
		}
		// Deferred first, so it runs after the Rollback below.
		defer c.Release()
		ptx, err = c.BeginTx(ctx, opts)
	} else {
		ptx, err = db.pool.BeginTx(ctx, opts)
	}
	if err != nil {
		return fmt.Errorf("postgres: begin: %w", mapErr(err))
	}
	// After a commit this is a no-op. After a failure it ends the
	// transaction; if even that fails (ctx gone), the pool discards the
	// connection, so its error adds nothing to fn's.
	defer func() { _ = ptx.Rollback(ctx) }()
	if err := fn(&tx{queries{q: ptx, inTx: true}}); err != nil {
		return err
	}
	if err := ptx.Commit(ctx); err != nil {
		return &commitError{fmt.Errorf("postgres: commit: %w", mapErr(err))}
	}
	return nil
}

// liveConn acquires a pooled connection that answers a ping. The pool
// pings only connections idle for over a second, so after a restart of
// the server the busy ones are all stale: each that fails its ping is
// closed, and so dropped by the pool when released.
func (db *DB) liveConn(ctx context.Context) (*pgxpool.Conn, error) {
	var err error
	for range db.pool.Config().MaxConns + 1 {
		var c *pgxpool.Conn
		if c, err = db.pool.Acquire(ctx); err != nil {
			return nil, err
		}
		if err = c.Ping(ctx); err == nil {
			return c, nil
		}
		c.Release()
		if ctx.Err() != nil {
			break
		}
	}
	return nil, err
}

// commitError is a failed COMMIT: unless the driver says it never sent
// it, its outcome is unknown, and the transaction must not run again.
type commitError struct{ err error }

func (e *commitError) Error() string { return e.err.Error() }
func (e *commitError) Unwrap() error { return e.err }

// Is matches [store.ErrCommitUnknown] unless the driver knows the COMMIT
// was never sent or the server answered it (with an error: a definite
// failure).
func (e *commitError) Is(target error) bool {
	var pe *pgconn.PgError
	return target == store.ErrCommitUnknown && !pgconn.SafeToRetry(e.err) && !errors.As(e.err, &pe)
}

// lostBeforeCommit reports whether err is a lost or refused connection
// before the transaction's COMMIT was sent, so that it certainly did not
// commit.
func lostBeforeCommit(err error) bool {
	if ce := (*commitError)(nil); errors.As(err, &ce) {
		return pgconn.SafeToRetry(ce.err)
	}
	return connectionLost(err)
}

// tx is the [store.Tx] handed to the function given to [DB.Tx].
type tx struct{ queries }

// SQLSTATE codes this package acts on.
const (
	codeUniqueViolation      = "23505"
	codeSerializationFailure = "40001"
	codeDeadlockDetected     = "40P01"
	codeAdminShutdown        = "57P01"
	codeCrashShutdown        = "57P02"
	codeCannotConnectNow     = "57P03"
	// classConnection is SQLSTATE class 08, connection exceptions.
	classConnection = "08"
)

// retryable reports whether err means the transaction lost a race and may
// succeed if run again.
func retryable(err error) bool {
	var pgErr *pgconn.PgError
	if !errors.As(err, &pgErr) {
		return false
	}
	return pgErr.Code == codeSerializationFailure || pgErr.Code == codeDeadlockDetected
}

// connectionLost reports whether err means that the server could not be
// reached or that the connection to it broke: refused or failed
// connections, a server shutting down or starting, a connection closed
// under the statement.
func connectionLost(err error) bool {
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		switch pgErr.Code {
		case codeAdminShutdown, codeCrashShutdown, codeCannotConnectNow:
			return true
		}
		return strings.HasPrefix(pgErr.Code, classConnection)
	}
	var (
		connectErr *pgconn.ConnectError
		netErr     net.Error
	)
	return errors.As(err, &connectErr) || errors.As(err, &netErr) || pgconn.SafeToRetry(err) ||
		errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF)
}

// unavailable reports whether err is [store.ErrUnavailable]: a lost
// connection, or a deadline that passed while the database was awaited
// (the caller's context or a timeout in the driver).
func unavailable(err error) bool {
	return connectionLost(err) || errors.Is(err, context.DeadlineExceeded) || pgconn.Timeout(err)
}

// mapErr turns driver errors into the store's sentinels where callers must
// tell them apart, keeping the driver error in the chain for logs.
func mapErr(err error) error {
	if err == nil || errors.Is(err, store.ErrUnavailable) {
		return err
	}
	if errors.Is(err, pgx.ErrNoRows) {
		return store.ErrNotFound
	}
	if unavailable(err) {
		return fmt.Errorf("%w: postgres: %w", store.ErrUnavailable, err)
	}
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) && pgErr.Code == codeUniqueViolation {
		return fmt.Errorf("%w: %w", store.ErrConflict, err)
	}
	return fmt.Errorf("postgres: %w", err)
}
