package resource_test

import (
	"os/exec"
	"strings"
	"testing"
)

// TestImportsOnlyStdlibAndJose keeps the package light: an API that
// imports it must not pull in a database driver or anything of Rotor's
// server. go list -deps names every package it links, transitively.
func TestImportsOnlyStdlibAndJose(t *testing.T) {
	out, err := exec.Command("go", "list", "-deps", "-f", "{{if not .Standard}}{{.ImportPath}}{{end}}",
		"github.com/rotor-auth/rotor/resource").CombinedOutput()
	if err != nil {
		t.Fatalf("go list: %v\n%s", err, out)
	}
	var deps []string
	for _, p := range strings.Fields(string(out)) {
		switch {
		case p == "github.com/rotor-auth/rotor/resource":
		case p == "github.com/go-jose/go-jose/v4" || strings.HasPrefix(p, "github.com/go-jose/go-jose/v4/"):
			deps = append(deps, p)
		default:
			t.Errorf("resource depends on %s; only the standard library and go-jose are allowed", p)
		}
	}
	if len(deps) == 0 {
		t.Fatalf("go list found no go-jose dependency; is the check looking at the right package? output: %q", out)
	}
}
