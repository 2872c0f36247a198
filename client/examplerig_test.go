package client_test

import (
	"fmt"
	"os"
	"testing"

	"github.com/rotor-auth/rotor/internal/store"
	"github.com/rotor-auth/rotor/internal/store/testdb"
	"github.com/rotor-auth/rotor/internal/testrig"
)

// exampleTB lets the examples start a real Rotor with the test helpers,
// which take a testing.TB; an example has none. Only the methods those
// helpers call are implemented.
type exampleTB struct {
	testing.TB
	dirs     []string
	cleanups []func()
}

func (e *exampleTB) Helper()                   {}
func (e *exampleTB) Fatal(args ...any)         { panic(fmt.Sprint(args...)) }
func (e *exampleTB) Fatalf(f string, a ...any) { panic(fmt.Sprintf(f, a...)) }
func (e *exampleTB) Errorf(f string, a ...any) { fmt.Fprintf(os.Stderr, f+"\n", a...) }
func (e *exampleTB) Cleanup(f func())          { e.cleanups = append(e.cleanups, f) }
func (e *exampleTB) TempDir() string {
	d, err := os.MkdirTemp("", "rotor-example-")
	if err != nil {
		panic(err)
	}
	e.dirs = append(e.dirs, d)
	return d
}

func (e *exampleTB) stop() {
	for i := len(e.cleanups) - 1; i >= 0; i-- {
		e.cleanups[i]()
	}
	for _, d := range e.dirs {
		os.RemoveAll(d)
	}
}

// startRotor starts a real Rotor on loopback, on SQLite, with a
// confidential client "cli" (secret "cli-secret", password and
// refresh_token grants), a public client "app" that must use DPoP, and a
// user alice (password "correct horse"). It returns the issuer URL and a
// function that stops everything.
func startRotor() (issuer string, stop func()) {
	tb := &exampleTB{}
	r := testrig.Start(tb, testdb.SQLite(tb), nil)
	grants := []string{"password", "refresh_token"}
	r.AddClient(tb, store.Client{ID: "cli", GrantTypes: grants, Scopes: []string{"read"}}, "cli-secret")
	r.AddClient(tb, store.Client{ID: "app", GrantTypes: grants, Scopes: []string{"read"}, RequireDPoP: true}, "")
	r.AddUser(tb, "alice", "correct horse")
	return r.URL, tb.stop
}
