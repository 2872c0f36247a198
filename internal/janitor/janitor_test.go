package janitor

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/rotor-auth/rotor/internal/store"
	"github.com/rotor-auth/rotor/internal/store/testdb"
)

var t0 = time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)

func family(id int, abs time.Time) *store.Family {
	return &store.Family{
		ID: fmt.Sprintf("fam-%03d", id), ClientID: "app", Subject: "u1", Generation: 1,
		LiveHash: []byte("hash"), CreatedAt: abs.Add(-time.Hour), LastUsedAt: abs.Add(-time.Hour),
		ExpiresAt: abs, AbsoluteExpiresAt: abs,
	}
}

type fakeKeys struct{ n int }

func (k *fakeKeys) Collect(context.Context) (int, error) { return k.n, nil }

// seed fills st with expired and live rows of every kind the janitor
// touches, and returns how many of each should go.
func seed(t *testing.T, st store.Store) Stats {
	t.Helper()
	ctx := context.Background()
	want := Stats{Families: 7, GraceSeals: 3, Denials: 5, Events: 6, Codes: 3, Sessions: 2, DeviceCodes: 2}
	// Device codes: two expired longer than CodeKeep ago go, one stays.
	for i := range want.DeviceCodes + 1 {
		exp := t0.Add(-CodeKeep - time.Second)
		if i == want.DeviceCodes {
			exp = t0.Add(-time.Second)
		}
		d := &store.DeviceCode{Hash: []byte(fmt.Sprintf("device-hash-%02d-padding-to-32-by", i)), UserCodeHash: []byte(fmt.Sprintf("user-code-hash-%02d-padding-to-3", i)),
			ClientID: "app", Status: store.DevicePending, Interval: 5 * time.Second, CreatedAt: exp.Add(-10 * time.Minute), ExpiresAt: exp}
		if err := st.CreateDeviceCode(ctx, d); err != nil {
			t.Fatal(err)
		}
	}
	// Codes: three expired longer than CodeKeep ago go; one expired just
	// now stays, so that its reuse is still caught.
	for i := range want.Codes + 1 {
		exp := t0.Add(-CodeKeep - time.Second)
		if i == want.Codes {
			exp = t0.Add(-time.Second)
		}
		c := &store.AuthCode{Hash: []byte(fmt.Sprintf("code-hash-%02d-padding-to-32-byte", i)), ClientID: "app", Subject: "u1",
			RedirectURI: "https://app/cb", CodeChallenge: "c", CreatedAt: exp.Add(-time.Minute), ExpiresAt: exp}
		if err := st.CreateAuthCode(ctx, c); err != nil {
			t.Fatal(err)
		}
	}
	// Sessions: one ended, one idle-expired go; one live stays.
	for i, s := range []store.Session{
		{EndedAt: t0.Add(-time.Minute), ExpiresAt: t0.Add(time.Hour)},
		{ExpiresAt: t0.Add(-time.Minute)},
		{ExpiresAt: t0.Add(time.Hour)},
	} {
		s.ID, s.Hash, s.Subject = fmt.Sprintf("sess-%d", i), []byte(fmt.Sprintf("session-hash-%d-padding-to-32-by", i)), "u1"
		s.CreatedAt, s.AuthTime, s.LastSeenAt, s.AbsoluteExpiresAt = t0.Add(-2*time.Hour), t0.Add(-2*time.Hour), t0.Add(-2*time.Hour), t0.Add(24*time.Hour)
		if err := st.CreateSession(ctx, &s); err != nil {
			t.Fatal(err)
		}
	}
	for i := range want.Families {
		if err := st.CreateFamily(ctx, family(i, t0.Add(-time.Minute))); err != nil {
			t.Fatal(err)
		}
	}
	// Live families; the first three are inside a grace period that is
	// already over, the fourth inside one that is not.
	for i := 100; i < 104; i++ {
		f := family(i, t0.Add(24*time.Hour))
		if err := st.CreateFamily(ctx, f); err != nil {
			t.Fatal(err)
		}
		f.GraceSealed, f.GraceUntil = []byte("sealed"), t0.Add(-time.Second)
		if i == 103 {
			f.GraceUntil = t0.Add(time.Second)
		}
		f.Generation, f.PrevHash, f.RotatedAt = 2, []byte("prev"), t0.Add(-time.Minute)
		if err := st.UpdateFamily(ctx, f); err != nil {
			t.Fatal(err)
		}
	}
	for i := range want.Denials + 2 {
		exp := t0.Add(-time.Second)
		if i >= want.Denials {
			exp = t0.Add(time.Hour)
		}
		if err := st.Deny(ctx, store.Denial{Key: fmt.Sprintf("jti:%d", i), ExpiresAt: exp}); err != nil {
			t.Fatal(err)
		}
	}
	for i := range want.Events + 3 {
		at := t0.Add(-31 * 24 * time.Hour)
		if i >= want.Events {
			at = t0.Add(-time.Hour)
		}
		if err := st.AppendEvents(ctx, &store.Event{Time: at, Type: "token_rotated", FamilyID: "fam-100"}); err != nil {
			t.Fatal(err)
		}
	}
	return want
}

