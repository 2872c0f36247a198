package clients

import (
	"errors"
	"net/netip"
	"net/url"
	"slices"
	"strconv"
	"strings"

	"github.com/rotor-auth/rotor/internal/store"
)

// maxOriginLen bounds an origin before any parsing: a scheme, a DNS name
// of at most 253 octets and a port fit well within it.
const maxOriginLen = 300

// ParseOrigin parses a web origin, scheme://host[:port] (RFC 6454 §6.2),
// as a browser sends it in the Origin header, and returns it in the form
// browsers write: scheme and host in lower case, the default port of the
// scheme (80 for http, 443 for https) left out, IPv6 addresses in
// brackets. Only http and https are origins here; "null", a path (even
// "/"), a query, a fragment or user information is an error.
func ParseOrigin(s string) (string, error) {
	if len(s) > maxOriginLen {
		return "", errors.New("an origin is at most 300 characters")
	}
	scheme, rest, ok := strings.Cut(s, "://")
	if !ok {
		return "", errors.New("an origin is scheme://host[:port]")
	}
	scheme = strings.ToLower(scheme)
	if scheme != "http" && scheme != "https" {
		return "", errors.New("an origin's scheme is http or https")
	}
	if rest == "" || strings.ContainsAny(rest, "/?#@\\%") || !printableASCII(rest) {
		return "", errors.New("an origin is a host and an optional port, with nothing after them: no path (not even /), query, fragment or user")
	}
	host, port := rest, ""
	if i := strings.LastIndexByte(rest, ':'); i >= 0 && !strings.HasSuffix(rest, "]") {
		host, port = rest[:i], rest[i+1:]
		if port == "" {
			return "", errors.New("an origin's port, when written, is a number")
		}
	}
	host = strings.ToLower(host)
	switch {
	case strings.HasPrefix(host, "[") && strings.HasSuffix(host, "]"):
		a, err := netip.ParseAddr(host[1 : len(host)-1])
		if err != nil || !a.Is6() || a.Is4In6() {
			return "", errors.New("an origin's host in brackets is an IPv6 address")
		}
		host = "[" + a.String() + "]" // RFC 5952 text, as browsers write it
	case strings.ContainsAny(host, "[]:"):
		return "", errors.New("an origin's IPv6 address is in brackets, and its port a number after one colon")
	case !validHostName(host):
		return "", errors.New("an origin's host is a DNS name or an IP address")
	}
	if port != "" {
		n, err := strconv.Atoi(port)
		if err != nil || n < 1 || n > 65535 || port[0] == '0' || port[0] == '+' {
			return "", errors.New("an origin's port is a number from 1 to 65535")
		}
		if (scheme == "http" && n == 80) || (scheme == "https" && n == 443) {
			port = ""
		}
	}
	if port != "" {
		return scheme + "://" + host + ":" + port, nil
	}
	return scheme + "://" + host, nil
}

// Origins returns the browser origins that may call the token,
// revocation and userinfo endpoints on behalf of c (SPEC §4, RFC 9700
// §2.6): its AllowedOrigins when set (nil means unset; an empty list
// allows none), otherwise the origins of its http and https redirect
// URIs. Each appears once, in ParseOrigin's form; entries that are not
// origins are left out. Origins compare exactly: a loopback redirect
// URI's port leeway (RFC 8252 §7.3) does not extend to its origin.
func Origins(c *store.Client) []string {
	var out []string
	add := func(s string) {
		o, err := ParseOrigin(s)
		if err == nil && !slices.Contains(out, o) {
			out = append(out, o)
		}
	}
	if c.AllowedOrigins != nil {
		for _, o := range c.AllowedOrigins {
			add(o)
		}
		return out
	}
	for _, r := range c.RedirectURIs {
		u, err := url.Parse(r)
		if err != nil || u.Host == "" || (u.Scheme != "http" && u.Scheme != "https") || u.User != nil {
			continue // a native app's private-use scheme has no web origin
		}
		add(u.Scheme + "://" + u.Host)
	}
	return out
}

func printableASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] <= ' ' || s[i] >= 0x7f {
			return false
		}
	}
	return true
}

// validHostName reports whether h is a DNS name of letters, digits,
// hyphens and dots (RFC 1123 §2.1), at most 253 octets, with labels of 1
// to 63 octets; or a dotted-quad IPv4 address. A name whose last label is
// a number and which is not such an address ("127.1", "0x7f.1") is
// refused: browsers would rewrite it as an address.
func validHostName(h string) bool {
	if len(h) > 253 {
		return false
	}
	if a, err := netip.ParseAddr(h); err == nil {
		return a.Is4()
	}
	labels := strings.Split(h, ".")
	for _, label := range labels {
		if label == "" || len(label) > 63 || label[0] == '-' || label[len(label)-1] == '-' {
			return false
		}
		for i := 0; i < len(label); i++ {
			c := label[i]
			if (c < 'a' || c > 'z') && (c < '0' || c > '9') && c != '-' {
				return false
			}
		}
	}
	last := labels[len(labels)-1]
	return strings.Trim(last, "0123456789") != "" && !strings.HasPrefix(last, "0x")
}
