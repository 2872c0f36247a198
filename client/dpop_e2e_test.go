package client_test

import (
	"context"
	"crypto"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"golang.org/x/oauth2"

	"github.com/rotor-auth/rotor/client"
	"github.com/rotor-auth/rotor/internal/audit"
	"github.com/rotor-auth/rotor/internal/server"
	"github.com/rotor-auth/rotor/internal/store"
	"github.com/rotor-auth/rotor/internal/store/testdb"
	"github.com/rotor-auth/rotor/internal/testrig"
)

// cnfJKT returns the cnf.jkt claim of an access token (a JWT), unverified:
// the tests only look at what the server bound.
func cnfJKT(t testing.TB, at string) string {
	t.Helper()
	parts := strings.Split(at, ".")
	if len(parts) != 3 {
		t.Fatal("access token is not a JWT")
	}
	body, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		t.Fatal(err)
	}
	var c struct {
		Cnf struct {
			JKT string `json:"jkt"`
		} `json:"cnf"`
	}
	if err := json.Unmarshal(body, &c); err != nil {
		t.Fatal(err)
	}
	return c.Cnf.JKT
}

// TestDPoPEndToEnd: a public client bound to a key refreshes many times,
// every token DPoP-bound to the key; it calls an API with proofs; a
// refresh without a proof is refused without ending the session; the
// same refresh token with another key is refused and revokes the family.
func TestDPoPEndToEnd(t *testing.T) {
	testdb.Each(t, func(t *testing.T, st store.Store) {
		ctx := context.Background()
		d, _ := client.NewDPoP(newP256(t))
		e := newEnvWith(t, st, store.Client{ID: "app", RequireDPoP: true, ReuseGrace: testrig.Dur(0)}, true, d)
		if e.first.TokenType != "DPoP" || cnfJKT(t, e.first.AccessToken) != d.Thumbprint() {
			t.Fatalf("sign-in: token_type %q, cnf.jkt bound: %v", e.first.TokenType, cnfJKT(t, e.first.AccessToken) == d.Thumbprint())
		}
		if f := e.family(t); f.DPoPJKT != d.Thumbprint() {
			t.Fatalf("family bound to %q, want the key's thumbprint", f.DPoPJKT)
		}

		ms := client.NewMemoryStore(e.first)
		cfg := e.config(nil)
		cfg.DPoP = d
		src := client.TokenSource(ctx, cfg, ms)
		const refreshes = 25
		for i := range refreshes {
			cur, err := ms.Load(ctx)
			if err != nil {
				t.Fatal(err)
			}
			client.SetNow(src, func() time.Time { return cur.Expiry }) // due
			tok, err := src.Token()
			if err != nil {
				t.Fatalf("refresh %d: %v", i, err)
			}
			if tok.TokenType != "DPoP" || cnfJKT(t, tok.AccessToken) != d.Thumbprint() || tok.RefreshToken == cur.RefreshToken {
				t.Fatalf("refresh %d: token_type %q, bound %v, rotated %v", i, tok.TokenType,
					cnfJKT(t, tok.AccessToken) == d.Thumbprint(), tok.RefreshToken != cur.RefreshToken)
			}
		}
		if n := len(e.events(t, audit.TokenRotated)); n != refreshes {
			t.Errorf("%d rotations, want %d", n, refreshes)
		}
		e.expectHealthy(t)

		// An API sees a DPoP token and a proof by the bound key for its
		// request.
		api := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			at, ok := strings.CutPrefix(r.Header.Get("Authorization"), "DPoP ")
			p, err := verifyProof(r.Header.Get("DPoP"))
			if err != nil {
				w.WriteHeader(http.StatusUnauthorized)
				return
			}
			tp, _ := p.header.JSONWebKey.Thumbprint(crypto.SHA256)
			sum := sha256.Sum256([]byte(at))
			if !ok || base64.RawURLEncoding.EncodeToString(tp) != d.Thumbprint() ||
				p.claims["ath"] != base64.RawURLEncoding.EncodeToString(sum[:]) || p.claims["htm"] != r.Method {
				w.WriteHeader(http.StatusUnauthorized)
				return
			}
			_, _ = io.WriteString(w, "hello")
		}))
		defer api.Close()
		resp, err := src.Client().Get(api.URL + "/hello")
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("API answered %d", resp.StatusCode)
		}

		saved, _ := ms.Load(ctx)
		due := *saved
		due.Expiry = time.Now()

		// No proof: refused, and the session lives on.
		_, err = client.TokenSource(ctx, e.config(nil), client.NewMemoryStore(&due)).Token()
		var re *oauth2.RetrieveError
		if !errors.As(err, &re) || re.ErrorCode != "invalid_dpop_proof" || errors.Is(err, client.ErrSignInAgain) {
			t.Fatalf("refresh without a proof: %v, want invalid_dpop_proof", err)
		}
		e.expectHealthy(t)

		// Another key: refused, and the family is revoked.
		other, _ := client.NewDPoP(newP256(t))
		cfg2 := e.config(nil)
		cfg2.DPoP = other
		_, err = client.TokenSource(ctx, cfg2, client.NewMemoryStore(&due)).Token()
		if !errors.Is(err, client.ErrSignInAgain) {
			t.Fatalf("refresh with another key: %v, want ErrSignInAgain", err)
		}
		if f := e.family(t); !f.Revoked() || f.RevokeReason != audit.ReasonDPoPMismatch {
			t.Fatalf("family revoked %v (%s), want revoked for %s", f.Revoked(), f.RevokeReason, audit.ReasonDPoPMismatch)
		}
		// The rightful holder learns it on its next refresh.
		client.SetNow(src, func() time.Time { return saved.Expiry })
		if _, err := src.Token(); !errors.Is(err, client.ErrSignInAgain) {
			t.Fatalf("owner after revocation: %v, want ErrSignInAgain", err)
		}
	})
}

