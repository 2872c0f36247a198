package client_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/oauth2"

	"github.com/rotor-auth/rotor/client"
	"github.com/rotor-auth/rotor/internal/audit"
	"github.com/rotor-auth/rotor/internal/store"
	"github.com/rotor-auth/rotor/internal/store/testdb"
	"github.com/rotor-auth/rotor/internal/testrig"
)

// TestConcurrentCallersRefreshOnce is the acceptance test: 200 goroutines
// call Token as the access token expires; exactly one refresh reaches the
// server, nothing trips replay detection, and the saved refresh token is the
// newest. The client has no reuse grace period, so any second use of the
// old token would be a replay.
func TestConcurrentCallersRefreshOnce(t *testing.T) {
	// The memory store is a Locker, which alone would serialize the
	// refreshes; the bare store is not, so single flight is all there is.
	for name, bare := range map[string]bool{"memory store": false, "store without lock": true} {
		t.Run(name, func(t *testing.T) {
			testdb.Each(t, func(t *testing.T, st store.Store) { concurrentCallers(t, st, bare) })
		})
	}
}

func concurrentCallers(t *testing.T, st store.Store, bare bool) {
	e := newEnv(t, st, store.Client{ID: "cli", ReuseGrace: testrig.Dur(0)}, false)
	ms := client.NewMemoryStore(e.due())
	var cs client.Store = ms
	if bare {
		cs = &failingStore{Store: ms}
	}
	src := client.TokenSource(context.Background(), e.config(nil), cs)

	const callers = 200
	got := make([]*oauth2.Token, callers)
	errs := make([]error, callers)
	parallel(callers, func(i int) { got[i], errs[i] = src.Token() })

	for i, err := range errs {
		if err != nil {
			t.Fatalf("caller %d: %v", i, err)
		}
	}
	for i, tok := range got {
		if tok.AccessToken != got[0].AccessToken || tok.RefreshToken != got[0].RefreshToken {
			t.Fatalf("caller %d got another token than caller 0", i)
		}
	}
	if got[0].AccessToken == e.first.AccessToken || got[0].RefreshToken == e.first.RefreshToken {
		t.Fatal("callers got the old token, not a refreshed one")
	}
	if n := e.tokenCalls.Load(); n != 1 {
		t.Errorf("%d requests reached the token endpoint, want 1", n)
	}
	if n := len(e.events(t, audit.TokenRotated)); n != 1 {
		t.Errorf("%d token_rotated events, want 1", n)
	}
	t.Logf("%d callers, %d token request(s), %d rotation(s)", callers, e.tokenCalls.Load(), len(e.events(t, audit.TokenRotated)))
	e.expectHealthy(t)

	saved, err := ms.Load(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if saved.RefreshToken != got[0].RefreshToken {
		t.Fatal("the store does not hold the refresh token handed out")
	}
	// The saved token is the family's live one: with no grace, only the
	// live token rotates; an older one would revoke the family.
	if _, err := e.refreshRaw(t, saved.RefreshToken); err != nil {
		t.Fatalf("refreshing with the saved token: %v", err)
	}
	if f := e.family(t); f.Generation != 3 || f.Revoked() {
		t.Errorf("family at generation %d (revoked: %v), want 3 and live", f.Generation, f.Revoked())
	}
	e.expectHealthy(t)
}

// TestRefreshBeforeExpiry: a token is handed out as is until RefreshBefore
// its expiry, then refreshed.
func TestRefreshBeforeExpiry(t *testing.T) {
	e := newEnv(t, testdb.SQLite(t), store.Client{ID: "cli"}, false)
	tok := *e.first
	tok.Expiry = time.Now().Add(5 * time.Minute)
	cfg := e.config(nil)
	cfg.RefreshBefore = 2 * time.Minute
	src := client.TokenSource(context.Background(), cfg, client.NewMemoryStore(&tok))
	now := time.Now()
	client.SetNow(src, func() time.Time { return now })

	for _, step := range []struct {
		at      time.Duration
		refresh bool
	}{{0, false}, {2*time.Minute + 59*time.Second, false}, {3 * time.Minute, true}} {
		now = time.Now().Add(step.at)
		before := e.tokenCalls.Load()
		got, err := src.Token()
		if err != nil {
			t.Fatal(err)
		}
		refreshed := e.tokenCalls.Load() > before
		if refreshed != step.refresh || (got.AccessToken != e.first.AccessToken) != step.refresh {
			t.Errorf("%v before expiry: refreshed %v, want %v", 5*time.Minute-step.at, refreshed, step.refresh)
		}
	}
}

// TestShortLivedTokensAreNotRefreshedOnEveryCall: with an access-token
// lifetime shorter than RefreshBefore, a fetched token is still used for
// half its life.
func TestShortLivedTokensAreNotRefreshedOnEveryCall(t *testing.T) {
	e := newEnv(t, testdb.SQLite(t), store.Client{ID: "cli", AccessTokenTTL: testrig.Dur(40 * time.Second)}, false)
	src := client.TokenSource(context.Background(), e.config(nil), client.NewMemoryStore(e.due()))
	for range 20 {
		if _, err := src.Token(); err != nil {
			t.Fatal(err)
		}
	}
	if n := e.tokenCalls.Load(); n != 1 {
		t.Fatalf("%d token requests for 20 calls, want 1", n)
	}
}

// TestLostResponseIsRetriedWithTheSameToken: the server rotates but the
// answer never arrives; the retry presents the same refresh token, gets the
// same successor from the grace period, and the session goes on.
func TestLostResponseIsRetriedWithTheSameToken(t *testing.T) {
	testdb.Each(t, func(t *testing.T, st store.Store) {
		e := newEnv(t, st, store.Client{ID: "cli"}, false)
		var presented []string
		var mu sync.Mutex
		hc := e.httpClient(func(next http.RoundTripper) http.RoundTripper {
			drop := dropAnswers(1)(next)
			return roundTripFunc(func(req *http.Request) (*http.Response, error) {
				body, err := req.GetBody()
				if err != nil {
					return nil, err
				}
				b, _ := io.ReadAll(body)
				body.Close()
				mu.Lock()
				presented = append(presented, string(b))
				mu.Unlock()
				return drop.RoundTrip(req)
			})
		})
		ms := client.NewMemoryStore(e.due())
		src := client.TokenSource(context.Background(), e.config(hc), ms)
		got, err := src.Token()
		if err != nil {
			t.Fatalf("Token after a lost answer: %v", err)
		}
		if len(presented) != 2 || presented[0] != presented[1] {
			t.Fatalf("%d requests, same body: %v; want 2 identical", len(presented), len(presented) == 2 && presented[0] == presented[1])
		}
		if n := len(e.events(t, audit.TokenRotated)); n != 1 {
			t.Errorf("%d token_rotated events, want 1", n)
		}
		if n := len(e.events(t, audit.GraceRetry)); n != 1 {
			t.Errorf("%d grace_retry events, want 1", n)
		}
		e.expectHealthy(t)
		// The session survives: the successor rotates normally.
		if _, err := e.refreshRaw(t, got.RefreshToken); err != nil {
			t.Fatalf("refreshing with the saved successor: %v", err)
		}
		if n := len(e.events(t, audit.TokenRotated)); n != 2 {
			t.Errorf("%d token_rotated events after the next refresh, want 2", n)
		}
		e.expectHealthy(t)
	})
}

// TestServerErrorsAreRetried: 503s that never reached the refresh logic
// are retried with backoff until an answer arrives.
func TestServerErrorsAreRetried(t *testing.T) {
	e := newEnv(t, testdb.SQLite(t), store.Client{ID: "cli"}, false)
	var n atomic.Int64
	hc := e.httpClient(func(next http.RoundTripper) http.RoundTripper {
		return roundTripFunc(func(req *http.Request) (*http.Response, error) {
			if n.Add(1) <= 2 {
				return &http.Response{StatusCode: http.StatusServiceUnavailable, Header: http.Header{},
					Body: http.NoBody, Request: req}, nil
			}
			return next.RoundTrip(req)
		})
	})
	src := client.TokenSource(context.Background(), e.config(hc), client.NewMemoryStore(e.due()))
	if _, err := src.Token(); err != nil {
		t.Fatal(err)
	}
	if got := e.tokenCalls.Load(); got != 3 {
		t.Errorf("%d attempts, want 3", got)
	}
	if k := len(e.events(t, audit.TokenRotated)); k != 1 {
		t.Errorf("%d rotations, want 1", k)
	}
}

// TestRetriesAreBounded: a server that never answers gets Retries+1
// attempts; the caller gets the error once the access token has expired,
// and the still-valid token before that.
func TestRetriesAreBounded(t *testing.T) {
	e := newEnv(t, testdb.SQLite(t), store.Client{ID: "cli"}, false)
	hc := e.httpClient(func(http.RoundTripper) http.RoundTripper {
		return roundTripFunc(func(*http.Request) (*http.Response, error) { return nil, errors.New("no route to host (test)") })
	})
	cfg := e.config(hc)
	cfg.Retries = 2

	expired := *e.first
	expired.Expiry = time.Now().Add(-time.Second)
	src := client.TokenSource(context.Background(), cfg, client.NewMemoryStore(&expired))
	if _, err := src.Token(); err == nil || !strings.Contains(err.Error(), "no route to host") {
		t.Fatalf("got %v, want the network error", err)
	}
	if n := e.tokenCalls.Load(); n != 3 {
		t.Errorf("%d attempts, want 3", n)
	}

	stillValid := *e.first
	stillValid.Expiry = time.Now().Add(30 * time.Second) // due, not expired
	src = client.TokenSource(context.Background(), cfg, client.NewMemoryStore(&stillValid))
	got, err := src.Token()
	if err != nil || got.AccessToken != e.first.AccessToken {
		t.Fatalf("got %v, want the still-valid token", err)
	}
}

// TestInvalidGrantMeansSignInAgain: a revoked session surfaces as
// ErrSignInAgain, the store is cleared, and the dead token is not sent
// again.
func TestInvalidGrantMeansSignInAgain(t *testing.T) {
	testdb.Each(t, func(t *testing.T, st store.Store) {
		e := newEnv(t, st, store.Client{ID: "cli"}, false)
		if _, err := st.RevokeFamily(context.Background(), e.family(t).ID, audit.ReasonAdmin, time.Now()); err != nil {
			t.Fatal(err)
		}
		ms := client.NewMemoryStore(e.due())
		src := client.TokenSource(context.Background(), e.config(nil), ms)
		_, err := src.Token()
		if !errors.Is(err, client.ErrSignInAgain) {
			t.Fatalf("got %v, want ErrSignInAgain", err)
		}
		var re *client.ReauthError
		var rerr *oauth2.RetrieveError
		if !errors.As(err, &re) || !errors.As(err, &rerr) || rerr.ErrorCode != "invalid_grant" {
			t.Fatalf("got %#v, want a ReauthError wrapping invalid_grant", err)
		}
		if strings.Contains(err.Error(), e.first.RefreshToken) {
			t.Fatal("the error quotes the refresh token")
		}
		if _, lerr := ms.Load(context.Background()); !errors.Is(lerr, client.ErrNoToken) {
			t.Errorf("store after invalid_grant: %v, want ErrNoToken", lerr)
		}
		calls := e.tokenCalls.Load()
		if _, err := src.Token(); !errors.Is(err, client.ErrSignInAgain) {
			t.Fatalf("second call: %v, want ErrSignInAgain", err)
		}
		if e.tokenCalls.Load() != calls {
			t.Error("the second call went to the server")
		}

		// Signing in again revives the Source.
		ctx := context.WithValue(context.Background(), oauth2.HTTPClient, e.r.Client())
		fresh, err := e.oc.PasswordCredentialsToken(ctx, e.user, password)
		if err != nil {
			t.Fatal(err)
		}
		fresh.Expiry = time.Now()
		if err := ms.Save(context.Background(), fresh); err != nil {
			t.Fatal(err)
		}
		if _, err := src.Token(); err != nil {
			t.Fatalf("after signing in again: %v", err)
		}
	})
}

// TestInvalidGrantWithoutClearer: a store that cannot be cleared still
// never gets the dead token sent twice by one Source.
func TestInvalidGrantWithoutClearer(t *testing.T) {
	e := newEnv(t, testdb.SQLite(t), store.Client{ID: "cli"}, false)
	if _, err := e.r.Store.RevokeFamily(context.Background(), e.family(t).ID, audit.ReasonAdmin, time.Now()); err != nil {
		t.Fatal(err)
	}
	st := &failingStore{Store: client.NewMemoryStore(e.due())} // Load and Save only
	src := client.TokenSource(context.Background(), e.config(nil), st)
	for range 3 {
		if _, err := src.Token(); !errors.Is(err, client.ErrSignInAgain) {
			t.Fatalf("got %v, want ErrSignInAgain", err)
		}
	}
	if n := e.tokenCalls.Load(); n != 1 {
		t.Errorf("%d token requests, want 1", n)
	}
}

// TestEmptyStoreMeansSignInAgain.
func TestEmptyStoreMeansSignInAgain(t *testing.T) {
	e := newEnv(t, testdb.SQLite(t), store.Client{ID: "cli"}, false)
	src := client.TokenSource(context.Background(), e.config(nil), client.NewMemoryStore(nil))
	if _, err := src.Token(); !errors.Is(err, client.ErrSignInAgain) || !errors.Is(err, client.ErrNoToken) {
		t.Fatalf("got %v, want ErrSignInAgain and ErrNoToken", err)
	}
}

// TestSaveFailure: the server rotated but Save failed. Callers get
// ErrNotSaved and no token; the next call saves the kept successor without
// asking the server again.
func TestSaveFailure(t *testing.T) {
	e := newEnv(t, testdb.SQLite(t), store.Client{ID: "cli", ReuseGrace: testrig.Dur(0)}, false)
	ms := client.NewMemoryStore(e.due())
	fs := &failingStore{Store: ms}
	fs.fail.Store(true)
	src := client.TokenSource(context.Background(), e.config(nil), fs)

	errs := make([]error, 20)
	parallel(len(errs), func(i int) { _, errs[i] = src.Token() })
	for _, err := range errs {
		if !errors.Is(err, client.ErrNotSaved) || !strings.Contains(err.Error(), "disk full") {
			t.Fatalf("got %v, want ErrNotSaved wrapping the store's error", err)
		}
	}
	if n := e.tokenCalls.Load(); n != 1 {
		t.Fatalf("%d token requests, want 1", n)
	}
	if old, _ := ms.Load(context.Background()); old.RefreshToken != e.first.RefreshToken {
		t.Fatal("the store changed although Save failed")
	}

	fs.fail.Store(false)
	got, err := src.Token()
	if err != nil {
		t.Fatal(err)
	}
	if n := e.tokenCalls.Load(); n != 1 {
		t.Errorf("%d token requests after the store recovered, want still 1", n)
	}
	saved, _ := ms.Load(context.Background())
	if saved.RefreshToken != got.RefreshToken || got.RefreshToken == e.first.RefreshToken {
		t.Fatal("the kept successor was not saved")
	}
	if _, err := e.refreshRaw(t, saved.RefreshToken); err != nil {
		t.Fatalf("the saved token is not the live one: %v", err)
	}
	e.expectHealthy(t)
}

// TestCrashBeforeSave is the scenario of the package doc: the successor is
// lost with the process, and a new process presents the previous token.
// Within the grace period it gets the same successor; without one the
// session is revoked and the user must sign in again.
func TestCrashBeforeSave(t *testing.T) {
	for _, tc := range []struct {
		name   string
		grace  time.Duration
		signIn bool
	}{{"within grace", 15 * time.Second, false}, {"no grace", 0, true}} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, testdb.SQLite(t), store.Client{ID: "cli", ReuseGrace: testrig.Dur(tc.grace)}, false)
			ms := client.NewMemoryStore(e.due())
			fs := &failingStore{Store: ms}
			fs.fail.Store(true)
			if _, err := client.TokenSource(context.Background(), e.config(nil), fs).Token(); !errors.Is(err, client.ErrNotSaved) {
				t.Fatalf("got %v, want ErrNotSaved", err)
			}
			// The process dies; the next one starts from the store.
			src := client.TokenSource(context.Background(), e.config(nil), ms)
			_, err := src.Token()
			if got := errors.Is(err, client.ErrSignInAgain); got != tc.signIn {
				t.Fatalf("restart: %v; want sign in again: %v", err, tc.signIn)
			}
			if tc.signIn {
				if f := e.family(t); !f.Revoked() || f.RevokeReason != audit.ReasonReuseDetected {
					t.Errorf("family revoked %v (%s), want revoked for reuse", f.Revoked(), f.RevokeReason)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if n := len(e.events(t, audit.GraceRetry)); n != 1 {
				t.Errorf("%d grace retries, want 1", n)
			}
			e.expectHealthy(t)
		})
	}
}

