package storetest

import (
	"context"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rotor-auth/rotor/internal/store"
)

// noHash fails if err's text shows hash in any spelling a message might
// use: raw, hex or base64. Hashes of codes and cookies never appear in
// errors, which end up in logs.
func noHash(t *testing.T, err error, hash []byte) {
	t.Helper()
	if err == nil {
		return
	}
	msg := err.Error()
	for _, s := range []string{string(hash), hex.EncodeToString(hash), base64.StdEncoding.EncodeToString(hash),
		base64.RawURLEncoding.EncodeToString(hash), fmt.Sprint(hash)} {
		if strings.Contains(msg, s) {
			t.Fatalf("error %q shows the hash", msg)
		}
	}
}

// authCode returns a code of client app, expiring at expires.
func authCode(hash string, expires time.Time) *store.AuthCode {
	return &store.AuthCode{Hash: []byte(hash), ClientID: "app", RedirectURI: "https://app.example/cb",
		Scopes: []string{"openid"}, CodeChallenge: "challenge", Subject: "u1", CreatedAt: at(0), ExpiresAt: expires}
}

func testAuthCodes(t *testing.T, st store.Store) {
	ctx := context.Background()
	full := &store.AuthCode{Hash: []byte("hash-full-0123456789abcdef"), ClientID: "app", RedirectURI: "https://app.example/cb",
		Scopes: []string{"openid", "email"}, Audiences: []string{"https://api.example"}, Nonce: "n-1",
		CodeChallenge: "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM", DPoPJKT: "jkt", Subject: "u1", SessionID: "s1",
		AuthTime: at(-time.Minute), CreatedAt: at(0), ExpiresAt: at(time.Minute)}
	bare := authCode("hash-bare", at(time.Minute))
	bare.Scopes = nil
	check(t, st.CreateAuthCode(ctx, full))
	check(t, st.CreateAuthCode(ctx, bare))

	for _, tc := range []struct {
		name string
		want *store.AuthCode
	}{
		{"every field round-trips", full},
		{"empty fields stay empty", bare},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := st.LockAuthCode(ctx, tc.want.Hash)
			check(t, err)
			equal(t, "code", got, tc.want)
			if got.Used() {
				t.Fatal("a new code reads back as used")
			}
		})
	}
	if got, _ := st.LockAuthCode(ctx, bare.Hash); got.Scopes != nil || got.Audiences != nil || !got.AuthTime.IsZero() || !got.UsedAt.IsZero() {
		t.Fatalf("nil or zero fields came back set: %+v", got)
	}

	t.Run("a second code with the same hash conflicts, and the error does not show the hash", func(t *testing.T) {
		err := st.CreateAuthCode(ctx, authCode(string(full.Hash), at(time.Hour)))
		wantIs(t, err, store.ErrConflict)
		noHash(t, err, full.Hash)
	})
	t.Run("an unknown hash is not found", func(t *testing.T) {
		_, err := st.LockAuthCode(ctx, []byte("hash-ghost"))
		wantIs(t, err, store.ErrNotFound)
		noHash(t, err, []byte("hash-ghost"))
		err = st.UpdateAuthCode(ctx, authCode("hash-ghost", at(0)))
		wantIs(t, err, store.ErrNotFound)
		noHash(t, err, []byte("hash-ghost"))
	})
	t.Run("UpdateAuthCode writes UsedAt, FamilyID and AccessTokenID only", func(t *testing.T) {
		want := *full
		want.UsedAt, want.FamilyID, want.AccessTokenID = at(10*time.Second), "fam-1", "jti-1"
		changed := want
		changed.ClientID, changed.Scopes, changed.Subject, changed.ExpiresAt = "other", []string{"admin"}, "u2", at(time.Hour)
		check(t, st.UpdateAuthCode(ctx, &changed))
		got, err := st.LockAuthCode(ctx, full.Hash)
		check(t, err)
		equal(t, "redeemed code", got, &want)
		if !got.Used() {
			t.Fatal("a redeemed code reads back as unused")
		}
	})
}

