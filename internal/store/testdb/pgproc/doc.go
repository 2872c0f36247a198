// Package pgproc starts a private PostgreSQL server for fault tests: a
// cluster of its own (initdb into a temporary directory), on its own
// loopback port, that a test may freeze, thaw, stop and start again
// without touching the shared server the other tests use.
//
//	srv := pgproc.New(t)           // skips without PostgreSQL's binaries
//	db, err := postgres.Open(ctx, srv.DSN())
//	srv.Freeze(t)                  // SIGSTOP to every process of the cluster
//	srv.Thaw(t)                    // SIGCONT
//	srv.Stop(t)                    // fast shutdown: connections refused
//	srv.Start(t)                   // the same data, on the same port
//
// The binaries are looked for under /usr/lib/postgresql/*/bin (the newest
// version wins), then on PATH. PostgreSQL refuses to run as root, so a
// test running as root runs the server as the user postgres. Without the
// binaries (or that user) New skips the test, or fails it when
// ROTOR_TEST_REQUIRE_SERVICES=1. The server runs with fsync off: it is
// for faults of the process, not of the disk. When the test ends it is
// shut down, and killed by PID if it does not go.
//
// It is Linux only (it finds the cluster's processes in /proc) and
// imported only by tests.
package pgproc
