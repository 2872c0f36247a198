package server_test

import (
	"context"
	"net/url"
	"sync/atomic"
	"testing"
	"time"

	"github.com/rotor-auth/rotor/internal/audit"
	"github.com/rotor-auth/rotor/internal/clients"
	"github.com/rotor-auth/rotor/internal/family"
	"github.com/rotor-auth/rotor/internal/secret"
	"github.com/rotor-auth/rotor/internal/server"
	"github.com/rotor-auth/rotor/internal/store"
	"github.com/rotor-auth/rotor/internal/store/testdb"
	"github.com/rotor-auth/rotor/internal/users"
)

// offsetClock is the real time moved forward by Advance, for the server
// and the services the tests build beside it.
type offsetClock struct{ off atomic.Int64 }

func (c *offsetClock) Now() time.Time          { return time.Now().Add(time.Duration(c.off.Load())) }
func (c *offsetClock) Advance(d time.Duration) { c.off.Add(int64(d)) }

// endRig is a server over st with a clock the test moves, a resource
// server "api" that may introspect access tokens, and the client, user
// and family services an operator's command would use, built with their
// own (default) settings, as the CLI is.
type endRig struct {
	*rig
	clock *offsetClock
	fams  *family.Service
	users *users.Service
	cs    *clients.Service
}

func newEndRig(t *testing.T, st store.Store, serverCfg family.Config) *endRig {
	t.Helper()
	clk := &offsetClock{}
	r := newRig(t, st, nil, func(o *server.Options) {
		o.Now = clk.Now
		o.Families = family.New(st, o.Secrets, serverCfg, clk.Now, nil)
	})
	standard(t, r, 0)
	r.addClient(t, store.Client{ID: "api", GrantTypes: []string{"client_credentials"}, Introspect: true}, "api-secret")
	cli := family.New(st, r.Secrets, family.DefaultConfig(), clk.Now, nil)
	return &endRig{rig: r, clock: clk, fams: cli,
		users: users.New(st, cli, secret.NewVerifier(0), clk.Now),
		cs:    clients.New(st, r.Secrets, cli, clients.Options{GrantTypes: server.GrantTypes()}, clk.Now)}
}

func (e *endRig) active(t *testing.T, tok string) bool {
	t.Helper()
	resp := e.post(t, "/oauth2/introspect", url.Values{"token": {tok}}, "api", "api-secret")
	expectOK(t, resp)
	return resp.Body["active"] == true
}

var operator = audit.Meta{Actor: audit.ActorCLI}

// TestRevokedSessionsStayRevoked: a family revoked by a process with a
// shorter access-token lifetime than the server's (the CLI with its own
// settings) keeps its access tokens refused until they expire (issue 9
// item 7: the sid entry used to last the revoker's lifetime plus a
// minute).
func TestRevokedSessionsStayRevoked(t *testing.T) {
	testdb.Each(t, func(t *testing.T, st store.Store) {
		cfg := family.DefaultConfig()
		cfg.AccessTokenTTL = time.Hour
		e := newEndRig(t, st, cfg)
		g := passwordGrant(t, e.rig)
		u, err := e.users.Lookup(t.Context(), "alice")
		if err != nil {
			t.Fatal(err)
		}
		if _, err := e.fams.RevokeWhere(t.Context(), store.FamilyFilter{Subject: u.ID}, audit.ReasonAdmin, operator); err != nil {
			t.Fatal(err)
		}
		var elapsed time.Duration
		for _, after := range []time.Duration{0, 12 * time.Minute, 59 * time.Minute} {
			e.clock.Advance(after - elapsed) // within the token's hour
			elapsed = after
			if e.active(t, g.str("access_token")) {
				t.Fatalf("a revoked session's access token is active again %s after the revocation", after)
			}
		}
	})
}

// TestFamilylessTokensEndWithTheUser: an access token issued without a
// family (the password grant of a client that may not refresh) is no
// longer active once the user is disabled or changes their password
// (issue 9 item 8).
func TestFamilylessTokensEndWithTheUser(t *testing.T) {
	testdb.Each(t, func(t *testing.T, st store.Store) {
		e := newEndRig(t, st, family.DefaultConfig())
		e.addClient(t, store.Client{ID: "once", GrantTypes: []string{"password"}, Scopes: []string{"read"}}, "once-secret")
		login := func() string {
			g := e.post(t, "/oauth2/token", url.Values{"grant_type": {"password"}, "username": {"alice"}, "password": {"correct horse"}}, "once", "once-secret")
			expectOK(t, g)
			return g.str("access_token")
		}
		u, _ := e.users.Lookup(t.Context(), "alice")

		at := login()
		if !e.active(t, at) {
			t.Fatal("a fresh token is inactive")
		}
		e.clock.Advance(2 * time.Second)
		if _, _, err := e.users.SetPassword(t.Context(), u.ID, "correct horse", operator); err != nil {
			t.Fatal(err)
		}
		if e.active(t, at) {
			t.Fatal("a token issued before a password change is still active")
		}
		e.clock.Advance(2 * time.Second)
		at = login()
		if !e.active(t, at) {
			t.Fatal("a token issued after the password change is inactive")
		}
		if _, _, err := e.users.Disable(t.Context(), u.ID, operator); err != nil {
			t.Fatal(err)
		}
		if e.active(t, at) {
			t.Fatal("a disabled user's token is still active")
		}
		if _, err := e.users.Enable(t.Context(), u.ID, operator); err != nil {
			t.Fatal(err)
		}
		if e.active(t, at) {
			t.Fatal("enabling the user again revived a token issued before the disable")
		}
	})
}

