package postgres_test

import (
	"errors"
	"reflect"
	"testing"
	"time"

	"github.com/rotor-auth/rotor/internal/store"
)

// TEMPORARY until storetest compiles.
func TestSmoke(t *testing.T) {
	st := pgStore(t)
	ctx := t.Context()
	now := time.Now().UTC().Truncate(time.Microsecond)
	d := 15 * time.Second
	c := &store.Client{ID: "app", SecretHash: []byte{1, 2}, GrantTypes: []string{"refresh_token", "authorization_code"}, Scopes: []string{}, ReuseGrace: &d, CreatedAt: now}
	if err := st.CreateClient(ctx, c); err != nil {
		t.Fatal(err)
	}
	if err := st.CreateClient(ctx, c); !errors.Is(err, store.ErrConflict) {
		t.Fatal(err)
	}
	got, err := st.GetClient(ctx, "app")
	if err != nil {
		t.Fatal(err)
	}
	c.Scopes = nil
	if !reflect.DeepEqual(got, c) {
		t.Fatalf("got %+v\nwant %+v", got, c)
	}
	f := newFamily("f1")
	f.GraceSealed = []byte("sealed")
	f.GraceUntil = now.Add(-time.Second)
	if err := st.CreateFamily(ctx, f); err != nil {
		t.Fatal(err)
	}
	gf, err := st.LockFamily(ctx, "f1")
	if err != nil || !reflect.DeepEqual(gf, f) {
		t.Fatalf("got %+v %v\nwant %+v", gf, err, f)
	}
	n, err := st.ClearExpiredGrace(ctx, now, 10)
	if err != nil || n != 1 {
		t.Fatal(n, err)
	}
	fs, err := st.ListFamilies(ctx, store.FamilyFilter{Subject: "alice", LiveOnly: true, Now: now, Limit: 5})
	if err != nil || len(fs) != 1 {
		t.Fatal(fs, err)
	}
	ids, err := st.RevokeFamilies(ctx, store.FamilyFilter{Subject: "alice"}, "test", now)
	if err != nil || len(ids) != 1 {
		t.Fatal(ids, err)
	}
	ok, err := st.RevokeFamily(ctx, "f1", "x", now)
	if err != nil || ok {
		t.Fatal(ok, err)
	}
	if _, err := st.RevokeFamily(ctx, "nope", "x", now); !errors.Is(err, store.ErrNotFound) {
		t.Fatal(err)
	}
	if err := st.Deny(ctx, store.Denial{Key: "sid:1", ExpiresAt: now.Add(time.Hour)}); err != nil {
		t.Fatal(err)
	}
	if err := st.Deny(ctx, store.Denial{Key: "sid:1", ExpiresAt: now}); err != nil {
		t.Fatal(err)
	}
	den, err := st.Denied(ctx, []string{"jti:x", "sid:1"}, now.Add(time.Minute))
	if err != nil || !den {
		t.Fatal(den, err)
	}
	evs := []*store.Event{{Type: "a", Time: now}, {Type: "b", Time: now}, {Type: "c", Time: now}}
	if err := st.AppendEvents(ctx, evs...); err != nil {
		t.Fatal(err)
	}
	if evs[0].ID == 0 || evs[1].ID != evs[0].ID+1 {
		t.Fatal(evs[0].ID, evs[1].ID)
	}
	le, err := st.ListEvents(ctx, store.EventFilter{Limit: 2, Newest: true})
	if err != nil || len(le) != 2 || le[0].Type != "b" || le[1].Type != "c" {
		t.Fatal(le, err)
	}
	k := &store.SigningKey{ID: "k1", Algorithm: "ES256", Sealed: []byte("s"), PublicJWK: []byte("{}"), CreatedAt: now, ActiveAt: now}
	if err := st.CreateSigningKey(ctx, k); err != nil {
		t.Fatal(err)
	}
	ks, err := st.ListSigningKeys(ctx)
	if err != nil || len(ks) != 1 || !reflect.DeepEqual(&ks[0], k) {
		t.Fatal(ks, err)
	}
	n, err = st.DeleteExpiredFamilies(ctx, now.Add(48*time.Hour), 10)
	if err != nil || n != 1 {
		t.Fatal(n, err)
	}
}
