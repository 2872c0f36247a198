// Package sqlite is Rotor's embedded default storage backend: pure Go
// (modernc.org/sqlite), one file, WAL journal with synchronous=FULL so that
// an answered commit survives a crash of the process or of the machine.
//
// SQLite has one writer at a time. Every transaction runs on a single
// writer connection and begins IMMEDIATE, taking the database write lock
// up front: that lock is what makes [store.FamilyQueries.LockFamily] a
// real lock here. Reads outside transactions use a separate pool and
// never wait for it.
// Transactions that wait for the writer at the same moment share one
// commit and one fsync (group commit), each inside its own savepoint, so
// that the one writer is not a queue of fsyncs; see group.go. Nothing
// reaches the writer but through that committer: the writes a caller
// makes outside a transaction are transactions of their own (writes.go),
// and a write that would bypass it fails.
//
// The queries live in one file per entity (clients.go, users.go,
// families.go, denials.go, events.go, keys.go), one per interface that
// [store.Queries] embeds.
//
// It imports internal/store only.
package sqlite
