// Package backend turns a database DSN into a [store.Store]: "sqlite:PATH"
// opens the embedded SQLite backend, "postgres://..." (or
// "postgresql://...", or the keyword/value form "host=... dbname=...")
// the PostgreSQL one. It knows the DSN forms, and how to print one
// without its password ([Redact]), and nothing else: it neither migrates
// nor holds any key.
//
// It imports internal/store and its backends, and is imported by
// internal/config and cmd/rotor.
package backend
