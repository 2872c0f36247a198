package session_test

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/rotor-auth/rotor/internal/audit"
	"github.com/rotor-auth/rotor/internal/authz"
	"github.com/rotor-auth/rotor/internal/family"
	"github.com/rotor-auth/rotor/internal/secret"
	"github.com/rotor-auth/rotor/internal/session"
	"github.com/rotor-auth/rotor/internal/store"
	"github.com/rotor-auth/rotor/internal/store/testdb"
)

const verifier = "a-verifier-of-forty-three-characters-or-more-0123"

type parts struct {
	st       store.Store
	sessions *session.Service
	authz    *authz.Service
	families *family.Service
	client   *store.Client
	user     *store.User
}

func newParts(t *testing.T, st store.Store) *parts {
	t.Helper()
	keys, err := secret.Derive(secret.NewMasterKey())
	if err != nil {
		t.Fatal(err)
	}
	log := slog.New(slog.DiscardHandler)
	fams := family.New(st, keys, family.DefaultConfig(), time.Now, log)
	now := time.Now()
	c := &store.Client{ID: "web", GrantTypes: []string{"authorization_code", "refresh_token"},
		RedirectURIs: []string{"https://app.example.com/cb"}, CreatedAt: now.Add(-time.Hour), UpdatedAt: now.Add(-time.Hour)}
	u := &store.User{ID: "u1", Username: "alice", PasswordPHC: "x", CreatedAt: now.Add(-time.Hour), UpdatedAt: now.Add(-time.Hour)}
	ctx := context.Background()
	if err := st.CreateClient(ctx, c); err != nil {
		t.Fatal(err)
	}
	if err := st.CreateUser(ctx, u); err != nil {
		t.Fatal(err)
	}
	return &parts{st: st, sessions: session.New(st, keys, fams, time.Now), authz: authz.New(st, keys, fams, time.Now, log),
		families: fams, client: c, user: u}
}

// TestLogoutRacingARedemptionLeavesNoFamily: a code redeemed while its
// browser session ends either fails or makes a family that the end
// revokes; no interleaving leaves a live family of an ended session.
func TestLogoutRacingARedemptionLeavesNoFamily(t *testing.T) {
	testdb.Each(t, func(t *testing.T, st store.Store) {
		p := newParts(t, st)
		ctx := context.Background()
		sum := sha256.Sum256([]byte(verifier))
		req := &authz.Request{ClientID: p.client.ID, RedirectURI: p.client.RedirectURIs[0], RedirectGiven: true,
			CodeChallenge: base64.RawURLEncoding.EncodeToString(sum[:]), MaxAge: -1}
		for round := range 30 {
			_, sess, err := p.sessions.Start(ctx, p.user, nil, "", audit.Meta{})
			if err != nil {
				t.Fatal(err)
			}
			code, err := p.authz.IssueCode(ctx, req, nil, sess)
			if err != nil {
				t.Fatal(err)
			}
			var wg sync.WaitGroup
			wg.Go(func() {
				_, _ = p.authz.Redeem(ctx, authz.RedeemParams{Client: p.client, Code: code, RedirectURI: req.RedirectURI,
					Verifier: verifier, AccessTokenID: secret.NewID(), Refresh: func([]string) bool { return true }})
			})
			wg.Go(func() {
				if _, err := p.sessions.End(ctx, sess.ID, audit.ReasonLogout, audit.Meta{}); err != nil {
					t.Error(err)
				}
			})
			wg.Wait()
			live, err := st.ListFamilies(ctx, store.FamilyFilter{SessionID: sess.ID, LiveOnly: true, Now: time.Now()})
			if err != nil {
				t.Fatal(err)
			}
			if len(live) > 0 {
				t.Fatalf("round %d: %d live families of an ended session", round, len(live))
			}
		}
	})
}

// TestAStaleTouchDoesNotUndoALogout: a Lookup that read the session
// before a logout committed cannot make it live again.
func TestAStaleTouchDoesNotUndoALogout(t *testing.T) {
	testdb.Each(t, func(t *testing.T, st store.Store) {
		p := newParts(t, st)
		ctx := context.Background()
		cookie, sess, err := p.sessions.Start(ctx, p.user, nil, "", audit.Meta{})
		if err != nil {
			t.Fatal(err)
		}
		stale := *sess
		if _, err := p.sessions.End(ctx, sess.ID, audit.ReasonLogout, audit.Meta{}); err != nil {
			t.Fatal(err)
		}
		stale.LastSeenAt = time.Now()
		if err := st.UpdateSession(ctx, &stale); err != nil {
			t.Fatal(err)
		}
		if _, err := p.sessions.Lookup(ctx, cookie, audit.Meta{}); err != session.ErrNoSession {
			t.Fatalf("Lookup after logout and a stale write: %v, want ErrNoSession", err)
		}
	})
}