// TestReenabledClientDoesNotRevive: a client's tokens issued before it
// was disabled stay inactive once it is enabled again.
func TestReenabledClientDoesNotRevive(t *testing.T) {
	testdb.Each(t, func(t *testing.T, st store.Store) {
		e := newEndRig(t, st, family.DefaultConfig())
		ctx := context.Background()
		bot := &store.Client{ID: "bot", GrantTypes: []string{"client_credentials"}, Scopes: []string{"read"}}
		minted, err := e.cs.Create(ctx, bot, clients.Secret{Generate: true}, operator)
		if err != nil {
			t.Fatal(err)
		}
		e.clock.Advance(2 * time.Second)
		g := e.post(t, "/oauth2/token", url.Values{"grant_type": {"client_credentials"}}, "bot", minted)
		expectOK(t, g)
		e.clock.Advance(2 * time.Second)
		if _, err := e.cs.SetDisabled(ctx, "bot", true, operator); err != nil {
			t.Fatal(err)
		}
		if _, err := e.cs.SetDisabled(ctx, "bot", false, operator); err != nil {
			t.Fatal(err)
		}
		if e.active(t, g.str("access_token")) {
			t.Fatal("enabling the client again revived a token issued before the disable")
		}
		e.clock.Advance(2 * time.Second)
		fresh := e.post(t, "/oauth2/token", url.Values{"grant_type": {"client_credentials"}}, "bot", minted)
		expectOK(t, fresh)
		if !e.active(t, fresh.str("access_token")) {
			t.Fatal("a token issued after the client was enabled again is inactive")
		}
	})
}

// TestRecreatedClientDoesNotRevive: the tokens of a deleted client stay
// inactive when a client with the same id is created again (issue 9
// item 9).
func TestRecreatedClientDoesNotRevive(t *testing.T) {
	testdb.Each(t, func(t *testing.T, st store.Store) {
		e := newEndRig(t, st, family.DefaultConfig())
		ctx := context.Background()
		bot := &store.Client{ID: "bot", GrantTypes: []string{"client_credentials"}, Scopes: []string{"read"}}
		minted, err := e.cs.Create(ctx, bot, clients.Secret{Generate: true}, operator)
		if err != nil {
			t.Fatal(err)
		}
		g := e.post(t, "/oauth2/token", url.Values{"grant_type": {"client_credentials"}}, "bot", minted)
		expectOK(t, g)
		if _, err := e.cs.Delete(ctx, "bot", operator); err != nil {
			t.Fatal(err)
		}
		e.clock.Advance(2 * time.Second)
		again := &store.Client{ID: "bot", GrantTypes: []string{"client_credentials"}, Scopes: []string{"read"}}
		minted, err = e.cs.Create(ctx, again, clients.Secret{Generate: true}, operator)
		if err != nil {
			t.Fatal(err)
		}
		if e.active(t, g.str("access_token")) {
			t.Fatal("the deleted client's token is active again under the new client")
		}
		fresh := e.post(t, "/oauth2/token", url.Values{"grant_type": {"client_credentials"}}, "bot", minted)
		expectOK(t, fresh)
		if !e.active(t, fresh.str("access_token")) {
			t.Fatal("the new client's own token is inactive")
		}
	})
}

// TestIntrospectionOfRotatedAndBoundTokens: a refresh token's iat is when
// that token was issued (its rotation), not when the family began; a
// DPoP-bound access token introspects as token_type DPoP (issue 9 item
// 20).
func TestIntrospectionOfRotatedAndBoundTokens(t *testing.T) {
	e := newEndRig(t, testdb.SQLite(t), family.DefaultConfig())
	tokenURL := e.URL + "/oauth2/token"
	h := newHolder(t)
	bound := e.postDPoP(t, url.Values{"grant_type": {"client_credentials"}, "client_id": {"svc"}, "client_secret": {svcSecret}},
		h.proof(t, tokenURL, ""))
	expectOK(t, bound)
	a := e.post(t, "/oauth2/introspect", url.Values{"token": {bound.str("access_token")}}, "api", "api-secret")
	if a.str("token_type") != "DPoP" {
		t.Fatalf("a DPoP-bound access token introspects as %q: %s", a.str("token_type"), a.Raw)
	}

	g := passwordGrant(t, e.rig)
	e.clock.Advance(time.Hour)
	g2 := refresh(t, e.rig, g.str("refresh_token"))
	expectOK(t, g2)
	intro := e.post(t, "/oauth2/introspect", url.Values{"token": {g2.str("refresh_token")}}, "svc", svcSecret)
	if iat, _ := intro.Body["iat"].(float64); int64(iat) != e.clock.Now().Unix() && int64(iat) != e.clock.Now().Unix()-1 {
		t.Fatalf("refresh token iat %v, want the rotation time %d: %s", intro.Body["iat"], e.clock.Now().Unix(), intro.Raw)
	}
	if intro.Body["token_type"] != nil {
		t.Fatalf("a refresh token has token_type: %s", intro.Raw)
	}
}