func testDeleteExpiredAuthCodes(t *testing.T, st store.Store) {
	ctx := context.Background()
	for i := range 5 {
		check(t, st.CreateAuthCode(ctx, authCode(fmt.Sprint("old-", i), at(time.Duration(i)*time.Second))))
	}
	check(t, st.CreateAuthCode(ctx, authCode("at-cutoff", at(time.Minute))))
	used := authCode("used-later", at(time.Hour))
	used.UsedAt = at(time.Second)
	check(t, st.CreateAuthCode(ctx, used))
	check(t, st.CreateAuthCode(ctx, authCode("live", at(time.Minute+time.Microsecond))))

	for _, tc := range []struct {
		name  string
		limit int
		want  int
	}{
		{"the first batch stops at the limit", 4, 4},
		{"the second takes the rest, the code expiring at the cutoff included", 4, 2},
		{"nothing is left to delete", 4, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			n, err := st.DeleteExpiredAuthCodes(ctx, at(time.Minute), tc.limit)
			check(t, err)
			if n != tc.want {
				t.Fatalf("deleted %d, want %d", n, tc.want)
			}
		})
	}
	for _, h := range []string{"used-later", "live"} {
		if _, err := st.LockAuthCode(ctx, []byte(h)); err != nil {
			t.Fatalf("%s, expiring after the cutoff: %v", h, err)
		}
	}
	_, err := st.LockAuthCode(ctx, []byte("at-cutoff"))
	wantIs(t, err, store.ErrNotFound)
}

// session returns a live session of subject, last seen at seen.
func session(id, subject string, seen time.Time) *store.Session {
	return &store.Session{ID: id, Hash: []byte("cookie-" + id), Subject: subject, AuthTime: at(0), CreatedAt: at(0),
		LastSeenAt: seen, ExpiresAt: at(24 * time.Hour), AbsoluteExpiresAt: at(48 * time.Hour)}
}

