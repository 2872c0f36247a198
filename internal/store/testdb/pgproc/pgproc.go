//go:build linux

package pgproc

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgconn"

	"github.com/rotor-auth/rotor/internal/store/testdb"
)

// Bounds on the server's own steps, so that a server that will not start
// or stop fails the test instead of hanging it.
const (
	startTimeout = 60 * time.Second
	stopTimeout  = 30 * time.Second
	killTimeout  = 10 * time.Second
)

// Server is a private PostgreSQL server started by [New]. Its methods
// must be called from the test's goroutine, one at a time.
type Server struct {
	bin  string // directory holding initdb and postgres
	dir  string // temporary directory: the cluster and its log
	data string // the cluster's data directory, symlinks resolved
	log  string // the server's stdout and stderr
	port int
	// cred runs the server as the user postgres when the test runs as
	// root; nil runs it as the test's own user.
	cred *syscall.Credential

	pid    int           // the postmaster's, 0 when stopped
	exited chan struct{} // closed once the postmaster has exited
	frozen bool
}

// New initialises a cluster in a new temporary directory and starts a
// server on a free port of 127.0.0.1, with fsync off. When the test ends
// the server is shut down (killed by PID if need be) and the directory
// removed. Without PostgreSQL's binaries New skips the test, or fails it
// when ROTOR_TEST_REQUIRE_SERVICES=1.
func New(t testing.TB) *Server {
	t.Helper()
	bin, err := findBin()
	if err != nil {
		missing(t, err.Error())
	}
	s := &Server{bin: bin}
	if os.Geteuid() == 0 {
		// PostgreSQL refuses to run as root.
		u, err := user.Lookup("postgres")
		if err != nil {
			missing(t, "running as root, and there is no user postgres to run the server as: "+err.Error())
		}
		uid, err1 := strconv.ParseUint(u.Uid, 10, 32)
		gid, err2 := strconv.ParseUint(u.Gid, 10, 32)
		if err1 != nil || err2 != nil {
			t.Fatalf("pgproc: user postgres has uid %q, gid %q", u.Uid, u.Gid)
		}
		s.cred = &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}
	}
	// Not t.TempDir: its parent is private to the test's user, and the
	// user postgres must reach the cluster.
	dir, err := os.MkdirTemp("", "rotor-pgproc-")
	if err != nil {
		t.Fatalf("pgproc: %v", err)
	}
	if s.dir, err = filepath.EvalSymlinks(dir); err != nil {
		t.Fatalf("pgproc: %v", err)
	}
	t.Cleanup(func() {
		if err := s.kill(); err != nil {
			t.Errorf("pgproc: %v", err)
		}
		if err := os.RemoveAll(s.dir); err != nil {
			t.Errorf("pgproc: %v", err)
		}
	})
	s.data, s.log = filepath.Join(s.dir, "data"), filepath.Join(s.dir, "server.log")
	if s.cred != nil {
		if err := os.Chown(s.dir, int(s.cred.Uid), int(s.cred.Gid)); err != nil {
			t.Fatalf("pgproc: %v", err)
		}
	}
	initdb := exec.Command(filepath.Join(bin, "initdb"), "-D", s.data, "-U", "postgres", "-A", "trust",
		"-E", "UTF8", "--locale=C", "--no-sync")
	initdb.Dir = s.dir
	initdb.SysProcAttr = &syscall.SysProcAttr{Credential: s.cred}
	if out, err := initdb.CombinedOutput(); err != nil {
		t.Fatalf("pgproc: initdb: %v\n%s", err, out)
	}
	if s.port, err = freePort(); err != nil {
		t.Fatalf("pgproc: %v", err)
	}
	if err := s.start(); err != nil {
		t.Fatalf("pgproc: %v", err)
	}
	return s
}

// DSN is a postgres:// URL for the server's database postgres, as its
// superuser postgres, without a password. A frozen server accepts TCP
// connections but never answers: callers need a context deadline.
func (s *Server) DSN() string {
	return fmt.Sprintf("postgres://postgres@127.0.0.1:%d/postgres?sslmode=disable", s.port)
}

// Port is the server's TCP port on 127.0.0.1; it stays the same across
// Stop and Start.
func (s *Server) Port() int { return s.port }

// PID is the postmaster's process id, or 0 while the server is stopped.
func (s *Server) PID() int { return s.pid }

