package clients

import (
	"fmt"
	"net/url"
	"slices"
	"strings"

	"github.com/rotor-auth/rotor/internal/store"
)

// MaxURILen bounds a redirect URI, registered or presented: longer ones
// are refused without being parsed.
const MaxURILen = 2048

// RedirectAllowed reports whether uri is one of the client's redirect
// URIs: the same string as one registered (RFC 6749 §3.1.2.3, RFC 9700
// §2.1), with one exception. A loopback IP redirect URI
// (http://127.0.0.1/… or http://[::1]/…) registered so matches with any
// port, or none, as long as scheme, host, path and query are the same
// (RFC 8252 §7.3: a native app listens on whatever port it gets).
// "localhost" gets no such leeway: RFC 8252 §8.3 recommends the IP
// literals, and a name may resolve elsewhere. A URI with a fragment
// never matches (RFC 6749 §3.1.2).
func RedirectAllowed(c *store.Client, uri string) bool {
	if c == nil || uri == "" || len(uri) > MaxURILen || strings.ContainsRune(uri, '#') {
		return false
	}
	if slices.Contains(c.RedirectURIs, uri) {
		return true
	}
	want, ok := withoutLoopbackPort(uri)
	if !ok {
		return false
	}
	for _, r := range c.RedirectURIs {
		if got, ok := withoutLoopbackPort(r); ok && got == want {
			return true
		}
	}
	return false
}

// PostLogoutAllowed reports whether uri is one of the client's
// post-logout redirect URIs, by exact string (OIDC RP-Initiated Logout
// 1.0 §3: "MUST exactly match"); no loopback port leeway there.
func PostLogoutAllowed(c *store.Client, uri string) bool {
	if c == nil || uri == "" || len(uri) > MaxURILen || strings.ContainsRune(uri, '#') {
		return false
	}
	return slices.Contains(c.PostLogoutRedirectURIs, uri)
}

// withoutLoopbackPort returns a loopback IP redirect URI with its port
// taken out ("http://127.0.0.1:53123/cb" → "http://127.0.0.1/cb"), and
// false for any other URI. It works on the text, not a parsed URL, so
// that the comparison after it stays a comparison of what was written.
func withoutLoopbackPort(uri string) (string, bool) {
	const scheme = "http://"
	if len(uri) > MaxURILen || !strings.HasPrefix(uri, scheme) {
		return "", false
	}
	rest := uri[len(scheme):]
	var host string
	switch {
	case strings.HasPrefix(rest, "127.0.0.1"):
		host = "127.0.0.1"
	case strings.HasPrefix(rest, "[::1]"):
		host = "[::1]"
	default:
		return "", false
	}
	rest = rest[len(host):]
	if port, ok := strings.CutPrefix(rest, ":"); ok {
		n := 0
		for n < len(port) && port[n] >= '0' && port[n] <= '9' {
			n++
		}
		if n == 0 || n > 5 || !validPort(port[:n]) {
			return "", false
		}
		rest = port[n:]
	}
	// What follows the authority is its path, query or nothing: anything
	// else ("127.0.0.1.evil.example", "127.0.0.1@evil") is another host.
	if rest != "" && rest[0] != '/' && rest[0] != '?' {
		return "", false
	}
	return scheme + host + rest, true
}

// validPort reports whether digits (1 to 5 of them) name a port 1–65535.
func validPort(digits string) bool {
	n := 0
	for _, d := range digits {
		n = n*10 + int(d-'0')
	}
	return n >= 1 && n <= 65535
}

// loopbackHosts are the hosts on which a redirect URI may use plain http
// (RFC 8252 §7.3, §8.3; RFC 9700 §2.1): the traffic never leaves the
// device.
var loopbackHosts = []string{"127.0.0.1", "::1", "localhost"}

// CheckRedirectURI checks a redirect URI (or a post-logout one) as it is
// registered: absolute, without a fragment (RFC 6749 §3.1.2) or user
// info, at most MaxURILen bytes, and
//   - https with a host;
//   - http only on a loopback host (127.0.0.1, [::1] or localhost), for
//     native apps and development (RFC 8252 §7.3);
//   - or a private-use scheme in reverse domain name form, with a dot,
//     such as com.example.app:/callback (RFC 8252 §7.1): schemes without
//     one (javascript:, data:, file:) are refused.
func CheckRedirectURI(v string) error {
	if len(v) > MaxURILen {
		return fmt.Errorf("is longer than %d bytes", MaxURILen)
	}
	u, err := url.Parse(v)
	if err != nil || !u.IsAbs() || strings.ContainsRune(v, '#') {
		return fmt.Errorf("must be an absolute URI without a fragment")
	}
	if v[:len(u.Scheme)] != u.Scheme { // url.Parse lowers it
		return fmt.Errorf("must write its scheme in lower case")
	}
	if u.User != nil {
		return fmt.Errorf("must not hold a user name or password")
	}
	switch u.Scheme {
	case "https":
		if u.Hostname() == "" {
			return fmt.Errorf("must name a host")
		}
	case "http":
		if !slices.Contains(loopbackHosts, u.Hostname()) {
			return fmt.Errorf("uses http on a host that is not loopback: use https, or http only on 127.0.0.1, [::1] or localhost")
		}
	default:
		if !strings.Contains(u.Scheme, ".") {
			return fmt.Errorf("uses the scheme %q: use https, http on a loopback host, or a private-use scheme in reverse domain name form such as com.example.app:/callback", u.Scheme)
		}
	}
	return nil
}

// httpsOnly reports whether uris has URIs, all https: a redirect that
// only the owner of a domain can receive, unlike a loopback port or a
// private-use scheme, which any app on the device may claim (RFC 8252
// §8.6).
func httpsOnly(uris []string) bool {
	if len(uris) == 0 {
		return false
	}
	for _, u := range uris {
		if !strings.HasPrefix(u, "https://") {
			return false
		}
	}
	return true
}