func testSessions(t *testing.T, st store.Store) {
	ctx := context.Background()
	full := &store.Session{ID: "s-full", Hash: []byte("cookie-hash-0123456789abcdef"), Subject: "u1", AuthTime: at(time.Second),
		CreatedAt: at(0), LastSeenAt: at(time.Minute), ExpiresAt: at(time.Hour), AbsoluteExpiresAt: at(2 * time.Hour),
		IP: "192.0.2.1", UserAgent: "ua/1"}
	bare := &store.Session{ID: "s-bare", Hash: []byte("cookie-bare"), Subject: "u2"}
	check(t, st.CreateSession(ctx, full))
	check(t, st.CreateSession(ctx, bare))

	for _, tc := range []struct {
		name string
		want *store.Session
	}{
		{"every field round-trips", full},
		{"empty fields stay empty", bare},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := st.GetSession(ctx, tc.want.ID)
			check(t, err)
			equal(t, "session by id", got, tc.want)
			got, err = st.GetSessionByHash(ctx, tc.want.Hash)
			check(t, err)
			equal(t, "session by hash", got, tc.want)
			if got.Ended() {
				t.Fatal("a new session reads back as ended")
			}
		})
	}

	for _, tc := range []struct {
		name string
		s    *store.Session
	}{
		{"a second session with the same id conflicts", &store.Session{ID: "s-full", Hash: []byte("cookie-other"), Subject: "u3"}},
		{"a second session with the same hash conflicts", &store.Session{ID: "s-other", Hash: full.Hash, Subject: "u3"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := st.CreateSession(ctx, tc.s)
			wantIs(t, err, store.ErrConflict)
			noHash(t, err, tc.s.Hash)
		})
	}
	if _, err := st.GetSession(ctx, "s-other"); err == nil {
		t.Fatal("a session refused for its hash was stored")
	}

	t.Run("an unknown id or hash is not found", func(t *testing.T) {
		_, err := st.GetSession(ctx, "s-ghost")
		wantIs(t, err, store.ErrNotFound)
		_, err = st.GetSessionByHash(ctx, []byte("cookie-ghost"))
		wantIs(t, err, store.ErrNotFound)
		noHash(t, err, []byte("cookie-ghost"))
		wantIs(t, st.UpdateSession(ctx, session("s-ghost", "u1", at(0))), store.ErrNotFound)
	})

	t.Run("UpdateSession writes the mutable fields and keeps the rest", func(t *testing.T) {
		want := *full
		want.AuthTime, want.LastSeenAt, want.ExpiresAt = at(30*time.Minute), at(31*time.Minute), at(90*time.Minute)
		want.IP, want.UserAgent, want.EndedAt, want.EndReason = "192.0.2.2", "ua/2", at(32*time.Minute), "logout"
		changed := want
		changed.Hash, changed.Subject, changed.CreatedAt, changed.AbsoluteExpiresAt = []byte("cookie-new"), "u9", at(time.Hour), at(9*time.Hour)
		check(t, st.UpdateSession(ctx, &changed))
		got, err := st.GetSession(ctx, full.ID)
		check(t, err)
		equal(t, "updated session", got, &want)
		if !got.Ended() {
			t.Fatal("an ended session reads back as live")
		}
		if _, err := st.GetSessionByHash(ctx, []byte("cookie-new")); err == nil {
			t.Fatal("UpdateSession changed the hash")
		}
	})

	t.Run("an ended session stays ended when a stale copy is written", func(t *testing.T) {
		s := session("s-sticky", "u1", at(0))
		check(t, st.CreateSession(ctx, s))
		stale := *s // read before the logout
		ended := *s
		ended.EndedAt, ended.EndReason = at(time.Minute), "logout"
		check(t, st.UpdateSession(ctx, &ended))
		stale.LastSeenAt, stale.ExpiresAt = at(2*time.Minute), at(25*time.Hour)
		check(t, st.UpdateSession(ctx, &stale))
		got, err := st.GetSession(ctx, s.ID)
		check(t, err)
		if !got.Ended() || !got.EndedAt.Equal(at(time.Minute)) || got.EndReason != "logout" {
			t.Fatalf("after a stale touch: ended %v at %v reason %q, want the logout kept", got.Ended(), got.EndedAt, got.EndReason)
		}
		if !got.LastSeenAt.Equal(at(2 * time.Minute)) {
			t.Fatalf("the touch's own fields were not written: %v", got.LastSeenAt)
		}
		again := ended
		again.EndedAt, again.EndReason = at(time.Hour), "admin"
		check(t, st.UpdateSession(ctx, &again))
		got, err = st.GetSession(ctx, s.ID)
		check(t, err)
		if !got.EndedAt.Equal(at(time.Minute)) || got.EndReason != "logout" {
			t.Fatalf("a second end replaced the first: %v %q", got.EndedAt, got.EndReason)
		}
	})

	t.Run("LockSession reads the session, or not found", func(t *testing.T) {
		got, err := st.LockSession(ctx, "s-bare")
		check(t, err)
		equal(t, "session read by LockSession", got, bare)
		err = st.Tx(ctx, func(tx store.Tx) error {
			got, err := tx.LockSession(ctx, "s-bare")
			if err != nil {
				return err
			}
			equal(t, "locked session", got, bare)
			_, err = tx.LockSession(ctx, "s-ghost")
			wantIs(t, err, store.ErrNotFound)
			return nil
		})
		check(t, err)
	})
}

