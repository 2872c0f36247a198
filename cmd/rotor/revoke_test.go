package main

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/rotor-auth/rotor/internal/family"
	"github.com/rotor-auth/rotor/internal/store"
)

// seedFamilies creates, through the family service, n families for each
// (user, client) pair given as "user/client".
func seedFamilies(t *testing.T, h *harness, n int, pairs ...string) []string {
	t.Helper()
	ctx := context.Background()
	st := h.store()
	fs := family.New(st, h.secrets(), family.DefaultConfig(), time.Now, nil)
	var ids []string
	for _, p := range pairs {
		username, clientID, _ := strings.Cut(p, "/")
		u, err := st.GetUserByUsername(ctx, username)
		if err != nil {
			t.Fatal(err)
		}
		c, err := st.GetClient(ctx, clientID)
		if err != nil {
			t.Fatal(err)
		}
		for range n {
			g, err := fs.Create(ctx, family.CreateParams{Client: c, User: u, Scopes: []string{"read"}, AccessTokenID: "jti", Grant: "password"})
			if err != nil {
				t.Fatal(err)
			}
			ids = append(ids, g.Family.ID)
		}
	}
	return ids
}

func TestRevoke(t *testing.T) {
	h := newHarness(t)
	h.ok("client", "create", "--id", "web", "--public", "--grant-types", "password,refresh_token", "--scopes", "read")
	h.ok("client", "create", "--id", "tv", "--public", "--grant-types", "password,refresh_token", "--scopes", "read")
	h.ok("user", "create", "--username", "alice", "--password", "pw-long-enough")
	h.ok("user", "create", "--username", "bob", "--password", "pw-long-enough")
	ids := seedFamilies(t, h, 2, "alice/web", "alice/tv", "bob/web", "bob/tv")

	if out := h.ok("revoke", "--family", ids[0]); out != "Revoked 1 family.\n" {
		t.Fatalf("revoke --family said %q", out)
	}
	if out := h.ok("revoke", "--family", ids[0]); !strings.Contains(out, "Revoked 0 families.") || !strings.Contains(out, "already revoked") {
		t.Fatalf("second revoke --family said %q", out)
	}
	if out := h.ok("revoke", "--user", "alice"); out != "Revoked 3 families.\n" {
		t.Fatalf("revoke --user said %q", out)
	}
	res := decode[struct {
		Revoked  int      `json:"revoked"`
		Families []string `json:"families"`
	}](t, h.ok("revoke", "--client", "tv", "--json"))
	if res.Revoked != 2 || len(res.Families) != 2 {
		t.Fatalf("revoke --client --json = %+v, want bob's 2 tv families", res)
	}
	if out := h.ok("revoke", "--client", "web"); out != "Revoked 2 families.\n" {
		t.Fatalf("revoke --client said %q", out)
	}

	st := h.store()
	fams, err := st.ListFamilies(context.Background(), store.FamilyFilter{LiveOnly: true, Now: time.Now()})
	if err != nil || len(fams) != 0 {
		t.Fatalf("%d live families left (%v)", len(fams), err)
	}
	evs, err := st.ListEvents(context.Background(), store.EventFilter{Type: "family_revoked"})
	if err != nil || len(evs) != 8 {
		t.Fatalf("%d family_revoked events (%v), want 8", len(evs), err)
	}
	for _, e := range evs {
		if e.Reason != "admin" {
			t.Fatalf("revocation recorded with reason %q", e.Reason)
		}
	}

	for _, tt := range []struct{ args, want string }{
		{"--family nope", `no family with id "nope"`},
		{"--user carol", `no user named "carol"`},
	} {
		r := h.run("", append([]string{"revoke"}, strings.Fields(tt.args)...)...)
		if r.code != 1 || !strings.Contains(r.stderr, tt.want) {
			t.Errorf("revoke %s: exit %d, %s", tt.args, r.code, r.stderr)
		}
	}
	if out := h.ok("revoke", "--client", "gone"); out != fmt.Sprintf("Revoked %d families.\n", 0) {
		t.Fatalf("revoke --client of an unknown client said %q", out)
	}
}
