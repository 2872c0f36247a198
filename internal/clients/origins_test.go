package clients_test

import (
	"slices"
	"strings"
	"testing"

	"github.com/rotor-auth/rotor/internal/clients"
	"github.com/rotor-auth/rotor/internal/store"
)

func TestParseOrigin(t *testing.T) {
	ok := []struct{ in, want string }{
		{"https://app.example", "https://app.example"},
		{"HTTPS://App.Example", "https://app.example"},
		{"https://app.example:443", "https://app.example"},
		{"http://app.example:80", "http://app.example"},
		{"https://app.example:80", "https://app.example:80"},
		{"http://app.example:443", "http://app.example:443"},
		{"http://127.0.0.1:8080", "http://127.0.0.1:8080"},
		{"http://localhost:3000", "http://localhost:3000"},
		{"http://[::1]:8080", "http://[::1]:8080"},
		{"http://[0:0:0:0:0:0:0:1]", "http://[::1]"},
		{"https://xn--bcher-kva.example", "https://xn--bcher-kva.example"},
	}
	for _, tc := range ok {
		got, err := clients.ParseOrigin(tc.in)
		if err != nil || got != tc.want {
			t.Errorf("ParseOrigin(%q) = %q, %v; want %q", tc.in, got, err, tc.want)
		}
	}
	bad := []string{
		"", "null", "app.example", "//app.example", "ftp://app.example", "file:///etc/passwd",
		"https://", "https://app.example/", "https://app.example/cb", "https://app.example?x=1",
		"https://app.example#f", "https://user@app.example", "https://app.example:", "https://app.example:0",
		"https://app.example:65536", "https://app.example:08080", "https://app.example:+80", "https://app.example:x",
		"https://::1", "https://[::1", "https://[127.0.0.1]", "https://[::ffff:127.0.0.1]", "https://[fe80::1%25eth0]",
		"https://app..example", "https://-app.example", "https://app_x.example", "https://app.example.",
		"https://127.1", "https://0x7f.1", "https://bücher.example", "https://app .example", "https://app.example\n",
		"https://" + strings.Repeat("a", 300), "https://a\\b",
	}
	for _, in := range bad {
		if got, err := clients.ParseOrigin(in); err == nil {
			t.Errorf("ParseOrigin(%q) = %q, want an error", in, got)
		}
	}
}

func TestOrigins(t *testing.T) {
	cases := []struct {
		name string
		c    store.Client
		want []string
	}{
		{"from redirect URIs", store.Client{RedirectURIs: []string{
			"https://App.example/cb", "https://app.example:443/other", "http://127.0.0.1:8080/cb", "http://127.0.0.1/cb",
			"com.example.app:/oauth2redirect", "https://app.example:8443/cb",
		}}, []string{"https://app.example", "http://127.0.0.1:8080", "http://127.0.0.1", "https://app.example:8443"}},
		{"allowed origins win", store.Client{RedirectURIs: []string{"https://app.example/cb"},
			AllowedOrigins: []string{"https://spa.example", "https://SPA.example:443", "not an origin"}},
			[]string{"https://spa.example"}},
		{"an empty list allows none", store.Client{RedirectURIs: []string{"https://app.example/cb"}, AllowedOrigins: []string{}}, nil},
		{"no redirect URIs", store.Client{}, nil},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if got := clients.Origins(&tc.c); !slices.Equal(got, tc.want) {
				t.Fatalf("Origins = %q, want %q", got, tc.want)
			}
		})
	}
}

// FuzzParseOrigin: whatever the input, ParseOrigin does not panic, and
// what it returns is an origin it returns unchanged (one spelling per
// origin, so exact comparison is sound) with no character a header or a
// URL could smuggle.
func FuzzParseOrigin(f *testing.F) {
	for _, s := range []string{"https://app.example", "http://[::1]:8080", "HTTP://A.B:80", "null", "https://a/b", "http://[::ffff:1.2.3.4]"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		o, err := clients.ParseOrigin(s)
		if err != nil {
			return
		}
		again, err := clients.ParseOrigin(o)
		if err != nil || again != o {
			t.Fatalf("ParseOrigin(%q) = %q, which parses to %q, %v", s, o, again, err)
		}
		if rest := o[strings.Index(o, "://")+3:]; strings.ContainsAny(rest, "/?#@\\ \r\n\t\x00") {
			t.Fatalf("origin %q holds a forbidden character", o)
		}
	})
}