func testListSessions(t *testing.T, st store.Store) {
	ctx := context.Background()
	ended := session("ended", "alice", at(9*time.Minute))
	ended.EndedAt, ended.EndReason = at(10*time.Minute), "logout"
	idle := session("idle", "alice", at(8*time.Minute))
	idle.ExpiresAt = at(time.Hour)
	abs := session("absolute", "alice", at(7*time.Minute))
	abs.AbsoluteExpiresAt = at(time.Hour)
	for _, s := range []*store.Session{
		session("older", "alice", at(time.Minute)), session("newest", "alice", at(5*time.Minute)),
		session("middle", "alice", at(3*time.Minute)), session("bobs", "bob", at(6*time.Minute)), ended, idle, abs,
	} {
		check(t, st.CreateSession(ctx, s))
	}
	ids := func(ss []store.Session) []string {
		var out []string
		for _, s := range ss {
			out = append(out, s.ID)
		}
		return out
	}
	for _, tc := range []struct {
		name    string
		subject string
		now     time.Time
		want    []string
	}{
		{"ended and expired sessions are left out, the most recently seen first", "alice", at(time.Hour),
			[]string{"newest", "middle", "older"}},
		{"before they expire the expired ones are listed", "alice", at(time.Hour - time.Microsecond),
			[]string{"idle", "absolute", "newest", "middle", "older"}},
		{"another user's sessions are not listed", "bob", at(time.Hour), []string{"bobs"}},
		{"a user without sessions has none", "carol", at(0), nil},
		{"after every expiry nothing is live", "alice", at(48 * time.Hour), nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := st.ListSessions(ctx, tc.subject, tc.now)
			check(t, err)
			if !slices.Equal(ids(got), tc.want) {
				t.Fatalf("ListSessions(%s, %v) = %v, want %v", tc.subject, tc.now, ids(got), tc.want)
			}
		})
	}
	got, err := st.ListSessions(ctx, "bob", at(0))
	check(t, err)
	want, _ := st.GetSession(ctx, "bobs")
	equal(t, "listed session", &got[0], want)
}

func testDeleteExpiredSessions(t *testing.T, st store.Store) {
	ctx := context.Background()
	cutoff := at(time.Hour)
	ended := session("ended", "u", at(0))
	ended.EndedAt = at(time.Minute)
	idle := session("idle", "u", at(0))
	idle.ExpiresAt = cutoff
	abs := session("absolute", "u", at(0))
	abs.AbsoluteExpiresAt = at(30 * time.Minute)
	endedLater := session("ended-later", "u", at(0))
	endedLater.EndedAt = cutoff.Add(time.Microsecond)
	for _, s := range []*store.Session{ended, idle, abs, endedLater, session("live", "u", at(0))} {
		check(t, st.CreateSession(ctx, s))
	}
	for _, tc := range []struct {
		name  string
		limit int
		want  int
	}{
		{"the first batch stops at the limit", 2, 2},
		{"the second takes the ended, idle-expired (at the cutoff) and absolute-expired rest", 2, 1},
		{"nothing is left to delete", 2, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			n, err := st.DeleteExpiredSessions(ctx, cutoff, tc.limit)
			check(t, err)
			if n != tc.want {
				t.Fatalf("deleted %d, want %d", n, tc.want)
			}
		})
	}
	for id, kept := range map[string]bool{"ended": false, "idle": false, "absolute": false, "ended-later": true, "live": true} {
		_, err := st.GetSession(ctx, id)
		if kept && err != nil {
			t.Errorf("%s should be kept: %v", id, err)
		}
		if !kept && err == nil {
			t.Errorf("%s should be deleted", id)
		}
	}
}

func testConsents(t *testing.T, st store.Store) {
	ctx := context.Background()
	_, err := st.GetConsent(ctx, "alice", "web")
	wantIs(t, err, store.ErrNotFound)

	first := &store.Consent{Subject: "alice", ClientID: "web", Scopes: []string{"openid"}, GrantedAt: at(0)}
	check(t, st.PutConsent(ctx, first))
	got, err := st.GetConsent(ctx, "alice", "web")
	check(t, err)
	equal(t, "consent", got, first)

	wider := &store.Consent{Subject: "alice", ClientID: "web", Scopes: []string{"openid", "email"}, GrantedAt: at(time.Hour)}
	check(t, st.PutConsent(ctx, wider))
	got, err = st.GetConsent(ctx, "alice", "web")
	check(t, err)
	equal(t, "replaced consent", got, wider)

	bare := &store.Consent{Subject: "bob", ClientID: "web"}
	check(t, st.PutConsent(ctx, bare))
	got, err = st.GetConsent(ctx, "bob", "web")
	check(t, err)
	if got.Scopes != nil || !got.GrantedAt.IsZero() {
		t.Fatalf("empty consent came back with %+v", got)
	}
	_, err = st.GetConsent(ctx, "alice", "cli")
	wantIs(t, err, store.ErrNotFound)
}

