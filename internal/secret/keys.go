package secret

import (
	"crypto/hkdf"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
)

// MasterKeySize is the length of a master key in bytes.
const MasterKeySize = 32

// Keys are the subkeys derived from the master key. None of them is ever
// stored in the database, so a dump of it cannot refresh, verify a secret
// or open a sealed value.
type Keys struct {
	pepper  []byte // keyed hashes of tokens and generated secrets
	mac     []byte // MAC inside refresh tokens
	seal    []byte // AES-256-GCM for short-lived sealed values (grace successor)
	keySeal []byte // AES-256-GCM for signing keys at rest
}

// NewMasterKey returns a fresh random master key.
func NewMasterKey() []byte {
	k := make([]byte, MasterKeySize)
	rand.Read(k)
	return k
}

// EncodeMasterKey returns the text form of a master key (base64url).
func EncodeMasterKey(k []byte) string { return base64.RawURLEncoding.EncodeToString(k) }

// DecodeMasterKey parses the text form of a master key. It accepts
// base64url or standard base64, with or without padding, and hex.
func DecodeMasterKey(s string) ([]byte, error) {
	s = strings.TrimSpace(s)
	for _, dec := range []func(string) ([]byte, error){
		base64.RawURLEncoding.DecodeString,
		base64.URLEncoding.DecodeString,
		base64.RawStdEncoding.DecodeString,
		base64.StdEncoding.DecodeString,
		hex.DecodeString,
	} {
		if k, err := dec(s); err == nil && len(k) == MasterKeySize {
			return k, nil
		}
	}
	return nil, fmt.Errorf("master key must be %d bytes, base64 or hex encoded", MasterKeySize)
}

// Derive derives the subkeys from a master key with HKDF-SHA256.
func Derive(master []byte) (*Keys, error) {
	if len(master) != MasterKeySize {
		return nil, fmt.Errorf("master key must be %d bytes, got %d", MasterKeySize, len(master))
	}
	sub := func(label string) []byte {
		k, err := hkdf.Key(sha256.New, master, nil, "rotor/v1/"+label, 32)
		if err != nil {
			panic(err) // only for lengths HKDF cannot produce
		}
		return k
	}
	return &Keys{
		pepper:  sub("hash-pepper"),
		mac:     sub("refresh-mac"),
		seal:    sub("seal"),
		keySeal: sub("signing-key-seal"),
	}, nil
}

// Hash returns the keyed hash (HMAC-SHA256 under the pepper) of a token or
// generated secret: the only form in which it is stored.
func (k *Keys) Hash(token string) []byte {
	m := hmac.New(sha256.New, k.pepper)
	m.Write([]byte(token))
	return m.Sum(nil)
}

// TokenID returns a short id for a token, derived from its keyed hash, safe
// to log and to show in audit events: it does not let anyone find the
// token.
func (k *Keys) TokenID(token string) string { return TokenIDFromHash(k.Hash(token)) }

// TokenIDFromHash returns the short id belonging to a stored keyed hash.
func TokenIDFromHash(h []byte) string {
	if len(h) < 8 {
		return ""
	}
	return hex.EncodeToString(h[:8])
}

// Equal compares two byte strings in constant time.
func Equal(a, b []byte) bool { return subtle.ConstantTimeCompare(a, b) == 1 }

// random returns n random bytes. crypto/rand.Read never fails.
func random(n int) []byte {
	b := make([]byte, n)
	rand.Read(b)
	return b
}

// Prefixes of every opaque value Rotor mints, so that secret scanners can
// recognise leaked ones.
const (
	PrefixRefreshToken = "rt_"
	PrefixClientSecret = "rcs_"
)

// NewClientSecret mints a client secret of 256 random bits.
func NewClientSecret() string {
	return PrefixClientSecret + base64.RawURLEncoding.EncodeToString(random(32))
}

// NewID returns a random identifier of 128 bits in base64url, for families,
// users, access-token jti values and signing keys.
func NewID() string { return base64.RawURLEncoding.EncodeToString(random(16)) }

// ErrMalformed is returned for a token that does not parse or whose MAC
// does not verify.
var ErrMalformed = errors.New("secret: malformed token")
