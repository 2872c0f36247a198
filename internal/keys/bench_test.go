package keys_test

import (
	"context"
	"testing"
	"time"

	"github.com/rotor-auth/rotor/internal/keys"
	"github.com/rotor-auth/rotor/internal/secret"
)

// accessClaims is shaped like the server's access-token claims, so that
// the benchmarks encode as much as a real token.
func accessClaims() map[string]any {
	now := time.Now().Unix()
	return map[string]any{"iss": "https://auth.example.com", "sub": secret.NewID(), "aud": []string{"https://api.example.com"},
		"exp": now + 600, "iat": now, "nbf": now, "jti": secret.NewID(), "client_id": "web", "scope": "read write",
		"sid": secret.NewFamilyID()}
}

// BenchmarkSign measures signing an access token with the algorithms
// other than the default (BenchmarkSignES256 has that one).
func BenchmarkSign(b *testing.B) {
	for _, alg := range []string{keys.EdDSA, keys.RS256} {
		b.Run(alg, func(b *testing.B) {
			m, _, _ := setup(b, alg)
			claims := accessClaims()
			ctx := context.Background()
			b.ReportAllocs()
			for b.Loop() {
				if _, _, err := m.Sign(ctx, keys.TypeAccessToken, keys.Claims(claims)); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkVerify measures checking an access token's signature, as
// introspection and revocation do, for each algorithm.
func BenchmarkVerify(b *testing.B) {
	for _, alg := range []string{keys.ES256, keys.EdDSA, keys.RS256} {
		b.Run(alg, func(b *testing.B) {
			m, _, _ := setup(b, alg)
			ctx := context.Background()
			tok, _, err := m.Sign(ctx, keys.TypeAccessToken, keys.Claims(accessClaims()))
			if err != nil {
				b.Fatal(err)
			}
			b.ReportAllocs()
			for b.Loop() {
				if _, err := m.Verify(ctx, keys.TypeAccessToken, tok); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
