package storetest

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/rotor-auth/rotor/internal/store"
)

func signingKey(id string, activeAt time.Time) *store.SigningKey {
	return &store.SigningKey{ID: id, Algorithm: "ES256", Sealed: []byte("s-" + id), PublicJWK: []byte(`{"kty":"EC"}`),
		CreatedAt: at(0), ActiveAt: activeAt}
}

// testCreateSigningKeyIfNoneAfter: the key goes in only when no stored key
// is active after the time given (any key, for a zero time), and a taken id
// is a conflict.
func testCreateSigningKeyIfNoneAfter(t *testing.T, st store.Store) {
	ctx := context.Background()
	inserted := func(k *store.SigningKey, after time.Time, want bool) {
		t.Helper()
		ok, err := st.CreateSigningKeyIfNoneAfter(ctx, k, after)
		check(t, err)
		if ok != want {
			t.Fatalf("CreateSigningKeyIfNoneAfter(%s, %v) = %v, want %v", k.ID, after, ok, want)
		}
	}
	inserted(signingKey("first", at(0)), time.Time{}, true)
	inserted(signingKey("second", at(time.Hour)), time.Time{}, false) // a key exists
	inserted(signingKey("second", at(time.Hour)), at(0), true)        // none after at(0)
	inserted(signingKey("third", at(2*time.Hour)), at(0), false)      // "second" is after at(0)
	inserted(signingKey("third", at(2*time.Hour)), at(time.Hour), true)
	_, err := st.CreateSigningKeyIfNoneAfter(ctx, signingKey("third", at(3*time.Hour)), at(3*time.Hour))
	wantIs(t, err, store.ErrConflict)

	list, err := st.ListSigningKeys(ctx)
	check(t, err)
	if len(list) != 3 || list[0].ID != "first" || list[2].ID != "third" {
		t.Fatalf("keys after the conditional inserts: %v", list)
	}
	equal(t, "signing key", &list[1], signingKey("second", at(time.Hour)))
}

// testConcurrentCreateSigningKeyIfNoneAfter: of many callers that each
// find no current key, on an empty store and then when the key is due,
// exactly one inserts.
func testConcurrentCreateSigningKeyIfNoneAfter(t *testing.T, st store.Store) {
	ctx := context.Background()
	for round, after := range []time.Time{{}, at(0)} {
		var wins atomic.Int32
		start := make(chan struct{})
		var wg sync.WaitGroup
		for i := range 16 {
			wg.Go(func() {
				<-start
				k := signingKey(fmt.Sprintf("r%d-%02d", round, i), at(time.Duration(round)*time.Hour))
				ok, err := st.CreateSigningKeyIfNoneAfter(ctx, k, after)
				if err != nil {
					t.Error(err)
				}
				if ok {
					wins.Add(1)
				}
			})
		}
		close(start)
		wg.Wait()
		if n := wins.Load(); n != 1 {
			t.Fatalf("round %d: %d of 16 concurrent callers inserted a key, want 1", round, n)
		}
	}
	list, err := st.ListSigningKeys(ctx)
	check(t, err)
	if len(list) != 2 {
		t.Fatalf("%d keys after two contested rounds, want 2", len(list))
	}
}