// TestConfigErrors: a bad configuration is reported by Token.
func TestConfigErrors(t *testing.T) {
	ms := client.NewMemoryStore(nil)
	for name, src := range map[string]*client.Source{
		"nil config":   client.TokenSource(context.Background(), nil, ms),
		"no endpoint":  client.TokenSource(context.Background(), &client.Config{OAuth2: &oauth2.Config{ClientID: "x"}}, ms),
		"no client id": client.TokenSource(context.Background(), &client.Config{OAuth2: &oauth2.Config{Endpoint: oauth2.Endpoint{TokenURL: "http://127.0.0.1/t"}}}, ms),
		"nil store":    client.TokenSource(context.Background(), &client.Config{OAuth2: &oauth2.Config{ClientID: "x", Endpoint: oauth2.Endpoint{TokenURL: "http://127.0.0.1/t"}}}, nil),
	} {
		if _, err := src.Token(); err == nil {
			t.Errorf("%s: no error", name)
		}
	}
}

// TestCancelledContext: Token fails once the Source's context ends.
func TestCancelledContext(t *testing.T) {
	e := newEnv(t, testdb.SQLite(t), store.Client{ID: "cli"}, false)
	ctx, cancel := context.WithCancel(context.Background())
	src := client.TokenSource(ctx, e.config(nil), client.NewMemoryStore(e.due()))
	cancel()
	if _, err := src.Token(); !errors.Is(err, context.Canceled) {
		t.Fatalf("got %v, want context.Canceled", err)
	}
}

