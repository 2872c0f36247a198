package audit_test

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/rotor-auth/rotor/internal/audit"
)

// TestTheSetIsClosedAndDocumented: event types and reasons are unique,
// and docs/design.md names every one of them (and no reason the code
// does not know), so alert rules and metrics can rely on the list.
func TestTheSetIsClosedAndDocumented(t *testing.T) {
	doc, err := os.ReadFile(filepath.Join("..", "..", "docs", "design.md"))
	if err != nil {
		t.Fatal(err)
	}
	i := strings.Index(string(doc), "## 5. Audit events and reasons")
	if i < 0 {
		t.Fatal("docs/design.md has no section on audit events")
	}
	section := string(doc[i:])
	names := append([]string(nil), audit.Types()...)
	for _, r := range audit.Reasons() {
		names = append(names, string(r))
	}
	names = append(names, audit.ProtocolErrors()...)
	seen := map[string]bool{}
	for _, typ := range audit.Types() {
		if seen[typ] {
			t.Errorf("event type %q twice", typ)
		}
		seen[typ] = true
	}
	for _, n := range names {
		if !strings.Contains(section, "`"+n+"`") {
			t.Errorf("docs/design.md does not list %q", n)
		}
	}
	// Every word in backticks in the reasons column is a known reason.
	known := map[string]bool{}
	for _, r := range audit.Reasons() {
		known[string(r)] = true
	}
	for _, c := range audit.ProtocolErrors() {
		known[c] = true
	}
	for _, line := range strings.Split(section, "\n") {
		cells := strings.Split(line, "|")
		if len(cells) < 5 || strings.HasPrefix(strings.TrimSpace(cells[1]), "event type") {
			continue
		}
		for _, f := range strings.Fields(cells[3]) {
			if w, ok := strings.CutPrefix(f, "`"); ok {
				w = strings.TrimSuffix(strings.TrimRight(w, "),"), "`")
				if !known[w] {
					t.Errorf("docs/design.md names the reason %q, which the code does not have", w)
				}
			}
		}
	}
	if audit.ProtocolError("made_up") != audit.ReasonOther || !slices.Contains(audit.Reasons(), audit.ReasonOther) {
		t.Error("an unknown RFC error code is not the reason other")
	}
}
