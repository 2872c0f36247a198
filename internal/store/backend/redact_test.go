package backend

import (
	"cmp"
	"context"
	"fmt"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/rotor-auth/rotor/internal/store/testdb"
)

// secretMark is in every password of the cases below; nothing Rotor
// prints may contain it.
const secretMark = "hunter"

// dsnsWithPasswords are DSNs in every form pgx reads, each carrying a
// password that contains secretMark.
var dsnsWithPasswords = map[string]string{
	"url userinfo":             "postgres://rotor:hunter2@db/rotor",
	"url query":                "postgres://db/rotor?sslmode=disable&password=hunter2",
	"url query, encoded key":   "postgres://db/rotor?pass%77ord=hunter2",
	"url query, bad escape":    "postgres://db/rotor?password=hun%zzter2",
	"url query, semicolon":     "postgres://db/rotor?sslmode=disable;password=hunter2",
	"url sslpassword":          "postgres://db/rotor?sslpassword=hunter2",
	"url unescaped slash":      "postgres://rotor:hunter/2@db/rotor",
	"url unescaped question":   "postgres://rotor:12?hunter@db/rotor",
	"url bad escape":           "postgres://rotor:hun%zzter2@db/rotor",
	"keyword":                  "host=db user=rotor password=hunter2 dbname=rotor",
	"keyword first":            "password=hunter2 host=db",
	"keyword quoted":           "host=db password='hunter 2' dbname=rotor",
	"keyword quoted, escapes":  `host=db password='it\'s hunter\\2' dbname=rotor`,
	"keyword spaced":           "host=db password = hunter2 dbname=rotor",
	"keyword escaped space":    `host=db password=hunter\ 2 dbname=rotor`,
	"keyword sslpassword":      "host=db sslpassword=hunter2",
	"keyword upper case":       "host=db PASSWORD=hunter2",
	"keyword unterminated":     "host=db password='hunter2 dbname=rotor",
	"keyword tabs and newline": "host=db\tpassword=hunter2\ndbname=rotor",
}

func TestRedactHidesEveryPassword(t *testing.T) {
	for name, dsn := range dsnsWithPasswords {
		t.Run(name, func(t *testing.T) {
			got := Redact(dsn)
			if strings.Contains(got, secretMark) || strings.Contains(got, "2@") {
				t.Fatalf("Redact(%q) = %q: the password shows", dsn, got)
			}
		})
	}
}

func TestRedactKeepsTheRest(t *testing.T) {
	for in, want := range map[string]string{
		"host=db user=rotor password=hunter2 dbname=rotor":     "host=db user=rotor password=xxxxx dbname=rotor",
		"host=db password='hunter 2' dbname='my db'":           "host=db password=xxxxx dbname='my db'",
		`host=db password='it\'s hunter' application_name=a`:   "host=db password=xxxxx application_name=a",
		"host=db password = hunter2 port=5433":                 "host=db password=xxxxx port=5433",
		"host=db user=rotor":                                   "host=db user=rotor",
		"postgres://db/rotor?sslmode=disable&password=hunter2": "postgres://db/rotor?sslmode=disable&password=xxxxx",
		"postgres://rotor:hunter/2@db/rotor":                   "postgres://(redacted)",
	} {
		if got := Redact(in); got != want {
			t.Errorf("Redact(%q) = %q, want %q", in, got, want)
		}
	}
}

// TestKeywordDSNIsPostgres: pgx reads the keyword/value form as well as
// URLs, so Rotor takes it too, and says what is wrong with a broken one
// without showing the password.
func TestKeywordDSNIsPostgres(t *testing.T) {
	for _, dsn := range []string{
		"host=db user=rotor password=hunter2 dbname=rotor",
		"host=/var/run/postgresql dbname=rotor",
		"  dbname = rotor  ",
		"host=db password='hunter 2'",
	} {
		if kind, _, err := Parse(dsn); err != nil || kind != Postgres {
			t.Errorf("Parse(%q) = %q, %v; want postgres", dsn, kind, err)
		}
		if IsEmbedded(dsn) {
			t.Errorf("IsEmbedded(%q)", dsn)
		}
	}
	for dsn, want := range map[string]string{
		"host=db password='hunter2": "malformed",
		"host=db password hunter2":  "malformed",
		"colour=blue size=9":        "not a DSN Rotor knows",
	} {
		_, _, err := Parse(dsn)
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("Parse(%q) = %v, want an error saying %q", dsn, err, want)
			continue
		}
		if strings.Contains(err.Error(), secretMark) {
			t.Errorf("Parse(%q): the error shows the password: %v", dsn, err)
		}
	}
}

