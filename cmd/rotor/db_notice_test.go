package main

import (
	"path/filepath"
	"strings"
	"testing"
)

// TestWriteCommandsNameTheDatabase runs write commands in a fresh folder
// with no --db: the first says it created a new database and where, the
// next names the database it changed, so a command run from the wrong
// folder does not silently write to a second database.
func TestWriteCommandsNameTheDatabase(t *testing.T) {
	h := newHarness(t)
	delete(h.env, "ROTOR_DATABASE_URL") // the default, sqlite:rotor.db in the current folder
	dir := t.TempDir()
	t.Chdir(dir)
	abs, err := filepath.Abs("rotor.db")
	if err != nil {
		t.Fatal(err)
	}

	r := h.run("", "client", "create", "--id", "a", "--public", "--grant-types", "refresh_token")
	if r.code != 0 {
		t.Fatalf("exit %d\n%s", r.code, r.stderr)
	}
	if want := "created a new database sqlite:" + abs; !strings.Contains(r.stderr, want) {
		t.Errorf("the first write command does not say %q:\n%s", want, r.stderr)
	}
	if !strings.Contains(r.stderr, "--db") {
		t.Errorf("the first write command does not point to --db:\n%s", r.stderr)
	}

	r = h.run("", "client", "create", "--id", "b", "--public", "--grant-types", "refresh_token")
	if r.code != 0 {
		t.Fatalf("exit %d\n%s", r.code, r.stderr)
	}
	if want := "rotor: database sqlite:" + abs + "\n"; !strings.Contains(r.stderr, want) {
		t.Errorf("the second write command does not say %q:\n%s", want, r.stderr)
	}
	if strings.Contains(r.stderr, "created a new database") {
		t.Errorf("the second write command says it created a database:\n%s", r.stderr)
	}
	for _, args := range [][]string{{"keys", "rotate"}, {"gc"}} {
		if r := h.run("", args...); r.code != 0 || !strings.Contains(r.stderr, "rotor: database sqlite:"+abs) {
			t.Errorf("%v: exit %d, does not name its database:\n%s", args, r.code, r.stderr)
		}
	}
}

// TestFailedCommandInANewFolderSaysSo: a command that fails where it just
// created a database (the wrong folder, say) still says it created one.
func TestFailedCommandInANewFolderSaysSo(t *testing.T) {
	h := newHarness(t)
	delete(h.env, "ROTOR_DATABASE_URL")
	t.Chdir(t.TempDir())
	r := h.run("", "client", "delete", "--id", "web")
	if r.code != 1 || !strings.Contains(r.stderr, `no client with id "web"`) || !strings.Contains(r.stderr, "created a new database") {
		t.Fatalf("exit %d:\n%s", r.code, r.stderr)
	}
}

// TestNegativeReuseGrace: 0s is a valid grace period (it disables it), so
// a negative one must be called negative, not "not longer than zero".
func TestNegativeReuseGrace(t *testing.T) {
	h := newHarness(t)
	r := h.run("", "client", "create", "--id", "a", "--public", "--grant-types", "refresh_token", "--reuse-grace", "-5s")
	if r.code != 2 {
		t.Errorf("exit %d, want 2", r.code)
	}
	if want := "--reuse-grace must not be negative, got -5s"; !strings.Contains(r.stderr, want) {
		t.Errorf("stderr does not say %q:\n%s", want, r.stderr)
	}
	if strings.Contains(r.stderr, "longer than zero") {
		t.Errorf("stderr says the grace period must be longer than zero, where 0s is valid:\n%s", r.stderr)
	}
	if r := h.run("", "client", "create", "--id", "b", "--public", "--grant-types", "refresh_token", "--reuse-grace", "0s"); r.code != 0 {
		t.Errorf("--reuse-grace 0s: exit %d\n%s", r.code, r.stderr)
	}
}
