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

	// The text format writes them alike.
	b.Reset()
	(&Config{LogLevel: "info", LogFormat: "text"}).NewLogger(&b).Info("x", "startup", 8*time.Millisecond, "rotation", 720*time.Hour)
	if !strings.Contains(b.String(), "startup=8ms rotation=720h\n") {
		t.Errorf("text log: %s", b.String())
	}
}

// TestLogValue: the configuration logs as every key with its value, the
// database's password left out.
func TestLogValue(t *testing.T) {
	c := Default()
	c.DB = "postgres://rotor:hunter2@db.internal:5432/rotor?sslmode=verify-full"
	var b bytes.Buffer
	(&Config{LogLevel: "debug", LogFormat: "text"}).NewLogger(&b).Debug("configuration", "config", c)
	out := b.String()
	if strings.Contains(out, "hunter2") {
		t.Fatalf("the log shows the database password:\n%s", out)
	}
	for _, want := range []string{"config.addr=127.0.0.1:8080", `config.db="postgres://rotor:xxxxx@db.internal:5432/rotor?sslmode=verify-full"`,
		"config.access_token_ttl=10m", "config.key_rotation=720h", "config.dpop_nonce=false"} {
		if !strings.Contains(out, want) {
			t.Errorf("the log does not say %s:\n%s", want, out)
		}
	}
	for _, k := range Keys() {
		if !strings.Contains(out, " config."+k.Name+"=") {
			t.Errorf("the log leaves out %s:\n%s", k.Name, out)
		}
	}
}
