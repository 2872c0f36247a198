//go:build !linux

package pgproc

import (
	"os"
	"testing"

	"github.com/rotor-auth/rotor/internal/store/testdb"
)

// Server is a private PostgreSQL server; on this system [New] skips.
type Server struct{}

// New skips the test (or fails it when ROTOR_TEST_REQUIRE_SERVICES=1):
// the private server needs Linux's /proc.
func New(t testing.TB) *Server {
	t.Helper()
	if os.Getenv(testdb.EnvRequireServices) == "1" {
		t.Fatal("pgproc: " + testdb.EnvRequireServices + "=1 but a private PostgreSQL needs Linux")
	}
	t.Skip("pgproc: a private PostgreSQL needs Linux")
	return nil
}

// DSN is never reached: New skips.
func (s *Server) DSN() string { return "" }

// Port is never reached: New skips.
func (s *Server) Port() int { return 0 }

// PID is never reached: New skips.
func (s *Server) PID() int { return 0 }

// Freeze is never reached: New skips.
func (s *Server) Freeze(t testing.TB) {}

// Thaw is never reached: New skips.
func (s *Server) Thaw(t testing.TB) {}

// Stop is never reached: New skips.
func (s *Server) Stop(t testing.TB) {}

// Start is never reached: New skips.
func (s *Server) Start(t testing.TB) {}
