package resource_test

import (
	"context"
	"net/http"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/rotor-auth/rotor/resource"
)

// TestUnknownKidOneFetchForMany: a key the verifier has not seen yet,
// carried by many concurrent requests, is fetched once; every request
// waits for that fetch and passes.
func TestUnknownKidOneFetchForMany(t *testing.T) {
	is := newTestIssuer(t)
	synctest.Test(t, func(t *testing.T) {
		clk := newClock()
		v := is.verifier(t, resource.Config{Clock: clk.Now, HTTPClient: is.inMemory()})
		before := is.jwksFetches.Load()

		is.kid = is.addKey(t) // rotation: a new key signs from now on
		tok := is.mint(is.claims(clk.Now()))
		clk.Advance(time.Minute) // past JWKSMinInterval since New's fetch
		gate := make(chan struct{})
		is.mu.Lock()
		is.gate = gate // the JWKS answer waits until every request is in flight
		is.mu.Unlock()

		const n = 100
		errs := make(chan error, n)
		for range n {
			go func() {
				_, err := v.Verify(context.Background(), tok)
				errs <- err
			}()
		}
		// Every request is in flight: one fetch held at the gate, the
		// other requests waiting for it.
		synctest.Wait()
		close(gate)
		for range n {
			if err := <-errs; err != nil {
				t.Fatalf("a request with the new kid failed: %v", err)
			}
		}
		if got := is.jwksFetches.Load() - before; got != 1 {
			t.Fatalf("%d requests with one unknown kid fetched the key set %d times, want 1", n, got)
		}
	})
}

// TestUnknownKidsAreRateLimited: made-up kids cannot make the verifier
// hammer the issuer: one fetch per JWKSMinInterval, whatever the number of
// distinct kids, concurrent or not.
func TestUnknownKidsAreRateLimited(t *testing.T) {
	is := newTestIssuer(t)
	clk := newClock()
	v := is.verifier(t, resource.Config{JWKSMinInterval: time.Minute, Clock: clk.Now})
	key := is.key(is.kid)
	before := is.jwksFetches.Load()
	forged := func() string { return signES256(key, header(randomID()), is.claims(clk.Now())) }

	// New fetched the set just now: no fetch inside the interval.
	var wg sync.WaitGroup
	for range 50 {
		wg.Go(func() {
			_, err := v.Verify(context.Background(), forged())
			wantError(t, err, resource.ErrUnknownKey, resource.CodeInvalidToken, http.StatusUnauthorized)
		})
	}
	wg.Wait()
	if got := is.jwksFetches.Load() - before; got != 0 {
		t.Fatalf("fetched %d times inside the interval, want 0", got)
	}

	clk.Advance(time.Minute)
	for range 50 {
		wg.Go(func() {
			_, err := v.Verify(context.Background(), forged())
			wantError(t, err, resource.ErrUnknownKey, resource.CodeInvalidToken, http.StatusUnauthorized)
		})
	}
	wg.Wait()
	if got := is.jwksFetches.Load() - before; got != 1 {
		t.Fatalf("fetched %d times after the interval, want 1", got)
	}

	// A real new key inside the interval is not seen until the next one.
	is.kid = is.addKey(t)
	tok := is.mint(is.claims(clk.Now()))
	_, err := v.Verify(context.Background(), tok)
	wantError(t, err, resource.ErrUnknownKey, resource.CodeInvalidToken, http.StatusUnauthorized)
	clk.Advance(time.Minute)
	if _, err := v.Verify(context.Background(), tok); err != nil {
		t.Fatalf("after the interval the new key is still unknown: %v", err)
	}
	if got := is.jwksFetches.Load() - before; got != 2 {
		t.Fatalf("fetched %d times, want 2", got)
	}
}

// TestFailedRefetchKeepsKeys: when the issuer cannot serve its key set,
// the keys already known keep working.
func TestFailedRefetchKeepsKeys(t *testing.T) {
	is := newTestIssuer(t)
	synctest.Test(t, func(t *testing.T) {
		clk := newClock()
		v := is.verifier(t, resource.Config{JWKSMinInterval: time.Second, JWKSRefresh: time.Minute, Clock: clk.Now, HTTPClient: is.inMemory()})
		known := is.mint(is.claims(clk.Now()))
		is.failJWKS.Store(true)
		clk.Advance(time.Second)

		// An unknown kid triggers a fetch, which fails.
		before := is.jwksFetches.Load()
		_, err := v.Verify(context.Background(), signES256(is.key(is.kid), header("new"), is.claims(clk.Now())))
		wantError(t, err, resource.ErrUnknownKey, resource.CodeInvalidToken, http.StatusUnauthorized)
		if is.jwksFetches.Load() == before {
			t.Fatal("the unknown kid did not trigger a fetch")
		}
		if _, err := v.Verify(context.Background(), known); err != nil {
			t.Fatalf("a failed fetch lost the known key: %v", err)
		}

		// A stale set whose refresh fails is kept too.
		clk.Advance(2 * time.Minute)
		if _, err := v.Verify(context.Background(), is.mint(is.claims(clk.Now()))); err != nil {
			t.Fatal(err)
		}
		synctest.Wait() // the background refresh has failed and ended
		if got := is.jwksFetches.Load() - before; got < 2 {
			t.Fatalf("fetched %d times, want 2: the stale set was not refreshed", got)
		}
		if _, err := v.Verify(context.Background(), is.mint(is.claims(clk.Now()))); err != nil {
			t.Fatalf("a failed refresh lost the known key: %v", err)
		}
	})
}

// TestWithdrawnKeyStopsWorking: a key the issuer removes from its set is
// refused once the cached set is older than JWKSRefresh and refreshed in
// the background.
func TestWithdrawnKeyStopsWorking(t *testing.T) {
	is := newTestIssuer(t)
	synctest.Test(t, func(t *testing.T) {
		clk := newClock()
		v := is.verifier(t, resource.Config{JWKSMinInterval: time.Second, JWKSRefresh: time.Minute, Clock: clk.Now, HTTPClient: is.inMemory()})
		oldTok := is.mint(is.claims(clk.Now()))
		old := is.kid
		is.kid = is.addKey(t)
		is.removeKey(old)
		newTok := is.mint(is.claims(clk.Now()))
		before := is.jwksFetches.Load()

		if _, err := v.Verify(context.Background(), oldTok); err != nil {
			t.Fatalf("the cached key stopped working before the set was stale: %v", err)
		}
		if is.jwksFetches.Load() != before {
			t.Fatal("a fresh set was fetched again")
		}
		clk.Advance(2 * time.Minute)
		// The stale set still answers at once; the refresh runs behind.
		if _, err := v.Verify(context.Background(), oldTok); err != nil {
			t.Fatalf("stale set: %v", err)
		}
		synctest.Wait() // the background refresh has ended
		_, err := v.Verify(context.Background(), oldTok)
		wantError(t, err, resource.ErrUnknownKey, resource.CodeInvalidToken, http.StatusUnauthorized)
		if _, err := v.Verify(context.Background(), newTok); err != nil {
			t.Fatalf("the new key: %v", err)
		}
		if got := is.jwksFetches.Load() - before; got != 1 {
			t.Fatalf("fetched %d times, want 1", got)
		}
	})
}
