package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rotor-auth/rotor/internal/config"
	"github.com/rotor-auth/rotor/internal/secret"
	"github.com/rotor-auth/rotor/internal/store"
	"github.com/rotor-auth/rotor/internal/store/backend"
)

// syncBuffer is a bytes.Buffer safe for a command writing while the test
// reads.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// harness runs rotor commands in-process against a SQLite database in a
// temporary directory, with an environment of its own.
type harness struct {
	t   *testing.T
	dir string
	env map[string]string
	// now is the commands' clock; time.Now when nil.
	now func() time.Time
}

func newHarness(t *testing.T) *harness {
	dir := t.TempDir()
	return &harness{t: t, dir: dir, env: map[string]string{
		"ROTOR_DATABASE_URL": "sqlite:" + filepath.Join(dir, "rotor.db"),
		"ROTOR_LOG_LEVEL":    "warn",
	}}
}

type result struct {
	code           int
	stdout, stderr string
}

func (h *harness) app(stdin string, stdout, stderr *syncBuffer) *app {
	now := h.now
	if now == nil {
		now = time.Now
	}
	return &app{
		stdin: strings.NewReader(stdin), stdout: stdout, stderr: stderr,
		lookupEnv: func(k string) (string, bool) {
			v, ok := h.env[k]
			return v, ok
		},
		now:            now,
		followInterval: 10 * time.Millisecond,
	}
}

// run runs one command line to completion.
func (h *harness) run(stdin string, args ...string) result {
	h.t.Helper()
	var out, errb syncBuffer
	code := h.app(stdin, &out, &errb).execute(context.Background(), args)
	return result{code, out.String(), errb.String()}
}

// ok runs a command line that must succeed.
func (h *harness) ok(args ...string) string {
	h.t.Helper()
	r := h.run("", args...)
	if r.code != 0 {
		h.t.Fatalf("rotor %s: exit %d\nstdout: %s\nstderr: %s", strings.Join(args, " "), r.code, r.stdout, r.stderr)
	}
	return r.stdout
}

// store opens the harness's database directly.
func (h *harness) store() store.Store {
	h.t.Helper()
	st, err := backend.Open(context.Background(), h.env["ROTOR_DATABASE_URL"])
	if err != nil {
		h.t.Fatal(err)
	}
	h.t.Cleanup(func() { st.Close() })
	return st
}

// secrets returns the keys of the master key file the commands created.
func (h *harness) secrets() *secret.Keys {
	h.t.Helper()
	cfg := &config.Config{DB: h.env["ROTOR_DATABASE_URL"]}
	mk, err := cfg.MasterKey(nil, nil)
	if err != nil {
		h.t.Fatal(err)
	}
	k, err := secret.Derive(mk)
	if err != nil {
		h.t.Fatal(err)
	}
	return k
}

func decode[T any](t *testing.T, s string) T {
	t.Helper()
	var v T
	if err := json.Unmarshal([]byte(s), &v); err != nil {
		t.Fatalf("output is not the JSON expected: %v\n%s", err, s)
	}
	return v
}

func TestHelp(t *testing.T) {
	h := newHarness(t)
	out := h.ok("--help")
	for _, c := range []string{"serve", "migrate", "client", "user", "revoke", "keys", "gc", "audit", "version"} {
		if !strings.Contains(out, c) {
			t.Errorf("rotor --help does not list %s", c)
		}
	}
	out = h.ok("serve", "--help")
	for _, f := range []string{"--addr", "--issuer", "--db", "--access-token-ttl", "--refresh-idle-ttl", "--refresh-absolute-ttl", "--reuse-grace", "--insecure-http", "--tls-cert", "--tls-key", "--config", "ROTOR_ACCESS_TOKEN_TTL"} {
		if !strings.Contains(out, f) {
			t.Errorf("rotor serve --help does not mention %s", f)
		}
	}
}

func TestMigrate(t *testing.T) {
	h := newHarness(t)
	if out := h.ok("migrate"); !strings.Contains(out, "Applied ") {
		t.Fatalf("migrate said %q", out)
	}
	// The --db flag wins over ROTOR_DATABASE_URL.
	other := filepath.Join(h.dir, "other.db")
	h.ok("migrate", "--db", "sqlite:"+other)
	if _, err := os.Stat(other); err != nil {
		t.Fatal("--db did not take precedence over the environment")
	}
}

