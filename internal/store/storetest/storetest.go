package storetest

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rotor-auth/rotor/internal/store"
)

// base is a fixed time at microsecond precision, the contract's.
var base = time.Date(2026, 5, 6, 7, 8, 9, 123456000, time.UTC)

func at(d time.Duration) time.Time { return base.Add(d) }

func dur(d time.Duration) *time.Duration { return &d }

// queryTests exercise the query methods; [Run] runs them twice, calling
// every method directly on the store and then each in a transaction of
// its own.
var queryTests = []struct {
	name string
	fn   func(t *testing.T, st store.Store)
}{
	{"Clients", testClients},
	{"Users", testUsers},
	{"FamilyRoundTripAndUpdateInPlace", testFamilyRoundTrip},
	{"CreateFamilies", testCreateFamilies},
	{"RevokeFamily", testRevokeFamily},
	{"RevokeFamilies", testRevokeFamilies},
	{"ListFamilies", testListFamilies},
	{"Janitor", testJanitor},
	{"DenyList", testDenyList},
	{"Events", testEvents},
	{"SigningKeys", testSigningKeys},
	{"CreateSigningKeyIfNoneAfter", testCreateSigningKeyIfNoneAfter},
	{"FamiliesBySession", testFamiliesBySession},
	{"AuthCodes", testAuthCodes},
	{"DeleteExpiredAuthCodes", testDeleteExpiredAuthCodes},
	{"Sessions", testSessions},
	{"ListSessions", testListSessions},
	{"DeleteExpiredSessions", testDeleteExpiredSessions},
	{"Consents", testConsents},
	{"DeleteConsents", testDeleteConsents},
	{"EndSessions", testEndSessions},
	{"DeviceCodes", testDeviceCodes},
	{"CountPendingDeviceCodes", testCountPendingDeviceCodes},
	{"DeleteExpiredDeviceCodes", testDeleteExpiredDeviceCodes},
}

// txTests exercise transactions and concurrency; they run once.
var txTests = []struct {
	name string
	fn   func(t *testing.T, st store.Store)
}{
	{"TxCommitAndRollback", testTx},
	{"ConcurrentLockFamilyOneWinner", testConcurrentOneWinner},
	{"ConcurrentLockFamilyNoLostUpdate", testConcurrentNoLostUpdate},
	{"ConcurrentLockUserNoLostUpdate", testConcurrentUserNoLostUpdate},
	{"ConcurrentLockClientNoLostUpdate", testConcurrentClientNoLostUpdate},
	{"ConcurrentRevokeFamily", testConcurrentRevoke},
	{"ConcurrentAppendEvents", testConcurrentEvents},
	{"ConcurrentCreateSigningKeyIfNoneAfter", testConcurrentCreateSigningKeyIfNoneAfter},
	{"ConcurrentLockAuthCodeOneWinner", testConcurrentLockAuthCodeOneWinner},
	{"ConcurrentLockDeviceCode", testConcurrentLockDeviceCode},
}

// Run runs every conformance test against stores made by open. open must
// return a fresh, empty, migrated store and register its own cleanup.
//
// The query tests run first on the store itself, outside any
// transaction, then again under "InTx" with every call in a transaction
// of its own. The last subtest checks that every method of
// [store.Queries] was called outside a transaction and had its effect
// checked: on SQLite such a write must go through the committer, and one
// that reaches the writer connection another way fails the suite.
func Run(t *testing.T, open func(t *testing.T) store.Store) {
	direct := &seen{names: map[string]bool{}}
	// finished counts the tests that ran to their end: not filtered out
	// by -run, skipped or failed.
	finished := 0
	for _, tc := range append(queryTests[:len(queryTests):len(queryTests)], txTests...) {
		t.Run(tc.name, func(t *testing.T) {
			tc.fn(t, &probe{st: open(t), seen: direct})
			if !t.Failed() {
				finished++
			}
		})
	}
	t.Run("InTx", func(t *testing.T) {
		for _, tc := range queryTests {
			t.Run(tc.name, func(t *testing.T) { tc.fn(t, &probe{st: open(t), inTx: true}) })
		}
	})
	t.Run("EveryQueryCalledOutsideTx", func(t *testing.T) {
		if finished < len(queryTests)+len(txTests) {
			t.Skip("not every test ran to its end (-run, a skip or a failure): which methods they called proves nothing")
		}
		never, unknown := direct.missing()
		if len(never) > 0 {
			t.Errorf("never called outside a transaction by the suite: %v; test them (on the store itself, checking their effect)", never)
		}
		if len(unknown) > 0 {
			t.Errorf("the probe noted calls of %v, which store.Queries does not have", unknown)
		}
	})
}

