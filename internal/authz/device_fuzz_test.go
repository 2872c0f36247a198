package authz_test

import (
	"strings"
	"testing"

	"github.com/rotor-auth/rotor/internal/authz"
)

// FuzzNormalizeUserCode: whatever a person (or anyone) types, reading it
// never panics; what it accepts is 8 letters of the alphabet, read the
// same again, and formats as XXXX-XXXX, which reads back to itself.
func FuzzNormalizeUserCode(f *testing.F) {
	for _, s := range []string{"BCDF-GHJK", "bcdf ghjk", "bcdfghjk", "BCDF--GHJK", "AEIO-UAEI", "BCDF-GHJ", "BCDF-GHJKL",
		"ｂｃｄｆｇｈｊｋ", "BCDF\tGHJK", "BCDF-GHJK\x00", strings.Repeat("-", 70) + "BCDFGHJK", "ǅǅǅǅǅǅǅǅ", "ß"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		code, ok := authz.NormalizeUserCode(s)
		if !ok {
			if code != "" {
				t.Fatalf("refused %q with %q", s, code)
			}
			return
		}
		if len(code) != authz.UserCodeLen {
			t.Fatalf("NormalizeUserCode(%q) = %q: not %d characters", s, code, authz.UserCodeLen)
		}
		for _, c := range []byte(code) {
			if strings.IndexByte(authz.UserCodeAlphabet, c) < 0 {
				t.Fatalf("NormalizeUserCode(%q) = %q: %q is not in the alphabet", s, code, c)
			}
		}
		if again, ok := authz.NormalizeUserCode(code); !ok || again != code {
			t.Fatalf("not idempotent: %q → %q → %q, %v", s, code, again, ok)
		}
		shown := authz.FormatUserCode(code)
		if back, ok := authz.NormalizeUserCode(shown); !ok || back != code || len(shown) != authz.UserCodeLen+1 {
			t.Fatalf("FormatUserCode(%q) = %q reads back as %q, %v", code, shown, back, ok)
		}
	})
}
