package keys_test

import (
	"context"
	"errors"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/rotor-auth/rotor/internal/keys"
	"github.com/rotor-auth/rotor/internal/secret"
	"github.com/rotor-auth/rotor/internal/store"
	"github.com/rotor-auth/rotor/internal/store/testdb"
)

var errOutage = errors.New("test: the database is down")

// outageStore is a real store whose key-set reads are counted and, while
// down is set, fail as they do during a database outage. hold, when set,
// makes a read wait until it is closed, after telling entered.
type outageStore struct {
	store.Store
	clock *clock

	down  atomic.Bool
	reads atomic.Int32

	mu      sync.Mutex
	tried   []time.Time // when each failed read was made, by the clock
	hold    chan struct{}
	entered chan struct{}
}

func (o *outageStore) ListSigningKeys(ctx context.Context) ([]store.SigningKey, error) {
	o.reads.Add(1)
	o.mu.Lock()
	hold, entered := o.hold, o.entered
	o.hold, o.entered = nil, nil
	if o.down.Load() {
		o.tried = append(o.tried, o.clock.Now())
	}
	o.mu.Unlock()
	if hold != nil {
		close(entered)
		<-hold
	}
	if o.down.Load() {
		return nil, errOutage
	}
	return o.Store.ListSigningKeys(ctx)
}

// holdNextRead makes the next read wait until release is called; entered
// is closed once that read has begun.
func (o *outageStore) holdNextRead() (entered <-chan struct{}, release func()) {
	o.mu.Lock()
	defer o.mu.Unlock()
	hold, in := make(chan struct{}), make(chan struct{})
	o.hold, o.entered = hold, in
	return in, sync.OnceFunc(func() { close(hold) })
}

func outageSetup(t *testing.T) (*keys.Manager, *outageStore, *clock) {
	t.Helper()
	clk := &clock{t: time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)}
	st := &outageStore{Store: testdb.SQLite(t), clock: clk}
	sk, err := secret.Derive(secret.NewMasterKey())
	if err != nil {
		t.Fatal(err)
	}
	m := keys.NewManager(st, sk, keys.Options{Prepublish: 10 * time.Minute, MaxTokenTTL: time.Hour,
		ReloadInterval: time.Second, Now: clk.Now})
	if err := m.EnsureCurrent(context.Background()); err != nil {
		t.Fatal(err)
	}
	return m, st, clk
}