// TestPublicClient: a public client refreshes with its client_id in the
// form.
func TestPublicClient(t *testing.T) {
	e := newEnv(t, testdb.SQLite(t), store.Client{ID: "pub"}, true)
	src := client.TokenSource(context.Background(), e.config(nil), client.NewMemoryStore(e.due()))
	for range 3 {
		tok, err := src.Token()
		if err != nil {
			t.Fatal(err)
		}
		client.SetNow(src, func() time.Time { return tok.Expiry })
	}
	if n := len(e.events(t, audit.TokenRotated)); n != 3 {
		t.Errorf("%d rotations, want 3", n)
	}
	e.expectHealthy(t)
}

// TestErrorsNeverQuoteTheRefreshToken: an error answer that echoes the
// request (as some proxies do) does not carry the token into the error.
func TestErrorsNeverQuoteTheRefreshToken(t *testing.T) {
	const rt = "rt_very-secret-refresh-token"
	for _, status := range []int{http.StatusBadRequest, http.StatusBadGateway} {
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			_ = r.ParseForm()
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(status)
			_ = json.NewEncoder(w).Encode(map[string]string{"error": "invalid_request", "error_description": "bad " + r.PostForm.Get("refresh_token")})
		}))
		cfg := &client.Config{OAuth2: &oauth2.Config{ClientID: "c", Endpoint: oauth2.Endpoint{TokenURL: srv.URL}}, Retries: -1}
		_, err := client.TokenSource(context.Background(), cfg, client.NewMemoryStore(&oauth2.Token{RefreshToken: rt})).Token()
		srv.Close()
		var re *oauth2.RetrieveError
		if !errors.As(err, &re) {
			t.Fatalf("%d: got %v, want a RetrieveError", status, err)
		}
		if strings.Contains(err.Error(), rt) || strings.Contains(string(re.Body), rt) || strings.Contains(re.ErrorDescription, rt) {
			t.Errorf("%d: the error quotes the refresh token: %v", status, err)
		}
	}
}

