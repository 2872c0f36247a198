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

// MaxOriginLen bounds an origin, registered or presented.
const MaxOriginLen = 512

// ParseOrigin checks a browser origin (RFC 6454 §6.2, the value of an
// Origin header) and returns its normal form: scheme://host[:port] in
// lower case, the default port dropped, so that two spellings of one
// origin compare equal as strings. Only https, or http on a loopback
// host (127.0.0.1, [::1], localhost), is accepted; a path, query,
// fragment or user info is refused: an origin has none.
func ParseOrigin(s string) (string, error) {
	if s == "" || len(s) > MaxOriginLen {
		return "", errors.New("an origin is scheme://host[:port], 1 to 512 characters")
	}
	u, err := url.Parse(strings.ToLower(s))
	if err != nil || u.Opaque != "" || u.Host == "" || !strings.Contains(s, "://") {
		return "", errors.New("an origin is scheme://host[:port], such as https://app.example.com")
	}
	if u.User != nil || u.Path != "" || u.RawQuery != "" || u.ForceQuery || strings.ContainsRune(s, '#') {
		return "", errors.New("an origin has no path, query, fragment or user info: write it as scheme://host[:port], such as https://app.example.com")
	}
	if strings.HasSuffix(u.Host, ":") {
		return "", errors.New("an origin's port, when given, is a number")
	}
	host, port := u.Hostname(), u.Port()
	if !validHost(host) {
		return "", errors.New("an origin's host is a DNS name (in ASCII, as browsers send it) or an IP address")
	}
	switch u.Scheme {
	case "https":
		if port == "443" {
			port = ""
		}
	case "http":
		if !slices.Contains(loopbackHosts, host) {
			return "", errors.New("an origin with http must be on a loopback host (127.0.0.1, [::1] or localhost); use https")
		}
		if port == "80" {
			port = ""
		}
	default:
		return "", errors.New("an origin's scheme is https (or http on a loopback host)")
	}
	if port != "" {
		if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 || strconv.Itoa(n) != port {
			return "", errors.New("an origin's port is a number from 1 to 65535")
		}
	}
	out := u.Scheme + "://"
	if strings.Contains(host, ":") {
		out += "[" + host + "]"
	} else {
		out += host
	}
	if port != "" {
		out += ":" + port
	}
	return out, nil
}

// validHost reports whether h is an IP address without a zone or an
// ASCII DNS name (letters, digits, hyphens and dots).
func validHost(h string) bool {
	if h == "" {
		return false
	}
	if a, err := netip.ParseAddr(h); err == nil {
		return a.Zone() == ""
	}
	for _, r := range h {
		if !(r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '-' || r == '.') {
			return false
		}
	}
	return true
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