// TestOutageServesCachedKeysAndBacksOff: while the database is down,
// signing, verifying and the JWKS go on from the cached key set, and the
// failed reload is not retried on every call but after a growing pause,
// from 1 s up to 30 s; once the database is back, one reload succeeds
// and the pause starts again from 1 s.
func TestOutageServesCachedKeysAndBacksOff(t *testing.T) {
	ctx := context.Background()
	m, st, clk := outageSetup(t)
	tok, kid := sign(t, m)

	st.down.Store(true)
	clk.Advance(2 * time.Second) // the cached set is due for a reload
	before := st.reads.Load()
	for range 50 { // 50 calls over one second
		if kids := jwksKids(t, m); !slices.Equal(kids, []string{kid}) {
			t.Fatalf("JWKS during the outage: %v, want [%s]", kids, kid)
		}
		clk.Advance(20 * time.Millisecond)
	}
	if n := st.reads.Load() - before; n > 2 {
		t.Fatalf("50 JWKS calls during an outage made %d database reads, want at most 2", n)
	}
	if _, got := sign(t, m); got != kid {
		t.Fatalf("signed with %s during the outage, want %s", got, kid)
	}
	if _, err := m.Verify(ctx, keys.TypeAccessToken, tok); err != nil {
		t.Fatalf("verify during the outage: %v", err)
	}

	// Calls every 100 ms for three minutes: the reads are 1, 2, 4, 8, 16
	// and then 30 s apart.
	for range 1800 {
		clk.Advance(100 * time.Millisecond)
		if _, got := sign(t, m); got != kid {
			t.Fatalf("signed with %s during the outage, want %s", got, kid)
		}
	}
	st.mu.Lock()
	tried := slices.Clone(st.tried)
	st.mu.Unlock()
	var gaps []time.Duration
	for i := 1; i < len(tried); i++ {
		gaps = append(gaps, tried[i].Sub(tried[i-1]))
	}
	want := []time.Duration{time.Second, 2 * time.Second, 4 * time.Second, 8 * time.Second, 16 * time.Second,
		30 * time.Second, 30 * time.Second, 30 * time.Second, 30 * time.Second, 30 * time.Second}
	if !slices.Equal(gaps, want) {
		t.Fatalf("pauses between failed reloads %v, want %v", gaps, want)
	}

	// The database is back: the next due call reloads, and so the pause
	// after a new failure is 1 s again.
	st.down.Store(false)
	clk.Advance(30 * time.Second)
	before = st.reads.Load()
	sign(t, m)
	if n := st.reads.Load() - before; n != 1 {
		t.Fatalf("after the outage, %d reads, want 1", n)
	}
	st.down.Store(true)
	st.mu.Lock()
	st.tried = nil
	st.mu.Unlock()
	for range 30 {
		clk.Advance(100 * time.Millisecond)
		sign(t, m)
	}
	st.mu.Lock()
	tried = slices.Clone(st.tried)
	st.mu.Unlock()
	if len(tried) != 2 || tried[1].Sub(tried[0]) != time.Second {
		t.Fatalf("after a successful reload, failed reads at %v, want two 1 s apart", tried)
	}
}

// TestOutageConcurrentCallersShareOneRead: 50 callers at once during an
// outage make one read between them, not one each.
func TestOutageConcurrentCallersShareOneRead(t *testing.T) {
	m, st, clk := outageSetup(t)
	_, kid := sign(t, m)
	st.down.Store(true)
	clk.Advance(2 * time.Second)
	before := st.reads.Load()
	var wg sync.WaitGroup
	for range 50 {
		wg.Go(func() {
			_, got, err := m.Sign(context.Background(), keys.TypeAccessToken, keys.Claims(map[string]any{"sub": "alice"}))
			if err != nil || got != kid {
				t.Errorf("sign during the outage: %s, %v", got, err)
			}
		})
	}
	wg.Wait()
	if n := st.reads.Load() - before; n > 1 {
		t.Fatalf("50 concurrent calls during an outage made %d reads, want 1", n)
	}
}

// TestReloadInFlightDoesNotHoldCallers: while one caller reloads a stale
// key set (here, from a database that is slow to answer), the others are
// served the cached set at once and read nothing themselves.
func TestReloadInFlightDoesNotHoldCallers(t *testing.T) {
	m, st, clk := outageSetup(t)
	_, kid := sign(t, m)
	clk.Advance(2 * time.Second)
	entered, release := st.holdNextRead()
	defer release()

	first := make(chan error, 1)
	go func() {
		_, err := m.JWKS(context.Background())
		first <- err
	}()
	<-entered
	before := st.reads.Load()
	done := make(chan struct{})
	go func() {
		defer close(done)
		var wg sync.WaitGroup
		for range 49 {
			wg.Go(func() {
				_, got, err := m.Sign(context.Background(), keys.TypeAccessToken, keys.Claims(map[string]any{"sub": "alice"}))
				if err != nil || got != kid {
					t.Errorf("sign while a reload is in flight: %s, %v", got, err)
				}
			})
		}
		wg.Wait()
	}()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		release()
		<-done
		t.Fatal("callers waited for another caller's reload instead of using the cached key set")
	}
	if n := st.reads.Load() - before; n != 0 {
		t.Fatalf("49 callers made %d reads while one reload was in flight, want 0", n)
	}
	release()
	if err := <-first; err != nil {
		t.Fatal(err)
	}
}