func check(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func wantIs(t *testing.T, err, want error) {
	t.Helper()
	if !errors.Is(err, want) {
		t.Fatalf("error %v, want %v", err, want)
	}
}

// equal compares two values field by field through their %#v form, which
// covers times (after Equal-normalising them to UTC) and pointers to
// durations by value.
func equal(t *testing.T, what string, got, want any) {
	t.Helper()
	if g, w := fmt.Sprintf("%+v", deref(got)), fmt.Sprintf("%+v", deref(want)); g != w {
		t.Fatalf("%s round trip:\n got  %s\n want %s", what, g, w)
	}
}

// deref renders *time.Duration fields by value so that two distinct
// pointers to equal durations compare equal.
func deref(v any) any {
	switch x := v.(type) {
	case *store.Client:
		c := *x
		return struct {
			store.Client
			G, A, I, B string
		}{c, d(c.ReuseGrace), d(c.AccessTokenTTL), d(c.RefreshIdleTTL), d(c.RefreshAbsoluteTTL)}
	}
	return v
}

func d(p *time.Duration) string {
	if p == nil {
		return "nil"
	}
	return p.String()
}

func testClients(t *testing.T, st store.Store) {
	ctx := context.Background()
	full := &store.Client{ID: "full", SecretHash: []byte{1, 2, 3}, GrantTypes: []string{"password", "refresh_token"},
		Scopes: []string{"read", "write"}, Audiences: []string{"https://api.example"}, RedirectURIs: []string{"https://app.example/cb"},
		ReuseGrace: dur(0), AccessTokenTTL: dur(5 * time.Minute), RefreshIdleTTL: dur(time.Hour), RefreshAbsoluteTTL: dur(2 * time.Hour),
		RequireDPoP: true, AuthMethod: "private_key_jwt", JWKS: []byte(`{"keys":[]}`), Introspect: true,
		TokensValidAfter: at(time.Second), CreatedAt: at(0), UpdatedAt: at(time.Second),
		Name: "The App", PostLogoutRedirectURIs: []string{"https://app.example/bye", "https://app.example/"},
		AllowedOrigins: []string{"https://app.example", "http://localhost:3000"}, SkipConsent: true,
		RefreshRequiresVerifier: true}
	bare := &store.Client{ID: "bare", Public: true, SecretPHC: "", CreatedAt: at(0), UpdatedAt: at(0)}
	phc := &store.Client{ID: "phc", SecretPHC: "$argon2id$v=19$m=1,t=1,p=1$AAAA$AAAA", Disabled: true,
		JWKSURI: "https://app.example/jwks.json", CreatedAt: at(0), UpdatedAt: at(0)}
	for _, c := range []*store.Client{full, bare, phc} {
		check(t, st.CreateClient(ctx, c))
	}
	wantIs(t, st.CreateClient(ctx, &store.Client{ID: "full"}), store.ErrConflict)
	for _, want := range []*store.Client{full, bare, phc} {
		got, err := st.GetClient(ctx, want.ID)
		check(t, err)
		equal(t, "client "+want.ID, got, want)
	}
	got, _ := st.GetClient(ctx, "full")
	if got.ReuseGrace == nil || *got.ReuseGrace != 0 {
		t.Fatal("a zero reuse-grace override must stay distinct from no override")
	}
	if got, _ := st.GetClient(ctx, "bare"); got.ReuseGrace != nil || got.SecretHash != nil || got.Scopes != nil ||
		got.PostLogoutRedirectURIs != nil || got.AllowedOrigins != nil {
		t.Fatalf("nil fields came back set: %+v", got)
	}
	// AllowedOrigins: nil means the origins of the redirect URIs, empty
	// means none; the two must not read back as each other.
	noOrigins := &store.Client{ID: "no-origins", Public: true, AllowedOrigins: []string{}, CreatedAt: at(0), UpdatedAt: at(0)}
	check(t, st.CreateClient(ctx, noOrigins))
	if got, err := st.GetClient(ctx, "no-origins"); err != nil || got.AllowedOrigins == nil || len(got.AllowedOrigins) != 0 {
		t.Fatalf("empty AllowedOrigins came back as %#v (%v), want an empty, non-nil list", got.AllowedOrigins, err)
	}
	check(t, st.DeleteClient(ctx, "no-origins"))
	_, err := st.GetClient(ctx, "ghost")
	wantIs(t, err, store.ErrNotFound)
	for name, read := range map[string]func(context.Context, string) (*store.Client, error){"LockClient": st.LockClient, "ShareClient": st.ShareClient} {
		got, err := read(ctx, "full")
		check(t, err)
		equal(t, name+" full", got, full)
		_, err = read(ctx, "ghost")
		wantIs(t, err, store.ErrNotFound)
	}

	list, err := st.ListClients(ctx)
	check(t, err)
	if len(list) != 3 || list[0].ID != "bare" || list[1].ID != "full" || list[2].ID != "phc" {
		t.Fatalf("ListClients order: %v", list)
	}

	full.Scopes, full.Disabled, full.ReuseGrace, full.UpdatedAt = []string{"read"}, true, nil, at(time.Minute)
	full.RequireDPoP, full.AuthMethod, full.JWKS, full.JWKSURI, full.Introspect = false, "", nil, "https://app.example/keys", false
	full.Name, full.PostLogoutRedirectURIs, full.AllowedOrigins, full.SkipConsent = "Renamed", nil, nil, false
	full.RefreshRequiresVerifier = false
	check(t, st.UpdateClient(ctx, full))
	got, _ = st.GetClient(ctx, "full")
	equal(t, "updated client", got, full)
	if got.AllowedOrigins != nil || got.PostLogoutRedirectURIs != nil {
		t.Fatalf("lists cleared by UpdateClient came back as %#v, %#v", got.AllowedOrigins, got.PostLogoutRedirectURIs)
	}
	wantIs(t, st.UpdateClient(ctx, &store.Client{ID: "ghost"}), store.ErrNotFound)

	check(t, st.DeleteClient(ctx, "phc"))
	_, err = st.GetClient(ctx, "phc")
	wantIs(t, err, store.ErrNotFound)
	wantIs(t, st.DeleteClient(ctx, "phc"), store.ErrNotFound)
}

func testUsers(t *testing.T, st store.Store) {
	ctx := context.Background()
	bob := &store.User{ID: "u2", Username: "bob", PasswordPHC: "phc-b", CreatedAt: at(0), UpdatedAt: at(0)}
	alice := &store.User{ID: "u1", Username: "alice", PasswordPHC: "phc-a", TokensValidAfter: at(time.Hour), CreatedAt: at(0), UpdatedAt: at(0),
		Email: "alice@example.com", EmailVerified: true}
	check(t, st.CreateUser(ctx, bob))
	check(t, st.CreateUser(ctx, alice))
	wantIs(t, st.CreateUser(ctx, &store.User{ID: "u3", Username: "alice"}), store.ErrConflict)
	wantIs(t, st.CreateUser(ctx, &store.User{ID: "u1", Username: "carol"}), store.ErrConflict)

	got, err := st.GetUser(ctx, "u1")
	check(t, err)
	equal(t, "user", got, alice)
	got, err = st.GetUserByUsername(ctx, "bob")
	check(t, err)
	equal(t, "user by name", got, bob)
	if !got.TokensValidAfter.IsZero() || got.Email != "" || got.EmailVerified {
		t.Fatal("a zero field came back set")
	}
	_, err = st.GetUserByUsername(ctx, "carol")
	wantIs(t, err, store.ErrNotFound)
	_, err = st.GetUser(ctx, "u9")
	wantIs(t, err, store.ErrNotFound)

	list, err := st.ListUsers(ctx)
	check(t, err)
	if len(list) != 2 || list[0].Username != "alice" {
		t.Fatalf("ListUsers order: %v", list)
	}
	alice.Disabled, alice.PasswordPHC, alice.TokensValidAfter, alice.UpdatedAt = true, "phc-new", at(2*time.Hour), at(time.Minute)
	alice.Email, alice.EmailVerified = "a@example.org", false
	check(t, st.UpdateUser(ctx, alice))
	got, _ = st.GetUser(ctx, "u1")
	equal(t, "updated user", got, alice)
	wantIs(t, st.UpdateUser(ctx, &store.User{ID: "u9", Username: "x"}), store.ErrNotFound)
}

// family returns a live family of (subject, client), last used at lastUsed.
func family(id, subject, client string, lastUsed time.Time) *store.Family {
	return &store.Family{ID: id, ClientID: client, Subject: subject, Scopes: []string{"read"}, Generation: 1,
		LiveHash: []byte("live-" + id), CreatedAt: at(0), LastUsedAt: lastUsed,
		ExpiresAt: at(24 * time.Hour), AbsoluteExpiresAt: at(48 * time.Hour)}
}

func testFamilyRoundTrip(t *testing.T, st store.Store) {
	ctx := context.Background()
	f := &store.Family{ID: "fam1", ClientID: "app", Subject: "u1", Scopes: []string{"read", "write"}, DPoPJKT: "jkt",
		Generation: 7, LiveHash: []byte{9, 9}, PrevHash: []byte{8, 8}, RotatedAt: at(time.Minute), GraceSealed: []byte{1},
		GraceUntil: at(time.Minute + 15*time.Second), CreatedAt: at(0), LastUsedAt: at(time.Minute), ExpiresAt: at(time.Hour),
		AbsoluteExpiresAt: at(2 * time.Hour), LastIP: "192.0.2.1", LastUserAgent: "ua/1",
		SessionID: "sess-1", AuthTime: at(-time.Minute), VerifierHash: []byte("verifier-hash-0123456789")}
	check(t, st.CreateFamily(ctx, f))
	wantIs(t, st.CreateFamily(ctx, f), store.ErrConflict)
	got, err := st.GetFamily(ctx, "fam1")
	check(t, err)
	equal(t, "family", got, f)
	_, err = st.GetFamily(ctx, "nope")
	wantIs(t, err, store.ErrNotFound)
	_, err = st.LockFamily(ctx, "nope")
	wantIs(t, err, store.ErrNotFound)

	bare := family("fam2", "u1", "app", time.Time{})
	check(t, st.CreateFamily(ctx, bare))
	got, _ = st.GetFamily(ctx, "fam2")
	if got.PrevHash != nil || got.GraceSealed != nil || !got.RotatedAt.IsZero() || !got.LastUsedAt.IsZero() || got.Revoked() ||
		got.SessionID != "" || !got.AuthTime.IsZero() || got.VerifierHash != nil {
		t.Fatalf("empty fields came back set: %+v", got)
	}

	before, err := st.CountFamilies(ctx)
	check(t, err)
	for gen := uint64(8); gen < 20; gen++ {
		f.Generation, f.PrevHash, f.LiveHash = gen, f.LiveHash, []byte{byte(gen)}
		f.GraceSealed, f.GraceUntil, f.LastIP = nil, time.Time{}, fmt.Sprintf("192.0.2.%d", gen)
		f.LastUsedAt, f.ExpiresAt = at(time.Duration(gen)*time.Minute), at(time.Duration(gen)*time.Hour)
		f.AuthTime = at(time.Duration(gen) * time.Second)
		f.VerifierHash = []byte{'v', byte(gen)}
		check(t, st.UpdateFamily(ctx, f))
	}
	after, err := st.CountFamilies(ctx)
	check(t, err)
	if before != 2 || after != before {
		t.Fatalf("rows before %d after updates %d; updates must be in place", before, after)
	}
	got, _ = st.GetFamily(ctx, "fam1")
	equal(t, "updated family", got, f)
	wantIs(t, st.UpdateFamily(ctx, family("nope", "u", "c", at(0))), store.ErrNotFound)
}

func testRevokeFamily(t *testing.T, st store.Store) {
	ctx := context.Background()
	f := family("f", "u1", "app", at(0))
	f.GraceSealed, f.GraceUntil = []byte("sealed"), at(time.Minute)
	check(t, st.CreateFamily(ctx, f))
	ok, err := st.RevokeFamily(ctx, "f", "admin", at(time.Hour))
	check(t, err)
	if !ok {
		t.Fatal("first RevokeFamily returned false")
	}
	ok, err = st.RevokeFamily(ctx, "f", "again", at(2*time.Hour))
	check(t, err)
	if ok {
		t.Fatal("second RevokeFamily returned true")
	}
	got, _ := st.GetFamily(ctx, "f")
	if !got.RevokedAt.Equal(at(time.Hour)) || got.RevokeReason != "admin" || got.GraceSealed != nil {
		t.Fatalf("revoked family %+v", got)
	}
	_, err = st.RevokeFamily(ctx, "nope", "x", at(0))
	wantIs(t, err, store.ErrNotFound)
}

func testRevokeFamilies(t *testing.T, st store.Store) {
	ctx := context.Background()
	for _, f := range []*store.Family{
		family("a1", "alice", "web", at(0)), family("a2", "alice", "cli", at(0)), family("a3", "alice", "web", at(0)),
		family("b1", "bob", "web", at(0)), family("b2", "bob", "cli", at(0)),
	} {
		f.GraceSealed = []byte("g")
		check(t, st.CreateFamily(ctx, f))
	}
	_, err := st.RevokeFamily(ctx, "a3", "earlier", at(time.Minute))
	check(t, err)
	for _, empty := range []store.FamilyFilter{{}, {LiveOnly: true, Now: at(0), Limit: 1}} {
		if _, err := st.RevokeFamilies(ctx, empty, "all", at(0)); err == nil {
			t.Fatalf("a filter with no client, subject or session (%+v) must be refused, not revoke everything", empty)
		}
	}
	sorted := func(ids []string) []string { slices.Sort(ids); return ids }
	ids, err := st.RevokeFamilies(ctx, store.FamilyFilter{Subject: "alice", ClientID: "web"}, "both", at(time.Hour))
	check(t, err)
	if got := sorted(ids); !slices.Equal(got, []string{"a1"}) {
		t.Fatalf("by subject and client: %v, want [a1] (a3 was already revoked)", got)
	}
	ids, err = st.RevokeFamilies(ctx, store.FamilyFilter{Subject: "alice"}, "user", at(time.Hour))
	check(t, err)
	if got := sorted(ids); !slices.Equal(got, []string{"a2"}) {
		t.Fatalf("by subject: %v, want [a2]", got)
	}
	ids, err = st.RevokeFamilies(ctx, store.FamilyFilter{ClientID: "cli"}, "client", at(time.Hour))
	check(t, err)
	if got := sorted(ids); !slices.Equal(got, []string{"b2"}) {
		t.Fatalf("by client: %v, want [b2]", got)
	}
	for id, reason := range map[string]string{"a1": "both", "a2": "user", "a3": "earlier", "b2": "client"} {
		f, _ := st.GetFamily(ctx, id)
		if !f.Revoked() || f.RevokeReason != reason || f.GraceSealed != nil {
			t.Fatalf("%s: revoked=%v reason=%q sealed=%v", id, f.Revoked(), f.RevokeReason, f.GraceSealed)
		}
	}
	if f, _ := st.GetFamily(ctx, "b1"); f.Revoked() {
		t.Fatal("b1 was revoked by filters that do not match it")
	}
}

func testListFamilies(t *testing.T, st store.Store) {
	ctx := context.Background()
	idle := family("idle", "alice", "web", at(1*time.Minute))
	idle.ExpiresAt = at(time.Hour)
	abs := family("abs", "alice", "web", at(2*time.Minute))
	abs.AbsoluteExpiresAt = at(time.Hour)
	for _, f := range []*store.Family{
		family("newest", "alice", "web", at(5*time.Minute)), family("oldest", "alice", "web", at(3*time.Minute)),
		family("middle", "alice", "web", at(4*time.Minute)), family("revoked", "alice", "web", at(0)),
		family("otherclient", "alice", "cli", at(0)), family("otheruser", "bob", "web", at(0)), idle, abs,
	} {
		check(t, st.CreateFamily(ctx, f))
	}
	_, err := st.RevokeFamily(ctx, "revoked", "x", at(0))
	check(t, err)
	ids := func(fs []store.Family) []string {
		var out []string
		for _, f := range fs {
			out = append(out, f.ID)
		}
		return out
	}
	live, err := st.ListFamilies(ctx, store.FamilyFilter{Subject: "alice", ClientID: "web", LiveOnly: true, Now: at(2 * time.Hour)})
	check(t, err)
	if got := ids(live); !slices.Equal(got, []string{"oldest", "middle", "newest"}) {
		t.Fatalf("live families, least recently used first: %v", got)
	}
	limited, err := st.ListFamilies(ctx, store.FamilyFilter{Subject: "alice", ClientID: "web", LiveOnly: true, Now: at(2 * time.Hour), Limit: 2})
	check(t, err)
	if got := ids(limited); !slices.Equal(got, []string{"oldest", "middle"}) {
		t.Fatalf("limited: %v", got)
	}
	all, err := st.ListFamilies(ctx, store.FamilyFilter{Subject: "alice"})
	check(t, err)
	if len(all) != 7 {
		t.Fatalf("all of alice's families: %v", ids(all))
	}
	everything, err := st.ListFamilies(ctx, store.FamilyFilter{})
	check(t, err)
	if len(everything) != 8 {
		t.Fatalf("no filter: %d families, want 8", len(everything))
	}
}

func testJanitor(t *testing.T, st store.Store) {
	ctx := context.Background()
	for i := range 5 {
		f := family(fmt.Sprintf("old%d", i), "u", "c", at(0))
		f.AbsoluteExpiresAt = at(time.Hour)
		check(t, st.CreateFamily(ctx, f))
	}
	keep := family("keep", "u", "c", at(0))
	keep.GraceSealed, keep.GraceUntil = []byte("s"), at(time.Minute)
	check(t, st.CreateFamily(ctx, keep))
	sealed := family("sealed-later", "u", "c", at(0))
	sealed.GraceSealed, sealed.GraceUntil = []byte("s"), at(time.Hour)
	check(t, st.CreateFamily(ctx, sealed))

	n, err := st.DeleteExpiredFamilies(ctx, at(time.Hour), 3)
	check(t, err)
	if n != 3 {
		t.Fatalf("first batch deleted %d, want the limit 3", n)
	}
	n, err = st.DeleteExpiredFamilies(ctx, at(time.Hour), 3)
	check(t, err)
	if n != 2 {
		t.Fatalf("second batch deleted %d, want 2", n)
	}
	if c, _ := st.CountFamilies(ctx); c != 2 {
		t.Fatalf("%d families left, want 2", c)
	}
	n, err = st.ClearExpiredGrace(ctx, at(30*time.Minute), 10)
	check(t, err)
	if n != 1 {
		t.Fatalf("cleared %d grace seals, want 1", n)
	}
	if f, _ := st.GetFamily(ctx, "keep"); f.GraceSealed != nil {
		t.Fatal("expired grace seal kept")
	}
	if f, _ := st.GetFamily(ctx, "sealed-later"); f.GraceSealed == nil {
		t.Fatal("a grace seal still in its period was cleared")
	}
}

func testDenyList(t *testing.T, st store.Store) {
	ctx := context.Background()
	check(t, st.Deny(ctx, store.Denial{Key: "jti:a", ExpiresAt: at(time.Hour)}))
	check(t, st.Deny(ctx, store.Denial{Key: "jti:a", ExpiresAt: at(time.Minute)})) // never shortens
	check(t, st.Deny(ctx, store.Denial{Key: "sid:b", ExpiresAt: at(time.Minute)}))
	check(t, st.Deny(ctx, store.Denial{Key: "sid:b", ExpiresAt: at(2 * time.Hour)})) // extends
	for _, tc := range []struct {
		keys []string
		now  time.Time
		want bool
	}{
		{[]string{"jti:a"}, at(30 * time.Minute), true},
		{[]string{"jti:a"}, at(time.Hour), false},
		{[]string{"jti:x", "sid:b"}, at(90 * time.Minute), true},
		{[]string{"jti:x", "sid:y"}, at(0), false},
		{nil, at(0), false},
	} {
		got, err := st.Denied(ctx, tc.keys, tc.now)
		check(t, err)
		if got != tc.want {
			t.Fatalf("Denied(%v, %v) = %v", tc.keys, tc.now, got)
		}
	}
	check(t, st.Deny(ctx, store.Denial{Key: "jti:c", ExpiresAt: at(3 * time.Hour)}))
	check(t, st.Deny(ctx, store.Denial{Key: "assertion:app:j1", ExpiresAt: at(3 * time.Hour)})) // another kind: not listed
	check(t, st.Deny(ctx, store.Denial{Key: "sidecar", ExpiresAt: at(3 * time.Hour)}))          // no prefix match
	var keys []string
	for after := ""; ; {
		page, err := st.ListDenials(ctx, at(90*time.Minute), []string{"sid:", "jti:"}, after, 1)
		check(t, err)
		if len(page) == 0 {
			break
		}
		if !page[0].ExpiresAt.Equal(map[string]time.Time{"sid:b": at(2 * time.Hour), "jti:c": at(3 * time.Hour)}[page[0].Key]) {
			t.Fatalf("ListDenials: %s expires at %v", page[0].Key, page[0].ExpiresAt)
		}
		keys = append(keys, page[0].Key)
		after = page[0].Key
	}
	if want := []string{"jti:c", "sid:b"}; !slices.Equal(keys, want) {
		t.Fatalf("ListDenials paged through %v, want %v (jti:a has expired)", keys, want)
	}
	// DenyOnce: first use wins, a live duplicate loses, an expired entry
	// is taken over.
	for _, tc := range []struct {
		key  string
		now  time.Time
		want bool
	}{
		{"once:x", at(0), true},
		{"once:x", at(30 * time.Minute), false},
		{"jti:a", at(30 * time.Minute), false},
		{"jti:a", at(61 * time.Minute), true},
	} {
		got, err := st.DenyOnce(ctx, store.Denial{Key: tc.key, ExpiresAt: tc.now.Add(time.Hour)}, tc.now)
		check(t, err)
		if got != tc.want {
			t.Fatalf("DenyOnce(%s at %v) = %v, want %v", tc.key, tc.now, got, tc.want)
		}
	}
	n, err := st.DeleteExpiredDenials(ctx, at(90*time.Minute), 10)
	check(t, err)
	if n != 1 {
		t.Fatalf("deleted %d expired entries, want 1", n)
	}
	if got, _ := st.Denied(ctx, []string{"sid:b"}, at(90*time.Minute)); !got {
		t.Fatal("a live entry was deleted")
	}
}

func testEvents(t *testing.T, st store.Store) {
	ctx := context.Background()
	mk := func(i int, typ, client, subject, fam string) *store.Event {
		return &store.Event{Time: at(time.Duration(i) * time.Minute), Type: typ, ClientID: client, Subject: subject,
			FamilyID: fam, TokenID: fmt.Sprint("tid", i), Generation: uint64(i), IP: "192.0.2.1", UserAgent: "ua",
			Reason: "r", Detail: "d", Actor: "admin:k", Count: int64(i + 1)}
	}
	evs := []*store.Event{
		mk(0, "family_created", "web", "alice", "f1"), mk(1, "token_rotated", "web", "alice", "f1"),
		mk(2, "token_rotated", "cli", "bob", "f2"), mk(3, "family_revoked", "web", "alice", "f1"),
		mk(4, "token_rotated", "web", "alice", "f3"),
	}
	check(t, st.AppendEvents(ctx, evs[:3]...))
	check(t, st.AppendEvents(ctx, evs[3:]...))
	for i := 1; i < len(evs); i++ {
		if evs[i].ID <= evs[i-1].ID {
			t.Fatalf("IDs not increasing: %d then %d", evs[i-1].ID, evs[i].ID)
		}
	}
	all, err := st.ListEvents(ctx, store.EventFilter{})
	check(t, err)
	if len(all) != 5 {
		t.Fatalf("%d events", len(all))
	}
	equal(t, "event", &all[2], evs[2])
	count := func(f store.EventFilter) []int64 {
		t.Helper()
		got, err := st.ListEvents(ctx, f)
		check(t, err)
		var ids []int64
		for _, e := range got {
			ids = append(ids, e.ID)
		}
		return ids
	}
	id := func(is ...int) []int64 {
		var out []int64
		for _, i := range is {
			out = append(out, evs[i].ID)
		}
		return out
	}
	for name, tc := range map[string]struct {
		f    store.EventFilter
		want []int64
	}{
		"after":          {store.EventFilter{AfterID: evs[2].ID}, id(3, 4)},
		"type":           {store.EventFilter{Type: "token_rotated"}, id(1, 2, 4)},
		"client":         {store.EventFilter{ClientID: "cli"}, id(2)},
		"subject":        {store.EventFilter{Subject: "alice"}, id(0, 1, 3, 4)},
		"family":         {store.EventFilter{FamilyID: "f1"}, id(0, 1, 3)},
		"limit":          {store.EventFilter{Limit: 2}, id(0, 1)},
		"newest":         {store.EventFilter{Limit: 2, Newest: true}, id(3, 4)},
		"newest of type": {store.EventFilter{Type: "token_rotated", Limit: 2, Newest: true}, id(2, 4)},
	} {
		if got := count(tc.f); !slices.Equal(got, tc.want) {
			t.Errorf("%s: %v, want %v", name, got, tc.want)
		}
	}
	n, err := st.DeleteEventsBefore(ctx, at(3*time.Minute), 2)
	check(t, err)
	if n != 2 {
		t.Fatalf("deleted %d, want the limit 2", n)
	}
	n, err = st.DeleteEventsBefore(ctx, at(3*time.Minute), 10)
	check(t, err)
	if n != 1 || len(count(store.EventFilter{})) != 2 {
		t.Fatalf("second batch deleted %d", n)
	}
}

func testSigningKeys(t *testing.T, st store.Store) {
	ctx := context.Background()
	later := &store.SigningKey{ID: "k2", Algorithm: "ES256", Sealed: []byte("s2"), PublicJWK: []byte(`{"kty":"EC"}`), CreatedAt: at(0), ActiveAt: at(time.Hour)}
	first := &store.SigningKey{ID: "k1", Algorithm: "EdDSA", Sealed: []byte("s1"), PublicJWK: []byte(`{"kty":"OKP"}`), CreatedAt: at(0), ActiveAt: at(0)}
	check(t, st.CreateSigningKey(ctx, later))
	check(t, st.CreateSigningKey(ctx, first))
	wantIs(t, st.CreateSigningKey(ctx, first), store.ErrConflict)
	list, err := st.ListSigningKeys(ctx)
	check(t, err)
	if len(list) != 2 || list[0].ID != "k1" {
		t.Fatalf("keys not ordered by ActiveAt: %v", list)
	}
	equal(t, "signing key", &list[1], later)
	check(t, st.DeleteSigningKey(ctx, "k1"))
	wantIs(t, st.DeleteSigningKey(ctx, "k1"), store.ErrNotFound)
}

func testTx(t *testing.T, st store.Store) {
	ctx := context.Background()
	check(t, st.Tx(ctx, func(tx store.Tx) error {
		return tx.CreateFamily(ctx, family("committed", "u", "c", at(0)))
	}))
	if _, err := st.GetFamily(ctx, "committed"); err != nil {
		t.Fatal("committed row missing:", err)
	}
	boom := errors.New("boom")
	err := st.Tx(ctx, func(tx store.Tx) error {
		if err := tx.CreateFamily(ctx, family("rolled-back", "u", "c", at(0))); err != nil {
			return err
		}
		if err := tx.AppendEvents(ctx, &store.Event{Time: at(0), Type: "x"}); err != nil {
			return err
		}
		return fmt.Errorf("wrapped: %w", boom)
	})
	wantIs(t, err, boom)
	_, err = st.GetFamily(ctx, "rolled-back")
	wantIs(t, err, store.ErrNotFound)
	if evs, _ := st.ListEvents(ctx, store.EventFilter{}); len(evs) != 0 {
		t.Fatal("an event of a rolled-back transaction survived")
	}
}

// parallel runs fn in n goroutines released at once and returns their
// errors.
func parallel(n int, fn func(i int) error) []error {
	var wg sync.WaitGroup
	start := make(chan struct{})
	errs := make([]error, n)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			errs[i] = fn(i)
		}()
	}
	close(start)
	wg.Wait()
	return errs
}