// Freeze stops every process of the cluster with SIGSTOP: the postmaster
// first, so that it forks no more, then each backend and auxiliary
// process. Connections stay open and the kernel still accepts new ones,
// but nothing answers, as with a server stalled on its disk.
func (s *Server) Freeze(t testing.TB) {
	t.Helper()
	if s.pid == 0 || s.frozen {
		t.Fatalf("pgproc: Freeze: the server is %s", s.state())
	}
	if err := syscall.Kill(s.pid, syscall.SIGSTOP); err != nil {
		t.Fatalf("pgproc: SIGSTOP postmaster %d: %v", s.pid, err)
	}
	s.frozen = true
	stopped := map[int]bool{s.pid: true}
	// A child forked as the postmaster stopped shows up in a later look.
	for range 3 {
		more := false
		for _, pid := range s.processes() {
			if !stopped[pid] {
				_ = syscall.Kill(pid, syscall.SIGSTOP) // gone already: nothing to stop
				stopped[pid], more = true, true
			}
		}
		if !more {
			break
		}
	}
	// A signal is delivered when its process next runs: wait until each
	// has stopped, so that nothing answers once Freeze returns. A backend
	// that had just exited stays a zombie (Z) until the postmaster, now
	// stopped, reaps it.
	deadline := time.Now().Add(stopTimeout)
	for pid := range stopped {
		for st := state(pid); st != 0 && st != 'T' && st != 'Z' && st != 'X'; st = state(pid) {
			if time.Now().After(deadline) {
				t.Fatalf("pgproc: process %d is in state %q %v after SIGSTOP", pid, st, stopTimeout)
			}
			time.Sleep(time.Millisecond)
		}
	}
}

// Thaw resumes every process of the cluster with SIGCONT.
func (s *Server) Thaw(t testing.TB) {
	t.Helper()
	if !s.frozen {
		t.Fatalf("pgproc: Thaw: the server is %s", s.state())
	}
	s.thaw()
}

func (s *Server) thaw() {
	for _, pid := range s.processes() {
		_ = syscall.Kill(pid, syscall.SIGCONT)
	}
	if s.pid != 0 {
		_ = syscall.Kill(s.pid, syscall.SIGCONT)
	}
	s.frozen = false
}

// Stop shuts the server down (fast shutdown: open connections are ended
// with 57P01 admin_shutdown) and waits until it has exited; a frozen
// server is thawed first. New connections are refused until [Server.Start].
func (s *Server) Stop(t testing.TB) {
	t.Helper()
	if s.pid == 0 {
		t.Fatal("pgproc: Stop: the server is stopped already")
	}
	if s.frozen {
		s.thaw()
	}
	if err := syscall.Kill(s.pid, syscall.SIGINT); err != nil {
		t.Fatalf("pgproc: SIGINT postmaster %d: %v", s.pid, err)
	}
	select {
	case <-s.exited:
		s.pid = 0
	case <-time.After(stopTimeout):
		t.Fatalf("pgproc: the server did not stop within %v\n%s", stopTimeout, s.logTail())
	}
}

// Start starts a stopped server again, on the same port and data, and
// waits until it accepts connections.
func (s *Server) Start(t testing.TB) {
	t.Helper()
	if s.pid != 0 {
		t.Fatalf("pgproc: Start: the server is %s", s.state())
	}
	if err := s.start(); err != nil {
		t.Fatalf("pgproc: %v", err)
	}
}

func (s *Server) state() string {
	switch {
	case s.pid == 0:
		return "stopped"
	case s.frozen:
		return "frozen"
	}
	return "running"
}

// start runs the postmaster and waits until it answers.
func (s *Server) start() error {
	logf, err := os.OpenFile(s.log, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o600)
	if err != nil {
		return err
	}
	defer logf.Close() // the child has its own copy
	cmd := exec.Command(filepath.Join(s.bin, "postgres"), "-D", s.data, "-p", strconv.Itoa(s.port),
		"-c", "listen_addresses=127.0.0.1",
		"-c", "unix_socket_directories=",
		"-c", "fsync=off",
		"-c", "synchronous_commit=off",
		"-c", "full_page_writes=off",
		// Segments in the data directory, removed with it even after a kill.
		"-c", "dynamic_shared_memory_type=mmap",
		"-c", "shared_buffers=16MB")
	cmd.Dir = s.dir
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr = &syscall.SysProcAttr{
		Credential: s.cred,
		// Killed if the test binary dies without its cleanups (a panic, a
		// timeout). The signal follows the thread that started the
		// process, so that thread is kept until the server exits.
		Pdeathsig: syscall.SIGKILL,
		// Its own process group: a Ctrl-C to `go test` does not reach it.
		Setpgid: true,
	}
	started := make(chan error, 1)
	exited := make(chan struct{})
	go func() {
		runtime.LockOSThread() // never unlocked: see Pdeathsig
		if err := cmd.Start(); err != nil {
			started <- err
			return
		}
		started <- nil
		_ = cmd.Wait()
		close(exited)
	}()
	if err := <-started; err != nil {
		return fmt.Errorf("start postgres: %w", err)
	}
	s.pid, s.exited = cmd.Process.Pid, exited
	deadline := time.Now().Add(startTimeout)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		c, err := pgconn.Connect(ctx, s.DSN())
		cancel()
		if err == nil {
			return c.Close(context.Background())
		}
		select {
		case <-exited:
			s.pid = 0
			return fmt.Errorf("postgres exited at start: %v\n%s", err, s.logTail())
		case <-time.After(20 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("postgres did not accept connections within %v: %v\n%s", startTimeout, err, s.logTail())
		}
	}
}

