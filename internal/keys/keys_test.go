package keys_test

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"errors"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/rotor-auth/rotor/internal/keys"
	"github.com/rotor-auth/rotor/internal/secret"
	"github.com/rotor-auth/rotor/internal/store"
	"github.com/rotor-auth/rotor/internal/store/testdb"
)

type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

func setup(t testing.TB, alg string) (*keys.Manager, store.Store, *clock) {
	t.Helper()
	st := testdb.SQLite(t)
	sk, err := secret.Derive(secret.NewMasterKey())
	if err != nil {
		t.Fatal(err)
	}
	clk := &clock{t: time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)}
	m := keys.NewManager(st, sk, keys.Options{Algorithm: alg, Prepublish: 10 * time.Minute,
		MaxTokenTTL: time.Hour, RotationPeriod: 30 * 24 * time.Hour, ReloadInterval: time.Second, Now: clk.Now})
	if err := m.EnsureCurrent(context.Background()); err != nil {
		t.Fatal(err)
	}
	return m, st, clk
}

func sign(t testing.TB, m *keys.Manager) (string, string) {
	t.Helper()
	tok, kid, err := m.Sign(context.Background(), keys.TypeAccessToken, keys.Claims(map[string]any{"sub": "alice", "jti": secret.NewID()}))
	if err != nil {
		t.Fatal(err)
	}
	return tok, kid
}

func header(t testing.TB, tok string) map[string]any {
	t.Helper()
	b, err := base64.RawURLEncoding.DecodeString(strings.Split(tok, ".")[0])
	if err != nil {
		t.Fatal(err)
	}
	var h map[string]any
	if err := json.Unmarshal(b, &h); err != nil {
		t.Fatal(err)
	}
	return h
}

