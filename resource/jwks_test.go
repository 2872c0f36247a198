package resource_test

import (
	"context"
	"errors"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/rotor-auth/rotor/resource"
)

// TestUnknownKidOneFetchForMany: a key the verifier has not seen yet,
// carried by many concurrent requests, is fetched once; every request
// waits for that fetch and passes.
func TestUnknownKidOneFetchForMany(t *testing.T) {
	is := newTestIssuer(t)
	clk := newClock()
	v := is.verifier(t, resource.Config{Clock: clk.Now})
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
	var started sync.WaitGroup
	started.Add(n)
	for range n {
		go func() {
			started.Done()
			_, err := v.Verify(context.Background(), tok)
			errs <- err
		}()
	}
	started.Wait()
	time.Sleep(100 * time.Millisecond) // let them reach the fetch
	close(gate)
	for range n {
		if err := <-errs; err != nil {
			t.Fatalf("a request with the new kid failed: %v", err)
		}
	}
	if got := is.jwksFetches.Load() - before; got != 1 {
		t.Fatalf("%d requests with one unknown kid fetched the key set %d times, want 1", n, got)
	}
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
	clk := newClock()
	v := is.verifier(t, resource.Config{JWKSMinInterval: time.Second, JWKSRefresh: time.Minute, Clock: clk.Now})
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
	waitFor(t, func() bool { return is.jwksFetches.Load() >= before+2 })
	time.Sleep(20 * time.Millisecond) // let the failed refresh finish
	if _, err := v.Verify(context.Background(), is.mint(is.claims(clk.Now()))); err != nil {
		t.Fatalf("a failed refresh lost the known key: %v", err)
	}
}

// TestWithdrawnKeyStopsWorking: a key the issuer removes from its set is
// refused once the cached set is older than JWKSRefresh and refreshed in
// the background.
func TestWithdrawnKeyStopsWorking(t *testing.T) {
	is := newTestIssuer(t)
	clk := newClock()
	v := is.verifier(t, resource.Config{JWKSMinInterval: time.Second, JWKSRefresh: time.Minute, Clock: clk.Now})
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
	waitFor(t, func() bool {
		_, err := v.Verify(context.Background(), oldTok)
		return errors.Is(err, resource.ErrUnknownKey)
	})
	if _, err := v.Verify(context.Background(), newTok); err != nil {
		t.Fatalf("the new key: %v", err)
	}
	if got := is.jwksFetches.Load() - before; got != 1 {
		t.Fatalf("fetched %d times, want 1", got)
	}
}

// waitFor polls cond for up to 5 s.
func waitFor(t testing.TB, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not met within 5s")
		}
		time.Sleep(5 * time.Millisecond)
	}
}
