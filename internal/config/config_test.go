package config

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func writeFile(t *testing.T, body string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "rotor.yaml")
	if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func env(m map[string]string) func(string) (string, bool) {
	return func(k string) (string, bool) {
		v, ok := m[k]
		return v, ok
	}
}

func TestPrecedence(t *testing.T) {
	file := "addr: 127.0.0.1:9000\naccess_token_ttl: 5m\nreuse_grace: 10s\ndb: sqlite:file.db\nmax_families: 7\n"
	tests := []struct {
		name  string
		file  string
		env   map[string]string
		flags map[string]string
		check func(t *testing.T, c *Config)
	}{
		{
			name: "defaults",
			check: func(t *testing.T, c *Config) {
				want := Default()
				want.Issuer, want.IssuerDerived = "http://127.0.0.1:8080", true
				if *c != *want {
					t.Errorf("got %+v\nwant %+v", c, want)
				}
			},
		},
		{
			name: "file over defaults",
			file: file,
			check: func(t *testing.T, c *Config) {
				if c.Addr != "127.0.0.1:9000" || c.AccessTokenTTL != 5*time.Minute || c.DB != "sqlite:file.db" || c.MaxFamilies != 7 {
					t.Errorf("file not applied: %+v", c)
				}
				if c.Issuer != "http://127.0.0.1:9000" || !c.IssuerDerived {
					t.Errorf("issuer %q not derived from the file's addr", c.Issuer)
				}
				if c.RefreshIdleTTL != 720*time.Hour {
					t.Errorf("a key the file does not set lost its default: %v", c.RefreshIdleTTL)
				}
			},
		},
		{
			name: "env over file",
			file: file,
			env:  map[string]string{"ROTOR_ACCESS_TOKEN_TTL": "2m", "ROTOR_DATABASE_URL": "sqlite:env.db", "ROTOR_ISSUER": "https://auth.example.com", "ROTOR_ADDR": ""},
			check: func(t *testing.T, c *Config) {
				if c.AccessTokenTTL != 2*time.Minute || c.DB != "sqlite:env.db" || c.Issuer != "https://auth.example.com" || c.IssuerDerived {
					t.Errorf("env not applied: %+v", c)
				}
				if c.Addr != "127.0.0.1:9000" {
					t.Errorf("an empty variable overrode the file: addr %q", c.Addr)
				}
				if c.ReuseGrace != 10*time.Second {
					t.Errorf("file value lost: %v", c.ReuseGrace)
				}
			},
		},
		{
			name:  "flags over env",
			file:  file,
			env:   map[string]string{"ROTOR_ACCESS_TOKEN_TTL": "2m", "ROTOR_DATABASE_URL": "sqlite:env.db"},
			flags: map[string]string{"access_token_ttl": "1m", "db": "sqlite:flag.db", "insecure_http": "true"},
			check: func(t *testing.T, c *Config) {
				if c.AccessTokenTTL != time.Minute || c.DB != "sqlite:flag.db" || !c.InsecureHTTP {
					t.Errorf("flags not applied: %+v", c)
				}
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			src := Sources{LookupEnv: env(tt.env), Flags: tt.flags}
			if tt.file != "" {
				src.File = writeFile(t, tt.file)
			}
			c, err := Load(src)
			if err != nil {
				t.Fatal(err)
			}
			tt.check(t, c)
		})
	}
}

