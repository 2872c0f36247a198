package layering_test

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"testing"
)

const module = "github.com/rotor-auth/rotor"

// Layers, bottom first. A package may import only packages of a lower
// layer, and of those only the ones its row names (docs/design.md,
// "Layers").
const (
	leaf          = iota // wire vocabulary and secrets: import no Rotor package
	storeContract        // internal/store: domain types and interfaces
	storeBackend         // the backends, and the suite they all pass
	storeChoice          // choosing a backend from a DSN or for a test
	vocabulary           // audit: events and reason codes
	mechanism            // keys, DPoP, rate limits, metrics: no domain rules
	core                 // families and access tokens
	service              // rules over the core: clients, users, sessions, ...
	httpEdge             // the HTTP packages, one per kind of caller
	wiring               // building the parts from settings
	command              // cmd/rotor
)

var layerNames = map[int]string{
	leaf: "leaf", storeContract: "storage: contract", storeBackend: "storage: backends",
	storeChoice: "storage: choice", vocabulary: "domain: vocabulary", mechanism: "domain: mechanisms",
	core: "domain: core", service: "domain: services", httpEdge: "edge: HTTP",
	wiring: "edge: wiring", command: "edge: command",
}

// rule places one package.
type rule struct {
	layer int
	// may lists the Rotor packages it may import, relative to internal/.
	may []string
	// anyBelow lets it import every package of a lower layer but the test
	// helpers (the wiring does: it builds everything).
	anyBelow bool
	// testOnly packages are imported by tests and by other test helpers,
	// never by a package that ships.
	testOnly bool
}

// rules is the table of docs/design.md. Planned packages are in it before
// they exist, so that they are born in their place; a package that is in
// no row fails the test.
var rules = map[string]rule{
	"internal/oauth":    {layer: leaf},
	"internal/secret":   {layer: leaf},
	"internal/layering": {layer: leaf, testOnly: true},

	"internal/store": {layer: storeContract},

	"internal/store/sqlite":    {layer: storeBackend, may: []string{"store"}},
	"internal/store/postgres":  {layer: storeBackend, may: []string{"store"}},
	"internal/store/storetest": {layer: storeBackend, may: []string{"store"}, testOnly: true},

	"internal/store/backend": {layer: storeChoice, may: []string{"store", "store/sqlite", "store/postgres"}},
	"internal/store/testdb":  {layer: storeChoice, may: []string{"store", "store/sqlite", "store/postgres"}, testOnly: true},

	"internal/audit": {layer: vocabulary, may: []string{"store"}},

	"internal/keys":      {layer: mechanism, may: []string{"secret", "store"}},
	"internal/dpop":      {layer: mechanism},
	"internal/ratelimit": {layer: mechanism, may: []string{"store"}},
	"internal/metrics":   {layer: mechanism, may: []string{"audit", "store"}},

	"internal/family": {layer: core, may: []string{"audit", "secret", "store"}},
	"internal/token":  {layer: core, may: []string{"audit", "keys", "oauth", "secret", "store"}},

	"internal/clients": {layer: service, may: []string{"audit", "family", "oauth", "secret", "store"}},
	"internal/users":   {layer: service, may: []string{"audit", "family", "oauth", "ratelimit", "secret", "store"}},
	"internal/session": {layer: service, may: []string{"audit", "family", "secret", "store"}},
	"internal/authz":   {layer: service, may: []string{"audit", "family", "oauth", "secret", "store"}},
	"internal/policy":  {layer: service, may: []string{"audit", "oauth", "secret", "store"}},
	"internal/alert":   {layer: service, may: []string{"audit", "secret", "store"}},
	"internal/janitor": {layer: service, may: []string{"audit", "store"}},

	"internal/server": {layer: httpEdge, may: []string{"audit", "authz", "clients", "dpop", "family", "metrics",
		"oauth", "policy", "ratelimit", "secret", "store", "token", "users"}},
	"internal/web": {layer: httpEdge, may: []string{"audit", "authz", "clients", "family", "metrics",
		"oauth", "ratelimit", "secret", "session", "store", "token", "users"}},
	"internal/adminapi": {layer: httpEdge, may: []string{"alert", "audit", "clients", "family", "keys", "metrics",
		"oauth", "secret", "session", "store", "token", "users"}},

	"internal/config":  {layer: wiring, anyBelow: true},
	"internal/bench":   {layer: wiring, anyBelow: true},
	"internal/testrig": {layer: wiring, anyBelow: true, testOnly: true},
	// A private PostgreSQL for fault tests.
	"internal/store/testdb/pgproc": {layer: wiring, anyBelow: true, testOnly: true},

	"cmd/rotor": {layer: command, anyBelow: true},
}

