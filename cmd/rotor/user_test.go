package main

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/rotor-auth/rotor/internal/audit"
	"github.com/rotor-auth/rotor/internal/family"
	"github.com/rotor-auth/rotor/internal/secret"
	"github.com/rotor-auth/rotor/internal/store"
)

func TestUserLifecycle(t *testing.T) {
	h := newHarness(t)
	ctx := context.Background()
	st := h.store()

	if r := h.run("s3cret-pass\n", "user", "create", "--username", "alice", "--password-stdin"); r.code != 0 || !strings.Contains(r.stdout, `Created user "alice"`) {
		t.Fatalf("exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	u, err := st.GetUserByUsername(ctx, "alice")
	if err != nil {
		t.Fatal(err)
	}
	if secret.VerifyPassword(u.PasswordPHC, "s3cret-pass") != nil {
		t.Fatal("the password from stdin, without its newline, was not stored")
	}
	if !u.TokensValidAfter.IsZero() {
		t.Fatal("a new user has tokens_valid_after set")
	}
	if r := h.run("", "user", "create", "--username", "alice", "--password", "other-pass"); r.code != 1 || !strings.Contains(r.stderr, "already exists") {
		t.Fatalf("duplicate user: exit %d %s", r.code, r.stderr)
	}
	if r := h.run("\n", "user", "create", "--username", "bob", "--password-stdin"); r.code != 2 || !strings.Contains(r.stderr, "the password is empty") {
		t.Fatalf("empty password from stdin: exit %d %s", r.code, r.stderr)
	}

	// A live session, to see the password change end it.
	app := &store.Client{ID: "app", Public: true, GrantTypes: []string{"password", "refresh_token"}, CreatedAt: time.Now(), UpdatedAt: time.Now()}
	if err := st.CreateClient(ctx, app); err != nil {
		t.Fatal(err)
	}
	g, err := family.New(st, h.secrets(), family.DefaultConfig(), time.Now, nil).Create(ctx,
		family.CreateParams{Client: app, User: u, AccessTokenID: "at1", Grant: "password"})
	if err != nil {
		t.Fatal(err)
	}

	before := time.Now().Add(-time.Second)
	out := h.ok("user", "passwd", "--username", "alice", "--password", "new-pass")
	if !strings.Contains(out, "tokens_valid_after") || !strings.Contains(out, "must sign in again") || !strings.Contains(out, "revoked 1 family") {
		t.Fatalf("passwd said %q", out)
	}
	if f, _ := st.GetFamily(ctx, g.Family.ID); !f.Revoked() || f.RevokeReason != audit.ReasonPasswordChanged {
		t.Fatalf("after passwd the family is revoked=%v reason=%q", f.Revoked(), f.RevokeReason)
	}
	if denied, _ := st.Denied(ctx, []string{family.DenySID(g.Family.ID)}, time.Now()); !denied {
		t.Fatal("after passwd the session's access tokens are not deny-listed")
	}
	if ev, _ := st.ListEvents(ctx, store.EventFilter{Type: audit.FamilyRevoked}); len(ev) != 1 || ev[0].Reason != audit.ReasonPasswordChanged {
		t.Fatalf("family_revoked events after passwd: %+v", ev)
	}
	u, _ = st.GetUserByUsername(ctx, "alice")
	if u.TokensValidAfter.Before(before) || u.TokensValidAfter.After(time.Now()) {
		t.Fatalf("tokens_valid_after = %v, want now", u.TokensValidAfter)
	}
	if secret.VerifyPassword(u.PasswordPHC, "new-pass") != nil {
		t.Fatal("new password not stored")
	}
	if r := h.run("", "user", "passwd", "--username", "nobody", "--password", "x-long-enough"); r.code != 1 || !strings.Contains(r.stderr, `no user named "nobody"`) {
		t.Fatalf("passwd unknown: exit %d %s", r.code, r.stderr)
	}

	out = h.ok("user", "disable", "--username", "alice")
	if !strings.Contains(out, `Disabled user "alice" and revoked 0 families.`) {
		t.Fatalf("disable said %q", out)
	}
	users := decode[[]userView](t, h.ok("user", "list", "--json"))
	if len(users) != 1 || users[0].Username != "alice" || !users[0].Disabled || users[0].TokensValidAfter == "" {
		t.Fatalf("user list --json = %+v", users)
	}
	h.ok("user", "enable", "--username", "alice")
	if out := h.ok("user", "list"); !strings.Contains(out, "alice") || !strings.Contains(out, "enabled") {
		t.Fatalf("user list:\n%s", out)
	}
}

// TestUserCreateEmail: --email is stored, marked verified unless
// --email-verified=false says otherwise, shown by user list, and a
// malformed address is a usage error that creates nobody.
func TestUserCreateEmail(t *testing.T) {
	h := newHarness(t)
	ctx := context.Background()
	out := h.ok("user", "create", "--username", "alice", "--password", "correct horse", "--email", "Alice@Example.COM")
	if !strings.Contains(out, "email Alice@example.com, verified") {
		t.Fatalf("create said %q", out)
	}
	h.ok("user", "create", "--username", "bob", "--password", "correct horse", "--email", "bob@example.com", "--email-verified=false")
	st := h.store()
	if u, err := st.GetUserByUsername(ctx, "alice"); err != nil || u.Email != "Alice@example.com" || !u.EmailVerified {
		t.Fatalf("alice stored as %+v, %v", u, err)
	}
	if u, err := st.GetUserByUsername(ctx, "bob"); err != nil || u.Email != "bob@example.com" || u.EmailVerified {
		t.Fatalf("bob stored as %+v, %v", u, err)
	}
	list := decode[[]userView](t, h.ok("user", "list", "--json"))
	if len(list) != 2 || list[0].Email != "Alice@example.com" || !list[0].EmailVerified || list[1].EmailVerified {
		t.Fatalf("list --json = %+v", list)
	}
	if out := h.ok("user", "list"); !strings.Contains(out, "EMAIL") || !strings.Contains(out, "bob@example.com (unverified)") {
		t.Fatalf("user list:\n%s", out)
	}
	if r := h.run("", "user", "create", "--username", "carol", "--password", "correct horse", "--email", "carol.example.com"); r.code != 2 || !strings.Contains(r.stderr, "one @") {
		t.Fatalf("a malformed address: exit %d %s", r.code, r.stderr)
	}
	if r := h.run("", "user", "create", "--username", "carol", "--password", "correct horse", "--email-verified"); r.code != 2 {
		t.Fatalf("--email-verified without --email: exit %d %s", r.code, r.stderr)
	}
	if _, err := st.GetUserByUsername(ctx, "carol"); err == nil {
		t.Fatal("a refused user was created")
	}
}
