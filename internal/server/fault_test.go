package server_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rotor-auth/rotor/internal/audit"
	"github.com/rotor-auth/rotor/internal/authz"
	"github.com/rotor-auth/rotor/internal/family"
	"github.com/rotor-auth/rotor/internal/keys"
	"github.com/rotor-auth/rotor/internal/secret"
	"github.com/rotor-auth/rotor/internal/server"
	"github.com/rotor-auth/rotor/internal/store"
	"github.com/rotor-auth/rotor/internal/store/postgres"
	"github.com/rotor-auth/rotor/internal/store/testdb/pgproc"
	"github.com/rotor-auth/rotor/internal/testrig"
	"github.com/rotor-auth/rotor/internal/users"
)

// faultRig is a Rotor over a PostgreSQL of its own, served by a real
// http.Server with a write timeout, as serve's is.
type faultRig struct {
	pg       *pgproc.Server
	st       store.Store
	fams     *family.Service
	url      string
	deadline time.Duration
	logs     *testrig.Logs
}

func newFaultRig(t *testing.T, deadline, writeTimeout time.Duration) *faultRig {
	t.Helper()
	ctx := context.Background()
	pg := pgproc.New(t)
	st, err := postgres.Open(ctx, pg.DSN())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	if err := st.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	sk, err := secret.Derive(secret.NewMasterKey())
	if err != nil {
		t.Fatal(err)
	}
	km := keys.NewManager(st, sk, keys.Options{MaxTokenTTL: 10 * time.Minute})
	if err := km.EnsureCurrent(ctx); err != nil {
		t.Fatal(err)
	}
	logs := &testrig.Logs{}
	log := slog.New(slog.NewJSONHandler(logs, nil))
	fams := family.New(st, sk, family.DefaultConfig(), time.Now, log)
	pw := secret.NewVerifier(0)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	issuer := "http://" + ln.Addr().String()
	h, err := server.New(server.Options{Issuer: issuer, Store: st, Secrets: sk, Signer: km, Families: fams,
		Users: users.New(st, fams, pw, time.Now), Passwords: pw, Log: log, DBTimeout: deadline, Refusals: audit.Direct{St: st, Log: log},
		Authz: authz.New(st, sk, fams, time.Now, log), ErrorPage: func(w http.ResponseWriter, _ *http.Request, status int, msg string) { http.Error(w, msg, status) }})
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: h, WriteTimeout: writeTimeout, ReadTimeout: 5 * time.Second}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	return &faultRig{pg: pg, st: st, fams: fams, url: issuer, deadline: deadline, logs: logs}
}

// sessions creates n families for a client with the given grace period
// and returns their first refresh tokens.
func (f *faultRig) sessions(t *testing.T, clientID string, grace time.Duration, n int) []string {
	t.Helper()
	ctx := context.Background()
	c := &store.Client{ID: clientID, Public: true, GrantTypes: []string{"password", "refresh_token"}, Scopes: []string{"read"},
		ReuseGrace: &grace, CreatedAt: time.Now(), UpdatedAt: time.Now()}
	if err := f.st.CreateClient(ctx, c); err != nil {
		t.Fatal(err)
	}
	var toks []string
	for i := range n {
		u := &store.User{ID: secret.NewID(), Username: fmt.Sprintf("%s-%d", clientID, i), PasswordPHC: "x",
			CreatedAt: time.Now().Add(-time.Minute), UpdatedAt: time.Now()}
		if err := f.st.CreateUser(ctx, u); err != nil {
			t.Fatal(err)
		}
		g, err := f.fams.Create(ctx, family.CreateParams{Client: c, User: u, Scopes: []string{"read"}, AccessTokenID: secret.NewID(), Grant: "password"})
		if err != nil {
			t.Fatal(err)
		}
		toks = append(toks, g.RefreshToken)
	}
	return toks
}

// answer is one refresh over HTTP.
type answer struct {
	status     int
	retryAfter string
	token      string
	took       time.Duration
	err        error
}

var faultClient = &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: 64}}

