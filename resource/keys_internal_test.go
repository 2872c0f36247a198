package resource

import (
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"encoding/json"
	"maps"
	"slices"
	"testing"

	jose "github.com/go-jose/go-jose/v4"
)

// TestParseJWKSAlgorithms: which published keys verify which algorithms,
// with the default (each key for its own alg) and with an allow-list.
func TestParseJWKSAlgorithms(t *testing.T) {
	p256, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	p384, _ := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	edPub, _, _ := ed25519.GenerateKey(rand.Reader)
	rsaKey, _ := rsa.GenerateKey(rand.Reader, 2048)
	small, _ := rsa.GenerateKey(rand.Reader, 1024)
	set := jose.JSONWebKeySet{Keys: []jose.JSONWebKey{
		{Key: &p256.PublicKey, KeyID: "es256", Algorithm: "ES256", Use: "sig"},
		{Key: &p384.PublicKey, KeyID: "es384-no-alg"},
		{Key: edPub, KeyID: "eddsa", Algorithm: "EdDSA", Use: "sig"},
		{Key: edPub, KeyID: "eddsa-no-alg"},
		{Key: &rsaKey.PublicKey, KeyID: "rs256", Algorithm: "RS256"},
		{Key: &rsaKey.PublicKey, KeyID: "ps256", Algorithm: "PS256"},
		{Key: &rsaKey.PublicKey, KeyID: "rsa-no-alg"},
		{Key: &small.PublicKey, KeyID: "rsa-1024", Algorithm: "RS256"},
		{Key: &p256.PublicKey, KeyID: "ec-says-rs256", Algorithm: "RS256"},
		{Key: &p256.PublicKey, KeyID: "ec-says-es384", Algorithm: "ES384"},
		{Key: edPub, KeyID: "ed-says-es256", Algorithm: "ES256"},
		{Key: &p256.PublicKey, KeyID: "ec-says-none", Algorithm: "none"},
		{Key: &p256.PublicKey, KeyID: "ec-says-hs256", Algorithm: "HS256"},
		{Key: &p256.PublicKey, KeyID: "for-encryption", Algorithm: "ES256", Use: "enc"},
	}}
	body, err := json.Marshal(set)
	if err != nil {
		t.Fatal(err)
	}
	for name, tc := range map[string]struct {
		allowed map[string]bool
		want    map[string][]string // kid -> the algorithms it verifies
	}{
		"default": {nil, map[string][]string{
			"es256": {"ES256"}, "es384-no-alg": {"ES384"}, "eddsa": {"EdDSA"}, "eddsa-no-alg": {"EdDSA"},
			"rs256": {"RS256"}, "ps256": {"PS256"},
		}},
		"ES256 and RS256": {map[string]bool{"ES256": true, "RS256": true}, map[string][]string{
			"es256": {"ES256"}, "rs256": {"RS256"}, "rsa-no-alg": {"RS256"},
		}},
		"EdDSA": {map[string]bool{"EdDSA": true}, map[string][]string{
			"eddsa": {"EdDSA"}, "eddsa-no-alg": {"EdDSA"},
		}},
	} {
		t.Run(name, func(t *testing.T) {
			keys, err := parseJWKS(body, tc.allowed)
			if err != nil {
				t.Fatal(err)
			}
			if got, want := slices.Sorted(maps.Keys(keys)), slices.Sorted(maps.Keys(tc.want)); !slices.Equal(got, want) {
				t.Fatalf("usable keys %v, want %v", got, want)
			}
			for kid, k := range keys {
				var fits []string
				for _, alg := range asymmetricNames {
					if k.fits(alg) && (tc.allowed == nil || tc.allowed[alg]) {
						fits = append(fits, alg)
					}
				}
				if !slices.Equal(fits, tc.want[kid]) {
					t.Errorf("key %s verifies %v, want %v", kid, fits, tc.want[kid])
				}
			}
		})
	}
}
