package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/rotor-auth/rotor/internal/secret"
	"github.com/rotor-auth/rotor/internal/store/testdb"
)

// TestKillNineDuringRefreshes kills a built rotor binary with SIGKILL
// while callers refresh in a loop, restarts it on the same database, and
// checks that each caller can refresh with the last token it received: an
// answered rotation is durable. The default 15 s grace period covers a
// rotation committed whose answer was lost in the crash (a retry of the
// previous token then gets the same successor).
//
// It also checks, with the same binary, that SIGTERM stops the server
// cleanly (exit 0).
func TestKillNineDuringRefreshes(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and kills a server binary; skipped with -short")
	}
	bin := buildRotor(t)
	t.Run("sigterm stops cleanly", func(t *testing.T) {
		s := startServer(t, bin, "sqlite:"+filepath.Join(t.TempDir(), "rotor.db"), nil)
		if err := s.cmd.Process.Signal(syscall.SIGTERM); err != nil {
			t.Fatal(err)
		}
		select {
		case <-s.done:
		case <-time.After(20 * time.Second):
			t.Fatal("rotor serve did not stop within 20 s of SIGTERM")
		}
		if code := s.cmd.ProcessState.ExitCode(); code != 0 {
			t.Fatalf("rotor serve exited with %d after SIGTERM, want 0", code)
		}
	})
	t.Run("sqlite", func(t *testing.T) {
		crashLoop(t, bin, "sqlite:"+filepath.Join(t.TempDir(), "rotor.db"), nil)
	})
	t.Run("postgres", func(t *testing.T) {
		dsn := testdb.PostgresDSN(t)
		env := []string{"ROTOR_MASTER_KEY=" + secret.EncodeMasterKey(secret.NewMasterKey())}
		runBin(t, bin, env, "migrate", "--db", dsn)
		crashLoop(t, bin, dsn, env)
	})
}

func buildRotor(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "rotor")
	cmd := exec.Command("go", "build", "-o", bin, ".")
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

// runBin runs a rotor command to completion and fails the test on error.
func runBin(t *testing.T, bin string, env []string, args ...string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Env = append(os.Environ(), env...)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("rotor %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return string(out)
}

// child is a rotor serve child process.
type child struct {
	cmd  *exec.Cmd
	base string
	done chan struct{}
}

func startServer(t *testing.T, bin, db string, env []string) *child {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	cmd := exec.Command(bin, "serve", "--db", db, "--addr", addr, "--admin-addr", "127.0.0.1:0")
	cmd.Env = append(os.Environ(), append(env, "ROTOR_LOG_LEVEL=warn")...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	logFile, err := os.Create(filepath.Join(t.TempDir(), "serve.log"))
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stdout, cmd.Stderr = logFile, logFile
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	s := &child{cmd: cmd, base: "http://" + addr, done: make(chan struct{})}
	go func() { _ = cmd.Wait(); logFile.Close(); close(s.done) }()
	t.Cleanup(s.kill)
	deadline := time.Now().Add(15 * time.Second)
	for {
		resp, err := http.Get(s.base + "/healthz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return s
			}
		}
		select {
		case <-s.done:
			log, _ := os.ReadFile(logFile.Name())
			t.Fatalf("rotor serve exited at start:\n%s", log)
		default:
		}
		if time.Now().After(deadline) {
			t.Fatal("rotor serve did not become healthy in 15 s")
		}
		time.Sleep(50 * time.Millisecond) // real time: a child process starting, which no fake clock reaches
	}
}

// kill sends SIGKILL to the server's process group and waits for it.
func (s *child) kill() {
	_ = syscall.Kill(-s.cmd.Process.Pid, syscall.SIGKILL)
	<-s.done
}

// tokenCall posts a token request and returns the status and the refresh
// token of a 200 answer; err is a transport error (the server is gone).
func tokenCall(client *http.Client, base string, form url.Values) (int, string, string, error) {
	resp, err := client.PostForm(base+"/oauth2/token", form)
	if err != nil {
		return 0, "", "", err
	}
	defer resp.Body.Close()
	var body map[string]any
	if err := json.NewDecoder(resp.Body).Decode(&body); err != nil {
		return 0, "", "", err // a half-written answer counts as lost
	}
	rt, _ := body["refresh_token"].(string)
	return resp.StatusCode, rt, fmt.Sprint(body), nil
}

func crashLoop(t *testing.T, bin, db string, env []string) {
	const callers = 4
	runBin(t, bin, env, "client", "create", "--db", db, "--id", "app", "--public",
		"--grant-types", "password,refresh_token", "--scopes", "read")
	runBin(t, bin, append(env, "ROTOR_LOG_LEVEL=warn"), "user", "create", "--db", db, "--username", "alice", "--password", "pw-alice-1")
	srv := startServer(t, bin, db, env)
	client := &http.Client{Timeout: 5 * time.Second}

	last := make([]string, callers) // the last refresh token each caller received
	answered := make([]int, callers)
	var wg sync.WaitGroup
	for i := range callers {
		code, rt, body, err := tokenCall(client, srv.base, url.Values{"grant_type": {"password"}, "client_id": {"app"},
			"username": {"alice"}, "password": {"pw-alice-1"}})
		if err != nil || code != 200 {
			t.Fatalf("password grant: %d %s %v", code, body, err)
		}
		last[i] = rt
		wg.Add(1)
		go func() {
			defer wg.Done()
			stop := time.Now().Add(10 * time.Second)
			for n := 0; n < 5000 && time.Now().Before(stop); n++ {
				code, rt, body, err := tokenCall(client, srv.base, url.Values{"grant_type": {"refresh_token"},
					"client_id": {"app"}, "refresh_token": {last[i]}})
				if err != nil {
					return // the server is gone
				}
				if code != 200 {
					t.Errorf("caller %d: refresh before the crash answered %d %s", i, code, body)
					return
				}
				last[i] = rt
				answered[i]++
			}
		}()
	}
	time.Sleep(400 * time.Millisecond) // real time: real refreshes against the child process, then SIGKILL in their midst
	srv.kill()
	wg.Wait()
	for i, n := range answered {
		if n == 0 {
			t.Fatalf("caller %d got no refresh answered before the crash; the test proves nothing", i)
		}
	}

	srv = startServer(t, bin, db, env)
	for i := range callers {
		code, rt, body, err := tokenCall(client, srv.base, url.Values{"grant_type": {"refresh_token"},
			"client_id": {"app"}, "refresh_token": {last[i]}})
		if err != nil || code != 200 || rt == "" || rt == last[i] {
			t.Fatalf("caller %d (after %d answered refreshes): refresh with its last token after restart: %d %s %v",
				i, answered[i], code, body, err)
		}
	}
	t.Logf("refreshes answered before kill -9: %v; every caller refreshed after restart", answered)
}