func (f *faultRig) refresh(clientID, tok string) answer {
	start := time.Now()
	resp, err := faultClient.PostForm(f.url+"/oauth2/token", url.Values{"grant_type": {"refresh_token"}, "client_id": {clientID}, "refresh_token": {tok}})
	a := answer{took: time.Since(start), err: err}
	if err != nil {
		return a
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	a.took, a.status, a.retryAfter, a.err = time.Since(start), resp.StatusCode, resp.Header.Get("Retry-After"), err
	var body struct {
		RefreshToken string `json:"refresh_token"`
	}
	if json.Unmarshal(b, &body) == nil {
		a.token = body.RefreshToken
	}
	return a
}

// TestFrozenDatabaseLogsNobodyOut: PostgreSQL frozen (SIGSTOP) for longer
// than the HTTP write timeout while 16 callers refresh: every request is
// answered, those that could not reach the database with 503 and
// Retry-After within the deadline; afterwards no family is revoked and
// every caller's last answered token still works (issue 9 item 1: the
// answers of rotations that committed after the freeze were dropped, and
// every grace-0 family was revoked by its caller's retry).
func TestFrozenDatabaseLogsNobodyOut(t *testing.T) {
	const deadline, writeTimeout, freeze = time.Second, 3 * time.Second, 5 * time.Second
	f := newFaultRig(t, deadline, writeTimeout)
	type caller struct {
		client, token string
		answers       []answer
	}
	var callers []*caller
	for _, c := range []struct {
		id    string
		grace time.Duration
	}{{"strict", 0}, {"lenient", 15 * time.Second}} {
		for _, tok := range f.sessions(t, c.id, c.grace, 8) {
			callers = append(callers, &caller{client: c.id, token: tok})
		}
	}
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for _, c := range callers {
		wg.Go(func() {
			for n := 0; n < 100_000; n++ {
				select {
				case <-stop:
					return
				default:
				}
				a := f.refresh(c.client, c.token)
				c.answers = append(c.answers, a)
				if a.status == http.StatusOK {
					c.token = a.token
				} else {
					time.Sleep(50 * time.Millisecond) // a client's pause before it retries
				}
			}
		})
	}
	// Real time throughout: real load on a real PostgreSQL process, frozen
	// by SIGSTOP past the server's wall-clock deadlines; no fake clock
	// reaches either.
	time.Sleep(500 * time.Millisecond) // refreshes under way before the freeze
	f.pg.Freeze(t)
	time.Sleep(freeze) // frozen past the write timeout
	f.pg.Thaw(t)
	time.Sleep(2 * time.Second) // refreshes after the thaw
	close(stop)
	wg.Wait()

	var ok, unavailable, late int
	for i, c := range callers {
		for _, a := range c.answers {
			switch {
			case a.err != nil:
				t.Errorf("caller %d: a request got no answer after %v: %v", i, a.took, a.err)
			case a.status == http.StatusServiceUnavailable:
				unavailable++
				if a.retryAfter == "" {
					t.Errorf("caller %d: a 503 without Retry-After", i)
				}
				if a.took > deadline+time.Second {
					t.Errorf("caller %d: a 503 after %v, past the %v deadline", i, a.took, deadline)
				}
			case a.status == http.StatusOK:
				ok++
				if a.took > deadline+time.Second {
					// Its COMMIT was in flight when the database froze: it
					// waited to learn that it committed, and was answered.
					late++
				}
			default:
				t.Errorf("caller %d: answered %d", i, a.status)
			}
		}
	}
	t.Logf("%d rotations answered, %d answered 503 during the freeze, %d answered once their commit was read back", ok, unavailable, late)
	if unavailable == 0 {
		t.Fatal("the freeze produced no 503: the test did not test")
	}
	ctx := context.Background()
	fams, err := f.st.ListFamilies(ctx, store.FamilyFilter{})
	if err != nil {
		t.Fatal(err)
	}
	for _, fm := range fams {
		if fm.Revoked() {
			t.Errorf("family %s of %s was revoked (%s) by a database hiccup", fm.ID, fm.ClientID, fm.RevokeReason)
		}
	}
	for i, c := range callers {
		if a := f.refresh(c.client, c.token); a.status != http.StatusOK {
			t.Errorf("caller %d's last answered token: %d %v", i, a.status, a.err)
		}
	}
}

// TestStoppedDatabaseGives503AndRecovers: with PostgreSQL stopped, token
// requests are 503 temporarily_unavailable with Retry-After (issue 9
// item 3: they were 500 server_error); once it is started again Rotor
// serves without a restart.
func TestStoppedDatabaseGives503AndRecovers(t *testing.T) {
	f := newFaultRig(t, time.Second, 3*time.Second)
	toks := f.sessions(t, "app", 0, 1)
	a := f.refresh("app", toks[0])
	if a.status != http.StatusOK {
		t.Fatalf("before: %d %v", a.status, a.err)
	}
	tok := a.token
	f.pg.Stop(t)
	for i := range 5 {
		a := f.refresh("app", tok)
		if a.err != nil || a.status != http.StatusServiceUnavailable || a.retryAfter == "" || a.took > 2*time.Second {
			t.Fatalf("stopped, request %d: %d Retry-After %q after %v (%v), want 503 with Retry-After within the deadline", i, a.status, a.retryAfter, a.took, a.err)
		}
	}
	if strings.Contains(f.logs.String(), `"level":"ERROR"`) {
		t.Errorf("a stopped database was logged as an internal error:\n%s", f.logs.String())
	}
	f.pg.Start(t)
	var last answer
	for range 20 {
		if last = f.refresh("app", tok); last.status == http.StatusOK {
			break
		}
		time.Sleep(100 * time.Millisecond) // real time: the restarted PostgreSQL process and the pool reconnecting to it
	}
	if last.status != http.StatusOK {
		t.Fatalf("after the restart: %d %v", last.status, last.err)
	}
	if f2 := f.refresh("app", last.token); f2.status != http.StatusOK {
		t.Fatalf("the rotated token after the restart: %d", f2.status)
	}
}
