package clients_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/rotor-auth/rotor/internal/audit"
	"github.com/rotor-auth/rotor/internal/clients"
	"github.com/rotor-auth/rotor/internal/family"
	"github.com/rotor-auth/rotor/internal/secret"
	"github.com/rotor-auth/rotor/internal/store"
	"github.com/rotor-auth/rotor/internal/store/testdb"
)

var cli = audit.Meta{UserAgent: "rotor-cli", Actor: audit.ActorCLI}

func dur(d time.Duration) *time.Duration { return &d }

type fixture struct {
	st   store.Store
	keys *secret.Keys
	fams *family.Service
	cs   *clients.Service
}

func newFixture(t *testing.T, st store.Store) *fixture {
	t.Helper()
	keys, err := secret.Derive(secret.NewMasterKey())
	if err != nil {
		t.Fatal(err)
	}
	fams := family.New(st, keys, family.DefaultConfig(), time.Now, nil)
	opts := clients.Options{GrantTypes: []string{"refresh_token", "client_credentials", "password"}}
	return &fixture{st: st, keys: keys, fams: fams, cs: clients.New(st, keys, fams, opts, time.Now)}
}

// session gives client c a live family of a new user.
func (fx *fixture) session(t *testing.T, c *store.Client) *family.Grant {
	t.Helper()
	ctx := context.Background()
	u := &store.User{ID: secret.NewID(), Username: secret.NewID(), PasswordPHC: "x", CreatedAt: time.Now().Add(-time.Minute), UpdatedAt: time.Now()}
	if err := fx.st.CreateUser(ctx, u); err != nil {
		t.Fatal(err)
	}
	g, err := fx.fams.Create(ctx, family.CreateParams{Client: c, User: u, AccessTokenID: secret.NewID(), Grant: "password"})
	if err != nil {
		t.Fatal(err)
	}
	return g
}

// TestValidateReportsEveryProblem: one call names every broken rule, in
// words, and normalises the lists it keeps.
func TestValidateReportsEveryProblem(t *testing.T) {
	fx := newFixture(t, testdb.SQLite(t))
	c := &store.Client{ID: "bad id", Public: true, GrantTypes: []string{"implicit", "client_credentials"},
		Scopes: []string{"read,write"}, RedirectURIs: []string{"/relative"},
		ReuseGrace: dur(-time.Second), AccessTokenTTL: dur(48 * time.Hour),
		RefreshIdleTTL: dur(2 * time.Hour), RefreshAbsoluteTTL: dur(time.Hour)}
	err := fx.cs.Validate(c)
	var ve *clients.ValidationError
	if !errors.As(err, &ve) {
		t.Fatalf("got %v, want a ValidationError", err)
	}
	for _, want := range []string{"visible ASCII", `unknown grant type "implicit"`, "public client cannot use client_credentials",
		"separated by spaces", "absolute URI", "reuse_grace must not be negative", "longer than 24h",
		"refresh_idle_ttl (2h) is longer than refresh_absolute_ttl (1h)"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("problems do not say %q: %v", want, ve.Problems)
		}
	}
	ok := &store.Client{ID: "web", SecretPHC: "x", GrantTypes: []string{" password", "password", "refresh_token"},
		Scopes: []string{"read", "read"}, Audiences: []string{" https://api.example "}}
	if err := fx.cs.Validate(ok); err != nil {
		t.Fatal(err)
	}
	if strings.Join(ok.GrantTypes, ",") != "password,refresh_token" || len(ok.Scopes) != 1 || ok.Audiences[0] != "https://api.example" {
		t.Fatalf("not normalised: %+v", ok)
	}
}

