package server_test

import (
	"context"
	"html"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rotor-auth/rotor/internal/server"
	"github.com/rotor-auth/rotor/internal/store"
	"github.com/rotor-auth/rotor/internal/store/postgres"
	"github.com/rotor-auth/rotor/internal/store/testdb/pgproc"
)

// TestSignInOverAStoppedDatabase: with PostgreSQL stopped, the
// authorization endpoint, the login page, the code grant and the device
// authorization endpoint answer 503 with Retry-After within the deadline
// (a page for people, RFC 6749 JSON for machines); once it is started
// again the same code redeems, since the failed attempt committed
// nothing, without a restart of Rotor.
func TestSignInOverAStoppedDatabase(t *testing.T) {
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
	r := newRig(t, st, nil, func(o *server.Options) { o.DBTimeout = time.Second })
	codeClients(t, r)
	r.addClient(t, store.Client{ID: "tv", GrantTypes: []string{deviceGrant}, Scopes: []string{"read"}}, "")
	u := r.addUser(t, "alice", "correct horse battery")
	code, _ := codeFor(t, r, u, with(validQuery(), "scope", "read"))
	login := authorize(t, r, validQuery()).Header.Get("Location")

	pg.Stop(t)
	within := func(name string, start time.Time, status int, retryAfter string) {
		t.Helper()
		if took := time.Since(start); status != http.StatusServiceUnavailable || retryAfter == "" || took > 3*time.Second {
			t.Fatalf("%s with the database stopped: %d, Retry-After %q, after %v; want 503 with Retry-After within the deadline", name, status, retryAfter, took)
		}
	}
	start := time.Now()
	resp := authorize(t, r, validQuery())
	within("authorize", start, resp.StatusCode, resp.Header.Get("Retry-After"))

	// The login page opens without the database; sending the password
	// needs it, and gets a page that says to wait.
	jar, _ := cookiejar.New(nil)
	browser := &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	page, err := browser.Get(r.URL + login)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(page.Body)
	page.Body.Close()
	if page.StatusCode != http.StatusOK {
		t.Fatalf("login page with the database stopped: %d", page.StatusCode)
	}
	form := url.Values{"username": {"alice"}, "password": {"correct horse battery"}}
	for _, m := range regexp.MustCompile(`<input type="hidden" name="([a-z_]+)" value="([^"]*)">`).FindAllStringSubmatch(string(body), -1) {
		form.Set(m[1], html.UnescapeString(m[2]))
	}
	start = time.Now()
	sent, err := browser.PostForm(r.URL+"/login", form)
	if err != nil {
		t.Fatal(err)
	}
	sent.Body.Close()
	within("sending the login form", start, sent.StatusCode, sent.Header.Get("Retry-After"))

	start = time.Now()
	tok := redeem(t, r, code, verifier)
	within("the code grant", start, tok.Status, tok.Header.Get("Retry-After"))
	if tok.str("error") != "temporarily_unavailable" {
		t.Fatalf("code grant: %s", tok.Raw)
	}
	start = time.Now()
	dev := r.post(t, "/oauth2/device_authorization", url.Values{"client_id": {"tv"}})
	within("device authorization", start, dev.Status, dev.Header.Get("Retry-After"))
	if strings.Contains(r.Logs.String(), `"level":"ERROR"`) {
		t.Errorf("a stopped database was logged as an internal error:\n%s", r.Logs.String())
	}

	pg.Start(t)
	var got response
	for range 30 {
		if got = redeem(t, r, code, verifier); got.Status == http.StatusOK {
			break
		}
		time.Sleep(100 * time.Millisecond) // real time: the restarted PostgreSQL and the pool reconnecting
	}
	if got.Status != http.StatusOK || got.str("refresh_token") == "" {
		t.Fatalf("after the restart the code redeems: %d %s", got.Status, got.Raw)
	}
}

// TestOriginSetOutlivesAStoppedDatabase: the CORS origin set that
// preflights read is kept when its reread fails (PostgreSQL stopped), so
// preflights of registered origins keep working and answer at once; no
// preflight waits on the database.
func TestOriginSetOutlivesAStoppedDatabase(t *testing.T) {
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
	var mu sync.Mutex
	now := time.Now()
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	r := newRig(t, st, nil, func(o *server.Options) { o.Now = clock; o.DBTimeout = time.Second })
	codeClients(t, r) // spa: the origins of its redirect URIs
	preflight := func() (int, string, time.Duration) {
		req, _ := http.NewRequest(http.MethodOptions, r.URL+"/oauth2/token", nil)
		req.Header.Set("Origin", "https://spa.example.com")
		req.Header.Set("Access-Control-Request-Method", "POST")
		start := time.Now()
		resp, err := r.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode, resp.Header.Get("Access-Control-Allow-Origin"), time.Since(start)
	}
	if _, allow, _ := preflight(); allow != "https://spa.example.com" {
		t.Fatalf("before: Access-Control-Allow-Origin %q", allow)
	}
	pg.Stop(t)
	mu.Lock()
	now = now.Add(time.Hour) // the set is stale: the next preflight rereads it
	mu.Unlock()
	for i := range 3 {
		status, allow, took := preflight()
		if status >= 500 || allow != "https://spa.example.com" || took > 3*time.Second {
			t.Fatalf("database stopped, preflight %d: %d %q after %v; want the kept set, within the deadline", i, status, allow, took)
		}
	}
	pg.Start(t)
}
