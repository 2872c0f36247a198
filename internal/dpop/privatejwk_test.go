package dpop_test

import (
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"errors"
	"testing"

	jose "github.com/go-jose/go-jose/v4"

	"github.com/rotor-auth/rotor/internal/dpop"
)

// TestVerifyNamesAPrivateJWK: a client that embeds its whole key pair in
// the proof is told so, not that the proof is not a JWS.
func TestVerifyNamesAPrivateJWK(t *testing.T) {
	ec, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	_, ed, _ := ed25519.GenerateKey(rand.Reader)
	rs, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	v := dpop.NewVerifier([]byte("nonce key"), false, now)
	const want = "the DPoP proof's jwk holds a private key; send only the public key"
	for name, p := range map[string]string{
		"EC":  proof(t, ec, jose.ES256, "dpop+jwt", jose.JSONWebKey{Key: ec}, good()),
		"OKP": proof(t, ed, jose.EdDSA, "dpop+jwt", jose.JSONWebKey{Key: ed}, good()),
		"RSA": proof(t, rs, jose.RS256, "dpop+jwt", jose.JSONWebKey{Key: rs}, good()),
	} {
		t.Run(name, func(t *testing.T) {
			_, err := v.Verify(p, "POST", endpoint)
			var de *dpop.Error
			if !errors.As(err, &de) || de.Reason != want {
				t.Fatalf("Verify: %v, want %q", err, want)
			}
		})
	}
	// A proof that is not a JWS at all keeps its own message.
	_, err = v.Verify("a.b.c", "POST", endpoint)
	var de *dpop.Error
	if !errors.As(err, &de) || de.Reason == want {
		t.Fatalf("garbage: %v", err)
	}
}
