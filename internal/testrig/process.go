package testrig

import (
	"bufio"
	"bytes"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"
)

// This file runs programs of the module as the operator runs them: built
// with go build and started as child processes. The end-to-end tests of
// the examples use it to drive the rotor binary ("rotor client create",
// "rotor serve") and the example programs exactly as their READMEs say.

// startTimeout bounds how long a started program may take to say it is
// ready; a program that never does fails the test instead of hanging it.
const startTimeout = time.Minute

// BuildCommand builds the main package pkg (an import path of the module,
// such as "github.com/rotor-auth/rotor/cmd/rotor") into a temporary
// directory and returns the binary's path.
func BuildCommand(t testing.TB, pkg string) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), filepath.Base(pkg))
	cmd := exec.Command("go", "build", "-o", bin, pkg)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build %s: %v\n%s", pkg, err, out)
	}
	return bin
}

// Output collects a child process's output from its goroutines.
type Output struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (o *Output) Write(p []byte) (int, error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.b.Write(p)
}

// String returns everything written so far.
func (o *Output) String() string {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.b.String()
}

// StartCommand starts cmd, waits until a line of its standard output or
// standard error matches ready, and returns that line's submatches. The
// process is interrupted and waited for when the test ends; its output is
// logged if the test failed.
func StartCommand(t testing.TB, cmd *exec.Cmd, ready *regexp.Regexp) []string {
	t.Helper()
	out := &Output{}
	found := make(chan []string, 1)
	var once sync.Once
	scan := func(r io.Reader, wg *sync.WaitGroup) {
		defer wg.Done()
		s := bufio.NewScanner(r)
		s.Buffer(make([]byte, 64<<10), 1<<20)
		for s.Scan() {
			line := s.Text()
			out.Write([]byte(line + "\n"))
			if m := ready.FindStringSubmatch(line); m != nil {
				once.Do(func() { found <- m })
			}
		}
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", cmd.Path, err)
	}
	var wg sync.WaitGroup
	wg.Add(2)
	go scan(stdout, &wg)
	go scan(stderr, &wg)
	exited := make(chan error, 1)
	go func() { wg.Wait(); exited <- cmd.Wait() }()
	t.Cleanup(func() {
		_ = cmd.Process.Signal(os.Interrupt)
		select {
		case <-exited:
		case <-time.After(shutdownWait):
			_ = cmd.Process.Kill()
			<-exited
		}
		if t.Failed() {
			t.Logf("output of %s:\n%s", filepath.Base(cmd.Path), out.String())
		}
	})
	timer := time.NewTimer(startTimeout)
	defer timer.Stop()
	select {
	case m := <-found:
		return m
	case err := <-exited:
		exited <- err // for the cleanup
		t.Fatalf("%s exited before it was ready (%v):\n%s", filepath.Base(cmd.Path), err, out.String())
	case <-timer.C:
		t.Fatalf("%s did not say it was ready within %v:\n%s", filepath.Base(cmd.Path), startTimeout, out.String())
	}
	return nil
}

// shutdownWait is how long a child process gets to stop after SIGINT.
const shutdownWait = 20 * time.Second

// RotorProcess is the rotor binary over its own SQLite database: the CLI
// registers clients and users, and Serve runs "rotor serve" on a free
// loopback port.
type RotorProcess struct {
	// Bin is the rotor binary.
	Bin string
	// DB is the database's DSN, "sqlite:PATH".
	DB string
	// URL is the issuer once Serve has started, http://127.0.0.1:PORT.
	URL string
	env []string
}

// NewRotorProcess builds the rotor binary and prepares an empty, migrated
// database with a fresh master key (ROTOR_MASTER_KEY, as production sets
// it).
func NewRotorProcess(t testing.TB) *RotorProcess {
	t.Helper()
	mk := make([]byte, 32)
	if _, err := rand.Read(mk); err != nil {
		t.Fatal(err)
	}
	p := &RotorProcess{
		Bin: BuildCommand(t, "github.com/rotor-auth/rotor/cmd/rotor"),
		DB:  "sqlite:" + filepath.Join(t.TempDir(), "rotor.db"),
		env: append(os.Environ(), "ROTOR_MASTER_KEY="+base64.StdEncoding.EncodeToString(mk)),
	}
	p.Run(t, "migrate")
	return p
}

// Run runs one rotor command against the database ("client", "create",
// ...; --db is added) and returns its standard output. A command that
// fails fails the test.
func (p *RotorProcess) Run(t testing.TB, args ...string) string {
	t.Helper()
	cmd := exec.Command(p.Bin, append(args, "--db", p.DB)...)
	cmd.Env = p.env
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("rotor %s: %v\n%s%s", strings.Join(args, " "), err, stdout.String(), stderr.String())
	}
	return stdout.String()
}

// CreateClient runs "rotor client create --json" with args and returns
// the generated client_secret, if any.
func (p *RotorProcess) CreateClient(t testing.TB, args ...string) (secret string) {
	t.Helper()
	out := p.Run(t, append([]string{"client", "create", "--json"}, args...)...)
	var v struct {
		ClientSecret string `json:"client_secret"`
	}
	if err := json.Unmarshal([]byte(out), &v); err != nil {
		t.Fatalf("rotor client create --json printed no JSON: %v\n%s", err, out)
	}
	return v.ClientSecret
}

// CreateUser registers an enabled user with a password (given on
// standard input, as an operator would).
func (p *RotorProcess) CreateUser(t testing.TB, username, password string, args ...string) {
	t.Helper()
	cmd := exec.Command(p.Bin, append([]string{"user", "create", "--username", username, "--password-stdin", "--db", p.DB}, args...)...)
	cmd.Env = p.env
	cmd.Stdin = strings.NewReader(password + "\n")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("rotor user create: %v\n%s", err, out)
	}
}

// servingLine is serve's JSON log line that says where it listens.
var servingLine = regexp.MustCompile(`"msg":"rotor is serving".*"issuer":"(http://127\.0\.0\.1:[0-9]+)"`)

// Serve starts "rotor serve" on a free loopback port with the extra
// flags, waits until it serves, and sets URL. It stops when the test ends.
func (p *RotorProcess) Serve(t testing.TB, flags ...string) {
	t.Helper()
	args := append([]string{"serve", "--db", p.DB, "--addr", "127.0.0.1:0", "--admin-addr", "127.0.0.1:0", "--log-format", "json"}, flags...)
	cmd := exec.Command(p.Bin, args...)
	cmd.Env = p.env
	m := StartCommand(t, cmd, servingLine)
	p.URL = m[1]
}