// TestDPoPLostResponse: with DPoP, the retry after a lost answer carries a
// fresh proof by the same key, and the grace period answers it.
func TestDPoPLostResponse(t *testing.T) {
	d, _ := client.NewDPoP(newP256(t))
	e := newEnvWith(t, testdb.SQLite(t), store.Client{ID: "app", RequireDPoP: true}, true, d)
	cfg := e.config(e.httpClient(dropAnswers(1)))
	cfg.DPoP = d
	due := *e.first
	due.Expiry = time.Now()
	tok, err := client.TokenSource(context.Background(), cfg, client.NewMemoryStore(&due)).Token()
	if err != nil {
		t.Fatal(err)
	}
	if tok.TokenType != "DPoP" || e.tokenCalls.Load() != 2 {
		t.Fatalf("token_type %q after %d requests", tok.TokenType, e.tokenCalls.Load())
	}
	if n := len(e.events(t, audit.GraceRetry)); n != 1 {
		t.Errorf("%d grace retries, want 1", n)
	}
	e.expectHealthy(t)
}

// TestDPoPServerNonce: a server that requires nonces answers the first
// proof with use_dpop_nonce; the client retries with it, and later
// requests reuse the nonce the server sent with its last answer.
func TestDPoPServerNonce(t *testing.T) {
	key := newP256(t)
	d, _ := client.NewDPoP(key)
	e := newEnvWith(t, testdb.SQLite(t), store.Client{ID: "app", RequireDPoP: true}, true, d,
		func(o *server.Options) { o.DPoPNonce = true })
	if e.first.TokenType != "DPoP" {
		t.Fatalf("sign-in through the nonce round trip: token_type %q", e.first.TokenType)
	}
	cfg := e.config(nil)
	cfg.DPoP = d
	ms := client.NewMemoryStore(e.first)
	src := client.TokenSource(context.Background(), cfg, ms)
	const refreshes = 5
	for i := range refreshes {
		cur, _ := ms.Load(context.Background())
		client.SetNow(src, func() time.Time { return cur.Expiry })
		if _, err := src.Token(); err != nil {
			t.Fatalf("refresh %d: %v", i, err)
		}
	}
	if n := e.tokenCalls.Load(); n != refreshes {
		t.Errorf("%d token requests for %d refreshes, want one each (the nonce is remembered)", n, refreshes)
	}

	// A fresh DPoP value (a new process with the same key) does not know
	// the nonce: one use_dpop_nonce round trip, then success.
	d2, _ := client.NewDPoP(key)
	cfg.DPoP = d2
	e.tokenCalls.Store(0)
	cur, _ := ms.Load(context.Background())
	due := *cur
	due.Expiry = time.Now()
	if _, err := client.TokenSource(context.Background(), cfg, client.NewMemoryStore(&due)).Token(); err != nil {
		t.Fatal(err)
	}
	if n := e.tokenCalls.Load(); n != 2 {
		t.Errorf("%d token requests without a known nonce, want 2", n)
	}
	e.expectHealthy(t)
}
