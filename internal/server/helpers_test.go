package server_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rotor-auth/rotor/internal/family"
	"github.com/rotor-auth/rotor/internal/keys"
	"github.com/rotor-auth/rotor/internal/secret"
	"github.com/rotor-auth/rotor/internal/server"
	"github.com/rotor-auth/rotor/internal/store"
)

// syncBuffer collects the server's logs from many goroutines.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// rig is a real Rotor on loopback over a real store.
type rig struct {
	st      store.Store
	secrets *secret.Keys
	ts      *httptest.Server
	url     string
	logs    *syncBuffer
	srv     *server.Server
}

type rigOption func(*server.Options)

// newRig starts a server over st. Several rigs may share one store and
// master key, as replicas share one PostgreSQL.
func newRig(t testing.TB, st store.Store, secrets *secret.Keys, opts ...rigOption) *rig {
	t.Helper()
	if secrets == nil {
		var err error
		if secrets, err = secret.Derive(secret.NewMasterKey()); err != nil {
			t.Fatal(err)
		}
	}
	ts := httptest.NewUnstartedServer(nil)
	issuer := "http://" + ts.Listener.Addr().String()
	logs := &syncBuffer{}
	log := slog.New(slog.NewJSONHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	km := keys.NewManager(st, secrets, keys.Options{MaxTokenTTL: 10 * time.Minute})
	if err := km.EnsureCurrent(context.Background()); err != nil {
		t.Fatal(err)
	}
	o := server.Options{Issuer: issuer, Store: st, Secrets: secrets, Signer: km, Family: family.DefaultConfig(), Log: log}
	for _, f := range opts {
		f(&o)
	}
	srv, err := server.New(o)
	if err != nil {
		t.Fatal(err)
	}
	ts.Config.Handler = srv
	ts.Start()
	t.Cleanup(ts.Close)
	return &rig{st: st, secrets: secrets, ts: ts, url: issuer, logs: logs, srv: srv}
}

func dur(d time.Duration) *time.Duration { return &d }

// addClient registers a client; secret "" makes it public.
func (r *rig) addClient(t testing.TB, c store.Client, sec string) {
	t.Helper()
	if sec != "" {
		c.SecretHash = r.secrets.Hash(sec)
	} else {
		c.Public = true
	}
	if c.CreatedAt.IsZero() {
		c.CreatedAt, c.UpdatedAt = time.Now(), time.Now()
	}
	if err := r.st.CreateClient(context.Background(), &c); err != nil {
		t.Fatal(err)
	}
}

func (r *rig) addUser(t testing.TB, username, password string) *store.User {
	t.Helper()
	u := &store.User{ID: secret.NewID(), Username: username, PasswordPHC: secret.HashPassword(password),
		CreatedAt: time.Now().Add(-time.Minute), UpdatedAt: time.Now()}
	if err := r.st.CreateUser(context.Background(), u); err != nil {
		t.Fatal(err)
	}
	return u
}

// response is a decoded token-endpoint answer.
type response struct {
	Status int
	Header http.Header
	Body   map[string]any
	Raw    string
}

func (r response) str(k string) string { s, _ := r.Body[k].(string); return s }

func (r *rig) post(t testing.TB, path string, form url.Values, auth ...string) response {
	t.Helper()
	return r.postRaw(t, path, "application/x-www-form-urlencoded", form.Encode(), auth...)
}

func (r *rig) postRaw(t testing.TB, path, contentType, body string, auth ...string) response {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, r.url+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", contentType)
	if len(auth) == 2 {
		req.SetBasicAuth(url.QueryEscape(auth[0]), url.QueryEscape(auth[1]))
	}
	resp, err := r.ts.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	out := response{Status: resp.StatusCode, Header: resp.Header, Raw: string(raw)}
	if len(raw) > 0 && strings.HasPrefix(resp.Header.Get("Content-Type"), "application/json") {
		if err := json.Unmarshal(raw, &out.Body); err != nil {
			t.Fatalf("response is not JSON: %q", raw)
		}
	}
	return out
}

func expectError(t testing.TB, r response, status int, code string) {
	t.Helper()
	if r.Status != status || r.str("error") != code {
		t.Fatalf("got %d %s, want %d with error %q", r.Status, r.Raw, status, code)
	}
	if r.Header.Get("Cache-Control") != "no-store" {
		t.Fatalf("error response lacks Cache-Control: no-store")
	}
}

func expectOK(t testing.TB, r response) {
	t.Helper()
	if r.Status != http.StatusOK {
		t.Fatalf("got %d %s, want 200", r.Status, r.Raw)
	}
}