const workers = 50

func testConcurrentOneWinner(t *testing.T, st store.Store) {
	ctx := context.Background()
	check(t, st.CreateFamily(ctx, family("race", "u", "c", at(0))))
	var mu sync.Mutex
	winners := 0
	for _, err := range parallel(workers, func(int) error {
		return st.Tx(ctx, func(tx store.Tx) error {
			f, err := tx.LockFamily(ctx, "race")
			if err != nil {
				return err
			}
			if f.Generation != 1 {
				return nil
			}
			f.Generation = 2
			if err := tx.UpdateFamily(ctx, f); err != nil {
				return err
			}
			mu.Lock()
			winners++
			mu.Unlock()
			return nil
		})
	}) {
		check(t, err)
	}
	// A winner counted inside a transaction that then failed would have
	// returned an error above; so winners counts committed rotations.
	if winners != 1 {
		t.Fatalf("%d transactions saw generation 1 and rotated; LockFamily must let exactly one", winners)
	}
}

func testConcurrentNoLostUpdate(t *testing.T, st store.Store) {
	ctx := context.Background()
	check(t, st.CreateFamily(ctx, family("counter", "u", "c", at(0))))
	for _, err := range parallel(workers, func(int) error {
		return st.Tx(ctx, func(tx store.Tx) error {
			f, err := tx.LockFamily(ctx, "counter")
			if err != nil {
				return err
			}
			f.Generation++
			return tx.UpdateFamily(ctx, f)
		})
	}) {
		check(t, err)
	}
	f, err := st.GetFamily(ctx, "counter")
	check(t, err)
	if f.Generation != workers+1 {
		t.Fatalf("generation %d after %d increments from 1; updates were lost", f.Generation, workers)
	}
}

