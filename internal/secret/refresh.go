package secret

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"strings"
)

// Layout of a refresh token's body, before base64url:
//
//	version(1) | family id(16) | generation(8, big endian) | random(32) | mac(16)
//
// The MAC (HMAC-SHA256 under a key derived from the master key, truncated
// to 128 bits) covers everything before it, so nobody without the server
// key can craft a string that Rotor takes for some family's generation.
const (
	refreshVersion  = 1
	familyIDLen     = 16
	refreshRandLen  = 32
	refreshMACLen   = 16
	refreshBodyLen  = 1 + familyIDLen + 8 + refreshRandLen + refreshMACLen
	refreshTokenLen = len(PrefixRefreshToken) + (refreshBodyLen*8+5)/6
)

// RefreshToken is a decoded refresh token.
type RefreshToken struct {
	// FamilyID is the family's id in its text form.
	FamilyID string
	// Generation counts the rotations of the family; the first token is 1.
	Generation uint64
}

// NewFamilyID returns a fresh family id (128 random bits, base64url).
func NewFamilyID() string { return base64.RawURLEncoding.EncodeToString(random(familyIDLen)) }

// MintRefresh mints a refresh token for the given family and generation.
func (k *Keys) MintRefresh(familyID string, gen uint64) (string, error) {
	fid, err := base64.RawURLEncoding.DecodeString(familyID)
	if err != nil || len(fid) != familyIDLen {
		return "", ErrMalformed
	}
	body := make([]byte, 0, refreshBodyLen)
	body = append(body, refreshVersion)
	body = append(body, fid...)
	body = binary.BigEndian.AppendUint64(body, gen)
	body = append(body, random(refreshRandLen)...)
	body = append(body, k.refreshMAC(body)...)
	return PrefixRefreshToken + base64.RawURLEncoding.EncodeToString(body), nil
}

// ParseRefresh decodes a refresh token and verifies its MAC in constant
// time. Any failure is [ErrMalformed]: the caller learns nothing about
// which part was wrong.
func (k *Keys) ParseRefresh(token string) (RefreshToken, error) {
	if len(token) != refreshTokenLen || !strings.HasPrefix(token, PrefixRefreshToken) {
		return RefreshToken{}, ErrMalformed
	}
	body, err := base64.RawURLEncoding.Strict().DecodeString(token[len(PrefixRefreshToken):])
	if err != nil || len(body) != refreshBodyLen || body[0] != refreshVersion {
		return RefreshToken{}, ErrMalformed
	}
	n := refreshBodyLen - refreshMACLen
	if !hmac.Equal(body[n:], k.refreshMAC(body[:n])) {
		return RefreshToken{}, ErrMalformed
	}
	return RefreshToken{
		FamilyID:   base64.RawURLEncoding.EncodeToString(body[1 : 1+familyIDLen]),
		Generation: binary.BigEndian.Uint64(body[1+familyIDLen:]),
	}, nil
}

func (k *Keys) refreshMAC(b []byte) []byte {
	m := hmac.New(sha256.New, k.mac)
	m.Write(b)
	return m.Sum(nil)[:refreshMACLen]
}
