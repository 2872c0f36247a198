package web

import (
	"strings"
	"testing"
)

// TestLocalReturn: a sign-in goes on only to the /device page (with a
// well-formed code) or the sessions page, rebuilt; anything else, above
// all another site, is refused.
func TestLocalReturn(t *testing.T) {
	for _, tc := range []struct {
		in, want string
	}{
		{"/device", "/device"},
		{"/account/sessions", "/account/sessions"},
		{"/device?user_code=BCDF-GHJK", "/device?user_code=BCDF-GHJK"},
		{"/device?user_code=bcdfghjk", "/device?user_code=BCDF-GHJK"},
		{"/device?user_code=bcdf+ghjk", "/device?user_code=BCDF-GHJK"},
		{"https://evil.example/device", ""},
		{"//evil.example/device", ""},
		{"/\\evil.example", ""},
		{"device", ""},
		{"/device/", ""},
		{"/devices", ""},
		{"/device#x", ""},
		{"/device?", ""},
		{"/device?user_code=AAAA-AAAA", ""},
		{"/device?user_code=BCDF-GHJK&next=https://evil.example", ""},
		{"/device?user_code=BCDF-GHJK&user_code=BCDF-GHJK", ""},
		{"/device?next=/", ""},
		{"/account/sessions?ended=1", ""},
		{"/account/sessions/../../login", ""},
		{"/login", ""},
		{"", ""},
		{"/device?user_code=" + strings.Repeat("B", 300), ""},
	} {
		got, ok := localReturn(tc.in)
		if got != tc.want || ok != (tc.want != "") {
			t.Errorf("localReturn(%q) = %q, %v; want %q", tc.in, got, ok, tc.want)
		}
	}
}

// FuzzLocalReturn: whatever the field holds, the result is one of
// Rotor's two pages (never another host), and accepted unchanged.
func FuzzLocalReturn(f *testing.F) {
	for _, s := range []string{"/device", "/account/sessions", "/device?user_code=bcdf-ghjk", "//x", "/device?user_code=%zz",
		"/device?user_code=BCDF-GHJK;x", "/device?a=b&user_code=BCDFGHJK", "http://x/device"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		got, ok := localReturn(raw)
		if !ok {
			if got != "" {
				t.Fatalf("refused %q with %q", raw, got)
			}
			return
		}
		if got != SessionsPath && got != DevicePath && !strings.HasPrefix(got, DevicePath+"?user_code=") {
			t.Fatalf("localReturn(%q) = %q", raw, got)
		}
		if again, ok := localReturn(got); !ok || again != got {
			t.Fatalf("localReturn(%q) = %q, which gives %q, %v", raw, got, again, ok)
		}
	})
}
