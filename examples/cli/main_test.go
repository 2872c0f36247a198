package main

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/rotor-auth/rotor/internal/audit"
	"github.com/rotor-auth/rotor/internal/store"
	"github.com/rotor-auth/rotor/internal/store/testdb"
	"github.com/rotor-auth/rotor/internal/testrig"
)

// TestCLI builds the example and runs it against a real Rotor and an API
// that echoes the Authorization scheme: login, three runs that each
// refresh a short-lived token, logout, and a run after it.
func TestCLI(t *testing.T) {
	if testing.Short() {
		t.Skip("builds a binary")
	}
	bin := filepath.Join(t.TempDir(), "cli")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	st := testdb.SQLite(t)
	r := testrig.Start(t, st, nil)
	grants := []string{"password", "refresh_token"}
	// Access tokens live 2 s, less than the client's RefreshBefore: every
	// run refreshes.
	r.AddClient(t, store.Client{ID: "cli", GrantTypes: grants, Scopes: []string{"read"}, AccessTokenTTL: testrig.Dur(2 * time.Second)}, "cli-secret")
	r.AddClient(t, store.Client{ID: "app", GrantTypes: grants, Scopes: []string{"read"}, RequireDPoP: true}, "")
	r.AddUser(t, "alice", "correct horse")
	api := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		scheme, _, _ := strings.Cut(req.Header.Get("Authorization"), " ")
		_, _ = io.WriteString(w, "scheme="+scheme+" proof="+boolStr(req.Header.Get("DPoP") != ""))
	}))
	defer api.Close()

	for _, tc := range []struct {
		name, client, secret string
		login                []string
		want                 string
	}{
		{"confidential", "cli", "cli-secret", []string{"login", "-user", "alice"}, "scheme=Bearer proof=false"},
		{"public with DPoP", "app", "", []string{"login", "-user", "alice", "-dpop"}, "scheme=DPoP proof=true"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			cli := func(args ...string) (string, int) {
				ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
				defer cancel()
				cmd := exec.CommandContext(ctx, bin, append([]string{"-issuer", r.URL, "-client-id", tc.client, "-client-secret", tc.secret, "-dir", dir}, args...)...)
				cmd.Env = append(os.Environ(), "ROTOR_PASSWORD=correct horse")
				out, err := cmd.Output()
				var ee *exec.ExitError
				if errors.As(err, &ee) {
					return string(out), ee.ExitCode()
				} else if err != nil {
					t.Fatal(err)
				}
				return string(out), 0
			}
			if _, code := cli(tc.login...); code != 0 {
				t.Fatalf("login exited %d", code)
			}
			if fi, err := os.Stat(filepath.Join(dir, "token.json")); err != nil || fi.Mode().Perm() != 0o600 {
				t.Fatalf("token file: %v", err)
			}
			before := countRotations(t, st, tc.client)
			for range 3 {
				if out, code := cli("get", api.URL); code != 0 || out != tc.want {
					t.Fatalf("get: exit %d, output %q, want %q", code, out, tc.want)
				}
			}
			if tc.client == "cli" && countRotations(t, st, tc.client)-before != 3 {
				t.Errorf("%d rotations for 3 runs with due tokens, want 3", countRotations(t, st, tc.client)-before)
			}
			if _, code := cli("logout"); code != 0 {
				t.Fatalf("logout exited %d", code)
			}
			if _, code := cli("get", api.URL); code != 2 {
				t.Fatalf("get after logout exited %d, want 2 (sign in again)", code)
			}
		})
	}
}

func countRotations(t *testing.T, st store.Store, clientID string) int {
	evs, err := st.ListEvents(context.Background(), store.EventFilter{Type: audit.TokenRotated, ClientID: clientID})
	if err != nil {
		t.Fatal(err)
	}
	return len(evs)
}

func boolStr(b bool) string {
	if b {
		return "true"
	}
	return "false"
}
