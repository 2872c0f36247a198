package oauth

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

func TestParseFormBody(t *testing.T) {
	for _, tc := range []struct {
		name, body string
		want       map[string]string
		err        bool
	}{
		{"plain", "grant_type=refresh_token&refresh_token=rt_x", map[string]string{"grant_type": "refresh_token", "refresh_token": "rt_x"}, false},
		{"escapes", "scope=read+write&x=%2F", map[string]string{"scope": "read write", "x": "/"}, false},
		{"empty value is omitted", "scope=&a=1", map[string]string{"a": "1"}, false},
		{"empty beside a value", "scope=&scope=read", map[string]string{"scope": "read"}, false},
		{"invalid UTF-8", "client_id=%FF", nil, true},
		{"NUL", "username=al%00ice", nil, true},
		{"NUL in a name", "a%00=1", nil, true},
		{"UTF-8 kept", "username=%C3%A9", map[string]string{"username": "é"}, false},
		{"repeated", "a=1&a=2", nil, true},
		{"repeated empty", "a=&a=", map[string]string{}, false},
		{"bad escape", "a=%zz", nil, true},
		{"semicolon", "a=1;b=2", nil, true},
		{"empty name", "=1", nil, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f, err := ParseFormBody(tc.body)
			if (err != nil) != tc.err {
				t.Fatalf("err = %v, want error %v", err, tc.err)
			}
			for k, v := range tc.want {
				if f.Get(k) != v || !f.Has(k) {
					t.Errorf("%s = %q, want %q", k, f.Get(k), v)
				}
			}
		})
	}
	f, err := ParseFormBody("resource=a&resource=b")
	if err != nil || len(f.All("resource")) != 2 {
		t.Fatalf("resource may repeat (RFC 8707): %v %v", f, err)
	}
}

func TestParseFormRequest(t *testing.T) {
	req := func(method, ct, body string) *http.Request {
		r := httptest.NewRequest(method, "/token?grant_type=password", strings.NewReader(body))
		if ct != "" {
			r.Header.Set("Content-Type", ct)
		}
		return r
	}
	if _, err := ParseForm(req("POST", "application/x-www-form-urlencoded; charset=UTF-8", "a=1"), 100); err != nil {
		t.Fatal(err)
	}
	f, _ := ParseForm(req("POST", "application/x-www-form-urlencoded", "a=1"), 100)
	if f.Has("grant_type") {
		t.Fatal("query parameters must be ignored")
	}
	for name, r := range map[string]*http.Request{
		"GET":        req("GET", "application/x-www-form-urlencoded", "a=1"),
		"JSON":       req("POST", "application/json", "{}"),
		"no type":    req("POST", "", "a=1"),
		"latin1":     req("POST", "application/x-www-form-urlencoded; charset=iso-8859-1", "a=1"),
		"over limit": req("POST", "application/x-www-form-urlencoded", strings.Repeat("a", 101)),
	} {
		if _, err := ParseForm(r, 100); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}

func TestParseScope(t *testing.T) {
	got, err := ParseScope("read  write read")
	if err != nil || JoinScope(got) != "read write" {
		t.Fatalf("%v %v", got, err)
	}
	for _, bad := range []string{"a\"b", "a\\b", "é", "a\tb"} {
		if _, err := ParseScope(bad); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}

// FuzzParseFormBody: the token-request parser never panics, and whatever
// it accepts has no repeated non-repeatable parameter.
func FuzzParseFormBody(f *testing.F) {
	for _, s := range []string{"grant_type=refresh_token&refresh_token=rt_abc", "a=%zz", "a=1&a=2", "resource=a&resource=b", "=", "&&", "scope=read+write"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, body string) {
		form, err := ParseFormBody(body)
		if err != nil {
			return
		}
		for k, v := range form {
			if len(v) > 1 && !Repeatable[k] {
				t.Fatalf("parameter %q accepted %d times", k, len(v))
			}
			if k == "" {
				t.Fatal("empty parameter name accepted")
			}
		}
	})
}
