package server

import (
	"context"
	"testing"
	"time"

	"github.com/rotor-auth/rotor/internal/oauth"
	"github.com/rotor-auth/rotor/internal/secret"
	"github.com/rotor-auth/rotor/internal/store"
	"github.com/rotor-auth/rotor/internal/store/testdb"
)

// BenchmarkAuthenticate measures client authentication alone (the client
// row read from SQLite included) for a generated secret (keyed hash), and
// for an operator-chosen one (argon2id) with its verification cached, as
// on the hot path, and uncached, as on the first request after a start or
// a secret change.
func BenchmarkAuthenticate(b *testing.B) {
	ctx := context.Background()
	st := testdb.SQLite(b)
	keys, err := secret.Derive(secret.NewMasterKey())
	if err != nil {
		b.Fatal(err)
	}
	now := time.Now()
	for _, c := range []*store.Client{
		{ID: "generated", SecretHash: keys.Hash("gen-secret"), GrantTypes: []string{"client_credentials"}, CreatedAt: now, UpdatedAt: now},
		{ID: "chosen", SecretPHC: secret.HashPassword("chosen-secret"), GrantTypes: []string{"client_credentials"}, CreatedAt: now, UpdatedAt: now},
	} {
		if err := st.CreateClient(ctx, c); err != nil {
			b.Fatal(err)
		}
	}
	a := newClientAuth(st, keys, secret.NewVerifier(0), time.Now)
	for _, tc := range []struct {
		name, id, secret string
		uncached         bool
	}{
		{"generated", "generated", "gen-secret", false},
		{"chosen/cached", "chosen", "chosen-secret", false},
		{"chosen/uncached", "chosen", "chosen-secret", true},
	} {
		b.Run(tc.name, func(b *testing.B) {
			creds := credentials{ClientID: tc.id, Secret: tc.secret, Method: oauth.AuthClientSecretBasic, HasSecret: true}
			// Warm the cache outside the measurement, so that even one
			// iteration (CI's -benchtime=1x) measures what it says.
			if _, err := a.authenticate(ctx, creds); err != nil {
				b.Fatal(err)
			}
			b.ReportAllocs()
			for b.Loop() {
				if tc.uncached {
					a.mu.Lock()
					clear(a.cache)
					a.mu.Unlock()
				}
				if _, err := a.authenticate(ctx, creds); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
