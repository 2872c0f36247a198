package postgres

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
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
		return nil, fmt.Errorf("postgres: connect: %w", err)
	}
	return &DB{queries: queries{q: pool}, pool: pool}, nil
}

// Ping checks that the database answers.
func (db *DB) Ping(ctx context.Context) error {
	if err := db.pool.Ping(ctx); err != nil {
		return fmt.Errorf("postgres: ping: %w", err)
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
// short jittered pause, up to a bound; so fn must have no effect outside
// tx.
func (db *DB) Tx(ctx context.Context, fn func(tx store.Tx) error) error {
	for attempt := 1; ; attempt++ {
		err := db.tx(ctx, fn)
		if err == nil || !retryable(err) || attempt == txAttempts {
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

func (db *DB) tx(ctx context.Context, fn func(tx store.Tx) error) error {
	ptx, err := db.pool.BeginTx(ctx, pgx.TxOptions{IsoLevel: pgx.ReadCommitted})
	if err != nil {
		return fmt.Errorf("postgres: begin: %w", err)
	}
	// After a commit this is a no-op. After a failure it ends the
	// transaction; if even that fails (ctx gone), the pool discards the
	// connection, so its error adds nothing to fn's.
	defer func() { _ = ptx.Rollback(ctx) }()
	if err := fn(&tx{queries{q: ptx, inTx: true}}); err != nil {
		return err
	}
	if err := ptx.Commit(ctx); err != nil {
		return fmt.Errorf("postgres: commit: %w", mapErr(err))
	}
	return nil
}

// tx is the [store.Tx] handed to the function given to [DB.Tx].
type tx struct{ queries }

// SQLSTATE codes this package acts on.
const (
	codeUniqueViolation      = "23505"
	codeSerializationFailure = "40001"
	codeDeadlockDetected     = "40P01"
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

// mapErr turns driver errors into the store's sentinels where callers must
// tell them apart, keeping the driver error in the chain for logs.
func mapErr(err error) error {
	if err == nil {
		return nil
	}
	if errors.Is(err, pgx.ErrNoRows) {
		return store.ErrNotFound
	}
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) && pgErr.Code == codeUniqueViolation {
		return fmt.Errorf("%w: %w", store.ErrConflict, err)
	}
	return fmt.Errorf("postgres: %w", err)
}
