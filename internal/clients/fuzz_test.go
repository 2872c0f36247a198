package clients_test

import (
	"net/url"
	"slices"
	"strings"
	"testing"

	"github.com/rotor-auth/rotor/internal/clients"
	"github.com/rotor-auth/rotor/internal/store"
)

// FuzzRedirectAllowed: whatever is registered and presented, the matcher
// never panics; a URI it accepts is registered as written, or differs
// from a registered loopback IP URI (127.0.0.1 or [::1], over http) in
// its port alone; and it never accepts a fragment or an overlong URI.
func FuzzRedirectAllowed(f *testing.F) {
	for _, s := range [][2]string{
		{"https://app.example.com/cb", "https://app.example.com/cb"},
		{"http://127.0.0.1/cb", "http://127.0.0.1:53123/cb"},
		{"http://[::1]:80/cb?x", "http://[::1]:9/cb?x"},
		{"http://localhost/cb", "http://localhost:1/cb"},
		{"http://127.0.0.1/cb", "http://127.0.0.1.evil/cb"},
		{"http://127.0.0.1/cb", "http://127.0.0.1:8080@evil/cb"},
		{"http://127.0.0.1/cb", "http://127.0.0.1:99999/cb"},
		{"http://127.0.0.1", "http://127.0.0.1:1"},
		{"http://127.0.0.1/#", "http://127.0.0.1/#"},
	} {
		f.Add(s[0], s[1])
	}
	f.Fuzz(func(t *testing.T, registered, uri string) {
		c := &store.Client{RedirectURIs: []string{registered}}
		if !clients.RedirectAllowed(c, uri) || clients.CheckRedirectURI(registered) != nil {
			return // only what registration accepts can be registered
		}
		if strings.ContainsRune(uri, '#') || len(uri) > clients.MaxURILen {
			t.Fatalf("accepted %q (fragment or overlong)", uri)
		}
		if uri == registered {
			return
		}
		// Not the same string: both must be loopback IP URIs, on http,
		// with the same host, path and query.
		ru, err1 := url.Parse(registered)
		pu, err2 := url.Parse(uri)
		if err1 != nil || err2 != nil {
			t.Fatalf("accepted %q for %q, and one does not parse (%v, %v)", uri, registered, err1, err2)
		}
		loopback := []string{"127.0.0.1", "::1"}
		if ru.Scheme != "http" || pu.Scheme != "http" || !slices.Contains(loopback, ru.Hostname()) ||
			pu.Hostname() != ru.Hostname() || pu.User != nil || ru.User != nil {
			t.Fatalf("port leeway off loopback: accepted %q for %q", uri, registered)
		}
		if pu.EscapedPath() != ru.EscapedPath() || pu.RawQuery != ru.RawQuery || pu.ForceQuery != ru.ForceQuery {
			t.Fatalf("accepted %q for %q: path or query differ", uri, registered)
		}
	})
}

// FuzzParseOrigin: ParseOrigin never panics, and what it returns is an
// origin in normal form (parsing it again gives it back), with no path,
// query or fragment.
func FuzzParseOrigin(f *testing.F) {
	for _, s := range []string{"https://app.example.com", "HTTP://127.0.0.1:80", "http://[::1]:8082", "https://a:443/", "https://[fe80::1%25eth0]", "null"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		o, err := clients.ParseOrigin(s)
		if err != nil {
			return
		}
		if again, err := clients.ParseOrigin(o); err != nil || again != o {
			t.Fatalf("ParseOrigin(%q) = %q, then %q (%v)", s, o, again, err)
		}
		if strings.ToLower(o) != o || strings.Count(o, "/") != 2 || strings.ContainsAny(o, "?#@ ") {
			t.Fatalf("ParseOrigin(%q) = %q", s, o)
		}
	})
}

// FuzzCheckRedirectURI: the registration check never panics, and what it
// accepts has no fragment, is bounded, and uses plain http only on a
// loopback host.
func FuzzCheckRedirectURI(f *testing.F) {
	for _, s := range []string{"https://app.example.com/cb", "http://127.0.0.1:8081/cb", "com.example.app:/cb", "http://evil/cb", "javascript:x", "http://[::1"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if clients.CheckRedirectURI(s) != nil {
			return
		}
		if strings.ContainsRune(s, '#') || len(s) > clients.MaxURILen {
			t.Fatalf("accepted %q", s)
		}
		u, err := url.Parse(s)
		if err != nil {
			t.Fatalf("accepted %q, which does not parse: %v", s, err)
		}
		if u.Scheme == "http" && !slices.Contains([]string{"127.0.0.1", "::1", "localhost"}, u.Hostname()) {
			t.Fatalf("accepted http off loopback: %q", s)
		}
	})
}
