package backend

import (
	"context"
	"path/filepath"
	"strings"
	"testing"
)

func TestParse(t *testing.T) {
	tests := []struct {
		name    string
		dsn     string
		kind    Kind
		path    string
		wantErr string
	}{
		{name: "relative sqlite", dsn: "sqlite:rotor.db", kind: SQLite, path: "rotor.db"},
		{name: "absolute sqlite", dsn: "sqlite:/var/lib/rotor/rotor.db", kind: SQLite, path: "/var/lib/rotor/rotor.db"},
		{name: "postgres", dsn: "postgres://rotor:pw@db:5432/rotor?sslmode=require", kind: Postgres},
		{name: "postgresql", dsn: "postgresql://db/rotor", kind: Postgres},
		{name: "empty", dsn: "", wantErr: "no database given"},
		{name: "bare path", dsn: "rotor.db", wantErr: "not a DSN Rotor knows"},
		{name: "sqlite without path", dsn: "sqlite:", wantErr: "no file path"},
		{name: "sqlite url form", dsn: "sqlite://rotor.db", wantErr: `without "//"`},
		{name: "mysql", dsn: "mysql://u:secretpw@h/db", wantErr: "not a DSN Rotor knows"},
		{name: "postgres without host", dsn: "postgres://", wantErr: "not a valid PostgreSQL URL"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			kind, path, err := Parse(tt.dsn)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("Parse(%q) error = %v, want it to mention %q", tt.dsn, err, tt.wantErr)
				}
				if strings.Contains(err.Error(), "secretpw") {
					t.Fatalf("error leaks the password: %v", err)
				}
				return
			}
			if err != nil || kind != tt.kind || path != tt.path {
				t.Fatalf("Parse(%q) = %q, %q, %v; want %q, %q", tt.dsn, kind, path, err, tt.kind, tt.path)
			}
		})
	}
}

func TestEmbedded(t *testing.T) {
	if !IsEmbedded("sqlite:x.db") || IsEmbedded("postgres://h/db") || IsEmbedded("x.db") {
		t.Fatal("IsEmbedded misjudges a DSN")
	}
	if p, ok := SQLitePath("sqlite:/a/b.db"); !ok || p != "/a/b.db" {
		t.Fatalf("SQLitePath = %q, %v", p, ok)
	}
	if _, ok := SQLitePath("postgres://h/db"); ok {
		t.Fatal("SQLitePath accepted a PostgreSQL DSN")
	}
}

func TestRedact(t *testing.T) {
	for in, want := range map[string]string{
		"postgres://rotor:hunter2@db/rotor":    "postgres://rotor:xxxxx@db/rotor",
		"postgres://db/rotor?password=hunter2": "postgres://db/rotor?password=xxxxx",
		"postgres://rotor@db/rotor":            "postgres://rotor@db/rotor",
		"sqlite:rotor.db":                      "sqlite:rotor.db",
		"postgres://rotor:hun%zzter2@db/rotor": "postgres://(redacted)",
	} {
		if got := Redact(in); got != want {
			t.Errorf("Redact(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestOpenSQLite(t *testing.T) {
	ctx := context.Background()
	st, err := Open(ctx, "sqlite:"+filepath.Join(t.TempDir(), "rotor.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	if err := st.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	if err := st.Ping(ctx); err != nil {
		t.Fatal(err)
	}
}

func TestOpenRejectsUnknown(t *testing.T) {
	if _, err := Open(context.Background(), "redis://localhost"); err == nil {
		t.Fatal("Open accepted a redis DSN")
	}
}
