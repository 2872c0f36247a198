package users_test

import (
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/rotor-auth/rotor/internal/users"
)

// FuzzUsername: whatever a person types, Username never panics, and what
// it accepts is bounded, valid UTF-8 and already canonical (normalising
// it again changes nothing), so one user has one spelling.
func FuzzUsername(f *testing.F) {
	for _, s := range []string{"alice", "Alice", "\uff41lice", "bad\x00name", " lead", "ß", "\u0130", ""} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		n, err := users.Username(s)
		if err != nil {
			return
		}
		if !utf8.ValidString(n) || len(n) == 0 || len(n) > users.MaxUsernameLen {
			t.Fatalf("Username(%q) = %q", s, n)
		}
		if again, err := users.Username(n); err != nil || again != n {
			t.Fatalf("Username(%q) = %q, then %q (%v)", s, n, again, err)
		}
	})
}

// FuzzPassword: Password never panics; what it accepts has at least
// MinPasswordLen characters, at most MaxPasswordLen bytes, and is
// canonical (the NFC of what was typed).
func FuzzPassword(f *testing.F) {
	for _, s := range []string{"correct horse", "cafe\u0301-au-lait", "short", "\x00\x00\x00\x00\x00\x00\x00\x00"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		n, err := users.Password(s)
		if err != nil {
			return
		}
		if utf8.RuneCountInString(n) < users.MinPasswordLen || len(n) > users.MaxPasswordLen {
			t.Fatalf("Password(%q) = %q", s, n)
		}
		if again, err := users.Password(n); err != nil || again != n {
			t.Fatalf("Password(%q) = %q, then %q (%v)", s, n, again, err)
		}
	})
}

// FuzzEmail: Email never panics; what it accepts is bounded, has one @
// with text on each side and no spaces, and is its own normal form.
func FuzzEmail(f *testing.F) {
	for _, s := range []string{"alice@example.com", "A@EXAMPLE.COM", "a@b@c", "a @b", "a@\u0130.com", "@", ""} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		e, err := users.Email(s)
		if err != nil {
			return
		}
		if len(e) == 0 || len(e) > users.MaxEmailLen || strings.Count(e, "@") != 1 || strings.ContainsAny(e, " \t\r\n") ||
			strings.HasPrefix(e, "@") || strings.HasSuffix(e, "@") {
			t.Fatalf("Email(%q) = %q", s, e)
		}
		if again, err := users.Email(e); err != nil || again != e {
			t.Fatalf("Email(%q) = %q, then %q (%v)", s, e, again, err)
		}
	})
}
