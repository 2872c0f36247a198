package storetest

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/rotor-auth/rotor/internal/store"
)

// testCreateFamilies checks the bulk insert: every field round-trips as
// through CreateFamily, batches larger than one statement work, and a
// conflict anywhere inserts nothing.
func testCreateFamilies(t *testing.T, st store.Store) {
	ctx := context.Background()
	check(t, st.CreateFamilies(ctx, nil))

	// More rows than one multi-row statement carries, with every field
	// set on some and empty on others.
	const n = 1234
	fams := make([]*store.Family, n)
	for i := range fams {
		f := family(fmt.Sprintf("bulk-%04d", i), fmt.Sprintf("u%d", i%7), "app", at(time.Duration(i)*time.Second))
		switch i % 4 {
		case 0:
			f.Scopes, f.LiveHash, f.LastUsedAt = nil, nil, time.Time{}
		case 1:
			f.Generation, f.PrevHash, f.RotatedAt = uint64(10_000+i), []byte{byte(i), 1}, at(time.Minute)
			f.GraceSealed, f.GraceUntil = []byte("sealed"), at(time.Minute+15*time.Second)
			f.DPoPJKT, f.LastIP, f.LastUserAgent = "jkt", "192.0.2.7", "ua/2"
			f.SessionID, f.AuthTime, f.VerifierHash = "sess", at(-time.Minute), []byte("verifier-hash")
		case 2:
			f.Scopes = []string{"read", "write", "admin"}
			f.RevokedAt, f.RevokeReason = at(time.Hour), "operator"
		}
		fams[i] = f
	}
	check(t, st.CreateFamilies(ctx, fams))
	for _, want := range fams {
		got, err := st.GetFamily(ctx, want.ID)
		check(t, err)
		equal(t, "bulk family "+want.ID, got, want)
	}
	// The same family written one at a time reads back identically.
	one := *fams[1]
	one.ID = "single"
	check(t, st.CreateFamily(ctx, &one))
	got, err := st.GetFamily(ctx, "single")
	check(t, err)
	bulk, _ := st.GetFamily(ctx, fams[1].ID)
	bulk.ID = "single"
	equal(t, "bulk vs single", bulk, got)

	count := func() int64 {
		t.Helper()
		c, err := st.CountFamilies(ctx)
		check(t, err)
		return c
	}
	before := count()
	if before != n+1 {
		t.Fatalf("%d families after the bulk insert, want %d", before, n+1)
	}
	// A batch whose last row collides with a stored id, and one that
	// repeats an id of its own: nothing of either is inserted.
	fresh := func(prefix string, k int) []*store.Family {
		out := make([]*store.Family, k)
		for i := range out {
			out[i] = family(fmt.Sprintf("%s-%04d", prefix, i), "u1", "app", at(0))
		}
		return out
	}
	clash := append(fresh("new", 600), family("bulk-0003", "u1", "app", at(0)))
	wantIs(t, st.CreateFamilies(ctx, clash), store.ErrConflict)
	twice := fresh("dup", 10)
	twice = append(twice, family("dup-0004", "u1", "app", at(0)))
	wantIs(t, st.CreateFamilies(ctx, twice), store.ErrConflict)
	if after := count(); after != before {
		t.Fatalf("%d families after refused batches, want %d: a refused batch must insert nothing", after, before)
	}
	_, err = st.GetFamily(ctx, "new-0000")
	wantIs(t, err, store.ErrNotFound)
}
