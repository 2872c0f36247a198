// Package testdb gives tests real, freshly migrated databases: a SQLite
// file in the test's temporary directory, and a private schema on the
// PostgreSQL server named by ROTOR_TEST_POSTGRES_DSN, dropped when the test
// ends. [Each] runs one test body against both.
//
// Without ROTOR_TEST_POSTGRES_DSN the PostgreSQL tests skip, unless
// ROTOR_TEST_REQUIRE_SERVICES=1 (as in CI), where they fail instead.
//
// It is imported only by tests. It may import the store backends; no
// backend or production package may import it.
package testdb
