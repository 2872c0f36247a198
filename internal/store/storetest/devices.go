package storetest

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/rotor-auth/rotor/internal/store"
)

// deviceCode returns a pending request of client, expiring at expires;
// its user code's hash is derived from hash.
func deviceCode(hash, client string, expires time.Time) *store.DeviceCode {
	return &store.DeviceCode{Hash: []byte(hash), UserCodeHash: []byte("user-" + hash), ClientID: client,
		Scopes: []string{"openid"}, CreatedAt: at(0), ExpiresAt: expires, Interval: 5 * time.Second,
		Status: store.DevicePending}
}

func testDeviceCodes(t *testing.T, st store.Store) {
	ctx := context.Background()
	full := &store.DeviceCode{Hash: []byte("device-hash-full-0123456789abcdef"), UserCodeHash: []byte("user-hash-full-0123456789abcdef"),
		ClientID: "tv", Scopes: []string{"openid", "offline_access"}, Audiences: []string{"https://api.example"},
		CreatedAt: at(0), ExpiresAt: at(10 * time.Minute), Interval: 5*time.Second + 250*time.Millisecond,
		LastPolledAt: at(10 * time.Second), Status: store.DeviceApproved, Subject: "u1", SessionID: "s1",
		AuthTime: at(-time.Minute), IP: "192.0.2.1", UserAgent: "tv/1", UsedAt: at(20 * time.Second),
		FamilyID: "fam-1", AccessTokenID: "jti-1"}
	bare := &store.DeviceCode{Hash: []byte("device-bare"), UserCodeHash: []byte("user-bare"), ClientID: "tv"}
	check(t, st.CreateDeviceCode(ctx, full))
	check(t, st.CreateDeviceCode(ctx, bare))

	for _, tc := range []struct {
		name string
		want *store.DeviceCode
	}{
		{"every field round-trips", full},
		{"empty fields stay empty", bare},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := st.LockDeviceCode(ctx, tc.want.Hash)
			check(t, err)
			equal(t, "device code", got, tc.want)
			got, err = st.LockDeviceCodeByUserCode(ctx, tc.want.UserCodeHash)
			check(t, err)
			equal(t, "device code by user code", got, tc.want)
		})
	}
	if got, _ := st.LockDeviceCode(ctx, bare.Hash); got.Scopes != nil || got.Audiences != nil || got.Interval != 0 ||
		!got.CreatedAt.IsZero() || !got.ExpiresAt.IsZero() || !got.LastPolledAt.IsZero() || !got.AuthTime.IsZero() ||
		!got.UsedAt.IsZero() || got.Status != "" {
		t.Fatalf("nil or zero fields came back set: %+v", got)
	}

	for _, tc := range []struct {
		name string
		d    *store.DeviceCode
		hash []byte // the hash that collides
	}{
		{"a second request with the same device code hash conflicts",
			&store.DeviceCode{Hash: full.Hash, UserCodeHash: []byte("user-hash-other"), ClientID: "tv"}, full.Hash},
		{"a second request with the same user code hash conflicts",
			&store.DeviceCode{Hash: []byte("device-hash-other"), UserCodeHash: full.UserCodeHash, ClientID: "tv"}, full.UserCodeHash},
	} {
		t.Run(tc.name+", and the error does not show the hash", func(t *testing.T) {
			err := st.CreateDeviceCode(ctx, tc.d)
			wantIs(t, err, store.ErrConflict)
			noHash(t, err, tc.hash)
		})
	}
	if _, err := st.LockDeviceCode(ctx, []byte("device-hash-other")); err == nil {
		t.Fatal("a request refused for its user code was stored")
	}
	if _, err := st.LockDeviceCodeByUserCode(ctx, []byte("user-hash-other")); err == nil {
		t.Fatal("a request refused for its device code was stored")
	}

	t.Run("an unknown hash is not found, and the error does not show it", func(t *testing.T) {
		ghost := deviceCode("device-ghost", "tv", at(time.Minute))
		_, err := st.LockDeviceCode(ctx, ghost.Hash)
		wantIs(t, err, store.ErrNotFound)
		noHash(t, err, ghost.Hash)
		_, err = st.LockDeviceCodeByUserCode(ctx, ghost.UserCodeHash)
		wantIs(t, err, store.ErrNotFound)
		noHash(t, err, ghost.UserCodeHash)
		err = st.UpdateDeviceCode(ctx, ghost)
		wantIs(t, err, store.ErrNotFound)
		noHash(t, err, ghost.Hash)
	})

	t.Run("UpdateDeviceCode writes the listed fields only", func(t *testing.T) {
		want := *bare
		want.Interval, want.LastPolledAt, want.Status = 10*time.Second, at(time.Minute), store.DeviceApproved
		want.Subject, want.SessionID, want.AuthTime = "u2", "s2", at(30*time.Second)
		want.UsedAt, want.FamilyID, want.AccessTokenID = at(2*time.Minute), "fam-2", "jti-2"
		changed := want
		changed.UserCodeHash, changed.ClientID, changed.Scopes, changed.Audiences = []byte("user-new"), "other", []string{"admin"}, []string{"https://evil.example"}
		changed.CreatedAt, changed.ExpiresAt, changed.IP, changed.UserAgent = at(time.Hour), at(2*time.Hour), "198.51.100.9", "evil/1"
		check(t, st.UpdateDeviceCode(ctx, &changed))
		got, err := st.LockDeviceCode(ctx, bare.Hash)
		check(t, err)
		equal(t, "updated device code", got, &want)
		if _, err := st.LockDeviceCodeByUserCode(ctx, []byte("user-new")); err == nil {
			t.Fatal("UpdateDeviceCode changed the user code's hash")
		}
		got, err = st.LockDeviceCodeByUserCode(ctx, bare.UserCodeHash)
		check(t, err)
		equal(t, "updated device code by user code", got, &want)
	})
}

