package resource

import (
	"container/heap"
	"crypto"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/json"
	"errors"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"

	jose "github.com/go-jose/go-jose/v4"
)

// maxJTIBytes bounds a proof's jti; RFC 9449 asks for 96 bits of
// randomness, which any sane encoding fits well within.
const maxJTIBytes = 256

// proofClaims are the claims of a DPoP proof (RFC 9449 §4.2).
type proofClaims struct {
	JTI string      `json:"jti"`
	HTM string      `json:"htm"`
	HTU string      `json:"htu"`
	IAT numericDate `json:"iat"`
	ATH string      `json:"ath"`
}

// checkProof verifies a DPoP proof for token, bound to the key whose
// thumbprint is jkt, following RFC 9449 §4.3 and §7.1, and records its jti.
// Server-provided nonces (§8, §9) are not used: the replay cache and the
// iat window stand in for them.
func (v *Verifier) checkProof(req DPoPRequest, token, jkt string) *Error {
	if req.Proof == "" {
		return fail(ErrInvalidProof, "the request has no DPoP proof")
	}
	if len(req.Proof) > maxTokenBytes {
		return fail(ErrInvalidProof, "the DPoP proof is too long")
	}
	jws, err := jose.ParseSignedCompact(req.Proof, v.proofAlgList)
	if err != nil {
		var ua *jose.ErrUnexpectedSignatureAlgorithm
		if errors.As(err, &ua) {
			return fail(ErrInvalidProof, "the DPoP proof's signing algorithm is not accepted")
		}
		return fail(ErrInvalidProof, "the DPoP proof is not a signed JWT with a public jwk")
	}
	if len(jws.Signatures) != 1 {
		return fail(ErrInvalidProof, "the DPoP proof is not a signed JWT")
	}
	h := jws.Signatures[0].Protected
	if !isType(h, "dpop+jwt") {
		return fail(ErrInvalidProof, "the DPoP proof's typ is not dpop+jwt")
	}
	// The parser has already refused a jwk with private parts or that is
	// not a valid public key (RFC 9449 §4.3 step 7).
	jwk := h.JSONWebKey
	if jwk == nil || !keyFits(jwk.Key, h.Algorithm) {
		return fail(ErrInvalidProof, "the DPoP proof's jwk is missing, too small, or does not fit its algorithm")
	}
	payload, err := jws.Verify(jwk.Key)
	if err != nil {
		return fail(ErrInvalidProof, "the DPoP proof's signature is not valid")
	}
	var p proofClaims
	if err := json.Unmarshal(payload, &p); err != nil {
		return fail(ErrInvalidProof, "the DPoP proof's claims are not valid JSON")
	}
	now := v.cfg.Clock()
	nowSec, iat := now.Unix(), int64(p.IAT)
	window := int64(v.cfg.DPoPWindow.Seconds())
	switch {
	case p.JTI == "" || len(p.JTI) > maxJTIBytes || p.HTM == "" || p.HTU == "" || p.IAT == 0 || p.ATH == "":
		return fail(ErrInvalidProof, "the DPoP proof lacks a required claim (jti, htm, htu, iat, ath)")
	case p.HTM != req.Method:
		return fail(ErrInvalidProof, "the DPoP proof was made for another HTTP method")
	case !sameHTU(p.HTU, req.URL):
		return fail(ErrInvalidProof, "the DPoP proof was made for another URL")
	case iat < nowSec-window:
		return fail(ErrInvalidProof, "the DPoP proof is too old")
	case iat > nowSec+int64(v.cfg.Leeway.Seconds()):
		return fail(ErrInvalidProof, "the DPoP proof is issued in the future")
	case !validATH(p.ATH, token):
		return fail(ErrInvalidProof, "the DPoP proof was made for another access token (ath)")
	}
	tp, err := jwk.Thumbprint(crypto.SHA256)
	if err != nil {
		return fail(ErrInvalidProof, "the DPoP proof's jwk has no thumbprint")
	}
	// The thumbprint is public, but comparing in constant time costs
	// nothing and leaves nothing to argue about.
	if subtle.ConstantTimeCompare([]byte(base64.RawURLEncoding.EncodeToString(tp)), []byte(jkt)) != 1 {
		return fail(ErrKeyMismatch, "the DPoP proof is signed by another key than the token is bound to")
	}
	// Last, once everything else holds: a proof refused for another
	// reason must not use up its jti.
	switch v.replay.admit(jkt, replayKey(jkt, p.JTI), iat+window, nowSec) {
	case admitReplay:
		return fail(ErrProofReplayed, "the DPoP proof was used before")
	case admitKeyBusy:
		return fail(ErrInvalidProof, "too many DPoP proofs by this key in the window; retry shortly")
	case admitTooOld:
		return fail(ErrInvalidProof, "the DPoP proof is too old for this server's replay cache; send a fresh one")
	}
	return nil
}

// validATH reports whether ath is the base64url SHA-256 of token (RFC 9449
// §4.2).
func validATH(ath, token string) bool {
	sum := sha256.Sum256([]byte(token))
	var enc [43]byte
	base64.RawURLEncoding.Encode(enc[:], sum[:])
	return subtle.ConstantTimeCompare(enc[:], []byte(ath)) == 1
}

// sameHTU compares a proof's htu with the request URL after the syntax-
// and scheme-based normalization RFC 9449 §4.3 asks for (RFC 3986 §6.2.2,
// §6.2.3): case of scheme and host, default port, percent-encoding, empty
// path; query and fragment are ignored.
func sameHTU(htu, requestURL string) bool {
	a, ok := normalizeHTU(htu)
	if !ok {
		return false
	}
	b, ok := normalizeHTU(requestURL)
	return ok && a == b
}

