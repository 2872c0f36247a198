package config

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/rotor-auth/rotor/internal/secret"
)

func TestMasterKeyPath(t *testing.T) {
	for dsn, want := range map[string]string{
		"sqlite:rotor.db":                 "rotor.db.masterkey",
		"sqlite:/var/lib/rotor/auth.db":   "/var/lib/rotor/auth.db.masterkey",
		"sqlite:data/rotor":               "data/rotor.masterkey",
		"postgres://db.example.com/rotor": "",
	} {
		got, ok := MasterKeyPath(dsn)
		if got != want || ok != (want != "") {
			t.Errorf("MasterKeyPath(%q) = %q, %v; want %q", dsn, got, ok, want)
		}
	}
}

func TestMasterKey(t *testing.T) {
	fixed := bytes.Repeat([]byte{9}, secret.MasterKeySize)
	tests := []struct {
		name    string
		env     map[string]string
		setup   func(t *testing.T, dir string) *Config
		wantErr string
		check   func(t *testing.T, dir string, key []byte)
	}{
		{
			name: "created beside an embedded database, 0600",
			setup: func(t *testing.T, dir string) *Config {
				return &Config{DB: "sqlite:" + filepath.Join(dir, "rotor.db")}
			},
			check: func(t *testing.T, dir string, key []byte) {
				fi, err := os.Stat(filepath.Join(dir, "rotor.db.masterkey"))
				if err != nil {
					t.Fatal(err)
				}
				if fi.Mode().Perm() != 0o600 {
					t.Fatalf("key file mode %04o, want 0600", fi.Mode().Perm())
				}
				again, err := (&Config{DB: "sqlite:" + filepath.Join(dir, "rotor.db")}).MasterKey(nil, nil)
				if err != nil || !bytes.Equal(again, key) {
					t.Fatalf("second load: %v; same key %v", err, bytes.Equal(again, key))
				}
				entries, _ := os.ReadDir(dir)
				if len(entries) != 1 {
					t.Fatalf("stray files left beside the key: %v", entries)
				}
			},
		},
		{
			name: "environment wins over everything",
			env:  map[string]string{EnvMasterKey: secret.EncodeMasterKey(fixed)},
			setup: func(t *testing.T, dir string) *Config {
				return &Config{DB: "sqlite:" + filepath.Join(dir, "rotor.db"), MasterKeyFile: filepath.Join(dir, "nope")}
			},
			check: func(t *testing.T, dir string, key []byte) {
				if !bytes.Equal(key, fixed) {
					t.Fatal("ROTOR_MASTER_KEY was not used")
				}
				if _, err := os.Stat(filepath.Join(dir, "rotor.db.masterkey")); err == nil {
					t.Fatal("a key file was created although ROTOR_MASTER_KEY is set")
				}
			},
		},
		{
			name:    "environment in hex, wrong length",
			env:     map[string]string{EnvMasterKey: "abcd"},
			setup:   func(t *testing.T, dir string) *Config { return &Config{DB: "sqlite:x.db"} },
			wantErr: "ROTOR_MASTER_KEY: master key must be 32 bytes",
		},
		{
			name: "master_key_file",
			setup: func(t *testing.T, dir string) *Config {
				p := filepath.Join(dir, "key")
				if err := os.WriteFile(p, []byte(secret.EncodeMasterKey(fixed)+"\n"), 0o600); err != nil {
					t.Fatal(err)
				}
				return &Config{DB: "postgres://db/rotor", MasterKeyFile: p}
			},
			check: func(t *testing.T, dir string, key []byte) {
				if !bytes.Equal(key, fixed) {
					t.Fatal("master_key_file was not used")
				}
			},
		},
		{
			name: "key file readable by others",
			setup: func(t *testing.T, dir string) *Config {
				p := filepath.Join(dir, "rotor.db.masterkey")
				if err := os.WriteFile(p, []byte(secret.EncodeMasterKey(fixed)), 0o600); err != nil {
					t.Fatal(err)
				}
				if err := os.Chmod(p, 0o644); err != nil {
					t.Fatal(err)
				}
				return &Config{DB: "sqlite:" + filepath.Join(dir, "rotor.db")}
			},
			wantErr: "mode 0644, readable by others: run chmod 600",
		},
		{
			name: "missing master_key_file is not invented",
			setup: func(t *testing.T, dir string) *Config {
				return &Config{DB: "sqlite:" + filepath.Join(dir, "rotor.db"), MasterKeyFile: filepath.Join(dir, "key")}
			},
			wantErr: "does not exist",
		},
		{
			name:    "postgres without a key",
			setup:   func(t *testing.T, dir string) *Config { return &Config{DB: "postgres://db/rotor"} },
			wantErr: "every replica sharing a PostgreSQL database must use the same key",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			c := tt.setup(t, dir)
			key, err := c.MasterKey(env(tt.env), nil)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("MasterKey error = %v, want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if len(key) != secret.MasterKeySize {
				t.Fatalf("key of %d bytes", len(key))
			}
			tt.check(t, dir, key)
		})
	}
}

func TestMasterKeyConcurrentCreation(t *testing.T) {
	dir := t.TempDir()
	c := &Config{DB: "sqlite:" + filepath.Join(dir, "rotor.db")}
	keys := make(chan []byte, 8)
	for range 8 {
		go func() {
			k, err := c.MasterKey(nil, nil)
			if err != nil {
				t.Error(err)
			}
			keys <- k
		}()
	}
	first := <-keys
	for range 7 {
		if k := <-keys; !bytes.Equal(k, first) {
			t.Fatal("two processes starting at once got different master keys")
		}
	}
}