func testCountPendingDeviceCodes(t *testing.T, st store.Store) {
	ctx := context.Background()
	now := at(time.Minute)
	approved := deviceCode("approved", "tv", at(time.Hour))
	approved.Status = store.DeviceApproved
	denied := deviceCode("denied", "tv", at(time.Hour))
	denied.Status = store.DeviceDenied
	for _, d := range []*store.DeviceCode{
		deviceCode("pending-1", "tv", at(time.Hour)), deviceCode("pending-2", "tv", now.Add(time.Microsecond)),
		deviceCode("expired-at-now", "tv", now), deviceCode("expired", "tv", at(time.Second)),
		approved, denied, deviceCode("other-client", "cli", at(time.Hour)),
	} {
		check(t, st.CreateDeviceCode(ctx, d))
	}
	for _, tc := range []struct {
		name   string
		client string
		now    time.Time
		want   int
	}{
		{"approved, denied, expired and other clients' requests are not counted", "tv", now, 2},
		{"a request expiring just after now is counted until then", "tv", now.Add(-time.Microsecond), 3},
		{"after every expiry nothing is pending", "tv", at(time.Hour), 0},
		{"another client counts its own", "cli", now, 1},
		{"a client without requests has none", "ghost", now, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			n, err := st.CountPendingDeviceCodes(ctx, tc.client, tc.now)
			check(t, err)
			if n != tc.want {
				t.Fatalf("CountPendingDeviceCodes(%s, %v) = %d, want %d", tc.client, tc.now, n, tc.want)
			}
		})
	}
	t.Run("a request approved by UpdateDeviceCode is no longer counted", func(t *testing.T) {
		d, err := st.LockDeviceCode(ctx, []byte("pending-1"))
		check(t, err)
		d.Status, d.Subject = store.DeviceApproved, "u1"
		check(t, st.UpdateDeviceCode(ctx, d))
		n, err := st.CountPendingDeviceCodes(ctx, "tv", now)
		check(t, err)
		if n != 1 {
			t.Fatalf("%d pending after the approval, want 1", n)
		}
	})
}