func TestLoadProblems(t *testing.T) {
	tests := []struct {
		name  string
		file  string
		env   map[string]string
		flags map[string]string
		want  []string
	}{
		{
			name: "unknown key",
			file: "addr: 127.0.0.1:8080\nacess_token_ttl: 5m\n",
			want: []string{`line 2: unknown key "acess_token_ttl" (did you mean "access_token_ttl"?)`},
		},
		{
			name: "bad values in the file",
			file: "access_token_ttl: 10x\nreuse_grace: 0\nmax_families: many\ninsecure_http: perhaps\n",
			want: []string{
				`line 1: access_token_ttl: "10x" is not a duration`,
				`line 2: reuse_grace: "0" is not a duration`,
				`line 3: max_families: "many" is not a whole number`,
				`line 4: insecure_http: "perhaps" is not true or false`,
			},
		},
		{
			name: "list for a value",
			file: "addr: [a, b]\n",
			want: []string{"line 1: addr: expected a single value, not a list"},
		},
		{
			name: "not yaml",
			file: "addr: [\n",
			want: []string{"is not valid YAML"},
		},
		{
			name:  "bad env and flag",
			env:   map[string]string{"ROTOR_REFRESH_IDLE_TTL": "soon"},
			flags: map[string]string{"access_token_ttl": "-"},
			want:  []string{`ROTOR_REFRESH_IDLE_TTL: "soon" is not a duration`, `--access-token-ttl: "-" is not a duration`},
		},
		{
			name: "missing file",
			want: []string{"does-not-exist.yaml does not exist"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			src := Sources{LookupEnv: env(tt.env), Flags: tt.flags}
			switch {
			case tt.file != "":
				src.File = writeFile(t, tt.file)
			case tt.name == "missing file":
				src.File = filepath.Join(t.TempDir(), "does-not-exist.yaml")
			}
			_, err := Load(src)
			var ce *Error
			if !errors.As(err, &ce) {
				t.Fatalf("Load error = %v, want *Error", err)
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error does not say %q:\n%v", w, err)
				}
			}
		})
	}
}

func TestEmptyFileSetsNothing(t *testing.T) {
	c, err := Load(Sources{File: writeFile(t, "# nothing yet\n")})
	if err != nil {
		t.Fatal(err)
	}
	if c.Addr != Default().Addr {
		t.Fatalf("addr %q", c.Addr)
	}
}

func TestValidateListsEveryProblem(t *testing.T) {
	c := Default()
	c.Issuer = "http://auth.example.com"
	c.DB = "mysql://x"
	c.AccessTokenTTL = 0
	c.RefreshIdleTTL = 2000 * time.Hour
	c.RefreshAbsoluteTTL = 1000 * time.Hour
	c.ReuseGrace = -time.Second
	c.MaxFamilies = 0
	c.KeyAlgorithm = "HS256"
	c.KeyPrepublish = 1000 * time.Hour
	c.LogFormat = "xml"
	c.TLSCert = "cert.pem"
	c.DeviceCodeTTL = 2 * time.Hour
	c.DevicePollInterval = 1500 * time.Millisecond
	err := c.Validate()
	var ce *Error
	if !errors.As(err, &ce) {
		t.Fatalf("Validate = %v", err)
	}
	want := []string{
		"uses http:// on a host that is not loopback",
		"db: ",
		"access_token_ttl must be longer than zero, got 0s",
		"refresh_idle_ttl (2000h) is longer than refresh_absolute_ttl (1000h)",
		"reuse_grace must not be negative",
		"max_families must be at least 1",
		`key_algorithm "HS256" is not one Rotor offers`,
		"key_prepublish (1000h) must be shorter than key_rotation (720h)",
		`log_format "xml"`,
		"tls_cert and tls_key go together",
		"device_code_ttl of 2h is longer than 1h",
		"device_poll_interval must be a whole number of seconds, at least 1s, got 1.5s",
	}
	if len(ce.Problems) != len(want) {
		t.Errorf("got %d problems, want %d:\n%v", len(ce.Problems), len(want), err)
	}
	for _, w := range want {
		if !strings.Contains(err.Error(), w) {
			t.Errorf("error does not say %q", w)
		}
	}
}

