package web

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// FuzzParseForm: whatever the body, parsing never panics, and what it
// accepts holds only known fields, each once, within its cap.
func FuzzParseForm(f *testing.F) {
	for _, s := range []string{
		"username=alice&password=pw&csrf_token=abc&request=xyz",
		"username=a&username=b",
		"decision=allow&decision=deny",
		"a=%zz", "=x", "x", "request=" + strings.Repeat("A", 100), "username=%00", "username=%ff",
		"logout=yes&state=%20&client_id=c;d",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, body string) {
		for _, allowed := range []fields{loginFields, consentFields, logoutFields, deviceFields, sessionsFields} {
			r := httptest.NewRequest(http.MethodPost, "/login", strings.NewReader(body))
			r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			form, err := parseForm(r, allowed)
			check(t, form, err, allowed)
			q, err := parseQueryString(body, allowed)
			check(t, q, err, allowed)
		}
	})
}

func check(t *testing.T, f map[string][]string, err error, allowed fields) {
	t.Helper()
	if err != nil {
		if f != nil {
			t.Fatal("a form with an error")
		}
		return
	}
	for name, vs := range f {
		limit, ok := allowed[name]
		if !ok || len(vs) != 1 || len(vs[0]) > limit || vs[0] == "" {
			t.Fatalf("accepted %q = %q", name, vs)
		}
	}
}
