package token_test

import (
	"context"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/base64"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"

	"github.com/rotor-auth/rotor/internal/keys"
	"github.com/rotor-auth/rotor/internal/secret"
	"github.com/rotor-auth/rotor/internal/store/testdb"
	"github.com/rotor-auth/rotor/internal/token"
)

const issuerURL = "https://auth.example"

// manager returns a key manager with one key of alg over a real SQLite
// store.
func manager(t testing.TB, alg string) *keys.Manager {
	t.Helper()
	sk, err := secret.Derive(secret.NewMasterKey())
	if err != nil {
		t.Fatal(err)
	}
	km := keys.NewManager(testdb.SQLite(t), sk, keys.Options{Algorithm: alg})
	if err := km.EnsureCurrent(context.Background()); err != nil {
		t.Fatal(err)
	}
	return km
}

// verifyWithJWKS checks tok as a relying party does: with go-jose,
// against the published JWKS, and returns its claims.
func verifyWithJWKS(t *testing.T, km *keys.Manager, tok, alg string) map[string]any {
	t.Helper()
	raw, err := km.JWKS(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	var set jose.JSONWebKeySet
	if err := json.Unmarshal(raw, &set); err != nil {
		t.Fatal(err)
	}
	parsed, err := jwt.ParseSigned(tok, []jose.SignatureAlgorithm{jose.SignatureAlgorithm(alg)})
	if err != nil {
		t.Fatal(err)
	}
	h := parsed.Headers[0]
	if h.ExtraHeaders[jose.HeaderType] != "JWT" {
		t.Fatalf("typ = %v, want JWT", h.ExtraHeaders[jose.HeaderType])
	}
	keys := set.Key(h.KeyID)
	if len(keys) != 1 {
		t.Fatalf("kid %q is not in the JWKS once", h.KeyID)
	}
	var std jwt.Claims
	var all map[string]any
	if err := parsed.Claims(keys[0].Key, &std, &all); err != nil {
		t.Fatal(err)
	}
	return all
}

// TestIssueIDClaims: the id_token carries iss sub aud exp iat auth_time
// nonce at_hash azp sid, verifies against the JWKS with go-jose, and
// at_hash is the left half of the hash the alg calls for; optional
// claims are left out when empty.
func TestIssueIDClaims(t *testing.T) {
	now := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	authTime := now.Add(-5 * time.Minute)
	cases := []struct {
		name, alg string
		id        token.ID
		want      map[string]any
		absent    []string
	}{
		{
			name: "code flow ES256", alg: keys.ES256,
			id: token.ID{Subject: "u1", ClientID: "web", Nonce: "n-0S6", SID: "s1", AuthTime: authTime, AccessToken: "at.one", TTL: time.Hour},
			want: map[string]any{"iss": issuerURL, "sub": "u1", "aud": []any{"web"}, "azp": "web", "nonce": "n-0S6", "sid": "s1",
				"exp": float64(now.Add(time.Hour).Unix()), "iat": float64(now.Unix()), "auth_time": float64(authTime.Unix()),
				"at_hash": half(sha256.Sum256([]byte("at.one")))},
		},
		{
			name: "EdDSA hashes with SHA-512", alg: keys.EdDSA,
			id:   token.ID{Subject: "u1", ClientID: "web", AccessToken: "at.two", TTL: time.Minute},
			want: map[string]any{"at_hash": half512(sha512.Sum512([]byte("at.two")))},
		},
		{
			name: "RS256", alg: keys.RS256,
			id:   token.ID{Subject: "u1", ClientID: "web", AccessToken: "at.three", TTL: time.Minute},
			want: map[string]any{"at_hash": half(sha256.Sum256([]byte("at.three")))},
		},
		{
			name: "refresh: no nonce, no session, no access token", alg: keys.ES256,
			id:     token.ID{Subject: "u1", ClientID: "web", TTL: time.Minute},
			want:   map[string]any{"sub": "u1", "azp": "web"},
			absent: []string{"nonce", "sid", "auth_time", "at_hash", "jti", "client_id", "scope"},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			km := manager(t, tc.alg)
			iss := token.NewIssuer(issuerURL, km, func() time.Time { return now })
			tok, err := iss.IssueID(context.Background(), tc.id)
			if err != nil {
				t.Fatal(err)
			}
			got := verifyWithJWKS(t, km, tok, tc.alg)
			for k, v := range tc.want {
				if b, _ := json.Marshal(got[k]); string(b) != mustJSON(v) {
					t.Errorf("%s = %s, want %s", k, b, mustJSON(v))
				}
			}
			for _, k := range tc.absent {
				if _, ok := got[k]; ok {
					t.Errorf("%s is present: %v", k, got[k])
				}
			}
		})
	}
}

func half(s [32]byte) string    { return base64.RawURLEncoding.EncodeToString(s[:16]) }
func half512(s [64]byte) string { return base64.RawURLEncoding.EncodeToString(s[:32]) }

func mustJSON(v any) string { b, _ := json.Marshal(v); return string(b) }

// TestIssueIDRefusesIncomplete: an id_token without a subject, a client
// or a lifetime is not signed.
func TestIssueIDRefusesIncomplete(t *testing.T) {
	iss := token.NewIssuer(issuerURL, manager(t, keys.ES256), time.Now)
	for name, id := range map[string]token.ID{
		"no subject":  {ClientID: "web", TTL: time.Minute},
		"no client":   {Subject: "u1", TTL: time.Minute},
		"no lifetime": {Subject: "u1", ClientID: "web"},
	} {
		if _, err := iss.IssueID(context.Background(), id); err == nil {
			t.Errorf("%s: signed", name)
		}
	}
}

