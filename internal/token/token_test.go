package token_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/rotor-auth/rotor/internal/keys"
	"github.com/rotor-auth/rotor/internal/secret"
	"github.com/rotor-auth/rotor/internal/store/testdb"
	"github.com/rotor-auth/rotor/internal/token"
)

// TestIssueAndVerify: an issued token verifies with its claims; Verify
// refuses another issuer's, an expired one (unless asked not to check
// expiry), an oversized string and a tampered signature; a DPoP-bound
// token's type is DPoP.
func TestIssueAndVerify(t *testing.T) {
	ctx := context.Background()
	st := testdb.SQLite(t)
	sk, err := secret.Derive(secret.NewMasterKey())
	if err != nil {
		t.Fatal(err)
	}
	km := keys.NewManager(st, sk, keys.Options{})
	if err := km.EnsureCurrent(ctx); err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	clock := func() time.Time { return now }
	iss := token.NewIssuer("https://auth.example", km, clock)
	tok, c, err := iss.Issue(ctx, token.Access{JTI: "j1", Subject: "u1", ClientID: "app", SID: "f1",
		Scopes: []string{"read", "write"}, Audience: []string{"https://api.example"}, TTL: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	if c.Scope != "read write" || c.Expiry != now.Add(time.Minute).Unix() || c.TokenType() != "Bearer" {
		t.Fatalf("claims %+v", c)
	}
	got, ok := iss.Verify(ctx, tok, true)
	if !ok || got.JTI != "j1" || got.SID != "f1" || got.Audience[0] != "https://api.example" {
		t.Fatalf("verify: %+v %v", got, ok)
	}
	if _, ok := token.NewIssuer("https://other.example", km, clock).Verify(ctx, tok, true); ok {
		t.Fatal("another issuer's token verified")
	}
	late := token.NewIssuer("https://auth.example", km, func() time.Time { return now.Add(2 * time.Minute) })
	if _, ok := late.Verify(ctx, tok, true); ok {
		t.Fatal("an expired token verified")
	}
	if _, ok := late.Verify(ctx, tok, false); !ok {
		t.Fatal("an expired token was refused without the expiry check")
	}
	if _, ok := iss.Verify(ctx, strings.Repeat("a", token.MaxLen+1), true); ok {
		t.Fatal("an oversized string verified")
	}
	if _, ok := iss.Verify(ctx, tok[:len(tok)-2]+"AA", true); ok {
		t.Fatal("a tampered signature verified")
	}
	bound, bc, err := iss.Issue(ctx, token.Access{JTI: "j2", Subject: "u1", ClientID: "app", TTL: time.Minute, JKT: "thumb"})
	if err != nil || bc.TokenType() != "DPoP" || bc.Cnf == nil || bc.Cnf.JKT != "thumb" {
		t.Fatalf("bound claims %+v %v", bc, err)
	}
	if got, ok := iss.Verify(ctx, bound, true); !ok || got.TokenType() != "DPoP" {
		t.Fatal("a bound token lost its binding")
	}
}
