package main

import (
	"os"
	"strings"
	"testing"

	"github.com/rotor-auth/rotor/internal/config"
)

// readme returns the lines of the repository's README.
func readme(t *testing.T) []string {
	t.Helper()
	b, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	return strings.Split(string(b), "\n")
}

// TestReadmeCodeFences checks that every code fence of the README closes:
// a closing fence is a line of backticks alone (CommonMark §4.5), so text
// after it on the same line opens a new block instead, which then runs
// to the end of the page.
func TestReadmeCodeFences(t *testing.T) {
	open := 0 // line of the fence now open, 0 for none
	for i, line := range readme(t) {
		if !strings.HasPrefix(line, "```") {
			continue
		}
		switch {
		case open == 0:
			open = i + 1
		case strings.TrimRight(line, " ") == "```":
			open = 0
		default:
			t.Errorf("line %d: the fence opened on line %d closes with text after it: %q", i+1, open, line)
		}
	}
	if open != 0 {
		t.Errorf("the fence opened on line %d never closes", open)
	}
}

// TestReadmeConfigTable checks that the README's configuration table
// lists every configuration key under its YAML key, environment variable
// and flag, and $ROTOR_CONFIG, which names the file.
func TestReadmeConfigTable(t *testing.T) {
	rows := map[string]string{} // first cell → row
	for _, line := range readme(t) {
		if cells := strings.Split(line, "|"); len(cells) > 3 && strings.HasPrefix(line, "| ") {
			rows[strings.TrimSpace(cells[1])] = line
		}
	}
	for _, k := range config.Keys() {
		row, ok := rows["`"+k.Name+"`"]
		if !ok {
			t.Errorf("the configuration table has no row for %s", k.Name)
			continue
		}
		for _, want := range []string{"`" + k.Env + "`", "`--" + k.Flag + "`"} {
			if !strings.Contains(row, want) {
				t.Errorf("the row of %s does not name %s: %s", k.Name, want, row)
			}
		}
	}
	found := false
	for _, row := range rows {
		if strings.Contains(row, "`ROTOR_CONFIG`") && strings.Contains(row, "`--config`") {
			found = true
		}
	}
	if !found {
		t.Error("the configuration table has no row for ROTOR_CONFIG (--config)")
	}
}