func TestIssuer(t *testing.T) {
	tests := []struct {
		name     string
		addr     string
		issuer   string
		insecure bool
		tls      bool
		want     string // issuer after Load, or "" when an error is expected
		wantErr  string
	}{
		{name: "derived loopback", addr: "127.0.0.1:9999", want: "http://127.0.0.1:9999"},
		{name: "derived localhost", addr: "localhost:80", want: "http://localhost:80"},
		{name: "derived https", addr: "127.0.0.1:8443", tls: true, want: "https://127.0.0.1:8443"},
		{name: "every interface", addr: ":8080", wantErr: "listens on every interface"},
		{name: "every interface v4", addr: "0.0.0.0:8080", wantErr: "listens on every interface"},
		{name: "explicit with every interface", addr: ":8080", issuer: "https://auth.example.com", want: "https://auth.example.com"},
		{name: "derived lan address", addr: "10.0.0.5:8080", wantErr: "not loopback"},
		{name: "lan address insecure", addr: "10.0.0.5:8080", insecure: true, want: "http://10.0.0.5:8080"},
		{name: "ipv6 loopback", addr: "127.0.0.1:1", issuer: "http://[::1]:8080", want: "http://[::1]:8080"},
		{name: "relative", issuer: "auth.example.com", wantErr: "not an absolute URL"},
		{name: "ftp", issuer: "ftp://auth.example.com", wantErr: "must use https"},
		{name: "query", issuer: "https://auth.example.com/?a=b", wantErr: "must not have a query"},
		{name: "path", issuer: "https://auth.example.com/tenant", wantErr: "must not have a path"},
		{name: "trailing slash", addr: "127.0.0.1:1", issuer: "https://auth.example.com/", want: "https://auth.example.com/"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			flags := map[string]string{}
			if tt.addr != "" {
				flags["addr"] = tt.addr
			}
			if tt.issuer != "" {
				flags["issuer"] = tt.issuer
			}
			if tt.insecure {
				flags["insecure_http"] = "true"
			}
			if tt.tls {
				flags["tls_cert"], flags["tls_key"] = "c.pem", "k.pem"
			}
			c, err := Load(Sources{Flags: flags})
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("Load error = %v, want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if c.Issuer != tt.want {
				t.Fatalf("issuer %q, want %q", c.Issuer, tt.want)
			}
			if c.InsecureIssuer() != (tt.insecure) {
				t.Fatalf("InsecureIssuer = %v", c.InsecureIssuer())
			}
		})
	}
}

func TestKeys(t *testing.T) {
	seen := map[string]bool{}
	for _, k := range Keys() {
		if k.Help == "" {
			t.Errorf("%s has no help", k.Name)
		}
		if seen[k.Flag] || seen[k.Env] {
			t.Errorf("%s: duplicate flag or variable", k.Name)
		}
		seen[k.Flag], seen[k.Env] = true, true
	}
	k, ok := KeyByFlag("db")
	if !ok || k.Env != "ROTOR_DATABASE_URL" || k.Default != "sqlite:rotor.db" {
		t.Fatalf("db key: %+v", k)
	}
	k, _ = KeyByFlag("refresh-absolute-ttl")
	if k.Default != "2160h" || k.Env != "ROTOR_REFRESH_ABSOLUTE_TTL" {
		t.Fatalf("refresh-absolute-ttl key: %+v", k)
	}
}

func TestFormatDuration(t *testing.T) {
	for d, want := range map[time.Duration]string{
		720 * time.Hour:         "720h",
		10 * time.Minute:        "10m",
		15 * time.Second:        "15s",
		90 * time.Minute:        "1h30m",
		0:                       "0s",
		1500 * time.Millisecond: "1.5s",
	} {
		if got := FormatDuration(d); got != want {
			t.Errorf("FormatDuration(%v) = %q, want %q", d, got, want)
		}
	}
}

// TestAdminAddr: the admin listener's address is HOST:PORT with a valid
// port, and not the public listener's.
func TestAdminAddr(t *testing.T) {
	for _, c := range []struct {
		name, addr, admin, want string
	}{
		{"default", "127.0.0.1:8080", "127.0.0.1:8081", ""},
		{"both any free port", "127.0.0.1:0", "127.0.0.1:0", ""},
		{"no port", "127.0.0.1:8080", "127.0.0.1", `admin_addr "127.0.0.1" is not HOST:PORT`},
		{"bad port", "127.0.0.1:8080", "127.0.0.1:99999", `admin_addr "127.0.0.1:99999" has no valid port`},
		{"same as addr", "127.0.0.1:8080", "127.0.0.1:8080", "is the same as addr"},
	} {
		t.Run(c.name, func(t *testing.T) {
			cfg := Default()
			cfg.Issuer = "http://127.0.0.1:8080"
			cfg.Addr, cfg.AdminAddr = c.addr, c.admin
			err := cfg.Validate()
			switch {
			case c.want == "" && err != nil:
				t.Fatalf("Validate = %v", err)
			case c.want != "" && (err == nil || !strings.Contains(err.Error(), c.want)):
				t.Fatalf("Validate = %v, want it to say %q", err, c.want)
			}
		})
	}
}