func testDeleteExpiredDeviceCodes(t *testing.T, st store.Store) {
	ctx := context.Background()
	for i := range 5 {
		check(t, st.CreateDeviceCode(ctx, deviceCode(fmt.Sprint("old-", i), "tv", at(time.Duration(i)*time.Second))))
	}
	check(t, st.CreateDeviceCode(ctx, deviceCode("at-cutoff", "tv", at(time.Minute))))
	used := deviceCode("used-later", "tv", at(time.Hour))
	used.Status, used.UsedAt = store.DeviceApproved, at(time.Second)
	check(t, st.CreateDeviceCode(ctx, used))
	check(t, st.CreateDeviceCode(ctx, deviceCode("live", "tv", at(time.Minute+time.Microsecond))))

	for _, tc := range []struct {
		name  string
		limit int
		want  int
	}{
		{"the first batch stops at the limit", 4, 4},
		{"the second takes the rest, the request expiring at the cutoff included", 4, 2},
		{"nothing is left to delete", 4, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			n, err := st.DeleteExpiredDeviceCodes(ctx, at(time.Minute), tc.limit)
			check(t, err)
			if n != tc.want {
				t.Fatalf("deleted %d, want %d", n, tc.want)
			}
		})
	}
	for _, h := range []string{"used-later", "live"} {
		if _, err := st.LockDeviceCode(ctx, []byte(h)); err != nil {
			t.Fatalf("%s, expiring after the cutoff: %v", h, err)
		}
	}
	for _, h := range []string{"at-cutoff", "old-0", "old-4"} {
		_, err := st.LockDeviceCode(ctx, []byte(h))
		wantIs(t, err, store.ErrNotFound)
		// The user code of a deleted request is free again.
		_, err = st.LockDeviceCodeByUserCode(ctx, []byte("user-"+h))
		wantIs(t, err, store.ErrNotFound)
	}
}

func testEndSessions(t *testing.T, st store.Store) {
	ctx := context.Background()
	ended := session("ended", "alice", at(time.Minute))
	ended.EndedAt, ended.EndReason = at(2*time.Minute), "logout"
	expired := session("expired", "alice", at(time.Minute))
	expired.ExpiresAt = at(time.Hour)
	for _, s := range []*store.Session{
		session("live-2", "alice", at(time.Minute)), session("live-1", "alice", at(time.Minute)), ended, expired,
		session("bobs", "bob", at(time.Minute)),
	} {
		check(t, st.CreateSession(ctx, s))
	}
	t.Run("a zero time is refused and ends nothing", func(t *testing.T) {
		if _, err := st.EndSessions(ctx, "alice", "everywhere", time.Time{}); err == nil {
			t.Fatal("EndSessions with a zero time must be refused: the sessions would read back as live")
		}
		if s, err := st.GetSession(ctx, "live-1"); err != nil || s.Ended() {
			t.Fatalf("live-1 after a refused EndSessions: %+v, %v", s, err)
		}
	})
	t.Run("every session not ended of the user is ended, and their ids returned", func(t *testing.T) {
		ids, err := st.EndSessions(ctx, "alice", "sign_out_everywhere", at(3*time.Hour))
		check(t, err)
		slices.Sort(ids)
		if want := []string{"expired", "live-1", "live-2"}; !slices.Equal(ids, want) {
			t.Fatalf("EndSessions = %v, want %v", ids, want)
		}
	})
	for _, tc := range []struct {
		id     string
		ended  time.Time
		reason string
	}{
		{"live-1", at(3 * time.Hour), "sign_out_everywhere"},
		{"live-2", at(3 * time.Hour), "sign_out_everywhere"},
		{"expired", at(3 * time.Hour), "sign_out_everywhere"},
		{"ended", at(2 * time.Minute), "logout"},
		{"bobs", time.Time{}, ""},
	} {
		s, err := st.GetSession(ctx, tc.id)
		check(t, err)
		if !s.EndedAt.Equal(tc.ended) || s.EndReason != tc.reason {
			t.Errorf("%s: ended %v (%q), want %v (%q)", tc.id, s.EndedAt, s.EndReason, tc.ended, tc.reason)
		}
	}
	t.Run("a second call finds nothing left to end", func(t *testing.T) {
		ids, err := st.EndSessions(ctx, "alice", "again", at(4*time.Hour))
		check(t, err)
		if len(ids) != 0 {
			t.Fatalf("EndSessions again = %v, want none", ids)
		}
		if s, _ := st.GetSession(ctx, "live-1"); s.EndReason != "sign_out_everywhere" {
			t.Fatalf("a second EndSessions overwrote the end of live-1: %+v", s)
		}
	})
	t.Run("a user without sessions has none to end", func(t *testing.T) {
		ids, err := st.EndSessions(ctx, "carol", "x", at(time.Hour))
		check(t, err)
		if len(ids) != 0 {
			t.Fatalf("EndSessions(carol) = %v", ids)
		}
	})
}