// kill ends the server whatever its state: an immediate shutdown
// (SIGQUIT, which lets the postmaster release its shared memory), then
// SIGKILL by PID to every process of the cluster still there.
func (s *Server) kill() error {
	if s.pid == 0 {
		// Stopped; still, kill any process left in the cluster.
		for _, pid := range s.processes() {
			_ = syscall.Kill(pid, syscall.SIGKILL)
		}
		return nil
	}
	s.thaw()
	_ = syscall.Kill(s.pid, syscall.SIGQUIT)
	select {
	case <-s.exited:
	case <-time.After(killTimeout):
	}
	pids := append(s.processes(), s.pid)
	for _, pid := range pids {
		_ = syscall.Kill(pid, syscall.SIGKILL)
	}
	select {
	case <-s.exited:
		s.pid = 0
		return nil
	case <-time.After(killTimeout):
		return fmt.Errorf("postmaster %d survived SIGKILL for %v", s.pid, killTimeout)
	}
}

// processes returns the cluster's processes but the postmaster: those
// whose parent is the postmaster, or whose working directory is the
// data directory (every PostgreSQL process works there, and keeps it
// when the postmaster has died and it has been reparented).
func (s *Server) processes() []int {
	ents, err := os.ReadDir("/proc")
	if err != nil {
		return nil
	}
	var pids []int
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil || pid == s.pid || pid == os.Getpid() {
			continue
		}
		if cwd, err := os.Readlink("/proc/" + e.Name() + "/cwd"); err == nil && cwd == s.data {
			pids = append(pids, pid)
		} else if s.pid != 0 && parent(pid) == s.pid {
			pids = append(pids, pid)
		}
	}
	return pids
}

// stat returns the fields of /proc/PID/stat after the command name:
// state, ppid, and so on; nil if there is no such process.
func stat(pid int) []string {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return nil
	}
	// "pid (comm) state ppid ...", where comm may hold spaces and ")".
	i := strings.LastIndexByte(string(b), ')')
	if i < 0 {
		return nil
	}
	return strings.Fields(string(b[i+1:]))
}

// state is the state letter of pid ('T' when stopped, 'Z' a zombie), or
// 0 when there is no such process.
func state(pid int) byte {
	if f := stat(pid); len(f) > 0 && f[0] != "" {
		return f[0][0]
	}
	return 0
}

// parent returns the parent pid of pid, or 0.
func parent(pid int) int {
	f := stat(pid)
	if len(f) < 2 {
		return 0
	}
	ppid, _ := strconv.Atoi(f[1])
	return ppid
}

// logTail is the end of the server's log, for error messages.
func (s *Server) logTail() string {
	b, err := os.ReadFile(s.log)
	if err != nil {
		return "(no server log: " + err.Error() + ")"
	}
	const max = 4 << 10
	if len(b) > max {
		b = b[len(b)-max:]
	}
	return string(b)
}

// findBin returns the directory of initdb and postgres: the newest
// /usr/lib/postgresql/N/bin that has both, or the one on PATH.
func findBin() (string, error) {
	dirs, _ := filepath.Glob("/usr/lib/postgresql/*/bin")
	version := func(dir string) float64 {
		v, _ := strconv.ParseFloat(filepath.Base(filepath.Dir(dir)), 64)
		return v
	}
	slices.SortFunc(dirs, func(a, b string) int {
		switch va, vb := version(a), version(b); {
		case va > vb:
			return -1
		case va < vb:
			return 1
		}
		return 0
	})
	if p, err := exec.LookPath("initdb"); err == nil {
		dirs = append(dirs, filepath.Dir(p))
	}
	for _, dir := range dirs {
		if executable(filepath.Join(dir, "initdb")) && executable(filepath.Join(dir, "postgres")) {
			return dir, nil
		}
	}
	return "", errors.New("no PostgreSQL server binaries (initdb, postgres) under /usr/lib/postgresql/*/bin or on PATH; install the PostgreSQL server package")
}

func executable(path string) bool {
	fi, err := os.Stat(path)
	return err == nil && fi.Mode().IsRegular() && fi.Mode().Perm()&0o111 != 0
}

// freePort returns a TCP port of 127.0.0.1 that was free a moment ago.
func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// missing skips the test for want of a private PostgreSQL, or fails it
// when services are required.
func missing(t testing.TB, why string) {
	t.Helper()
	if os.Getenv(testdb.EnvRequireServices) == "1" {
		t.Fatalf("pgproc: %s=1 but %s", testdb.EnvRequireServices, why)
	}
	t.Skip("pgproc: " + why)
}