// public are the packages others import, and the examples that show how:
// they must not link anything of internal/ (an outside module cannot).
var public = []string{"resource", "client", "examples/api", "examples/cli", "examples/spa", "examples/web"}

// allows reports whether the package of rule r may import dep (both
// relative to the module), and if not, why.
func allows(r rule, dep string) (bool, string) {
	d, ok := rules[dep]
	switch {
	case !ok:
		return false, "which is in no layer"
	case d.layer > r.layer:
		return false, fmt.Sprintf("a package of a higher layer (%d %s)", d.layer, layerNames[d.layer])
	case d.layer == r.layer:
		return false, fmt.Sprintf("a package of its own layer (%d %s); peers never import each other", d.layer, layerNames[d.layer])
	case d.testOnly && !r.testOnly:
		return false, "a test helper; only tests and other test helpers import it"
	case r.anyBelow:
		return true, ""
	case !slices.Contains(r.may, strings.TrimPrefix(dep, "internal/")):
		return false, fmt.Sprintf("a lower package (%d %s) but not one it may import (%s)",
			d.layer, layerNames[d.layer], mayText(r))
	}
	return true, ""
}

func mayText(r rule) string {
	if len(r.may) == 0 {
		return "none"
	}
	return strings.Join(r.may, ", ")
}

// listed is what go list says of one package.
type listed struct {
	ImportPath string
	Imports    []string
	Deps       []string
	Error      *struct{ Err string }
}

// goList lists every package of the module with its direct imports and
// its dependencies, without test files.
func goList(t *testing.T) map[string]listed {
	t.Helper()
	cmd := exec.Command("go", "list", "-e", "-json=ImportPath,Imports,Deps,Error", module+"/...")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go list: %v\n%s", err, stderr.Bytes())
	}
	pkgs := map[string]listed{}
	dec := json.NewDecoder(bytes.NewReader(out))
	for {
		var p listed
		if err := dec.Decode(&p); err == io.EOF {
			break
		} else if err != nil {
			t.Fatalf("go list output: %v", err)
		}
		if p.Error != nil {
			// An import cycle is an upward import too: report it, and let
			// the layer check below name the import that closes it.
			t.Errorf("go list %s: %s", p.ImportPath, p.Error.Err)
		}
		rel, ok := relative(p.ImportPath)
		if !ok {
			t.Fatalf("go list named %s, outside the module", p.ImportPath)
		}
		pkgs[rel] = p
	}
	if len(pkgs) < 10 {
		t.Fatalf("go list found only %d packages; is it looking at the module? output: %q", len(pkgs), out)
	}
	return pkgs
}

// relative returns a Rotor package's path relative to the module.
func relative(importPath string) (string, bool) {
	return strings.CutPrefix(importPath, module+"/")
}

// TestLayers fails when a package imports one above it, a peer of its
// layer, a test helper, or a lower package its row does not name; when a
// package is in no layer; and when a public package links internal/.
// Test files are not checked: a test may drive the whole server.
func TestLayers(t *testing.T) {
	pkgs := goList(t)
	for _, rel := range sortedKeys(pkgs) {
		p := pkgs[rel]
		if slices.Contains(public, rel) {
			for _, dep := range p.Deps {
				if d, ok := relative(dep); ok && (strings.HasPrefix(d, "internal/") || strings.HasPrefix(d, "cmd/")) {
					t.Errorf("%s depends on %s: public packages and examples must not link anything of internal/", rel, d)
				}
			}
			continue
		}
		r, ok := rules[rel]
		if !ok {
			t.Errorf("%s is in no layer: place it in the table of docs/design.md (Layers) and in the rules of this test", rel)
			continue
		}
		for _, imp := range p.Imports {
			dep, ok := relative(imp)
			if !ok {
				continue // the standard library and third-party modules
			}
			if ok, why := allows(r, dep); !ok {
				t.Errorf("%s (layer %d %s) imports %s, %s; see docs/design.md (Layers)",
					rel, r.layer, layerNames[r.layer], dep, why)
			}
		}
	}
	for _, rel := range public {
		if _, ok := pkgs[rel]; !ok {
			t.Errorf("public package %s is gone: update the list in this test and docs/design.md", rel)
		}
	}
}