// TestKeptTokenNeverOverwritesANewerOne: a Source whose Save failed keeps
// the successor; if another Source sharing the store has moved the session
// on meanwhile (a grace retry, then a rotation of its own), the kept token
// is dropped rather than written over the newer one, which would send the
// session back in time and into replay detection.
func TestKeptTokenNeverOverwritesANewerOne(t *testing.T) {
	e := newEnv(t, testdb.SQLite(t), store.Client{ID: "cli", ReuseGrace: testrig.Dur(time.Minute)}, false)
	ms := client.NewMemoryStore(e.due())
	fs := &failingStore{Store: ms}
	fs.fail.Store(true)
	a := client.TokenSource(context.Background(), e.config(nil), fs)
	if _, err := a.Token(); !errors.Is(err, client.ErrNotSaved) {
		t.Fatalf("got %v, want ErrNotSaved", err)
	}
	// Another process on the same store: it presents the previous token
	// (a grace retry, same successor), saves it, then rotates again.
	b := client.TokenSource(context.Background(), e.config(nil), ms)
	if _, err := b.Token(); err != nil {
		t.Fatal(err)
	}
	due, _ := ms.Load(context.Background())
	due.Expiry = time.Now().Add(-time.Second)
	if err := ms.Save(context.Background(), due); err != nil {
		t.Fatal(err)
	}
	newest, err := b.Token()
	if err != nil {
		t.Fatal(err)
	}

	fs.fail.Store(false)
	if _, err := a.Token(); err != nil {
		t.Fatal(err)
	}
	if saved, _ := ms.Load(context.Background()); saved.RefreshToken != newest.RefreshToken {
		t.Fatal("the kept successor was written over the newer token")
	}
	e.expectHealthy(t)
}
