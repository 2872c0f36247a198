// Package sqlite is Rotor's embedded default storage backend: pure Go
// (modernc.org/sqlite), one file, WAL journal with synchronous=FULL so that
// an answered commit survives a crash of the process or of the machine.
//
// SQLite has one writer at a time. Every transaction runs on a single
// writer connection and begins IMMEDIATE, taking the database write lock
// up front: that lock is what makes [DB.LockFamily] a real lock here.
// Reads outside transactions use a separate pool and never wait for it.
// Transactions that wait for the writer at the same moment share one
// commit and one fsync (group commit), each inside its own savepoint, so
// that the one writer is not a queue of fsyncs; see group.go.
//
// It imports internal/store only.
package sqlite