// TestRulesOnlyPointDown checks the table itself: a row may name only
// packages of the table, of lower layers, and test helpers only for a
// test helper. So no row can allow what the layers forbid.
func TestRulesOnlyPointDown(t *testing.T) {
	for _, rel := range sortedKeys(rules) {
		r := rules[rel]
		if r.anyBelow && len(r.may) > 0 {
			t.Errorf("%s: a row is either 'anything below' or a list, not both", rel)
		}
		for _, m := range r.may {
			if ok, why := allows(rule{layer: r.layer, anyBelow: true, testOnly: r.testOnly}, "internal/"+m); !ok {
				t.Errorf("%s may import %s, %s", rel, m, why)
			}
		}
	}
}

// TestDesignDocMatches keeps docs/design.md and the rules above the same:
// every row of the doc's table is a rule here, with the same layer and the
// same imports, and the other way round.
func TestDesignDocMatches(t *testing.T) {
	doc, err := parseDesignTable("../../docs/design.md")
	if err != nil {
		t.Fatal(err)
	}
	for _, rel := range sortedKeys(rules) {
		want := rules[rel]
		got, ok := doc[rel]
		if !ok {
			t.Errorf("docs/design.md has no row for %s", rel)
			continue
		}
		if got.layer != want.layer || got.anyBelow != want.anyBelow || got.testOnly != want.testOnly ||
			!sameSet(got.may, want.may) {
			t.Errorf("%s: docs/design.md says layer %d, anything below %v, tests only %v, may import %s;\n"+
				"this test says layer %d, anything below %v, tests only %v, may import %s",
				rel, got.layer, got.anyBelow, got.testOnly, mayText(got),
				want.layer, want.anyBelow, want.testOnly, mayText(want))
		}
	}
	for _, rel := range sortedKeys(doc) {
		if _, ok := rules[rel]; !ok {
			t.Errorf("docs/design.md has a row for %s, which this test does not know", rel)
		}
	}
}

// parseDesignTable reads the rows of the layer table of docs/design.md,
// the one whose header starts "| package | layer |":
//
//	| `internal/family` | 6 domain: core | `audit` `secret` `store` |
//
// The second cell is the layer's number and name, and ", tests only" for
// a test helper; the third lists backquoted names relative to internal/,
// or says "anything below", or "none".
func parseDesignTable(path string) (map[string]rule, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	rows := map[string]rule{}
	sc := bufio.NewScanner(f)
	inTable := false
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		switch {
		case strings.HasPrefix(line, "| package | layer |"):
			inTable = true
			continue
		case !strings.HasPrefix(line, "|"):
			inTable = false
			continue
		case !inTable || strings.HasPrefix(line, "|---"):
			continue
		}
		cells := strings.Split(strings.Trim(line, "|"), "|")
		if len(cells) != 3 {
			return nil, fmt.Errorf("%s:%d: a table row needs 3 cells: %s", path, n, line)
		}
		pkg := strings.Trim(strings.TrimSpace(cells[0]), "`")
		layerCell, mayCell := strings.TrimSpace(cells[1]), strings.TrimSpace(cells[2])
		num, _, _ := strings.Cut(layerCell, " ")
		layer, err := strconv.Atoi(num)
		if err != nil {
			return nil, fmt.Errorf("%s:%d: the layer cell must start with its number: %s", path, n, line)
		}
		r := rule{layer: layer, testOnly: strings.HasSuffix(layerCell, ", tests only")}
		want := fmt.Sprintf("%d %s", layer, layerNames[layer])
		if r.testOnly {
			want += ", tests only"
		}
		if layerCell != want {
			return nil, fmt.Errorf("%s:%d: the layer cell of %s should read %q", path, n, pkg, want)
		}
		switch {
		case strings.HasPrefix(mayCell, "anything below"):
			r.anyBelow = true
		case mayCell == "none":
		default:
			for _, w := range strings.Fields(mayCell) {
				if !strings.HasPrefix(w, "`") || !strings.HasSuffix(w, "`") {
					return nil, fmt.Errorf("%s:%d: imports must be backquoted names: %s", path, n, line)
				}
				r.may = append(r.may, strings.Trim(w, "`"))
			}
		}
		if _, dup := rows[pkg]; dup {
			return nil, fmt.Errorf("%s:%d: a second row for %s", path, n, pkg)
		}
		rows[pkg] = r
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	if len(rows) == 0 {
		return nil, fmt.Errorf("%s: no layer table found", path)
	}
	return rows, nil
}

func sameSet(a, b []string) bool {
	a, b = slices.Sorted(slices.Values(a)), slices.Sorted(slices.Values(b))
	return slices.Equal(a, b)
}

func sortedKeys[V any](m map[string]V) []string { return slices.Sorted(maps.Keys(m)) }