// TestParseAndOpenErrorsHidePasswords: no error that Parse or Open
// returns, whatever pgx makes of the DSN, holds its password.
func TestParseAndOpenErrorsHidePasswords(t *testing.T) {
	for name, dsn := range dsnsWithPasswords {
		if _, _, err := Parse(dsn); err != nil && strings.Contains(err.Error(), secretMark) {
			t.Errorf("Parse, %s: the error shows the password: %v", name, err)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for name, dsn := range map[string]string{
		// pgx refuses these when it parses them.
		"keyword, bad sslmode":        "host=127.0.0.1 port=1 password=hunter2 sslmode=bogus",
		"keyword spaced, bad sslmode": "host=127.0.0.1 port=1 password = hunter2 sslmode=bogus",
		"keyword quoted, bad sslmode": `host=127.0.0.1 port=1 password='it\'s hunter2' sslmode=bogus`,
		"url, bad sslmode":            "postgres://rotor:hunter2@127.0.0.1:1/rotor?sslmode=bogus",
		"url query, bad sslmode":      "postgres://127.0.0.1:1/rotor?password=hunter2&sslmode=bogus",
		// Nothing listens on port 1: the connection fails.
		"keyword, no server":         "host=127.0.0.1 port=1 user=rotor password=hunter2 dbname=rotor connect_timeout=2 sslmode=disable",
		"url, no server":             "postgres://rotor:hunter2@127.0.0.1:1/rotor?connect_timeout=2&sslmode=disable",
		"url sslpassword, no server": "postgres://127.0.0.1:1/rotor?sslpassword=hunter2&connect_timeout=2&sslmode=disable",
	} {
		t.Run(name, func(t *testing.T) {
			st, err := Open(ctx, dsn)
			if err == nil {
				st.Close()
				t.Fatalf("Open(%q) succeeded", dsn)
			}
			if strings.Contains(err.Error(), secretMark) {
				t.Fatalf("the error shows the password: %v", err)
			}
		})
	}
}

// FuzzKeywords: whatever a keyword/value DSN holds, Redact never panics,
// and one that parses is written back as the same settings, its secrets
// replaced.
func FuzzKeywords(f *testing.F) {
	for _, dsn := range dsnsWithPasswords {
		f.Add(dsn)
	}
	f.Add(`a='' b=\' c='\\'`)
	f.Fuzz(func(t *testing.T, dsn string) {
		out := Redact(dsn)
		pairs, err := parseKeywords(dsn)
		if err != nil || strings.Contains(dsn, "://") || strings.HasPrefix(dsn, sqlitePrefix) || !strings.Contains(dsn, "=") {
			return
		}
		back, err := parseKeywords(out)
		if err != nil {
			t.Fatalf("Redact(%q) = %q, which does not parse: %v", dsn, out, err)
		}
		if len(back) != len(pairs) {
			t.Fatalf("Redact(%q) = %q: %d settings, want %d", dsn, out, len(back), len(pairs))
		}
		for i, p := range pairs {
			want := p.value
			if secretKey(p.key) {
				want = redacted
			}
			if back[i].key != p.key || back[i].value != want {
				t.Fatalf("Redact(%q) = %q: setting %d is %+v, want %s=%q", dsn, out, i, back[i], p.key, want)
			}
		}
	})
}

// TestOpenKeywordPostgres opens and migrates a real PostgreSQL database
// named in the keyword/value form.
func TestOpenKeywordPostgres(t *testing.T) {
	u, err := url.Parse(testdb.PostgresDSN(t))
	if err != nil {
		t.Fatal(err)
	}
	dsn := fmt.Sprintf("host=%s port=%s dbname=%s user='%s' search_path=%s",
		u.Hostname(), cmp.Or(u.Port(), "5432"), strings.TrimPrefix(u.Path, "/"), u.User.Username(), u.Query().Get("search_path"))
	if pw, ok := u.User.Password(); ok {
		dsn += " password='" + strings.NewReplacer(`\`, `\\`, `'`, `\'`).Replace(pw) + "'"
	}
	if m := u.Query().Get("sslmode"); m != "" {
		dsn += " sslmode=" + m
	}
	ctx := context.Background()
	st, err := Open(ctx, dsn)
	if err != nil {
		t.Fatalf("Open(%s): %v", Redact(dsn), err)
	}
	defer st.Close()
	if err := st.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	if err := st.Ping(ctx); err != nil {
		t.Fatal(err)
	}
}
