package oauth_test

import (
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/rotor-auth/rotor/internal/oauth"
)

// TestClientIPBehindTrustedProxies: the client's address is the peer's,
// unless the peer is a trusted proxy; then X-Forwarded-For is read from
// the right past trusted proxies, and what a client wrote to the left of
// the first untrusted hop never counts.
func TestClientIPBehindTrustedProxies(t *testing.T) {
	trusted := []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8"), netip.MustParsePrefix("2001:db8::/32")}
	for _, c := range []struct {
		name, peer string
		xff        []string
		want       string
	}{
		{"no proxy", "192.0.2.7:5000", nil, "192.0.2.7"},
		{"an untrusted peer's header is ignored", "192.0.2.7:5000", []string{"198.51.100.1"}, "192.0.2.7"},
		{"one trusted proxy", "10.0.0.1:5000", []string{"198.51.100.1"}, "198.51.100.1"},
		{"two trusted proxies", "10.0.0.1:5000", []string{"198.51.100.1, 10.0.0.2"}, "198.51.100.1"},
		{"a spoofed hop to the left", "10.0.0.1:5000", []string{"203.0.113.9, 198.51.100.1"}, "198.51.100.1"},
		{"two headers", "10.0.0.1:5000", []string{"203.0.113.9", "198.51.100.1"}, "198.51.100.1"},
		{"garbage stops the walk", "10.0.0.1:5000", []string{"198.51.100.1, garbage, 10.0.0.2"}, "10.0.0.2"},
		{"trusted proxy without a header", "10.0.0.1:5000", nil, "10.0.0.1"},
		{"IPv6 proxy", "[2001:db8::1]:443", []string{"2001:db9::5"}, "2001:db9::5"},
	} {
		r := httptest.NewRequest(http.MethodPost, "/oauth2/token", nil)
		r.RemoteAddr = c.peer
		for _, v := range c.xff {
			r.Header.Add("X-Forwarded-For", v)
		}
		if got := oauth.ClientIP(r, trusted); got != c.want {
			t.Errorf("%s: %q, want %q", c.name, got, c.want)
		}
	}
}

// TestCleanHeader: what reaches the audit trail is valid UTF-8 without
// NUL, at most 256 bytes, cut on a character boundary.
func TestCleanHeader(t *testing.T) {
	for _, in := range []string{"curl/8", "a\x00b", "\xff\xfe", strings.Repeat("é", 200)} {
		got := oauth.CleanHeader(in)
		if !utf8.ValidString(got) || strings.ContainsRune(got, 0) || len(got) > 256 {
			t.Errorf("CleanHeader(%q) = %q", in, got)
		}
	}
}
