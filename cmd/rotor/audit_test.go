package main

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/rotor-auth/rotor/internal/secret"
	"github.com/rotor-auth/rotor/internal/store"
	"github.com/rotor-auth/rotor/internal/store/testdb"
)

func TestAuditTail(t *testing.T) {
	h := newHarness(t)
	h.ok("client", "create", "--id", "web", "--public", "--grant-types", "password,refresh_token", "--scopes", "read")
	h.ok("user", "create", "--username", "alice", "--password", "pw-long-enough")
	h.ok("user", "create", "--username", "bob", "--password", "pw-long-enough")
	ids := seedFamilies(t, h, 1, "alice/web", "bob/web") // family_created + access_token_issued each
	h.ok("revoke", "--family", ids[0])                   // family_revoked

	lines := strings.Split(strings.TrimSpace(h.ok("audit", "tail", "--json")), "\n")
	// client_created and two user_created, then the five above.
	if len(lines) != 8 {
		t.Fatalf("%d events, want 8:\n%s", len(lines), strings.Join(lines, "\n"))
	}
	var prev int64
	for _, l := range lines {
		var ev eventView
		if err := json.Unmarshal([]byte(l), &ev); err != nil {
			t.Fatalf("line is not JSON: %v\n%s", err, l)
		}
		if ev.ID <= prev || ev.Type == "" || ev.Time == "" {
			t.Fatalf("event out of order or incomplete: %+v", ev)
		}
		prev = ev.ID
	}
	last := decode[eventView](t, lines[7])
	if last.Type != "family_revoked" || last.Reason != "admin" || last.FamilyID != ids[0] || last.UserAgent != "rotor-cli" {
		t.Fatalf("last event %+v", last)
	}

	out := h.ok("audit", "tail", "-n", "2")
	got := strings.Split(strings.TrimSpace(out), "\n")
	if len(got) != 2 || !strings.Contains(got[1], "family_revoked") || !strings.Contains(got[1], "reason=admin") ||
		!strings.Contains(got[1], "family="+ids[0]) || !strings.Contains(got[1], "client=web") {
		t.Fatalf("audit tail -n 2:\n%s", out)
	}

	out = h.ok("audit", "tail", "--user", "bob", "--type", "family_created")
	if n := strings.Count(out, "\n"); n != 1 || !strings.Contains(out, "family="+ids[1]) {
		t.Fatalf("audit tail --user bob --type family_created:\n%s", out)
	}
	if out := h.ok("audit", "tail", "--family", ids[0], "--json"); strings.Count(out, "\n") != 3 {
		t.Fatalf("audit tail --family:\n%s", out)
	}
	if out := h.ok("audit", "tail", "-n", "0"); out != "" {
		t.Fatalf("audit tail -n 0 printed %q", out)
	}
}

// TestAuditTailFollow runs in a testing/synctest bubble: the command's
// poll ticker runs on fake time, and synctest.Wait tells when it has
// started following and when a poll has ended.
func TestAuditTailFollow(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := newHarness(t)
		h.ok("migrate")
		st := h.store()
		ctx := context.Background()
		if err := st.AppendEvents(ctx, &store.Event{Time: time.Now(), Type: "old_event"}); err != nil {
			t.Fatal(err)
		}

		var out, errb syncBuffer
		a := h.app("", &out, &errb)
		fctx, cancel := context.WithCancel(ctx)
		done := make(chan int)
		go func() { done <- a.execute(fctx, []string{"audit", "tail", "--follow", "--json", "--type", "wanted"}) }()

		synctest.Wait() // the command has read the trail and waits for its first poll
		for _, typ := range []string{"unwanted", "wanted", "wanted"} {
			if err := st.AppendEvents(ctx, &store.Event{Time: time.Now(), Type: typ, ClientID: "web"}); err != nil {
				t.Fatal(err)
			}
		}
		time.Sleep(a.followInterval) // fake time: one poll
		synctest.Wait()
		cancel()
		if code := <-done; code != 0 {
			t.Fatalf("exit %d: %s", code, errb.String())
		}
		lines := strings.Split(strings.TrimSpace(out.String()), "\n")
		if len(lines) != 2 {
			t.Fatalf("followed %d events, want the 2 wanted ones:\n%s", len(lines), out.String())
		}
		for _, l := range lines {
			if ev := decode[eventView](t, l); ev.Type != "wanted" {
				t.Fatalf("followed %+v", ev)
			}
		}
	})
}

// TestAuditTailFollowLateCommit: on PostgreSQL an event's id is taken at
// insert and seen at commit, so an event may appear after one with a
// higher id. --follow must still print it, once.
//
// The command runs in a testing/synctest bubble, its poll ticker on fake
// time; PostgreSQL is outside it, and synctest.Wait waits for a poll's
// queries to come back.
func TestAuditTailFollowLateCommit(t *testing.T) {
	dsn := testdb.PostgresDSN(t)
	synctest.Test(t, func(t *testing.T) {
		h := newHarness(t)
		h.env["ROTOR_DATABASE_URL"] = dsn
		h.env["ROTOR_MASTER_KEY"] = secret.EncodeMasterKey(secret.NewMasterKey())
		h.ok("migrate")
		st := h.store()
		ctx := context.Background()

		var out, errb syncBuffer
		a := h.app("", &out, &errb)
		fctx, cancel := context.WithCancel(ctx)
		done := make(chan int)
		go func() { done <- a.execute(fctx, []string{"audit", "tail", "--follow", "--json"}) }()
		synctest.Wait() // the command has read the trail and waits for its first poll
		poll := func() {
			time.Sleep(a.followInterval) // fake time
			synctest.Wait()
		}

		inserted, release := make(chan struct{}), make(chan struct{})
		txDone := make(chan error)
		go func() {
			txDone <- st.Tx(ctx, func(tx store.Tx) error {
				if err := tx.AppendEvents(ctx, &store.Event{Time: time.Now(), Type: "late"}); err != nil {
					return err
				}
				close(inserted)
				<-release
				return nil
			})
		}()
		<-inserted
		if err := st.AppendEvents(ctx, &store.Event{Time: time.Now(), Type: "early"}); err != nil {
			t.Fatal(err)
		}
		poll()
		close(release)
		if err := <-txDone; err != nil {
			t.Fatal(err)
		}
		poll()
		time.Sleep(30 * a.followInterval) // fake time: a few more polls, nothing printed twice
		synctest.Wait()
		cancel()
		if code := <-done; code != 0 {
			t.Fatalf("exit %d: %s", code, errb.String())
		}
		lines := strings.Split(strings.TrimSpace(out.String()), "\n")
		if len(lines) != 2 || decode[eventView](t, lines[0]).Type != "early" || decode[eventView](t, lines[1]).Type != "late" {
			t.Fatalf("followed:\n%s\nwant early, then the late commit, once each", out.String())
		}
	})
}