// TestVerifyIDHint: a hint of ours verifies, also once expired (RP-
// Initiated Logout §2); an access token, another issuer's token, a token
// signed with a key that is not ours, a tampered one and an oversized
// string are refused.
func TestVerifyIDHint(t *testing.T) {
	ctx := context.Background()
	now := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	km := manager(t, keys.ES256)
	iss := token.NewIssuer(issuerURL, km, func() time.Time { return now })
	hint, err := iss.IssueID(ctx, token.ID{Subject: "u1", ClientID: "web", SID: "s1", TTL: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	access, _, err := iss.Issue(ctx, token.Access{JTI: "j1", Subject: "u1", ClientID: "web", Scopes: []string{"openid"}, TTL: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	foreign, err := token.NewIssuer(issuerURL, manager(t, keys.ES256), func() time.Time { return now }).
		IssueID(ctx, token.ID{Subject: "u1", ClientID: "web", TTL: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	other, err := token.NewIssuer("https://other.example", km, func() time.Time { return now }).
		IssueID(ctx, token.ID{Subject: "u1", ClientID: "web", TTL: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	// Access-token claims under typ JWT: signed by our key, so only the
	// claims check can refuse it.
	accessClaimsAsJWT, _, err := km.Sign(ctx, keys.TypeJWT, keys.Claims(map[string]any{
		"iss": issuerURL, "sub": "u1", "aud": []string{"web"}, "azp": "web", "exp": now.Add(time.Hour).Unix(),
		"iat": now.Unix(), "jti": "j2", "client_id": "web", "scope": "openid"}))
	if err != nil {
		t.Fatal(err)
	}

	t.Run("valid", func(t *testing.T) {
		c, err := iss.VerifyIDHint(ctx, hint)
		if err != nil {
			t.Fatal(err)
		}
		want := token.IDClaims{Subject: "u1", ClientID: "web", SID: "s1", IssuedAt: now, Expiry: now.Add(time.Hour)}
		if !c.IssuedAt.Equal(want.IssuedAt) || !c.Expiry.Equal(want.Expiry) || c.Subject != want.Subject || c.ClientID != want.ClientID || c.SID != want.SID {
			t.Fatalf("claims %+v, want %+v", c, want)
		}
	})
	t.Run("expired is accepted", func(t *testing.T) {
		late := token.NewIssuer(issuerURL, km, func() time.Time { return now.Add(48 * time.Hour) })
		if _, err := late.VerifyIDHint(ctx, hint); err != nil {
			t.Fatalf("expired hint refused: %v", err)
		}
	})
	for name, tok := range map[string]string{
		"access token":                access,
		"access claims under typ JWT": accessClaimsAsJWT,
		"foreign key":                 foreign,
		"other issuer":                other,
		"tampered":                    hint[:len(hint)-2] + "AA",
		"oversized":                   strings.Repeat("a", token.MaxLen+1),
		"empty":                       "",
	} {
		t.Run(name, func(t *testing.T) {
			if _, err := iss.VerifyIDHint(ctx, tok); !errors.Is(err, token.ErrNotIDToken) {
				t.Fatalf("got %v, want ErrNotIDToken", err)
			}
		})
	}
}

// TestVerifyRefusesIDTokens: an id_token is never an access token, even
// one with every claim an access token has.
func TestVerifyRefusesIDTokens(t *testing.T) {
	ctx := context.Background()
	km := manager(t, keys.ES256)
	iss := token.NewIssuer(issuerURL, km, time.Now)
	id, err := iss.IssueID(ctx, token.ID{Subject: "u1", ClientID: "web", TTL: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	lookalike, _, err := km.Sign(ctx, keys.TypeJWT, keys.Claims(token.Claims{Issuer: issuerURL, Subject: "u1",
		Audience: []string{issuerURL}, Expiry: now.Add(time.Hour).Unix(), IssuedAt: now.Unix(), NotBefore: now.Unix(),
		JTI: "j1", ClientID: "web", Scope: "openid"}))
	if err != nil {
		t.Fatal(err)
	}
	for name, tok := range map[string]string{"id_token": id, "access claims with typ JWT": lookalike} {
		for _, checkExpiry := range []bool{true, false} {
			if _, ok := iss.Verify(ctx, tok, checkExpiry); ok {
				t.Errorf("%s verified as an access token (checkExpiry %v)", name, checkExpiry)
			}
		}
	}
}

// FuzzVerifyIDHint: no input makes VerifyIDHint panic or accept a string
// that is not one of ours.
func FuzzVerifyIDHint(f *testing.F) {
	km := manager(f, keys.ES256)
	iss := token.NewIssuer(issuerURL, km, time.Now)
	hint, _ := iss.IssueID(context.Background(), token.ID{Subject: "u1", ClientID: "web", TTL: time.Hour})
	f.Add(hint)
	f.Add("eyJhbGciOiJub25lIn0.e30.")
	f.Add("")
	f.Fuzz(func(t *testing.T, s string) {
		c, err := iss.VerifyIDHint(context.Background(), s)
		if err == nil && (s != hint || c.Subject != "u1") {
			t.Fatalf("accepted %q", s)
		}
	})
}