func TestUsageErrors(t *testing.T) {
	h := newHarness(t)
	tests := []struct {
		name string
		args []string
		want string
	}{
		{"no auth choice", []string{"client", "create", "--id", "a", "--grant-types", "refresh_token"}, "choose exactly one of --secret, --generate-secret, --public, --jwks or --jwks-uri"},
		{"two auth choices", []string{"client", "create", "--id", "a", "--grant-types", "refresh_token", "--public", "--generate-secret"}, "choose exactly one of --secret, --generate-secret, --public, --jwks or --jwks-uri"},
		{"public client_credentials", []string{"client", "create", "--id", "a", "--public", "--grant-types", "client_credentials"}, "public client cannot use client_credentials"},
		{"unknown grant", []string{"client", "create", "--id", "a", "--public", "--grant-types", "implicit"}, `unknown grant type "implicit"`},
		{"missing id", []string{"client", "create", "--public", "--grant-types", "refresh_token"}, "--id is required"},
		{"missing grant types", []string{"client", "create", "--id", "a", "--public"}, "--grant-types is required"},
		{"bad duration", []string{"client", "create", "--id", "a", "--public", "--grant-types", "refresh_token", "--reuse-grace", "15"}, `--reuse-grace "15" is not a duration`},
		{"comma scopes", []string{"client", "create", "--id", "a", "--public", "--grant-types", "refresh_token", "--scopes", "read,write"}, "separated by spaces"},
		{"idle over absolute", []string{"client", "create", "--id", "a", "--public", "--grant-types", "refresh_token", "--refresh-idle-ttl", "48h", "--refresh-absolute-ttl", "24h"}, "longer than --refresh-absolute-ttl"},
		{"empty secret", []string{"client", "create", "--id", "a", "--secret", "", "--grant-types", "refresh_token"}, "--secret is empty"},
		{"revoke nothing", []string{"revoke"}, "choose exactly one of --family, --user or --client"},
		{"revoke two", []string{"revoke", "--user", "alice", "--client", "web"}, "choose exactly one of --family, --user or --client"},
		{"user two passwords", []string{"user", "create", "--username", "bob", "--password", "x", "--password-stdin"}, "choose exactly one of --password or --password-stdin"},
		{"user empty password", []string{"user", "create", "--username", "bob", "--password", ""}, "the password is empty"},
		{"unknown flag", []string{"client", "list", "--colour"}, "unknown flag: --colour"},
		{"unknown command", []string{"frobnicate"}, `unknown command "frobnicate"`},
		{"negative tail", []string{"audit", "tail", "-n", "-1"}, "-n must not be negative"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := h.run("", tt.args...)
			if r.code != 2 {
				t.Errorf("exit %d, want 2", r.code)
			}
			if !strings.Contains(r.stderr, tt.want) {
				t.Errorf("stderr does not say %q:\n%s", tt.want, r.stderr)
			}
			if !strings.Contains(r.stderr, "--help") {
				t.Errorf("stderr does not point to --help:\n%s", r.stderr)
			}
			if r.stdout != "" {
				t.Errorf("a failed command wrote to stdout: %q", r.stdout)
			}
		})
	}
}

func TestConfigErrors(t *testing.T) {
	h := newHarness(t)
	cfgFile := filepath.Join(h.dir, "rotor.yaml")
	if err := os.WriteFile(cfgFile, []byte("addr: 127.0.0.1:8080\nreuse_gracee: 10s\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	r := h.run("", "client", "list", "--config", cfgFile)
	if r.code != 1 || !strings.Contains(r.stderr, `unknown key "reuse_gracee" (did you mean "reuse_grace"?)`) {
		t.Fatalf("exit %d, stderr:\n%s", r.code, r.stderr)
	}

	h.env["ROTOR_ACCESS_TOKEN_TTL"] = "ten minutes"
	r = h.run("", "serve", "--reuse-grace", "-1s", "--issuer", "http://auth.example.com")
	if r.code != 1 {
		t.Fatalf("exit %d", r.code)
	}
	for _, want := range []string{"ROTOR_ACCESS_TOKEN_TTL", "reuse_grace must not be negative", "not loopback"} {
		if !strings.Contains(r.stderr, want) {
			t.Errorf("stderr does not say %q:\n%s", want, r.stderr)
		}
	}

	delete(h.env, "ROTOR_ACCESS_TOKEN_TTL")
	h.env["ROTOR_CONFIG"] = cfgFile
	if r := h.run("", "client", "list"); r.code != 1 || !strings.Contains(r.stderr, "reuse_gracee") {
		t.Fatalf("ROTOR_CONFIG was not read: exit %d\n%s", r.code, r.stderr)
	}
}

func TestDatabaseErrors(t *testing.T) {
	h := newHarness(t)
	r := h.run("", "client", "list", "--db", "rotor.db")
	if r.code != 1 || !strings.Contains(r.stderr, `use "sqlite:PATH"`) {
		t.Fatalf("exit %d, stderr:\n%s", r.code, r.stderr)
	}
}
