package family_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/rotor-auth/rotor/internal/audit"
	"github.com/rotor-auth/rotor/internal/family"
	"github.com/rotor-auth/rotor/internal/secret"
	"github.com/rotor-auth/rotor/internal/store"
	"github.com/rotor-auth/rotor/internal/store/postgres"
	"github.com/rotor-auth/rotor/internal/store/testdb"
)

// clock is a settable clock for expiry tests without sleeping.
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

type fixture struct {
	st     store.Store
	svc    *family.Service
	keys   *secret.Keys
	clock  *clock
	client *store.Client
	user   *store.User
}

func dur(d time.Duration) *time.Duration { return &d }

func newFixture(t testing.TB, st store.Store, grace time.Duration, mutate ...func(*family.Config)) *fixture {
	t.Helper()
	ctx := context.Background()
	keys, err := secret.Derive(secret.NewMasterKey())
	if err != nil {
		t.Fatal(err)
	}
	clk := &clock{t: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)}
	cfg := family.DefaultConfig()
	for _, m := range mutate {
		m(&cfg)
	}
	c := &store.Client{ID: "app", Public: true, GrantTypes: []string{"password", "refresh_token"},
		Scopes: []string{"read", "write", "admin"}, ReuseGrace: dur(grace), CreatedAt: clk.Now(), UpdatedAt: clk.Now()}
	u := &store.User{ID: "u1", Username: "alice", PasswordPHC: "x", CreatedAt: clk.Now(), UpdatedAt: clk.Now()}
	if err := st.CreateClient(ctx, c); err != nil {
		t.Fatal(err)
	}
	if err := st.CreateUser(ctx, u); err != nil {
		t.Fatal(err)
	}
	return &fixture{st: st, svc: family.New(st, keys, cfg, clk.Now, nil), keys: keys, clock: clk, client: c, user: u}
}

func (fx *fixture) create(t testing.TB, scopes ...string) *family.Grant {
	t.Helper()
	if scopes == nil {
		scopes = []string{"read", "write"}
	}
	// The user as a sign-in would read it now, before verifying them.
	u, err := fx.st.GetUser(context.Background(), fx.user.ID)
	if err != nil {
		t.Fatal(err)
	}
	g, err := fx.svc.Create(context.Background(), family.CreateParams{
		Client: fx.client, User: u, Scopes: scopes, AccessTokenID: secret.NewID(), Grant: "password",
		Meta: audit.Meta{IP: "192.0.2.1", UserAgent: "test"},
	})
	if err != nil {
		t.Fatalf("create: %v", err)
	}
	return g
}

func (fx *fixture) refresh(tok string) (*family.Grant, error) {
	return fx.svc.Refresh(context.Background(), family.RefreshParams{
		Client: fx.client, Token: tok, AccessTokenID: secret.NewID(), Meta: audit.Meta{IP: "192.0.2.2", UserAgent: "test"},
	})
}

func (fx *fixture) mustRefresh(t *testing.T, tok string) *family.Grant {
	t.Helper()
	g, err := fx.refresh(tok)
	if err != nil {
		t.Fatalf("refresh: %v", err)
	}
	return g
}