// TestLifecycleIsAudited: create, update, disable, enable and delete each
// write one event naming the actor; disabling and deleting revoke the
// client's families in the same transaction.
func TestLifecycleIsAudited(t *testing.T) {
	testdb.Each(t, func(t *testing.T, st store.Store) {
		fx := newFixture(t, st)
		ctx := context.Background()
		c := &store.Client{ID: "tv", GrantTypes: []string{"password", "refresh_token"}, Scopes: []string{"read"}}
		minted, err := fx.cs.Create(ctx, c, clients.Secret{Generate: true}, cli)
		if err != nil {
			t.Fatal(err)
		}
		if !strings.HasPrefix(minted, "rcs_") || !secret.Equal(fx.keys.Hash(minted), c.SecretHash) {
			t.Fatalf("minted %q is not stored as its keyed hash", minted)
		}
		if _, err := fx.cs.Create(ctx, &store.Client{ID: "tv", Public: true, GrantTypes: []string{"password"}}, clients.Secret{}, cli); !errors.Is(err, clients.ErrExists) {
			t.Fatalf("duplicate: %v", err)
		}
		if _, err := fx.cs.Update(ctx, "tv", "scopes", func(c *store.Client) error { c.Scopes = []string{"read", "write"}; return nil }, cli); err != nil {
			t.Fatal(err)
		}
		g := fx.session(t, c)
		ids, err := fx.cs.SetDisabled(ctx, "tv", true, audit.Meta{Actor: audit.Admin("k1")})
		if err != nil || len(ids) != 1 || ids[0] != g.Family.ID {
			t.Fatalf("disable revoked %v (%v), want the family", ids, err)
		}
		if f, _ := st.GetFamily(ctx, g.Family.ID); !f.Revoked() {
			t.Fatal("a disabled client's family is live")
		}
		if denied, _ := st.Denied(ctx, []string{family.DenySID(g.Family.ID)}, time.Now()); !denied {
			t.Fatal("a disabled client's access tokens are not deny-listed")
		}
		if _, err := fx.cs.SetDisabled(ctx, "tv", false, cli); err != nil {
			t.Fatal(err)
		}
		g2 := fx.session(t, c)
		ids, err = fx.cs.Delete(ctx, "tv", cli)
		if err != nil || len(ids) != 1 || ids[0] != g2.Family.ID {
			t.Fatalf("delete revoked %v (%v)", ids, err)
		}
		if _, err := fx.cs.Get(ctx, "tv"); !errors.Is(err, clients.ErrNotFound) {
			t.Fatalf("deleted client: %v", err)
		}
		want := map[string]string{audit.ClientCreated: "cli", audit.ClientUpdated: "cli", audit.ClientDisabled: "admin:k1",
			audit.ClientEnabled: "cli", audit.ClientDeleted: "cli"}
		for typ, actor := range want {
			evs, err := st.ListEvents(ctx, store.EventFilter{Type: typ, ClientID: "tv"})
			if err != nil || len(evs) != 1 || evs[0].Actor != actor {
				t.Fatalf("%s events %+v %v, want one by %s", typ, evs, err, actor)
			}
		}
	})
}

// failingDelete is a store whose DeleteClient fails inside transactions:
// the fault of a database that refuses the last step of a change.
type failingDelete struct{ store.Store }

func (f failingDelete) Tx(ctx context.Context, fn func(store.Tx) error) error {
	return f.Store.Tx(ctx, func(tx store.Tx) error { return fn(failingDeleteTx{tx}) })
}

type failingDeleteTx struct{ store.Tx }

func (failingDeleteTx) DeleteClient(context.Context, string) error {
	return errors.New("injected: delete refused")
}

// TestDeleteIsOneTransaction: when deleting fails, the client's families
// are not revoked either (issue 9 item 10: revoke and delete were two
// transactions, and a failed delete left a live client with its sessions
// gone).
func TestDeleteIsOneTransaction(t *testing.T) {
	testdb.Each(t, func(t *testing.T, st store.Store) {
		fx := newFixture(t, st)
		ctx := context.Background()
		c := &store.Client{ID: "web", Public: true, GrantTypes: []string{"password", "refresh_token"}}
		if _, err := fx.cs.Create(ctx, c, clients.Secret{}, cli); err != nil {
			t.Fatal(err)
		}
		g := fx.session(t, c)
		broken := clients.New(failingDelete{st}, fx.keys, family.New(failingDelete{st}, fx.keys, family.DefaultConfig(), time.Now, nil),
			clients.Options{GrantTypes: []string{"password", "refresh_token"}}, time.Now)
		if _, err := broken.Delete(ctx, "web", cli); err == nil {
			t.Fatal("the injected failure did not surface")
		}
		if f, _ := st.GetFamily(ctx, g.Family.ID); f.Revoked() {
			t.Fatal("a failed delete revoked the client's family")
		}
		if evs, _ := st.ListEvents(ctx, store.EventFilter{Type: audit.FamilyRevoked}); len(evs) != 0 {
			t.Fatalf("a failed delete recorded %+v", evs)
		}
	})
}

// TestClientIDCannotBeAUserSubject keeps the namespaces of sub apart
// (RFC 9068 §5, issue 9 item 14): a client_credentials token's sub is the
// client id, so no client may take a user's id.
func TestClientIDCannotBeAUserSubject(t *testing.T) {
	testdb.Each(t, func(t *testing.T, st store.Store) {
		fx := newFixture(t, st)
		ctx := context.Background()
		u := &store.User{ID: "N0nIZPRjR7b1bIjsVX4kCg", Username: "alice", PasswordPHC: "x", CreatedAt: time.Now(), UpdatedAt: time.Now()}
		if err := st.CreateUser(ctx, u); err != nil {
			t.Fatal(err)
		}
		_, err := fx.cs.Create(ctx, &store.Client{ID: u.ID, GrantTypes: []string{"client_credentials"}}, clients.Secret{Generate: true}, cli)
		var ve *clients.ValidationError
		if !errors.As(err, &ve) || !strings.Contains(err.Error(), "user's subject") {
			t.Fatalf("a client with a user's id: %v", err)
		}
		if _, err := st.GetClient(ctx, u.ID); !errors.Is(err, store.ErrNotFound) {
			t.Fatal("the client was stored")
		}
	})
}