func normalizeHTU(raw string) (string, bool) {
	u, err := url.Parse(raw)
	if err != nil || u.Opaque != "" || u.Host == "" || u.User != nil {
		return "", false
	}
	scheme := strings.ToLower(u.Scheme)
	if scheme != "https" && scheme != "http" {
		return "", false
	}
	host, port := strings.ToLower(u.Hostname()), u.Port()
	if host == "" || strings.Contains(host, "%") {
		return "", false // an IPv6 zone names a link, not a resource
	}
	if scheme == "https" && port == "443" || scheme == "http" && port == "80" {
		port = ""
	}
	if port != "" {
		host = net.JoinHostPort(host, port)
	} else if strings.Contains(host, ":") {
		host = "[" + host + "]"
	}
	// Re-encoding the decoded path gives one spelling per path.
	path := (&url.URL{Path: u.Path}).EscapedPath()
	if path == "" {
		path = "/"
	}
	return scheme + "://" + host + path, true
}

// requestURL is the URL a client addressed r to, for the htu check:
// BaseURL (or the connection's scheme and Host) followed by the path the
// client sent, read from the request line so that a handler mounted under
// http.StripPrefix still sees the original.
func (v *Verifier) requestURL(r *http.Request) string {
	path := r.URL.EscapedPath()
	if ru := r.RequestURI; strings.HasPrefix(ru, "/") {
		path, _, _ = strings.Cut(ru, "?")
	} else if u, err := url.Parse(ru); err == nil && u.IsAbs() {
		path = u.EscapedPath()
	}
	if v.cfg.BaseURL != "" {
		return v.cfg.BaseURL + path
	}
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	return scheme + "://" + r.Host + path
}

// replayKey identifies a proof in the replay cache: its jti, scoped to the
// key that signed it, hashed so that every entry has the same small size.
func replayKey(jkt, jti string) [32]byte {
	h := sha256.New()
	h.Write([]byte(jkt))
	h.Write([]byte{0})
	h.Write([]byte(jti))
	var k [32]byte
	h.Sum(k[:0])
	return k
}

// admission is the replay cache's verdict.
type admission int

const (
	admitNew admission = iota
	admitReplay
	admitTooOld
	admitKeyBusy
)

// replayCache remembers the proofs seen, each until the proof would be
// too old to pass anyway. It is bounded: when full it drops the entries
// that expire first, and raises a floor under which proofs are refused,
// so that a dropped entry cannot let its replay through. A replay carries
// the same iat as its original, hence the same expiry: if the original was
// dropped, the replay is under the floor.
//
// One key may hold at most an eighth of the cache, so a single client
// flooding proofs dated ahead (which expire last) cannot crowd everyone
// else's fresh proofs out; it only slows itself down.
type replayCache struct {
	mu     sync.Mutex
	seen   map[[32]byte]int64
	order  expiryHeap
	max    int
	floor  int64
	perKey map[string]int // live entries by proof key (jkt)
	keyCap int
}

func newReplayCache(max int) *replayCache {
	keyCap := max / 8
	if keyCap == 0 { // a tiny cache (tests): no share
		keyCap = max
	}
	return &replayCache{seen: map[[32]byte]int64{}, max: max, perKey: map[string]int{}, keyCap: keyCap}
}

func (c *replayCache) pop() expiring {
	e := heap.Pop(&c.order).(expiring)
	delete(c.seen, e.key)
	if c.perKey[e.jkt]--; c.perKey[e.jkt] <= 0 {
		delete(c.perKey, e.jkt)
	}
	return e
}

// admit records key until exp (Unix seconds; the entry holds through exp)
// and reports whether it is new.
func (c *replayCache) admit(jkt string, key [32]byte, exp, now int64) admission {
	c.mu.Lock()
	defer c.mu.Unlock()
	for len(c.order) > 0 && c.order[0].exp < now {
		c.pop()
	}
	if exp <= c.floor {
		return admitTooOld
	}
	if _, ok := c.seen[key]; ok {
		return admitReplay
	}
	if c.keyCap < c.max && c.perKey[jkt] >= c.keyCap {
		return admitKeyBusy
	}
	if len(c.seen) >= c.max {
		// Full of entries that outlive this one: refuse it rather than
		// drop one of them.
		if c.order[0].exp >= exp {
			return admitTooOld
		}
		c.floor = max(c.floor, c.pop().exp)
	}
	c.seen[key] = exp
	c.perKey[jkt]++
	heap.Push(&c.order, expiring{exp: exp, key: key, jkt: jkt})
	return admitNew
}

// expiring is a replay-cache entry in expiry order.
type expiring struct {
	exp int64
	key [32]byte
	jkt string
}

// expiryHeap is a min-heap of entries by expiry (container/heap).
type expiryHeap []expiring

func (h expiryHeap) Len() int           { return len(h) }
func (h expiryHeap) Less(i, j int) bool { return h[i].exp < h[j].exp }
func (h expiryHeap) Swap(i, j int)      { h[i], h[j] = h[j], h[i] }
func (h *expiryHeap) Push(x any)        { *h = append(*h, x.(expiring)) }
func (h *expiryHeap) Pop() any {
	old := *h
	e := old[len(old)-1]
	*h = old[:len(old)-1]
	return e
}