func testDeleteConsents(t *testing.T, st store.Store) {
	ctx := context.Background()
	all := [][2]string{{"alice", "web"}, {"alice", "cli"}, {"bob", "web"}, {"bob", "cli"}, {"carol", "tv"}}
	for _, tc := range []struct {
		name            string
		subject, client string
		deleted         int
		gone            [][2]string
	}{
		{"by subject and client", "alice", "web", 1, [][2]string{{"alice", "web"}}},
		{"by subject: every client", "bob", "", 2, [][2]string{{"bob", "web"}, {"bob", "cli"}}},
		{"by client: every subject", "", "cli", 2, [][2]string{{"alice", "cli"}, {"bob", "cli"}}},
		{"nothing matches", "dave", "", 0, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			for _, k := range all {
				check(t, st.PutConsent(ctx, &store.Consent{Subject: k[0], ClientID: k[1], Scopes: []string{"openid"}, GrantedAt: at(0)}))
			}
			n, err := st.DeleteConsents(ctx, tc.subject, tc.client)
			check(t, err)
			if n != tc.deleted {
				t.Fatalf("deleted %d, want %d", n, tc.deleted)
			}
			for _, k := range all {
				_, err := st.GetConsent(ctx, k[0], k[1])
				if slices.Contains(tc.gone, k) {
					wantIs(t, err, store.ErrNotFound)
				} else if err != nil {
					t.Fatalf("consent %v should be kept: %v", k, err)
				}
			}
		})
	}
	t.Run("both keys empty is refused and deletes nothing", func(t *testing.T) {
		if _, err := st.DeleteConsents(ctx, "", ""); err == nil {
			t.Fatal("an empty subject and client must be refused, not delete every consent")
		}
		for _, k := range all {
			if _, err := st.GetConsent(ctx, k[0], k[1]); err != nil {
				t.Fatalf("consent %v: %v", k, err)
			}
		}
	})
}

// testFamiliesBySession: ListFamilies and RevokeFamilies select by
// SessionID, alone or with the other keys.
func testFamiliesBySession(t *testing.T, st store.Store) {
	ctx := context.Background()
	mk := func(id, subject, client, sid string) *store.Family {
		f := family(id, subject, client, at(0))
		f.SessionID = sid
		return f
	}
	for _, f := range []*store.Family{
		mk("s1-web", "alice", "web", "s1"), mk("s1-cli", "alice", "cli", "s1"), mk("s2-web", "alice", "web", "s2"),
		mk("none-web", "alice", "web", ""), mk("bob-s3", "bob", "web", "s3"),
	} {
		check(t, st.CreateFamily(ctx, f))
	}
	ids := func(fs []store.Family) []string {
		var out []string
		for _, f := range fs {
			out = append(out, f.ID)
		}
		slices.Sort(out)
		return out
	}
	for _, tc := range []struct {
		name   string
		filter store.FamilyFilter
		want   []string
	}{
		{"by session", store.FamilyFilter{SessionID: "s1"}, []string{"s1-cli", "s1-web"}},
		{"by session and client", store.FamilyFilter{SessionID: "s1", ClientID: "web"}, []string{"s1-web"}},
		{"by session and another user's subject", store.FamilyFilter{SessionID: "s1", Subject: "bob"}, nil},
		{"an unknown session", store.FamilyFilter{SessionID: "ghost"}, nil},
	} {
		t.Run("ListFamilies "+tc.name, func(t *testing.T) {
			got, err := st.ListFamilies(ctx, tc.filter)
			check(t, err)
			if !slices.Equal(ids(got), tc.want) {
				t.Fatalf("%v, want %v", ids(got), tc.want)
			}
		})
	}
	for _, tc := range []struct {
		name   string
		filter store.FamilyFilter
		want   []string
	}{
		{"by session and client", store.FamilyFilter{SessionID: "s1", ClientID: "cli"}, []string{"s1-cli"}},
		{"by session alone, the already revoked left out", store.FamilyFilter{SessionID: "s1"}, []string{"s1-web"}},
		{"by session alone, others' families untouched", store.FamilyFilter{SessionID: "s3"}, []string{"bob-s3"}},
	} {
		t.Run("RevokeFamilies "+tc.name, func(t *testing.T) {
			got, err := st.RevokeFamilies(ctx, tc.filter, "logout", at(time.Hour))
			check(t, err)
			slices.Sort(got)
			if !slices.Equal(got, tc.want) {
				t.Fatalf("%v, want %v", got, tc.want)
			}
		})
	}
	for id, revoked := range map[string]bool{"s1-web": true, "s1-cli": true, "bob-s3": true, "s2-web": false, "none-web": false} {
		f, err := st.GetFamily(ctx, id)
		check(t, err)
		if f.Revoked() != revoked || (revoked && f.RevokeReason != "logout") {
			t.Errorf("%s: revoked=%v reason=%q, want revoked=%v", id, f.Revoked(), f.RevokeReason, revoked)
		}
	}
}

