package dpop

import (
	"crypto"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"net/url"
	"strings"
	"sync"
	"time"

	jose "github.com/go-jose/go-jose/v4"
)

// Algorithms are the proof signature algorithms accepted: asymmetric only,
// so neither "none" nor an HMAC keyed with a public key can pass.
var Algorithms = []jose.SignatureAlgorithm{jose.ES256, jose.ES384, jose.EdDSA, jose.RS256, jose.PS256}

// AlgorithmNames are [Algorithms] as strings, for the server metadata.
func AlgorithmNames() []string {
	out := make([]string, len(Algorithms))
	for i, a := range Algorithms {
		out[i] = string(a)
	}
	return out
}

const (
	// MaxProofLen bounds a proof before any parsing.
	MaxProofLen = 8 << 10
	// maxJTILen bounds the jti claim.
	maxJTILen = 256
	// pastWindow is how old a proof's iat may be; futureWindow how far
	// ahead of this server's clock. Clients with worse clocks use nonces.
	pastWindow   = 60 * time.Second
	futureWindow = 60 * time.Second
	// nonceBucket is how long one nonce is issued; a nonce is accepted in
	// its bucket and the next one.
	nonceBucket = 5 * time.Minute
	// maxSeen bounds one generation of the replay cache.
	maxSeen = 500_000
	// replayWindow is how long a remembered proof must stay remembered.
	replayWindow = pastWindow + futureWindow
)

// Error is a refused proof; its message is safe to send to the client.
type Error struct {
	// Reason says what is wrong, in words fit for error_description.
	Reason string
	// NonceRequired is set when the proof lacked a valid server nonce, so
	// the answer is use_dpop_nonce with a fresh nonce.
	NonceRequired bool
}

func (e *Error) Error() string { return "dpop: " + e.Reason }

func refuse(format string, args ...any) *Error { return &Error{Reason: fmt.Sprintf(format, args...)} }

// Proof is a verified proof.
type Proof struct {
	// JKT is the RFC 7638 SHA-256 thumbprint of the proof key, base64url.
	JKT string
	// JTI is the proof's unique identifier.
	JTI string
	// IssuedAt is the proof's iat.
	IssuedAt time.Time
	// ATH is the proof's ath claim, the base64url SHA-256 of the access
	// token it comes with (RFC 9449 §4.2), or "" when it has none: a
	// resource (userinfo) checks it, the token endpoint has none to check.
	ATH string
}

// Verifier checks proofs. It is safe for concurrent use.
type Verifier struct {
	now      func() time.Time
	nonceKey []byte
	// requireNonce makes every proof carry a nonce this server issued.
	requireNonce bool

	mu        sync.Mutex
	cur, prev map[[16]byte]struct{} // remembered jtis (per key), two generations
	curStart  time.Time
}

// NewVerifier returns a Verifier. nonceKey keys the stateless nonces, so
// replicas that share it accept each other's nonces; requireNonce makes
// nonces mandatory.
func NewVerifier(nonceKey []byte, requireNonce bool, now func() time.Time) *Verifier {
	if now == nil {
		now = time.Now
	}
	return &Verifier{now: now, nonceKey: nonceKey, requireNonce: requireNonce,
		cur: map[[16]byte]struct{}{}, prev: map[[16]byte]struct{}{}, curStart: now()}
}

// RequiresNonce reports whether proofs must carry a server nonce.
func (v *Verifier) RequiresNonce() bool { return v.requireNonce }

type claims struct {
	JTI   string `json:"jti"`
	HTM   string `json:"htm"`
	HTU   string `json:"htu"`
	IAT   *int64 `json:"iat"`
	Nonce string `json:"nonce"`
	ATH   string `json:"ath"`
}