// testConcurrentUserNoLostUpdate: read-modify-write of a user under
// LockUser loses no update; each worker appends to the username.
func testConcurrentUserNoLostUpdate(t *testing.T, st store.Store) {
	ctx := context.Background()
	check(t, st.CreateUser(ctx, &store.User{ID: "u", Username: "n", PasswordPHC: "x", CreatedAt: at(0), UpdatedAt: at(0)}))
	for _, err := range parallel(workers, func(int) error {
		return st.Tx(ctx, func(tx store.Tx) error {
			u, err := tx.LockUser(ctx, "u")
			if err != nil {
				return err
			}
			u.Username += "+"
			return tx.UpdateUser(ctx, u)
		})
	}) {
		check(t, err)
	}
	u, err := st.GetUser(ctx, "u")
	check(t, err)
	if want := "n" + strings.Repeat("+", workers); u.Username != want {
		t.Fatalf("username %q after %d appends, want %q: updates were lost", u.Username, workers, want)
	}
	_, err = st.LockUser(ctx, "ghost")
	wantIs(t, err, store.ErrNotFound)
}

// testConcurrentClientNoLostUpdate: read-modify-write of a client under
// LockClient loses no update, even with transactions that hold it with
// ShareClient in between; each writer adds a scope.
func testConcurrentClientNoLostUpdate(t *testing.T, st store.Store) {
	ctx := context.Background()
	check(t, st.CreateClient(ctx, &store.Client{ID: "c", Public: true, CreatedAt: at(0), UpdatedAt: at(0)}))
	for _, err := range parallel(workers, func(i int) error {
		return st.Tx(ctx, func(tx store.Tx) error {
			if i%2 == 1 { // a grant reading the client
				_, err := tx.ShareClient(ctx, "c")
				return err
			}
			c, err := tx.LockClient(ctx, "c")
			if err != nil {
				return err
			}
			c.Scopes = append(c.Scopes, fmt.Sprint("s", i))
			return tx.UpdateClient(ctx, c)
		})
	}) {
		check(t, err)
	}
	c, err := st.GetClient(ctx, "c")
	check(t, err)
	if want := (workers + 1) / 2; len(c.Scopes) != want {
		t.Fatalf("%d scopes after %d additions: updates were lost", len(c.Scopes), want)
	}
}

