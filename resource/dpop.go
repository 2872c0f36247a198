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
	"time"

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
	// A jwk that names its alg is for that one only (RFC 7517 §4.4,
	// RFC 8725 §3.1): an RSA key marked RS256 takes no PS256 signature.
	if jwk.Algorithm != "" && jwk.Algorithm != h.Algorithm {
		return fail(ErrInvalidProof, "the DPoP proof's jwk names another alg than the proof's")
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
	switch v.replay.admit(jkt, replayKey(jkt, p.JTI), iat, nowSec) {
	case admitReplay:
		return fail(ErrProofReplayed, "the DPoP proof was used before")
	case admitTooOld:
		return fail(ErrInvalidProof, "the DPoP proof is dated no later than a proof by this key that the replay cache let go; send a fresh one")
	case admitFull:
		return fail(ErrInvalidProof, "too many DPoP proof keys at once for this server's replay cache; retry shortly")
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
	admitFull
)

// replayCache remembers the proofs seen (RFC 9449 §11.1) in bounded
// memory, so that none is accepted twice.
//
// A proof passes the age check while its iat is at most window old, so
// what the cache knows of it must last until iat + window. An entry itself
// leaves at min(iat, first seen) + window: a proof dated ahead (within the
// leeway) holds its place no longer than a fresh one. What it still needs
// after that, and what an entry evicted early needs, is carried by its
// key's floor: a proof by that key whose iat is at or below the floor is
// refused. A replay carries its original's iat, so it is under the floor.
// A floor matters until it is window old; past that the age check alone
// refuses everything it covered.
//
// When the cache is full, the key holding the most entries gives up its
// oldest one (and raises its own floor): a client flooding proofs, dated
// ahead or not, pushes out only its own, never another key's. Every slot
// holds either an entry or the floor of a key with no entry left, so the
// size bounds the memory; only when every slot belongs to a different key
// (as many proof keys within one window as the cache has slots) is a proof
// by yet another key refused.
type replayCache struct {
	mu     sync.Mutex
	max    int
	window int64 // seconds
	seen   map[[32]byte]*proofEntry
	keys   map[string]*keyShare
	// byExpiry orders the entries by exp; byShare the keys, most entries
	// first; idle the keys with no entry but a floor that still matters,
	// by floor.
	byExpiry indexedHeap[*proofEntry]
	byShare  indexedHeap[*keyShare]
	idle     indexedHeap[*keyShare]
}

// proofEntry is one proof in the cache.
type proofEntry struct {
	key   [32]byte
	iat   int64
	exp   int64 // min(iat, first seen) + window; the entry holds through exp
	share *keyShare
	// prev and next link the entries of one key, oldest first.
	prev, next *proofEntry
	heapIndex  int
}

// keyShare is what the cache holds for one proof key (jkt).
type keyShare struct {
	jkt string
	// n entries, from oldest to newest.
	n            int
	oldest, last *proofEntry
	// floor: proofs by this key with iat <= floor are refused; 0 is none.
	floor      int64
	shareIndex int
	idleIndex  int
}

func newReplayCache(max int, window time.Duration) *replayCache {
	return &replayCache{
		max: max, window: int64(window / time.Second),
		seen: map[[32]byte]*proofEntry{}, keys: map[string]*keyShare{},
		byExpiry: indexedHeap[*proofEntry]{
			less:  func(a, b *proofEntry) bool { return a.exp < b.exp },
			index: func(e *proofEntry) *int { return &e.heapIndex },
		},
		byShare: indexedHeap[*keyShare]{
			less:  func(a, b *keyShare) bool { return a.n > b.n },
			index: func(k *keyShare) *int { return &k.shareIndex },
		},
		idle: indexedHeap[*keyShare]{
			less:  func(a, b *keyShare) bool { return a.floor < b.floor },
			index: func(k *keyShare) *int { return &k.idleIndex },
		},
	}
}

// admit records the proof named key, signed by the key whose thumbprint
// is jkt and issued at iat, as seen at now (Unix seconds), and reports
// whether it is new.
func (c *replayCache) admit(jkt string, key [32]byte, iat, now int64) admission {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.expire(now)
	if _, ok := c.seen[key]; ok {
		return admitReplay
	}
	k := c.keys[jkt]
	if k != nil && iat <= k.floor {
		return admitTooOld
	}
	// A key that holds only a floor turns that slot into an entry; any
	// other proof needs one more slot.
	if (k == nil || k.n > 0) && len(c.seen)+c.idle.Len() >= c.max {
		victim := c.byShare.items[0]
		if k != nil && k.n >= victim.n {
			victim = k
		}
		// Taking a key's only entry would leave its floor in the slot.
		if victim != k && victim.n < 2 {
			return admitFull
		}
		c.remove(victim.oldest, now, true)
		k = c.keys[jkt]
	}
	if k == nil {
		k = &keyShare{jkt: jkt, idleIndex: -1}
		c.keys[jkt] = k
		heap.Push(&c.byShare, k)
	}
	if k.idleIndex >= 0 {
		heap.Remove(&c.idle, k.idleIndex)
	}
	e := &proofEntry{key: key, iat: iat, exp: min(iat, now) + c.window, share: k, prev: k.last}
	if k.last != nil {
		k.last.next = e
	} else {
		k.oldest = e
	}
	k.last = e
	k.n++
	heap.Fix(&c.byShare, k.shareIndex)
	c.seen[key] = e
	heap.Push(&c.byExpiry, e)
	return admitNew
}

// expire drops the entries past their exp and the floors past mattering.
func (c *replayCache) expire(now int64) {
	for c.byExpiry.Len() > 0 && c.byExpiry.items[0].exp < now {
		e := c.byExpiry.items[0]
		// An entry dated ahead of its first sight is still acceptable by
		// its age until iat + window.
		c.remove(e, now, e.iat+c.window >= now)
	}
	for c.idle.Len() > 0 && c.idle.items[0].floor+c.window < now {
		k := heap.Pop(&c.idle).(*keyShare)
		heap.Remove(&c.byShare, k.shareIndex)
		delete(c.keys, k.jkt)
	}
}

// remove drops entry e; with raise, its key's floor rises to e's iat so
// that a replay of e stays refused.
func (c *replayCache) remove(e *proofEntry, now int64, raise bool) {
	k := e.share
	delete(c.seen, e.key)
	heap.Remove(&c.byExpiry, e.heapIndex)
	if e.prev != nil {
		e.prev.next = e.next
	} else {
		k.oldest = e.next
	}
	if e.next != nil {
		e.next.prev = e.prev
	} else {
		k.last = e.prev
	}
	k.n--
	heap.Fix(&c.byShare, k.shareIndex)
	if raise {
		k.floor = max(k.floor, e.iat)
	}
	if k.n > 0 {
		return
	}
	if k.floor+c.window >= now {
		heap.Push(&c.idle, k)
		return
	}
	heap.Remove(&c.byShare, k.shareIndex)
	delete(c.keys, k.jkt)
}

// indexedHeap is a heap (container/heap) whose elements know their
// position, so that any of them can be removed or fixed in place.
type indexedHeap[T any] struct {
	items []T
	less  func(a, b T) bool
	index func(T) *int
}

func (h *indexedHeap[T]) Len() int           { return len(h.items) }
func (h *indexedHeap[T]) Less(i, j int) bool { return h.less(h.items[i], h.items[j]) }
func (h *indexedHeap[T]) Swap(i, j int) {
	h.items[i], h.items[j] = h.items[j], h.items[i]
	*h.index(h.items[i]), *h.index(h.items[j]) = i, j
}
func (h *indexedHeap[T]) Push(x any) {
	t := x.(T)
	*h.index(t) = len(h.items)
	h.items = append(h.items, t)
}
func (h *indexedHeap[T]) Pop() any {
	n := len(h.items) - 1
	t := h.items[n]
	var zero T
	h.items[n] = zero
	h.items = h.items[:n]
	*h.index(t) = -1
	return t
}
