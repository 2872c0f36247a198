package oauth

import (
	"net"
	"net/http"
	"net/netip"
	"strings"
	"unicode/utf8"
)

// ClientIP is the address of the request's client: the peer's, unless the
// peer is a trusted proxy, in which case the X-Forwarded-For chain is
// read from the right, past every trusted proxy, to the first address
// that is not one (RFC 7239 §5.2 describes the chain). Addresses a client
// wrote itself, to the left of that, never count. The token endpoint and
// the sign-in pages both count failures by it, so it lives here, below
// both.
func ClientIP(r *http.Request, trusted []netip.Prefix) string {
	peer, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		peer = r.RemoteAddr
	}
	addr, err := netip.ParseAddr(peer)
	if err != nil || !trustedAddr(addr, trusted) {
		return peer
	}
	var hops []string
	for _, v := range r.Header.Values("X-Forwarded-For") {
		for h := range strings.SplitSeq(v, ",") {
			hops = append(hops, strings.TrimSpace(h))
		}
	}
	client := peer
	for i := len(hops) - 1; i >= 0 && i >= len(hops)-32; i-- {
		a, err := netip.ParseAddr(hops[i])
		if err != nil {
			break // a garbled hop: what is left of it is not to be believed
		}
		client = a.Unmap().String()
		if !trustedAddr(a, trusted) {
			break
		}
	}
	return client
}

func trustedAddr(a netip.Addr, trusted []netip.Prefix) bool {
	a = a.Unmap()
	for _, p := range trusted {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

// CleanHeader makes a header value fit for the audit trail: valid UTF-8
// (HTTP allows Latin-1 bytes), no NUL, at most 256 bytes cut on a
// character boundary.
func CleanHeader(s string) string {
	s = strings.ReplaceAll(strings.ToValidUTF8(s, "\uFFFD"), "\x00", "")
	if len(s) <= 256 {
		return s
	}
	cut := 256
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut]
}