func jwksKids(t testing.TB, m *keys.Manager) []string {
	t.Helper()
	b, err := m.JWKS(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	var set struct {
		Keys []map[string]any `json:"keys"`
	}
	if err := json.Unmarshal(b, &set); err != nil {
		t.Fatal(err)
	}
	var kids []string
	for _, k := range set.Keys {
		for _, private := range []string{"d", "p", "q", "dp", "dq", "qi"} {
			if _, ok := k[private]; ok {
				t.Fatalf("JWKS publishes private member %q", private)
			}
		}
		kids = append(kids, k["kid"].(string))
	}
	return kids
}

func TestSignAndVerifyEachAlgorithm(t *testing.T) {
	for _, alg := range []string{keys.ES256, keys.EdDSA, keys.RS256} {
		t.Run(alg, func(t *testing.T) {
			m, _, _ := setup(t, alg)
			tok, kid := sign(t, m)
			h := header(t, tok)
			if h["typ"] != "at+jwt" || h["alg"] != alg || h["kid"] != kid {
				t.Fatalf("header %v", h)
			}
			payload, err := m.Verify(context.Background(), keys.TypeAccessToken, tok)
			if err != nil || !bytes.Contains(payload, []byte(`"sub":"alice"`)) {
				t.Fatalf("verify: %s %v", payload, err)
			}
		})
	}
}

// TestTypesAreKeptApart: one key signs access tokens (typ at+jwt) and
// id_tokens (typ JWT), and neither verifies as the other, so that an
// id_token is never taken for an access token nor the reverse. The claims
// function learns the alg of the key that signs.
func TestTypesAreKeptApart(t *testing.T) {
	for _, alg := range []string{keys.ES256, keys.EdDSA, keys.RS256} {
		t.Run(alg, func(t *testing.T) {
			ctx := context.Background()
			m, _, _ := setup(t, alg)
			var seen string
			id, _, err := m.Sign(ctx, keys.TypeJWT, func(a string) (any, error) {
				seen = a
				return map[string]any{"sub": "alice"}, nil
			})
			if err != nil {
				t.Fatal(err)
			}
			if seen != alg {
				t.Fatalf("claims saw alg %q, want %q", seen, alg)
			}
			if h := header(t, id); h["typ"] != "JWT" || h["alg"] != alg {
				t.Fatalf("id_token header %v", h)
			}
			access, _ := sign(t, m)
			if _, err := m.Verify(ctx, keys.TypeJWT, id); err != nil {
				t.Fatalf("id_token as JWT: %v", err)
			}
			if _, err := m.Verify(ctx, keys.TypeAccessToken, id); !errors.Is(err, keys.ErrInvalid) {
				t.Fatalf("id_token verified as an access token: %v", err)
			}
			if _, err := m.Verify(ctx, keys.TypeJWT, access); !errors.Is(err, keys.ErrInvalid) {
				t.Fatalf("access token verified as an id_token: %v", err)
			}
			if _, _, err := m.Sign(ctx, "dpop+jwt", keys.Claims(map[string]any{})); err == nil {
				t.Fatal("signed a token of an unknown type")
			}
			if _, err := m.Verify(ctx, "dpop+jwt", access); err == nil {
				t.Fatal("verified a token of an unknown type")
			}
			algs, err := m.Algorithms(ctx)
			if err != nil || len(algs) != 1 || algs[0] != alg {
				t.Fatalf("Algorithms = %v, %v", algs, err)
			}
		})
	}
}

func TestRotationPublishesBeforeSigningAndRetiresAfterLastToken(t *testing.T) {
	ctx := context.Background()
	m, st, clk := setup(t, keys.ES256)
	_, oldKid := sign(t, m)

	next, err := m.Rotate(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if kids := jwksKids(t, m); len(kids) != 2 {
		t.Fatalf("after rotate the JWKS has %v, want both keys", kids)
	}
	if _, kid := sign(t, m); kid != oldKid {
		t.Fatal("a rotated key signed before its prepublication period ended")
	}
	clk.Advance(10 * time.Minute)
	if _, kid := sign(t, m); kid != next.ID {
		t.Fatal("the new key does not sign after its activation time")
	}
	// The old key stays published while tokens it signed may be valid.
	clk.Advance(59 * time.Minute)
	if n, _ := m.Collect(ctx); n != 0 {
		t.Fatal("collected a key whose tokens may still be valid")
	}
	if kids := jwksKids(t, m); len(kids) != 2 {
		t.Fatalf("old key left the JWKS too early: %v", kids)
	}
	clk.Advance(2*time.Minute + 2*time.Second)
	if n, err := m.Collect(ctx); n != 1 || err != nil {
		t.Fatalf("Collect = %d, %v; want 1", n, err)
	}
	if kids := jwksKids(t, m); len(kids) != 1 || kids[0] != next.ID {
		t.Fatalf("JWKS after retirement %v", kids)
	}
	all, _ := st.ListSigningKeys(ctx)
	if len(all) != 1 {
		t.Fatalf("%d keys stored, want 1", len(all))
	}
}

func TestEnsureCurrentRotatesOnSchedule(t *testing.T) {
	ctx := context.Background()
	m, st, clk := setup(t, keys.ES256)
	if err := m.EnsureCurrent(ctx); err != nil {
		t.Fatal(err)
	}
	if all, _ := st.ListSigningKeys(ctx); len(all) != 1 {
		t.Fatalf("EnsureCurrent on a fresh key created %d keys", len(all))
	}
	clk.Advance(30 * 24 * time.Hour)
	if err := m.EnsureCurrent(ctx); err != nil {
		t.Fatal(err)
	}
	if err := m.EnsureCurrent(ctx); err != nil { // a pending successor: no second rotation
		t.Fatal(err)
	}
	if all, _ := st.ListSigningKeys(ctx); len(all) != 2 {
		t.Fatalf("after the rotation period there are %d keys, want 2", len(all))
	}
	info, err := m.Keys(ctx)
	if err != nil || info[0].State != "active" || info[1].State != "pending" {
		t.Fatalf("key states %+v %v", info, err)
	}
}

func TestPrivateKeysAreSealedAtRest(t *testing.T) {
	ctx := context.Background()
	m, st, _ := setup(t, keys.ES256)
	sign(t, m)
	all, err := st.ListSigningKeys(ctx)
	if err != nil || len(all) != 1 {
		t.Fatal(err)
	}
	// Opening the sealed key must need the master key: a wrong one fails.
	other, _ := secret.Derive(secret.NewMasterKey())
	if _, err := other.OpenKey(all[0].Sealed, []byte(all[0].ID)); err == nil {
		t.Fatal("the sealed private key opens without the master key")
	}
	if _, err := x509.ParsePKCS8PrivateKey(all[0].Sealed); err == nil {
		t.Fatal("the stored key is a clear PKCS #8 key")
	}
	if bytes.Contains(all[0].PublicJWK, []byte(`"d"`)) {
		t.Fatal("the public JWK holds the private scalar")
	}
	// A manager with another master key refuses to load it.
	bad := keys.NewManager(st, other, keys.Options{})
	if _, _, err := bad.Sign(ctx, keys.TypeAccessToken, keys.Claims(map[string]string{})); err == nil {
		t.Fatal("signed with a key sealed under another master key")
	}
}

func TestVerifyRejectsHostileTokens(t *testing.T) {
	ctx := context.Background()
	m, _, _ := setup(t, keys.ES256)
	good, kid := sign(t, m)
	parts := strings.Split(good, ".")
	enc := func(v any) string { b, _ := json.Marshal(v); return base64.RawURLEncoding.EncodeToString(b) }
	payload := parts[1]

	// HS256 "signed" with the public key as the HMAC secret.
	jwks, _ := m.JWKS(ctx)
	hsHeader := enc(map[string]string{"alg": "HS256", "typ": "at+jwt", "kid": kid})
	mac := hmac.New(sha256.New, jwks)
	mac.Write([]byte(hsHeader + "." + payload))
	hs := hsHeader + "." + payload + "." + base64.RawURLEncoding.EncodeToString(mac.Sum(nil))

	tampered := parts[0] + "." + enc(map[string]string{"sub": "mallory"}) + "." + parts[2]
	for name, tok := range map[string]string{
		"alg none":    enc(map[string]string{"alg": "none", "typ": "at+jwt", "kid": kid}) + "." + payload + ".",
		"HS256":       hs,
		"unknown kid": enc(map[string]string{"alg": "ES256", "typ": "at+jwt", "kid": "nope"}) + "." + payload + "." + parts[2],
		"path kid":    enc(map[string]string{"alg": "ES256", "typ": "at+jwt", "kid": "../../etc/passwd"}) + "." + payload + "." + parts[2],
		"wrong typ":   enc(map[string]string{"alg": "ES256", "typ": "JWT", "kid": kid}) + "." + payload + "." + parts[2],
		"tampered":    tampered,
		"garbage":     "a.b.c",
		"empty":       "",
	} {
		if _, err := m.Verify(ctx, keys.TypeAccessToken, tok); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}

func TestConcurrentSign(t *testing.T) {
	m, _, clk := setup(t, keys.ES256)
	var wg sync.WaitGroup
	for i := range 20 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 20 {
				if i == 0 {
					clk.Advance(time.Second) // forces reloads under load
				}
				tok, _ := sign(t, m)
				if _, err := m.Verify(context.Background(), keys.TypeAccessToken, tok); err != nil {
					t.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
}

func FuzzVerify(f *testing.F) {
	m, _, _ := setup(f, keys.ES256)
	tok, _ := sign(f, m)
	f.Add(tok)
	f.Add("eyJhbGciOiJub25lIn0.e30.")
	f.Add("a.b.c")
	// Verify must never panic on hostile input, and whatever it accepts
	// must carry the signed payload.
	f.Fuzz(func(t *testing.T, s string) {
		payload, err := m.Verify(context.Background(), keys.TypeAccessToken, s)
		if err == nil && !json.Valid(payload) {
			t.Fatalf("accepted %q with payload %q", s, payload)
		}
	})
}

func BenchmarkSignES256(b *testing.B) {
	m, _, _ := setup(b, keys.ES256)
	claims := map[string]any{"sub": "alice", "scope": "read write", "jti": "x"}
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		if _, _, err := m.Sign(ctx, keys.TypeAccessToken, keys.Claims(claims)); err != nil {
			b.Fatal(err)
		}
	}
}

// countingStore counts key-set reads of a real store.
type countingStore struct {
	store.Store
	lists atomic.Int32
}

func (c *countingStore) ListSigningKeys(ctx context.Context) ([]store.SigningKey, error) {
	c.lists.Add(1)
	return c.Store.ListSigningKeys(ctx)
}

// TestUnknownKidReloadsAtMostOncePerInterval: a token with a kid rotated in
// by another replica is found by a reload, but a flood of made-up kids
// does not reload (read and decrypt every key) on each token.
func TestUnknownKidReloadsAtMostOncePerInterval(t *testing.T) {
	ctx := context.Background()
	st := &countingStore{Store: testdb.SQLite(t)}
	sk, _ := secret.Derive(secret.NewMasterKey())
	clk := &clock{t: time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)}
	opts := keys.Options{Prepublish: 0, ReloadInterval: time.Hour, Now: clk.Now}
	m := keys.NewManager(st, sk, opts)
	if err := m.EnsureCurrent(ctx); err != nil {
		t.Fatal(err)
	}
	good, _ := sign(t, m)
	parts := strings.Split(good, ".")
	forged := base64.RawURLEncoding.EncodeToString([]byte(`{"alg":"ES256","typ":"at+jwt","kid":"made-up"}`)) + "." + parts[1] + "." + parts[2]

	clk.Advance(time.Minute)
	before := st.lists.Load()
	for range 100 {
		if _, err := m.Verify(ctx, keys.TypeAccessToken, forged); !errors.Is(err, keys.ErrUnknownKey) {
			t.Fatalf("made-up kid: %v", err)
		}
	}
	if n := st.lists.Load() - before; n != 1 {
		t.Fatalf("100 made-up kids caused %d reloads, want 1", n)
	}

	// Another replica, which rereads its keys far more often, rotates and
	// signs with the new key before this one has reread; its first token
	// is found by one reload.
	fast := opts
	fast.ReloadInterval = time.Second
	other := keys.NewManager(st, sk, fast)
	next, err := other.Rotate(ctx)
	if err != nil {
		t.Fatal(err)
	}
	clk.Advance(11 * time.Second)
	fresh, kid := sign(t, other)
	if kid != next.ID {
		t.Fatalf("the other replica signs with %s, not its new key %s", kid, next.ID)
	}
	if _, err := m.Verify(ctx, keys.TypeAccessToken, fresh); err != nil {
		t.Fatalf("a key rotated in elsewhere: %v", err)
	}
}

// TestRotatedKeySignsWhenEveryReplicaHasIt: a rotated key starts signing
// no sooner than every replica has reread the key set, whatever the
// prepublication delay, so that a replica that read it just before the
// rotation switches at the key's ActiveAt like the rest; the first key of
// an empty store signs at once.
func TestRotatedKeySignsWhenEveryReplicaHasIt(t *testing.T) {
	ctx := context.Background()
	st := testdb.SQLite(t)
	sk, _ := secret.Derive(secret.NewMasterKey())
	clk := &clock{t: time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)}
	opts := keys.Options{Prepublish: 0, ReloadInterval: time.Minute, Now: clk.Now}
	rotating, serving := keys.NewManager(st, sk, opts), keys.NewManager(st, sk, opts)

	first, err := rotating.Rotate(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if !first.ActiveAt.Equal(clk.Now()) {
		t.Fatalf("the first key signs from %v, want at once (%v)", first.ActiveAt, clk.Now())
	}
	if _, kid := sign(t, serving); kid != first.ID {
		t.Fatalf("signs with %s, want the first key %s", kid, first.ID)
	}
	clk.Advance(10 * time.Second)
	next, err := rotating.Rotate(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if got := next.ActiveAt.Sub(next.CreatedAt); got != time.Minute {
		t.Fatalf("a key rotated with no prepublication signs %s after its creation, want the reload interval", got)
	}
	for _, c := range []struct {
		at   time.Time
		want string
	}{{next.ActiveAt.Add(-time.Second), first.ID}, {next.ActiveAt, next.ID}} {
		clk.Advance(c.at.Sub(clk.Now()))
		for name, m := range map[string]*keys.Manager{"rotating": rotating, "serving": serving} {
			if _, kid := sign(t, m); kid != c.want {
				t.Fatalf("at %v the %s replica signs with %s, want %s", c.at, name, kid, c.want)
			}
		}
	}
}
