package client_test

import (
	"context"
	"errors"
	"io"
	"net/http"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/oauth2"

	"github.com/rotor-auth/rotor/client"
	"github.com/rotor-auth/rotor/internal/audit"
	"github.com/rotor-auth/rotor/internal/store"
	"github.com/rotor-auth/rotor/internal/testrig"
)

const (
	clientSecret = "s3cret-for-tests-only"
	username     = "alice"
	password     = "correct horse battery staple"
)

// env is a real Rotor on loopback with one client and one user, and the
// first token of a session obtained with the password grant.
type env struct {
	r  *testrig.Rig
	oc *oauth2.Config
	// user is alice's username, qualified by the client id so that several
	// envs can share one store.
	user  string
	first *oauth2.Token
	// tokenCalls counts requests that reached the token endpoint through
	// the HTTP client the tests give to their Sources.
	tokenCalls atomic.Int64
}

// newEnv registers c (with clientSecret unless public) and alice, and
// signs alice in.
func newEnv(t testing.TB, st store.Store, c store.Client, public bool) *env {
	t.Helper()
	return newEnvWith(t, st, c, public, nil)
}

// newEnvWith is newEnv with a DPoP key for the sign-in (nil: none) and
// server options.
func newEnvWith(t testing.TB, st store.Store, c store.Client, public bool, d *client.DPoP, opts ...testrig.Option) *env {
	t.Helper()
	r := testrig.Start(t, st, nil, opts...)
	if c.GrantTypes == nil {
		c.GrantTypes = []string{"password", "refresh_token"}
	}
	if c.Scopes == nil {
		c.Scopes = []string{"read"}
	}
	sec := clientSecret
	if public {
		sec = ""
	}
	r.AddClient(t, c, sec)
	user := username + "@" + c.ID
	r.AddUser(t, user, password)
	e := &env{r: r, user: user, oc: &oauth2.Config{ClientID: c.ID, ClientSecret: sec, Scopes: c.Scopes,
		Endpoint: oauth2.Endpoint{TokenURL: r.URL + "/oauth2/token", AuthStyle: oauth2.AuthStyleInHeader}}}
	if public {
		e.oc.Endpoint.AuthStyle = oauth2.AuthStyleInParams
	}
	hc := r.Client()
	if d != nil {
		hc = &http.Client{Transport: d.Transport(hc.Transport)}
	}
	ctx := context.WithValue(context.Background(), oauth2.HTTPClient, hc)
	tok, err := e.oc.PasswordCredentialsToken(ctx, user, password)
	if err != nil {
		t.Fatalf("password grant: %v", err)
	}
	e.first = tok
	return e
}

// httpClient returns a client that counts token-endpoint requests and
// sends them through wrap (nil: straight through).
func (e *env) httpClient(wrap func(http.RoundTripper) http.RoundTripper) *http.Client {
	var rt http.RoundTripper = e.r.HTTP.Client().Transport
	if wrap != nil {
		rt = wrap(rt)
	}
	return &http.Client{Transport: roundTripFunc(func(req *http.Request) (*http.Response, error) {
		e.tokenCalls.Add(1)
		return rt.RoundTrip(req)
	})}
}

// config returns a Source configuration for the env's client.
func (e *env) config(hc *http.Client) *client.Config {
	if hc == nil {
		hc = e.httpClient(nil)
	}
	return &client.Config{OAuth2: e.oc, HTTPClient: hc}
}

// due returns a copy of the first token whose access token expires now,
// so that the next Token call refreshes.
func (e *env) due() *oauth2.Token {
	t := *e.first
	t.Expiry = time.Now()
	return &t
}

// events returns the audit events of a type for the env's client.
func (e *env) events(t testing.TB, typ string) []store.Event {
	t.Helper()
	evs, err := e.r.Store.ListEvents(context.Background(), store.EventFilter{Type: typ, ClientID: e.oc.ClientID})
	if err != nil {
		t.Fatal(err)
	}
	return evs
}

// family returns the single family of the env's client.
func (e *env) family(t testing.TB) *store.Family {
	t.Helper()
	fs, err := e.r.Store.ListFamilies(context.Background(), store.FamilyFilter{ClientID: e.oc.ClientID})
	if err != nil {
		t.Fatal(err)
	}
	if len(fs) != 1 {
		t.Fatalf("%d families, want 1", len(fs))
	}
	return &fs[0]
}

// refreshRaw presents rt to the server directly, as a new process would,
// and returns the answer's token or error.
func (e *env) refreshRaw(t testing.TB, rt string) (*oauth2.Token, error) {
	t.Helper()
	ctx := context.WithValue(context.Background(), oauth2.HTTPClient, e.r.Client())
	return e.oc.TokenSource(ctx, &oauth2.Token{RefreshToken: rt, Expiry: time.Now().Add(-time.Hour)}).Token()
}

// expectHealthy checks that no replay was detected and the family lives.
func (e *env) expectHealthy(t testing.TB) {
	t.Helper()
	if n := len(e.events(t, audit.ReuseDetected)); n != 0 {
		t.Errorf("%d refresh_token_reuse_detected events, want 0", n)
	}
	if f := e.family(t); f.Revoked() {
		t.Errorf("family revoked (%s)", f.RevokeReason)
	}
}

type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

// dropAnswers forwards requests to the server and then throws the answer
// away, as a connection cut after the server committed: the first n times.
func dropAnswers(n int64) func(http.RoundTripper) http.RoundTripper {
	var dropped atomic.Int64
	return func(next http.RoundTripper) http.RoundTripper {
		return roundTripFunc(func(req *http.Request) (*http.Response, error) {
			resp, err := next.RoundTrip(req)
			if err != nil || dropped.Add(1) > n {
				return resp, err
			}
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			return nil, errors.New("connection reset by peer (test)")
		})
	}
}

// failingStore wraps a store whose Save fails while fail is set.
type failingStore struct {
	client.Store
	fail  atomic.Bool
	saves atomic.Int64
}

func (f *failingStore) Save(ctx context.Context, tok *oauth2.Token) error {
	f.saves.Add(1)
	if f.fail.Load() {
		return errors.New("disk full (test)")
	}
	return f.Store.Save(ctx, tok)
}

// parallel runs fn in n goroutines released together, and waits.
func parallel(n int, fn func(i int)) {
	var start, done sync.WaitGroup
	start.Add(1)
	for i := range n {
		done.Add(1)
		go func() {
			defer done.Done()
			start.Wait()
			fn(i)
		}()
	}
	start.Done()
	done.Wait()
}