// testConcurrentLockAuthCodeOneWinner: of concurrent redemptions of one
// code under LockAuthCode, exactly one finds it unused; every other one
// waits for it and then sees its redemption. Each redemption reads the
// client between the lock and the write, as the token endpoint does, and
// the race is run over several codes, so that a LockAuthCode that does
// not lock loses it with near certainty.
func testConcurrentLockAuthCodeOneWinner(t *testing.T, st store.Store) {
	ctx := context.Background()
	check(t, st.CreateClient(ctx, &store.Client{ID: "app", Public: true, CreatedAt: at(0), UpdatedAt: at(0)}))
	const rounds = 8
	for r := range rounds {
		code := authCode(fmt.Sprint("race-code-", r), at(time.Minute))
		check(t, st.CreateAuthCode(ctx, code))
		var (
			mu      sync.Mutex
			winners []int
			losers  []string
		)
		for _, err := range parallel(workers, func(i int) error {
			var (
				won  bool
				seen string
			)
			err := st.Tx(ctx, func(tx store.Tx) error {
				won, seen = false, ""
				c, err := tx.LockAuthCode(ctx, code.Hash)
				if err != nil {
					return err
				}
				if c.Used() {
					seen = c.FamilyID
					return nil
				}
				if _, err := tx.ShareClient(ctx, c.ClientID); err != nil {
					return err
				}
				c.UsedAt, c.FamilyID, c.AccessTokenID = at(time.Second), fmt.Sprint("fam-", i), fmt.Sprint("jti-", i)
				if err := tx.UpdateAuthCode(ctx, c); err != nil {
					return err
				}
				won = true
				return nil
			})
			mu.Lock()
			defer mu.Unlock()
			if err == nil && won {
				winners = append(winners, i)
			} else if err == nil {
				losers = append(losers, seen)
			}
			return err
		}) {
			check(t, err)
		}
		if len(winners) != 1 {
			t.Fatalf("round %d: %d transactions found the code unused and redeemed it; LockAuthCode must let exactly one", r, len(winners))
		}
		want := fmt.Sprint("fam-", winners[0])
		for _, seen := range losers {
			if seen != want {
				t.Fatalf("round %d: a later redemption saw family %q, want the winner's %q", r, seen, want)
			}
		}
		got, err := st.LockAuthCode(ctx, code.Hash)
		check(t, err)
		if got.FamilyID != want || got.AccessTokenID != fmt.Sprint("jti-", winners[0]) {
			t.Fatalf("round %d: stored redemption %q/%q, want the winner's", r, got.FamilyID, got.AccessTokenID)
		}
	}
}