func (fx *fixture) family(t *testing.T, id string) *store.Family {
	t.Helper()
	f, err := fx.st.GetFamily(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	return f
}

func (fx *fixture) events(t *testing.T, typ string) []store.Event {
	t.Helper()
	ev, err := fx.st.ListEvents(context.Background(), store.EventFilter{Type: typ})
	if err != nil {
		t.Fatal(err)
	}
	return ev
}

func wantErr(t *testing.T, err, want error) {
	t.Helper()
	if !errors.Is(err, want) {
		t.Fatalf("error = %v, want %v", err, want)
	}
}

func TestRotationIssuesANewTokenEachUse(t *testing.T) {
	testdb.Each(t, func(t *testing.T, st store.Store) {
		fx := newFixture(t, st, 0)
		g1 := fx.create(t)
		g2 := fx.mustRefresh(t, g1.RefreshToken)
		g3 := fx.mustRefresh(t, g2.RefreshToken)
		if g1.RefreshToken == g2.RefreshToken || g2.RefreshToken == g3.RefreshToken {
			t.Fatal("refresh returned the same token")
		}
		if !strings.HasPrefix(g3.RefreshToken, "rt_") {
			t.Fatalf("token %q lacks the rt_ prefix", g3.RefreshToken)
		}
		f := fx.family(t, g1.Family.ID)
		if f.Generation != 3 || f.Revoked() {
			t.Fatalf("family generation %d revoked %v, want 3 and live", f.Generation, f.Revoked())
		}
		if got := fx.events(t, audit.TokenRotated); len(got) != 2 {
			t.Fatalf("%d token_rotated events, want 2", len(got))
		}
	})
}

func TestGraceRetryReturnsTheSameSuccessor(t *testing.T) {
	testdb.Each(t, func(t *testing.T, st store.Store) {
		fx := newFixture(t, st, 15*time.Second)
		g1 := fx.create(t)
		first := fx.mustRefresh(t, g1.RefreshToken)
		fx.clock.Advance(10 * time.Second)
		retry := fx.mustRefresh(t, g1.RefreshToken)
		if retry.RefreshToken != first.RefreshToken || !retry.Retry {
			t.Fatal("a retry inside the grace period must return the same successor")
		}
		// The family did not branch: the successor is still the live token.
		next := fx.mustRefresh(t, first.RefreshToken)
		if f := fx.family(t, g1.Family.ID); f.Generation != 3 || f.Revoked() {
			t.Fatalf("generation %d revoked %v, want 3 live", f.Generation, f.Revoked())
		}
		if len(fx.events(t, audit.GraceRetry)) != 1 {
			t.Fatal("want one grace_retry event")
		}
		_ = next
	})
}

func TestReplayOutsideGraceRevokesTheFamily(t *testing.T) {
	testdb.Each(t, func(t *testing.T, st store.Store) {
		fx := newFixture(t, st, 15*time.Second)
		g1 := fx.create(t)
		g2 := fx.mustRefresh(t, g1.RefreshToken)
		fx.clock.Advance(16 * time.Second)
		_, err := fx.refresh(g1.RefreshToken)
		wantErr(t, err, family.ErrReplayed)

		f := fx.family(t, g1.Family.ID)
		if !f.Revoked() || f.RevokeReason != audit.ReasonReuseDetected {
			t.Fatalf("family revoked=%v reason=%q, want revoked for reuse", f.Revoked(), f.RevokeReason)
		}
		if f.GraceSealed != nil {
			t.Fatal("a revoked family must not keep its sealed successor")
		}
		// The winner's successor is refused too.
		_, err = fx.refresh(g2.RefreshToken)
		wantErr(t, err, family.ErrRevoked)
		denied, err := st.Denied(context.Background(), []string{family.DenySID(f.ID)}, fx.clock.Now())
		if err != nil || !denied {
			t.Fatalf("sid not deny-listed after replay (denied=%v err=%v)", denied, err)
		}
		ev := fx.events(t, audit.ReuseDetected)
		if len(ev) != 1 || ev[0].FamilyID != f.ID || ev[0].Generation != 1 {
			t.Fatalf("reuse events = %+v", ev)
		}
	})
}

func TestOlderGenerationsNeverGetGrace(t *testing.T) {
	testdb.Each(t, func(t *testing.T, st store.Store) {
		fx := newFixture(t, st, time.Hour)
		g1 := fx.create(t)
		g2 := fx.mustRefresh(t, g1.RefreshToken)
		fx.mustRefresh(t, g2.RefreshToken)
		// Generation 1 is two behind the live token: replay, even inside
		// the grace period.
		_, err := fx.refresh(g1.RefreshToken)
		wantErr(t, err, family.ErrReplayed)
		if !fx.family(t, g1.Family.ID).Revoked() {
			t.Fatal("family not revoked")
		}
	})
}

func TestStorageDoesNotGrowWithRefreshes(t *testing.T) {
	testdb.Each(t, func(t *testing.T, st store.Store) {
		ctx := context.Background()
		fx := newFixture(t, st, 0)
		g := fx.create(t)
		first := g.RefreshToken
		before, err := st.CountFamilies(ctx)
		if err != nil {
			t.Fatal(err)
		}
		for range 1000 {
			g = fx.mustRefresh(t, g.RefreshToken)
		}
		after, err := st.CountFamilies(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if before != 1 || after != before {
			t.Fatalf("family rows before %d after 1,000 refreshes %d, want 1 and 1", before, after)
		}
		if f := fx.family(t, g.Family.ID); f.Generation != 1001 {
			t.Fatalf("generation %d, want 1001", f.Generation)
		}
		// Generation 1, a thousand rotations ago, is still detected.
		_, err = fx.refresh(first)
		wantErr(t, err, family.ErrReplayed)
		if !fx.family(t, g.Family.ID).Revoked() {
			t.Fatal("replay of generation 1 did not revoke the family")
		}
	})
}

func TestForgedTokenRevokesNothing(t *testing.T) {
	testdb.Each(t, func(t *testing.T, st store.Store) {
		fx := newFixture(t, st, 0)
		g1 := fx.create(t)
		g2 := fx.mustRefresh(t, g1.RefreshToken)

		// Right shape, wrong MAC: flip one character of the MAC part.
		b := []byte(g1.RefreshToken)
		last := len(b) - 1
		if b[last] == 'A' {
			b[last] = 'B'
		} else {
			b[last] = 'A'
		}
		// The same family and generation minted under another master key.
		otherKeys, _ := secret.Derive(secret.NewMasterKey())
		other, err := otherKeys.MintRefresh(g1.Family.ID, 1)
		if err != nil {
			t.Fatal(err)
		}
		for name, forged := range map[string]string{"flipped MAC": string(b), "foreign key": other, "garbage": "rt_AAAA", "empty-ish": "rt_"} {
			_, err := fx.refresh(forged)
			wantErr(t, err, family.ErrMalformed)
			if fx.family(t, g1.Family.ID).Revoked() {
				t.Fatalf("%s: a forged token revoked the family", name)
			}
		}
		// The live token still works.
		fx.mustRefresh(t, g2.RefreshToken)
	})
}

func TestIdleExpirySlidesAndIsCappedByAbsolute(t *testing.T) {
	testdb.Each(t, func(t *testing.T, st store.Store) {
		fx := newFixture(t, st, 0, func(c *family.Config) {
			c.RefreshIdleTTL = time.Hour
			c.RefreshAbsoluteTTL = 3 * time.Hour
		})
		g := fx.create(t)
		created := fx.clock.Now()
		if !g.Family.ExpiresAt.Equal(created.Add(time.Hour)) {
			t.Fatalf("initial expiry %v", g.Family.ExpiresAt)
		}
		// Each use inside the idle window slides the expiry ...
		for i := range 2 {
			fx.clock.Advance(50 * time.Minute)
			g = fx.mustRefresh(t, g.RefreshToken)
			if want := fx.clock.Now().Add(time.Hour); !g.Family.ExpiresAt.Equal(want) {
				t.Fatalf("after use %d expiry %v, want %v", i, g.Family.ExpiresAt, want)
			}
		}
		// ... but never past the absolute expiry.
		fx.clock.Advance(50 * time.Minute) // 2h30 after creation
		g = fx.mustRefresh(t, g.RefreshToken)
		if abs := created.Add(3 * time.Hour); !g.Family.ExpiresAt.Equal(abs) {
			t.Fatalf("expiry %v, want the absolute expiry %v", g.Family.ExpiresAt, abs)
		}
		if exp := g.RefreshExpiresIn(fx.clock.Now()); exp != 30*time.Minute {
			t.Fatalf("refresh_token_expires_in %v, want 30m", exp)
		}
		fx.clock.Advance(30 * time.Minute)
		_, err := fx.refresh(g.RefreshToken)
		wantErr(t, err, family.ErrExpiredAbsolute)
	})
}

func TestIdleExpiry(t *testing.T) {
	testdb.Each(t, func(t *testing.T, st store.Store) {
		fx := newFixture(t, st, 0, func(c *family.Config) { c.RefreshIdleTTL = time.Hour })
		g := fx.create(t)
		fx.clock.Advance(time.Hour)
		_, err := fx.refresh(g.RefreshToken)
		wantErr(t, err, family.ErrExpiredIdle)
		ev := fx.events(t, audit.RefreshFailed)
		if len(ev) != 1 || ev[0].Reason != audit.ReasonExpiredIdle {
			t.Fatalf("refresh_failed events %+v", ev)
		}
	})
}

func TestScopeNarrowingOnly(t *testing.T) {
	testdb.Each(t, func(t *testing.T, st store.Store) {
		fx := newFixture(t, st, 0)
		g := fx.create(t, "read", "write")
		narrowed, err := fx.svc.Refresh(context.Background(), family.RefreshParams{
			Client: fx.client, Token: g.RefreshToken, Scopes: []string{"read"}, AccessTokenID: "j"})
		if err != nil {
			t.Fatal(err)
		}
		if len(narrowed.Scopes) != 1 || narrowed.Scopes[0] != "read" {
			t.Fatalf("scopes %v, want [read]", narrowed.Scopes)
		}
		if f := fx.family(t, g.Family.ID); len(f.Scopes) != 2 {
			t.Fatalf("the family's scopes changed to %v", f.Scopes)
		}
		_, err = fx.svc.Refresh(context.Background(), family.RefreshParams{
			Client: fx.client, Token: narrowed.RefreshToken, Scopes: []string{"read", "admin"}, AccessTokenID: "j"})
		wantErr(t, err, family.ErrInvalidScope)
		// Nothing was rotated by the refused request.
		fx.mustRefresh(t, narrowed.RefreshToken)
	})
}

func TestConsistencyChecks(t *testing.T) {
	testdb.Each(t, func(t *testing.T, st store.Store) {
		ctx := context.Background()
		t.Run("another client", func(t *testing.T) {
			fx := newFixture(t, st, 0)
			g := fx.create(t)
			other := *fx.client
			other.ID = "other"
			_, err := fx.svc.Refresh(ctx, family.RefreshParams{Client: &other, Token: g.RefreshToken})
			wantErr(t, err, family.ErrWrongClient)
			if fx.family(t, g.Family.ID).Revoked() {
				t.Fatal("a token presented by another client must not revoke the family")
			}
			fx.mustRefresh(t, g.RefreshToken)
		})
	})
	testdb.Each(t, func(t *testing.T, st store.Store) {
		ctx := context.Background()
		fx := newFixture(t, st, 0)
		g := fx.create(t)
		u := *fx.user
		u.Disabled = true
		if err := st.UpdateUser(ctx, &u); err != nil {
			t.Fatal(err)
		}
		_, err := fx.refresh(g.RefreshToken)
		wantErr(t, err, family.ErrUserDisabled)
		u.Disabled = false
		u.TokensValidAfter = fx.clock.Now().Add(time.Second)
		if err := st.UpdateUser(ctx, &u); err != nil {
			t.Fatal(err)
		}
		_, err = fx.refresh(g.RefreshToken)
		wantErr(t, err, family.ErrTokensInvalidated)
		// A family created after the sign-out works.
		fx.clock.Advance(2 * time.Second)
		fx.mustRefresh(t, fx.create(t).RefreshToken)
	})
}

func TestFamilyCapRevokesLeastRecentlyUsed(t *testing.T) {
	testdb.Each(t, func(t *testing.T, st store.Store) {
		fx := newFixture(t, st, 0, func(c *family.Config) { c.MaxFamilies = 3 })
		var gs []*family.Grant
		for range 3 {
			gs = append(gs, fx.create(t))
			fx.clock.Advance(time.Second)
		}
		// Use the oldest, so the second becomes least recently used.
		gs[0] = fx.mustRefresh(t, gs[0].RefreshToken)
		fx.clock.Advance(time.Second)
		fx.create(t)
		if !fx.family(t, gs[1].Family.ID).Revoked() {
			t.Fatal("the least recently used family was not revoked")
		}
		for _, g := range []*family.Grant{gs[0], gs[2]} {
			if fx.family(t, g.Family.ID).Revoked() {
				t.Fatal("a recently used family was revoked")
			}
		}
	})
}

// TestFamilyCapHoldsUnderConcurrentGrants: grants racing at the cap end
// with exactly the cap of live families, on one replica or many.
func TestFamilyCapHoldsUnderConcurrentGrants(t *testing.T) {
	testdb.Each(t, func(t *testing.T, st store.Store) {
		fx := newFixture(t, st, 0, func(c *family.Config) { c.MaxFamilies = 3 })
		for range 3 {
			fx.create(t)
		}
		var wg sync.WaitGroup
		for range 10 {
			wg.Go(func() {
				if _, err := fx.svc.Create(context.Background(), family.CreateParams{Client: fx.client, User: fx.user,
					Scopes: []string{"read"}, AccessTokenID: secret.NewID(), Grant: "password"}); err != nil {
					t.Errorf("create: %v", err)
				}
			})
		}
		wg.Wait()
		live, err := st.ListFamilies(context.Background(), store.FamilyFilter{ClientID: fx.client.ID, Subject: fx.user.ID, LiveOnly: true, Now: fx.clock.Now()})
		if err != nil {
			t.Fatal(err)
		}
		if len(live) != 3 {
			t.Fatalf("%d live families after concurrent grants, want the cap of 3", len(live))
		}
	})
}

func TestRevokeTokenRevokesTheWholeFamily(t *testing.T) {
	testdb.Each(t, func(t *testing.T, st store.Store) {
		fx := newFixture(t, st, 0)
		g1 := fx.create(t)
		g2 := fx.mustRefresh(t, g1.RefreshToken)
		if err := fx.svc.RevokeToken(context.Background(), fx.client, g2.RefreshToken, audit.Meta{}); err != nil {
			t.Fatal(err)
		}
		_, err := fx.refresh(g2.RefreshToken)
		wantErr(t, err, family.ErrRevoked)
		other := *fx.client
		other.ID = "other"
		g3 := fx.create(t)
		err = fx.svc.RevokeToken(context.Background(), &other, g3.RefreshToken, audit.Meta{})
		wantErr(t, err, family.ErrWrongClient)
		if fx.family(t, g3.Family.ID).Revoked() {
			t.Fatal("another client revoked the family")
		}
	})
}

// TestConcurrentRefresh is the concurrency contract (docs/design.md): N
// simultaneous refreshes of one token yield exactly one successor.
func TestConcurrentRefresh(t *testing.T) {
	const n = 50
	for _, grace := range []time.Duration{0, 15 * time.Second} {
		t.Run("grace "+grace.String(), func(t *testing.T) {
			testdb.Each(t, func(t *testing.T, st store.Store) {
				fx := newFixture(t, st, grace)
				g := fx.create(t)
				var (
					wg      sync.WaitGroup
					start   = make(chan struct{})
					results = make([]*family.Grant, n)
					errs    = make([]error, n)
				)
				for i := range n {
					wg.Add(1)
					go func() {
						defer wg.Done()
						<-start
						results[i], errs[i] = fx.refresh(g.RefreshToken)
					}()
				}
				close(start)
				wg.Wait()
				var ok, refused int
				tokens := map[string]bool{}
				for i := range n {
					var fe *family.Error
					switch {
					case errs[i] == nil:
						ok++
						tokens[results[i].RefreshToken] = true
					case errors.As(errs[i], &fe):
						refused++
					default:
						t.Fatalf("caller %d: unexpected error %v", i, errs[i])
					}
				}
				f := fx.family(t, g.Family.ID)
				if grace == 0 {
					if ok != 1 || refused != n-1 || !f.Revoked() {
						t.Fatalf("ok=%d refused=%d revoked=%v; want 1, %d, revoked", ok, refused, f.Revoked(), n-1)
					}
					return
				}
				if ok != n || len(tokens) != 1 || f.Revoked() || f.Generation != 2 {
					t.Fatalf("ok=%d distinct=%d revoked=%v gen=%d; want %d, 1, live, 2", ok, len(tokens), f.Revoked(), f.Generation, n)
				}
			})
		})
	}
}

// TestDPoPBoundFamily: a family bound to a key refreshes only with proofs
// by that key. No proof is refused and revokes nothing; a proof by another
// key on the live token means the token left its device: revoked. Grace
// retries need the same key too.
func TestDPoPBoundFamily(t *testing.T) {
	testdb.Each(t, func(t *testing.T, st store.Store) {
		fx := newFixture(t, st, time.Minute)
		ctx := context.Background()
		refresh := func(tok, jkt string) (*family.Grant, error) {
			return fx.svc.Refresh(ctx, family.RefreshParams{Client: fx.client, Token: tok, DPoPJKT: jkt, AccessTokenID: secret.NewID()})
		}
		g, err := fx.svc.Create(ctx, family.CreateParams{Client: fx.client, User: fx.user, Scopes: []string{"read"},
			AccessTokenID: secret.NewID(), Grant: "password", DPoPJKT: "key-A"})
		if err != nil {
			t.Fatal(err)
		}
		if fx.family(t, g.Family.ID).DPoPJKT != "key-A" {
			t.Fatal("family not bound to the creation key")
		}
		for range 3 {
			if g, err = refresh(g.RefreshToken, "key-A"); err != nil {
				t.Fatalf("refresh with the bound key: %v", err)
			}
		}
		_, err = refresh(g.RefreshToken, "")
		wantErr(t, err, family.ErrDPoPMissing)
		if fx.family(t, g.Family.ID).Revoked() {
			t.Fatal("a request without a proof revoked the family")
		}
		// A grace retry with the bound key gets the same successor.
		prev := g.RefreshToken
		g, err = refresh(prev, "key-A")
		if err != nil {
			t.Fatal(err)
		}
		if _, err := refresh(prev, "key-A"); err != nil {
			t.Fatalf("grace retry with the bound key: %v", err)
		}

		_, err = refresh(g.RefreshToken, "key-B")
		wantErr(t, err, family.ErrDPoPMismatch)
		f := fx.family(t, g.Family.ID)
		if !f.Revoked() || f.RevokeReason != audit.ReasonDPoPMismatch {
			t.Fatalf("family revoked=%v reason=%q after the live token was proven by another key", f.Revoked(), f.RevokeReason)
		}
		if denied, _ := st.Denied(ctx, []string{family.DenySID(f.ID)}, fx.clock.Now()); !denied {
			t.Fatal("the revoked family's access tokens were not deny-listed")
		}
		if ev := fx.events(t, audit.FamilyRevoked); len(ev) != 1 || ev[0].Reason != audit.ReasonDPoPMismatch {
			t.Fatalf("family_revoked events %+v", ev)
		}
		_, err = refresh(g.RefreshToken, "key-A")
		wantErr(t, err, family.ErrRevoked)
	})
}

func TestDPoPGraceRetryWithAnotherKeyIsAReplay(t *testing.T) {
	testdb.Each(t, func(t *testing.T, st store.Store) {
		fx := newFixture(t, st, time.Minute)
		ctx := context.Background()
		g1, err := fx.svc.Create(ctx, family.CreateParams{Client: fx.client, User: fx.user, Scopes: []string{"read"},
			AccessTokenID: secret.NewID(), Grant: "password", DPoPJKT: "key-A"})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := fx.svc.Refresh(ctx, family.RefreshParams{Client: fx.client, Token: g1.RefreshToken, DPoPJKT: "key-A", AccessTokenID: "a"}); err != nil {
			t.Fatal(err)
		}
		_, err = fx.svc.Refresh(ctx, family.RefreshParams{Client: fx.client, Token: g1.RefreshToken, DPoPJKT: "key-B", AccessTokenID: "b"})
		wantErr(t, err, family.ErrReplayed)
		if !fx.family(t, g1.Family.ID).Revoked() {
			t.Fatal("not revoked")
		}
	})
}

// TestGraceRetryOfAnUnboundFamilyWithAProof: a family created without DPoP
// is not bound; a client that refreshes it with a proof and loses the
// answer retries with the same proof key and gets the same successor.
func TestGraceRetryOfAnUnboundFamilyWithAProof(t *testing.T) {
	testdb.Each(t, func(t *testing.T, st store.Store) {
		fx := newFixture(t, st, time.Minute)
		ctx := context.Background()
		g1 := fx.create(t)
		first, err := fx.svc.Refresh(ctx, family.RefreshParams{Client: fx.client, Token: g1.RefreshToken, DPoPJKT: "key-A", AccessTokenID: "a"})
		if err != nil {
			t.Fatal(err)
		}
		retry, err := fx.svc.Refresh(ctx, family.RefreshParams{Client: fx.client, Token: g1.RefreshToken, DPoPJKT: "key-A", AccessTokenID: "b"})
		if err != nil {
			t.Fatalf("grace retry with a proof of an unbound family: %v", err)
		}
		if retry.RefreshToken != first.RefreshToken || fx.family(t, g1.Family.ID).Revoked() {
			t.Fatal("the retry did not get the same successor")
		}
	})
}

// TestGraceStartsWhenTheRowIsLocked: a refresh that waited for the
// family's row lock longer than the grace period still leaves its caller
// the whole grace period for a retry: the rotation's time is read after
// the lock is taken, not when the request arrived (issue 9 item 2).
func TestGraceStartsWhenTheRowIsLocked(t *testing.T) {
	ctx := context.Background()
	dsn := testdb.PostgresDSN(t)
	app := "rotor_grace_" + secret.NewID()[:8]
	st, err := postgres.Open(ctx, dsn+"&application_name="+app)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	if err := st.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	watch, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer watch.Close(ctx)

	fx := newFixture(t, st, 15*time.Second)
	g1 := fx.create(t)
	locked, release, held := make(chan struct{}), make(chan struct{}), make(chan error, 1)
	go func() {
		held <- st.Tx(ctx, func(tx store.Tx) error {
			if _, err := tx.LockFamily(ctx, g1.Family.ID); err != nil {
				return err
			}
			close(locked)
			<-release
			return nil
		})
	}()
	<-locked
	type result struct {
		g   *family.Grant
		err error
	}
	done := make(chan result, 1)
	go func() { g, err := fx.refresh(g1.RefreshToken); done <- result{g, err} }()
	// Wait (bounded) until the refresh waits for the lock.
	for i := 0; ; i++ {
		var n int
		if err := watch.QueryRow(ctx, `SELECT count(*) FROM pg_stat_activity WHERE application_name = $1 AND wait_event_type = 'Lock'`, app).Scan(&n); err != nil {
			t.Fatal(err)
		}
		if n > 0 {
			break
		}
		if i == 5000 {
			t.Fatal("the refresh never waited for the lock")
		}
		time.Sleep(time.Millisecond)
	}
	fx.clock.Advance(20 * time.Second) // the wait outlasts the grace period
	close(release)
	if err := <-held; err != nil {
		t.Fatal(err)
	}
	first := <-done
	if first.err != nil {
		t.Fatal(first.err)
	}
	// The caller lost the answer and retries at once: a grace retry.
	fx.clock.Advance(time.Second)
	retry, err := fx.refresh(g1.RefreshToken)
	if err != nil || !retry.Retry || retry.RefreshToken != first.g.RefreshToken {
		t.Fatalf("a retry right after a rotation that waited for its lock: %v (retry %v), want the same successor", err, retry != nil && retry.Retry)
	}
}

// TestDenyEntryCountsFromTheNewestAccessToken: revoking a family deny-lists
// its sid for the cap on access-token lifetimes from its last use (when its
// newest access token was issued), and a family idle past the cap, whose
// access tokens have all expired, adds no entry to the list resource
// servers poll.
func TestDenyEntryCountsFromTheNewestAccessToken(t *testing.T) {
	testdb.Each(t, func(t *testing.T, st store.Store) {
		fx := newFixture(t, st, 0)
		ctx := context.Background()
		fx.create(t) // to be left idle
		recent := fx.create(t)
		fx.clock.Advance(25 * time.Hour)
		fx.mustRefresh(t, recent.RefreshToken)
		fx.clock.Advance(time.Hour)
		if _, err := fx.svc.RevokeWhere(ctx, store.FamilyFilter{Subject: fx.user.ID}, audit.ReasonAdmin, audit.Meta{}); err != nil {
			t.Fatal(err)
		}
		now := fx.clock.Now()
		list, err := st.ListDenials(ctx, now, []string{"sid:"}, "", 10)
		if err != nil {
			t.Fatal(err)
		}
		if len(list) != 1 || list[0].Key != family.DenySID(recent.Family.ID) {
			t.Fatalf("deny-list %+v, want only the recently used family", list)
		}
		if want := now.Add(-time.Hour).Add(family.MaxAccessTokenTTL + time.Minute); !list[0].ExpiresAt.Equal(want) {
			t.Fatalf("entry until %v, want %v (its last use plus the cap)", list[0].ExpiresAt, want)
		}
	})
}

// unknownCommit is a store whose next transaction answers as a COMMIT
// lost in flight does (store.ErrCommitUnknown), after committing it or
// after rolling it back: the fault of a database that froze mid-commit.
type unknownCommit struct {
	store.Store
	commit bool
}

var errRolledBack = errors.New("test: rolled back")

func (u *unknownCommit) Tx(ctx context.Context, fn func(store.Tx) error) error {
	err := u.Store.Tx(ctx, func(tx store.Tx) error {
		if err := fn(tx); err != nil {
			return err
		}
		if !u.commit {
			return errRolledBack
		}
		return nil
	})
	if err != nil && !errors.Is(err, errRolledBack) {
		return err
	}
	return fmt.Errorf("test: connection lost: %w", store.ErrCommitUnknown)
}

// TestUnknownCommitIsReadBack: a rotation whose COMMIT got no answer is
// answered if it committed (the family shows its successor), and is a
// 503-style ErrUnavailable, with nothing changed, if it did not; either
// way the caller's next step works and nothing is revoked.
func TestUnknownCommitIsReadBack(t *testing.T) {
	for _, committed := range []bool{true, false} {
		t.Run(fmt.Sprintf("committed=%v", committed), func(t *testing.T) {
			testdb.Each(t, func(t *testing.T, st store.Store) {
				fx := newFixture(t, st, 0)
				g := fx.create(t)
				faulty := family.New(&unknownCommit{Store: st, commit: committed}, fx.keys, family.DefaultConfig(), fx.clock.Now, nil)
				got, err := faulty.Refresh(context.Background(), family.RefreshParams{Client: fx.client, Token: g.RefreshToken, AccessTokenID: secret.NewID()})
				f := fx.family(t, g.Family.ID)
				if committed {
					if err != nil || got == nil || f.Generation != 2 {
						t.Fatalf("committed: %v, generation %d; want the rotation answered", err, f.Generation)
					}
					fx.mustRefresh(t, got.RefreshToken) // the answered successor is live
				} else {
					if !errors.Is(err, store.ErrUnavailable) || f.Generation != 1 {
						t.Fatalf("not committed: %v, generation %d; want ErrUnavailable and nothing changed", err, f.Generation)
					}
					fx.mustRefresh(t, g.RefreshToken) // the caller's retry is no replay
				}
				if f := fx.family(t, g.Family.ID); f.Revoked() {
					t.Fatal("the family was revoked")
				}
			})
		})
	}
}

// TestVerifierBoundFamily: a family of a client with
// RefreshRequiresVerifier is bound to its code's PKCE code_verifier. The
// right verifier rotates; a missing one is refused and revokes nothing;
// a wrong one with the live token revokes the family.
func TestVerifierBoundFamily(t *testing.T) {
	testdb.Each(t, func(t *testing.T, st store.Store) {
		fx := newFixture(t, st, time.Minute)
		ctx := context.Background()
		fx.client.RefreshRequiresVerifier = true
		const v = "the-code-verifier-of-this-family-0123456789abc"
		refresh := func(tok, verifier string) (*family.Grant, error) {
			return fx.svc.Refresh(ctx, family.RefreshParams{Client: fx.client, Token: tok, Verifier: verifier, AccessTokenID: secret.NewID()})
		}
		g, err := fx.svc.Create(ctx, family.CreateParams{Client: fx.client, User: fx.user, Scopes: []string{"read"},
			AccessTokenID: secret.NewID(), Grant: "authorization_code", Verifier: v})
		if err != nil {
			t.Fatal(err)
		}
		stored := fx.family(t, g.Family.ID).VerifierHash
		if stored == nil || strings.Contains(string(stored), v) {
			t.Fatalf("family verifier hash %q: want a keyed hash", stored)
		}
		for range 2 {
			if g, err = refresh(g.RefreshToken, v); err != nil {
				t.Fatalf("refresh with the verifier: %v", err)
			}
		}
		_, err = refresh(g.RefreshToken, "")
		wantErr(t, err, family.ErrVerifierMissing)
		if fx.family(t, g.Family.ID).Revoked() {
			t.Fatal("a refresh without the verifier revoked the family")
		}
		if ev := fx.events(t, audit.RefreshFailed); len(ev) == 0 || ev[len(ev)-1].Reason != audit.ReasonVerifierMissing {
			t.Fatalf("refresh_failed events %+v", ev)
		}
		// A grace retry without it is refused too, revoking nothing.
		prev := g.RefreshToken
		if g, err = refresh(prev, v); err != nil {
			t.Fatal(err)
		}
		_, err = refresh(prev, "")
		wantErr(t, err, family.ErrVerifierMissing)
		if _, err := refresh(prev, v); err != nil {
			t.Fatalf("grace retry with the verifier: %v", err)
		}

		// The previous token inside the grace period, with a wrong
		// verifier: stolen too.
		g2, err := refresh(g.RefreshToken, v)
		if err != nil {
			t.Fatal(err)
		}
		_, err = refresh(g.RefreshToken, "another-verifier-of-forty-three-chars-0123456")
		wantErr(t, err, family.ErrVerifierMismatch)
		g = g2
		f := fx.family(t, g.Family.ID)
		if !f.Revoked() || f.RevokeReason != audit.ReasonVerifierMismatch {
			t.Fatalf("family revoked=%v reason=%q after a wrong verifier", f.Revoked(), f.RevokeReason)
		}
		if denied, _ := st.Denied(ctx, []string{family.DenySID(f.ID)}, fx.clock.Now()); !denied {
			t.Fatal("the revoked family's access tokens were not deny-listed")
		}
		_, err = refresh(g.RefreshToken, v)
		wantErr(t, err, family.ErrRevoked)
	})
}

// TestVerifierIsIgnoredWithoutTheClientSetting: a client that does not
// ask for the binding gets unbound families, whatever is sent.
func TestVerifierIsIgnoredWithoutTheClientSetting(t *testing.T) {
	fx := newFixture(t, testdb.SQLite(t), time.Minute)
	ctx := context.Background()
	g, err := fx.svc.Create(ctx, family.CreateParams{Client: fx.client, User: fx.user, Scopes: []string{"read"},
		AccessTokenID: secret.NewID(), Grant: "authorization_code", Verifier: "some-verifier-0123456789-0123456789-0123456"})
	if err != nil {
		t.Fatal(err)
	}
	if fx.family(t, g.Family.ID).VerifierHash != nil {
		t.Fatal("an unbound client's family holds a verifier hash")
	}
	if _, err := fx.refresh(g.RefreshToken); err != nil {
		t.Fatalf("refresh without a verifier: %v", err)
	}
}