// Verify checks proof for a request of method to the URL target (the
// endpoint's public URL, as the issuer names it). It does not record the
// jti: call [Verifier.Remember] once the request is otherwise accepted, so
// that unauthenticated callers cannot fill the replay cache.
func (v *Verifier) Verify(proof, method, target string) (*Proof, error) {
	if proof == "" {
		return nil, refuse("the DPoP proof is empty")
	}
	if len(proof) > MaxProofLen {
		return nil, refuse("the DPoP proof is too long")
	}
	jws, err := jose.ParseSignedCompact(proof, Algorithms)
	if err != nil {
		// go-jose refuses an embedded private key at parsing; say so
		// rather than blame the algorithm.
		if holdsPrivateJWK(proof) {
			return nil, refuse("the DPoP proof's jwk holds a private key; send only the public key")
		}
		return nil, refuse("the DPoP proof is not a JWS with an accepted algorithm")
	}
	if len(jws.Signatures) != 1 {
		return nil, refuse("the DPoP proof must have one signature")
	}
	h := jws.Signatures[0].Protected
	if typ, _ := h.ExtraHeaders[jose.HeaderType].(string); typ != "dpop+jwt" {
		return nil, refuse("the DPoP proof's typ must be dpop+jwt")
	}
	key := h.JSONWebKey
	if key == nil || !key.IsPublic() || !key.Valid() {
		return nil, refuse("the DPoP proof must carry a public jwk")
	}
	// A jwk that names its alg is for that one only (RFC 7517 §4.4,
	// RFC 8725 §3.1).
	if key.Algorithm != "" && key.Algorithm != h.Algorithm {
		return nil, refuse("the DPoP proof's jwk names another alg than the proof's")
	}
	// go-jose refuses a key whose type does not fit the alg.
	payload, err := jws.Verify(key)
	if err != nil {
		return nil, refuse("the DPoP proof's signature does not verify with its jwk")
	}
	var c claims
	if err := json.Unmarshal(payload, &c); err != nil {
		return nil, refuse("the DPoP proof's claims are not a JSON object")
	}
	switch {
	case c.JTI == "" || len(c.JTI) > maxJTILen:
		return nil, refuse("the DPoP proof needs a jti of at most %d characters", maxJTILen)
	case c.HTM != method:
		return nil, refuse("the DPoP proof's htm does not match the request method")
	case !sameURL(c.HTU, target):
		return nil, refuse("the DPoP proof's htu does not match the endpoint")
	case c.IAT == nil:
		return nil, refuse("the DPoP proof needs iat")
	}
	now := v.now()
	iat := time.Unix(*c.IAT, 0)
	if iat.Before(now.Add(-pastWindow)) || iat.After(now.Add(futureWindow)) {
		return nil, refuse("the DPoP proof's iat is outside the accepted window")
	}
	if v.requireNonce && !v.validNonce(c.Nonce, now) {
		return nil, &Error{Reason: "a fresh server nonce is required", NonceRequired: true}
	}
	tp, err := key.Thumbprint(crypto.SHA256)
	if err != nil {
		return nil, refuse("the DPoP proof's key has no thumbprint")
	}
	return &Proof{JKT: base64.RawURLEncoding.EncodeToString(tp), JTI: c.JTI, IssuedAt: iat, ATH: c.ATH}, nil
}

// holdsPrivateJWK reports whether the protected header of the compact JWS
// proof has a jwk with a private or symmetric key member (RFC 7518 §6.2.2,
// §6.3.2, §6.4.1; RFC 8037 §2), which RFC 9449 §4.2 forbids.
func holdsPrivateJWK(proof string) bool {
	head, _, _ := strings.Cut(proof, ".")
	b, err := base64.RawURLEncoding.DecodeString(head)
	if err != nil {
		return false
	}
	var h struct {
		JWK map[string]json.RawMessage `json:"jwk"`
	}
	if json.Unmarshal(b, &h) != nil {
		return false
	}
	for _, m := range []string{"d", "p", "q", "dp", "dq", "qi", "oth", "k"} {
		if _, ok := h.JWK[m]; ok {
			return true
		}
	}
	return false
}