func testConcurrentRevoke(t *testing.T, st store.Store) {
	ctx := context.Background()
	check(t, st.CreateFamily(ctx, family("target", "u", "c", at(0))))
	var mu sync.Mutex
	trues := 0
	for _, err := range parallel(workers, func(int) error {
		ok, err := st.RevokeFamily(ctx, "target", "race", at(0))
		if ok {
			mu.Lock()
			trues++
			mu.Unlock()
		}
		return err
	}) {
		check(t, err)
	}
	if trues != 1 {
		t.Fatalf("%d concurrent RevokeFamily calls reported revoking; want exactly 1", trues)
	}
}

func testConcurrentEvents(t *testing.T, st store.Store) {
	ctx := context.Background()
	evs := make([]*store.Event, workers*2)
	for _, err := range parallel(workers, func(i int) error {
		a := &store.Event{Time: at(0), Type: "t", TokenID: fmt.Sprint(i)}
		b := &store.Event{Time: at(0), Type: "t", TokenID: fmt.Sprint(i)}
		evs[2*i], evs[2*i+1] = a, b
		return st.AppendEvents(ctx, a, b)
	}) {
		check(t, err)
	}
	seen := map[int64]bool{}
	for _, e := range evs {
		if e.ID == 0 || seen[e.ID] {
			t.Fatalf("event id %d missing or repeated", e.ID)
		}
		seen[e.ID] = true
	}
	if all, _ := st.ListEvents(ctx, store.EventFilter{}); len(all) != len(evs) {
		t.Fatalf("%d events stored, want %d", len(all), len(evs))
	}
}