func TestOnce(t *testing.T) {
	testdb.Each(t, func(t *testing.T, st store.Store) {
		ctx := context.Background()
		want := seed(t, st)
		want.Keys = 2
		j := New(st, Options{
			AuditRetention: 30 * 24 * time.Hour,
			Keys:           &fakeKeys{n: 2},
			BatchSize:      2, // several batches per kind, the last one short
			Now:            func() time.Time { return t0 },
		})
		got, err := j.Once(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if got != want {
			t.Fatalf("first pass removed %+v, want %+v", got, want)
		}

		if n, err := st.CountFamilies(ctx); err != nil || n != 4 {
			t.Fatalf("%d families left (%v), want the 4 live ones", n, err)
		}
		for i := 100; i < 104; i++ {
			f, err := st.GetFamily(ctx, fmt.Sprintf("fam-%03d", i))
			if err != nil {
				t.Fatal(err)
			}
			if sealed := f.GraceSealed != nil; sealed != (i == 103) {
				t.Errorf("%s: sealed successor present = %v", f.ID, sealed)
			}
		}
		keys := []string{"jti:5", "jti:6"}
		if denied, err := st.Denied(ctx, keys, t0); err != nil || !denied {
			t.Fatalf("live deny-list entries were deleted (%v)", err)
		}
		evs, err := st.ListEvents(ctx, store.EventFilter{})
		if err != nil || len(evs) != 3 {
			t.Fatalf("%d events left (%v), want the 3 recent ones", len(evs), err)
		}

		again, err := j.Once(ctx)
		if err != nil || again != (Stats{Keys: 2}) {
			t.Fatalf("second pass removed %+v (%v), want nothing but keys", again, err)
		}
	})
}

func TestOnceKeepsEventsWithoutRetention(t *testing.T) {
	st := testdb.SQLite(t)
	seed(t, st)
	got, err := New(st, Options{Now: func() time.Time { return t0 }}).Once(context.Background())
	if err != nil || got.Events != 0 {
		t.Fatalf("removed %d events (%v) with no retention set", got.Events, err)
	}
}

// flaky fails DeleteExpiredFamilies on its first call.
type flaky struct {
	store.Store
	calls atomic.Int32
}

func (f *flaky) DeleteExpiredFamilies(ctx context.Context, now time.Time, limit int) (int, error) {
	if f.calls.Add(1) == 1 {
		return 0, errors.New("database is locked")
	}
	return f.Store.DeleteExpiredFamilies(ctx, now, limit)
}

func TestOnceGoesOnAfterAFailure(t *testing.T) {
	st := &flaky{Store: testdb.SQLite(t)}
	want := seed(t, st)
	got, err := New(st, Options{AuditRetention: time.Hour, Now: func() time.Time { return t0 }}).Once(context.Background())
	if err == nil {
		t.Fatal("the failure was not reported")
	}
	if got.Families != 0 || got.Denials != want.Denials || got.Events != want.Events {
		t.Fatalf("after a failure the other tasks did %+v", got)
	}
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// TestRunSurvivesErrorsAndStops runs in a testing/synctest bubble: Run's
// ticker runs on fake time.
func TestRunSurvivesErrorsAndStops(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		st := &flaky{Store: testdb.SQLite(t)}
		seed(t, st)
		var logs syncBuffer
		j := New(st, Options{Now: func() time.Time { return t0 }, Log: slog.New(slog.NewTextHandler(&logs, nil))})
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel() // a failed check below must not leave Run blocking the bubble
		done := make(chan struct{})
		const interval = 10 * time.Millisecond
		go func() {
			j.Run(ctx, interval)
			close(done)
		}()
		time.Sleep(2 * interval) // fake time: the first pass, which fails, and two more
		synctest.Wait()
		if n := st.calls.Load(); n < 3 {
			t.Fatalf("%d passes in two intervals, want 3: Run stopped passing after an error", n)
		}
		cancel()
		select {
		case <-done:
		case <-time.After(5 * time.Second):
			t.Fatal("Run did not return when its context was cancelled")
		}
		if n, _ := st.CountFamilies(context.Background()); n != 4 {
			t.Fatalf("%d families left after Run, want 4", n)
		}
		out := logs.String()
		if !strings.Contains(out, "janitor pass failed") || !strings.Contains(out, "families=7") {
			t.Fatalf("logs lack the failure or the later pass:\n%s", out)
		}
	})
}
