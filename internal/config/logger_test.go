package config

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
	"time"
)

// TestJSONLogsWriteDurationsForPeople: the JSON handler would write a
// duration as an integer of nanoseconds (startup=8123456); an operator
// reads "8.123456ms".
func TestJSONLogsWriteDurationsForPeople(t *testing.T) {
	var b bytes.Buffer
	c := &Config{LogLevel: "info", LogFormat: "json"}
	c.NewLogger(&b).Info("rotor is serving", "startup", 8123456*time.Nanosecond, "count", 3,
		"timing", map[string]any{"not": "a duration"})
	c.NewLogger(&b).WithGroup("janitor").Info("pass", "took", 2*time.Second)
	lines := strings.Split(strings.TrimSpace(b.String()), "\n")
	if len(lines) != 2 {
		t.Fatalf("want 2 lines:\n%s", b.String())
	}
	var first struct {
		Startup any `json:"startup"`
		Count   any `json:"count"`
	}
	if err := json.Unmarshal([]byte(lines[0]), &first); err != nil {
		t.Fatal(err)
	}
	if first.Startup != "8.123456ms" {
		t.Errorf("startup = %#v, want \"8.123456ms\": %s", first.Startup, lines[0])
	}
	if first.Count != float64(3) {
		t.Errorf("an integer changed: count = %#v: %s", first.Count, lines[0])
	}
	var second struct {
		Janitor struct {
			Took any `json:"took"`
		} `json:"janitor"`
	}
	if err := json.Unmarshal([]byte(lines[1]), &second); err != nil {
		t.Fatal(err)
	}
	if second.Janitor.Took != "2s" {
		t.Errorf("a duration in a group = %#v, want \"2s\": %s", second.Janitor.Took, lines[1])
	}

	// The text format already writes durations so.
	b.Reset()
	(&Config{LogLevel: "info", LogFormat: "text"}).NewLogger(&b).Info("x", "startup", 8*time.Millisecond)
	if !strings.Contains(b.String(), "startup=8ms") {
		t.Errorf("text log: %s", b.String())
	}
}
