package main

import (
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/rotor-auth/rotor/internal/store/testdb"
)

// embeddedMigrations lists the migration files of a backend, as
// "0001_init", in order.
func embeddedMigrations(t *testing.T, backend string) []string {
	t.Helper()
	files, err := filepath.Glob(filepath.Join("..", "..", "internal", "store", backend, "migrations", "*.sql"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no migrations of %s: %v", backend, err)
	}
	slices.Sort(files)
	for i, f := range files {
		files[i] = strings.TrimSuffix(filepath.Base(f), ".sql")
	}
	return files
}

// TestMigrateSaysWhatItApplied: on a new database migrate names every
// migration it applied; run again it says the database is up to date.
func TestMigrateSaysWhatItApplied(t *testing.T) {
	for _, tc := range []struct {
		backend string
		db      func(t *testing.T, h *harness) string
	}{
		{"sqlite", func(t *testing.T, h *harness) string { return "sqlite:" + filepath.Join(h.dir, "fresh.db") }},
		{"postgres", func(t *testing.T, h *harness) string { return testdb.PostgresDSN(t) }},
	} {
		t.Run(tc.backend, func(t *testing.T) {
			h := newHarness(t)
			h.env["ROTOR_DATABASE_URL"] = tc.db(t, h)
			names := embeddedMigrations(t, tc.backend)

			out := h.ok("migrate")
			want := fmt.Sprintf("Applied %d migrations to ", len(names))
			if !strings.HasPrefix(out, want) || !strings.HasSuffix(out, ": "+strings.Join(names, ", ")+".\n") {
				t.Errorf("the first migrate said %q, want %q… naming %s", out, want, strings.Join(names, ", "))
			}

			out = h.ok("migrate")
			if !strings.Contains(out, "is up to date") || !strings.Contains(out, fmt.Sprintf("%d migrations applied, none missing", len(names))) {
				t.Errorf("the second migrate said %q", out)
			}
		})
	}
}

func TestMigrationReport(t *testing.T) {
	names := []string{"0001_init", "0002_client_keys", "0003_more"}
	tests := []struct {
		name          string
		before, after []int
		applied       []string
		unknown       []int
	}{
		{"fresh", nil, []int{1, 2, 3}, []string{"0001_init", "0002_client_keys", "0003_more"}, nil},
		{"one missing", []int{1, 2}, []int{1, 2, 3}, []string{"0003_more"}, nil},
		{"up to date", []int{1, 2, 3}, []int{1, 2, 3}, nil, nil},
		{"migrated by a newer binary", []int{1, 2, 3, 4}, []int{1, 2, 3, 4}, nil, []int{4}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			applied, unknown := migrationReport(names, tt.before, tt.after)
			if !slices.Equal(applied, tt.applied) || !slices.Equal(unknown, tt.unknown) {
				t.Errorf("got applied %v unknown %v, want %v and %v", applied, unknown, tt.applied, tt.unknown)
			}
		})
	}
}