// testConcurrentLockDeviceCode: concurrent transactions on one request,
// half locking it by its device code (polls) and half by its user code
// (the approval page), run one after the other: each adds a second to
// the interval and none is lost, and exactly one finds the request
// unused and spends it while every later one sees that. Each reads the
// client between the lock and the write, as the token endpoint does,
// and the race runs over several requests, so that a lock that does not
// hold loses it with near certainty.
func testConcurrentLockDeviceCode(t *testing.T, st store.Store) {
	ctx := context.Background()
	check(t, st.CreateClient(ctx, &store.Client{ID: "tv", Public: true, CreatedAt: at(0), UpdatedAt: at(0)}))
	const rounds = 4
	for r := range rounds {
		d := deviceCode(fmt.Sprint("race-device-", r), "tv", at(time.Minute))
		d.Status = store.DeviceApproved
		check(t, st.CreateDeviceCode(ctx, d))
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
				lock := func() (*store.DeviceCode, error) { return tx.LockDeviceCode(ctx, d.Hash) }
				if i%2 == 1 {
					lock = func() (*store.DeviceCode, error) { return tx.LockDeviceCodeByUserCode(ctx, d.UserCodeHash) }
				}
				c, err := lock()
				if err != nil {
					return err
				}
				if _, err := tx.ShareClient(ctx, c.ClientID); err != nil {
					return err
				}
				c.Interval += time.Second
				c.LastPolledAt = at(time.Duration(i) * time.Millisecond)
				if !c.UsedAt.IsZero() {
					seen = c.FamilyID
				} else {
					c.UsedAt, c.FamilyID, c.AccessTokenID = at(time.Second), fmt.Sprint("fam-", i), fmt.Sprint("jti-", i)
					won = true
				}
				return tx.UpdateDeviceCode(ctx, c)
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
			t.Fatalf("round %d: %d transactions found the request unused and spent it; the locks must let exactly one", r, len(winners))
		}
		want := fmt.Sprint("fam-", winners[0])
		for _, seen := range losers {
			if seen != want {
				t.Fatalf("round %d: a later transaction saw family %q, want the winner's %q", r, seen, want)
			}
		}
		got, err := st.LockDeviceCode(ctx, d.Hash)
		check(t, err)
		if got.FamilyID != want || got.AccessTokenID != fmt.Sprint("jti-", winners[0]) {
			t.Fatalf("round %d: stored %q/%q, want the winner's", r, got.FamilyID, got.AccessTokenID)
		}
		if wantInterval := d.Interval + workers*time.Second; got.Interval != wantInterval {
			t.Fatalf("round %d: interval %v after %d transactions each adding 1s to %v, want %v: an update was lost",
				r, got.Interval, workers, d.Interval, wantInterval)
		}
	}
}