// TestGrantsRacingChangesOfTheirClient: a grant that authenticated its
// client before the client was disabled, or deleted and created again,
// creates no family afterwards; and a family of a deleted client does not
// refresh under a new client with the same id.
func TestGrantsRacingChangesOfTheirClient(t *testing.T) {
	testdb.Each(t, func(t *testing.T, st store.Store) {
		fx := newFixture(t, st)
		ctx := context.Background()
		if _, err := fx.cs.Create(ctx, &store.Client{ID: "web", Public: true, GrantTypes: []string{"password", "refresh_token"}}, clients.Secret{}, cli); err != nil {
			t.Fatal(err)
		}
		authenticated, err := fx.cs.Get(ctx, "web") // the token endpoint read it
		if err != nil {
			t.Fatal(err)
		}
		old := fx.session(t, authenticated)
		if _, err := fx.cs.SetDisabled(ctx, "web", true, cli); err != nil {
			t.Fatal(err)
		}
		u := &store.User{ID: secret.NewID(), Username: "late", PasswordPHC: "x", CreatedAt: time.Now().Add(-time.Minute), UpdatedAt: time.Now()}
		if err := st.CreateUser(ctx, u); err != nil {
			t.Fatal(err)
		}
		create := func() error {
			_, err := fx.fams.Create(ctx, family.CreateParams{Client: authenticated, User: u, AccessTokenID: secret.NewID(), Grant: "password"})
			return err
		}
		if err := create(); !errors.Is(err, family.ErrClientInvalid) {
			t.Fatalf("a grant of a client disabled meanwhile: %v, want ErrClientInvalid", err)
		}
		if _, err := fx.cs.Delete(ctx, "web", cli); err != nil {
			t.Fatal(err)
		}
		time.Sleep(time.Millisecond) // the new client's creation time differs
		if _, err := fx.cs.Create(ctx, &store.Client{ID: "web", Public: true, GrantTypes: []string{"password", "refresh_token"}}, clients.Secret{}, cli); err != nil {
			t.Fatal(err)
		}
		if err := create(); !errors.Is(err, family.ErrClientInvalid) {
			t.Fatalf("a grant of a client deleted and created again meanwhile: %v, want ErrClientInvalid", err)
		}
		now, err := fx.cs.Get(ctx, "web")
		if err != nil {
			t.Fatal(err)
		}
		// The old family was revoked by the disable; even un-revoked, it
		// would belong to the earlier client.
		if err := st.Tx(ctx, func(tx store.Tx) error {
			f, err := tx.LockFamily(ctx, old.Family.ID)
			if err != nil {
				return err
			}
			f.RevokedAt, f.RevokeReason = time.Time{}, ""
			return tx.UpdateFamily(ctx, f)
		}); err != nil {
			t.Fatal(err)
		}
		if _, err := fx.fams.Refresh(ctx, family.RefreshParams{Client: now, Token: old.RefreshToken, AccessTokenID: secret.NewID()}); !errors.Is(err, family.ErrClientInvalid) {
			t.Fatalf("a family of the deleted client refreshed under the new one: %v", err)
		}
	})
}

// TestUpdateCannotUndoADisable: an update of a client that read it before
// a concurrent disable does not write it back enabled (the row is locked
// from read to write).
func TestUpdateCannotUndoADisable(t *testing.T) {
	testdb.Each(t, func(t *testing.T, st store.Store) {
		fx := newFixture(t, st)
		ctx := context.Background()
		if _, err := fx.cs.Create(ctx, &store.Client{ID: "web", Public: true, GrantTypes: []string{"password"}}, clients.Secret{}, cli); err != nil {
			t.Fatal(err)
		}
		editing, release := make(chan struct{}), make(chan struct{})
		updated := make(chan error, 1)
		go func() {
			_, err := fx.cs.Update(ctx, "web", "scopes", func(c *store.Client) error {
				close(editing)
				<-release
				c.Scopes = []string{"read"}
				return nil
			}, cli)
			updated <- err
		}()
		<-editing
		disabled := make(chan error, 1)
		go func() { _, err := fx.cs.SetDisabled(ctx, "web", true, cli); disabled <- err }()
		// The disable waits for the update's lock (PostgreSQL) or its
		// turn at the writer (SQLite); give it the chance to overtake.
		select {
		case err := <-disabled:
			t.Fatalf("the disable finished while the update held the client: %v", err)
		case <-time.After(100 * time.Millisecond):
		}
		close(release)
		if err := <-updated; err != nil {
			t.Fatal(err)
		}
		if err := <-disabled; err != nil {
			t.Fatal(err)
		}
		c, err := fx.cs.Get(ctx, "web")
		if err != nil || !c.Disabled || len(c.Scopes) != 1 {
			t.Fatalf("client %+v (%v), want disabled with the update's scope", c, err)
		}
	})
}