// Seen reports whether p's jti (under p's key) was remembered within the
// window: a replayed proof.
func (v *Verifier) Seen(p *Proof) bool {
	k := replayKey(p)
	v.mu.Lock()
	defer v.mu.Unlock()
	v.rotate(v.now())
	return v.seenLocked(k)
}

// Remember records p's jti and reports false when it was already there.
// Callers remember a proof once the request it came with has succeeded,
// so that nobody can fill the cache with proofs on requests that fail
// (for a public client, authentication is only its id); checking
// [Verifier.Seen] first refuses a replay before it does anything.
//
// The cache is per process: a proof replayed against another replica
// within the window is not caught there, which at the token endpoint gains
// nothing (the refresh token in the request is single-use, and the tokens
// are bound to the proof's key). Past maxSeen successful proofs in one
// window (thousands of grants a second on one replica) further proofs are
// not recorded rather than refused.
func (v *Verifier) Remember(p *Proof) bool {
	k := replayKey(p)
	v.mu.Lock()
	defer v.mu.Unlock()
	v.rotate(v.now())
	if v.seenLocked(k) {
		return false
	}
	if len(v.cur) < maxSeen {
		v.cur[k] = struct{}{}
	}
	return true
}

func replayKey(p *Proof) [16]byte {
	sum := sha256.Sum256([]byte(p.JKT + "\x00" + p.JTI))
	var k [16]byte
	copy(k[:], sum[:])
	return k
}

func (v *Verifier) seenLocked(k [16]byte) bool {
	_, inCur := v.cur[k]
	_, inPrev := v.prev[k]
	return inCur || inPrev
}

// rotate keeps two generations of replay entries, each replayWindow long.
// A proof is accepted at most pastWindow after its iat, and its iat is at
// most futureWindow ahead of the time it was remembered, so an entry must
// outlive its recording by replayWindow: it does, in cur and then in prev.
// No scan, whatever the number of entries.
func (v *Verifier) rotate(now time.Time) {
	switch age := now.Sub(v.curStart); {
	case age < replayWindow:
		return
	case age < 2*replayWindow:
		v.prev = v.cur
	default:
		v.prev = map[[16]byte]struct{}{}
	}
	v.cur, v.curStart = map[[16]byte]struct{}{}, now
}

// Nonce returns the server nonce for now.
func (v *Verifier) Nonce() string { return v.nonceAt(bucketOf(v.now())) }

func bucketOf(t time.Time) uint64 { return uint64(t.Unix()) / uint64(nonceBucket/time.Second) }

func (v *Verifier) nonceAt(bucket uint64) string {
	var b [8]byte
	binary.BigEndian.PutUint64(b[:], bucket)
	m := hmac.New(sha256.New, v.nonceKey)
	m.Write(b[:])
	return base64.RawURLEncoding.EncodeToString(append(b[:], m.Sum(nil)[:16]...))
}

func (v *Verifier) validNonce(n string, now time.Time) bool {
	if n == "" || len(n) > 64 {
		return false
	}
	b := bucketOf(now)
	for _, cand := range []uint64{b, b - 1} {
		if hmac.Equal([]byte(n), []byte(v.nonceAt(cand))) {
			return true
		}
	}
	return false
}

// sameURL compares htu with the endpoint URL as RFC 9449 §4.3 asks: query
// and fragment ignored, scheme and host compared case-insensitively, a
// default port the same as none.
func sameURL(htu, target string) bool {
	a, err1 := url.Parse(htu)
	b, err2 := url.Parse(target)
	if err1 != nil || err2 != nil || a.Opaque != "" || a.User != nil {
		return false
	}
	return strings.EqualFold(a.Scheme, b.Scheme) && hostPort(a) == hostPort(b) && a.EscapedPath() == b.EscapedPath()
}

func hostPort(u *url.URL) string {
	host, port := strings.ToLower(u.Hostname()), u.Port()
	if (port == "443" && strings.EqualFold(u.Scheme, "https")) || (port == "80" && strings.EqualFold(u.Scheme, "http")) {
		port = ""
	}
	return host + ":" + port
}
