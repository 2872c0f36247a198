// Package postgres is Rotor's production storage backend: PostgreSQL
// through pgx v5 and a connection pool, shared by any number of replicas.
//
// Every transaction is short and runs at READ COMMITTED;
// [store.FamilyQueries.LockFamily] takes a row lock (SELECT ... FOR
// UPDATE), never a table lock, and [DB.Tx] retries serialization failures
// and deadlocks so contention never reaches a caller. A server that is
// stopped, unreachable or shutting down, a lost connection and a deadline
// passed while waiting are [store.ErrUnavailable]; a transaction whose
// connection was lost before its COMMIT was sent (a stale pooled
// connection) runs again, once, on a live one. Every hot-path
// statement is keyed by the family id, so the families table partitions
// by it (Citus, CockroachDB, YugabyteDB).
//
// The schema is a set of versioned migrations embedded in the binary and
// applied by [DB.Migrate], never by [Open]. Times are stored as timestamptz,
// which holds microseconds: sub-microsecond parts of a time are dropped.
//
// This package implements [store.Store]; it imports no Rotor package but
// store.
package postgres
