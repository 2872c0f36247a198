// Package testrig starts a real Rotor on loopback for tests of the server
// and of the packages that talk to it (resource, client). It is imported
// only from _test.go files.
package testrig

import (
	"bytes"
	"context"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/rotor-auth/rotor/internal/audit"
	"github.com/rotor-auth/rotor/internal/authz"
	"github.com/rotor-auth/rotor/internal/family"
	"github.com/rotor-auth/rotor/internal/keys"
	"github.com/rotor-auth/rotor/internal/secret"
	"github.com/rotor-auth/rotor/internal/server"
	"github.com/rotor-auth/rotor/internal/session"
	"github.com/rotor-auth/rotor/internal/store"
	"github.com/rotor-auth/rotor/internal/token"
	"github.com/rotor-auth/rotor/internal/users"
	"github.com/rotor-auth/rotor/internal/web"
)

// Logs collects the server's JSON logs from many goroutines.
type Logs struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *Logs) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

// String returns everything logged so far.
func (l *Logs) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// Rig is a real Rotor server on a loopback listener over a real store.
type Rig struct {
	Store   store.Store
	Secrets *secret.Keys
	Keys    *keys.Manager
	Server  *server.Server
	// Authz issues codes and Sessions starts browser sessions, as the
	// sign-in pages do.
	Authz    *authz.Service
	Sessions *session.Service
	HTTP     *httptest.Server
	// URL is the issuer, http://127.0.0.1:PORT.
	URL  string
	Logs *Logs
}

// Option adjusts the server's options before it starts.
type Option func(*server.Options)

// Start runs a server over st until the test ends. Several rigs may share
// one store and master key, as replicas share one PostgreSQL; secrets nil
// derives a fresh master key.
func Start(t testing.TB, st store.Store, secrets *secret.Keys, opts ...Option) *Rig {
	t.Helper()
	if secrets == nil {
		var err error
		if secrets, err = secret.Derive(secret.NewMasterKey()); err != nil {
			t.Fatal(err)
		}
	}
	ts := httptest.NewUnstartedServer(nil)
	issuer := "http://" + ts.Listener.Addr().String()
	logs := &Logs{}
	log := slog.New(slog.NewJSONHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	km := keys.NewManager(st, secrets, keys.Options{MaxTokenTTL: 10 * time.Minute})
	if err := km.EnsureCurrent(context.Background()); err != nil {
		t.Fatal(err)
	}
	o := server.Options{Issuer: issuer, Store: st, Secrets: secrets, Signer: km, Log: log, Passwords: secret.NewVerifier(0)}
	for _, f := range opts {
		f(&o)
	}
	now := o.Now
	if now == nil {
		now = time.Now
	}
	if o.Refusals == nil {
		agg := audit.NewAggregator(st, 0, 0, now, log)
		ctx, stop := context.WithCancel(context.Background())
		done := make(chan struct{})
		go func() { agg.Run(ctx); close(done) }()
		t.Cleanup(func() { stop(); <-done })
		o.Refusals = agg
	}
	if o.Families == nil {
		o.Families = family.New(st, secrets, family.DefaultConfig(), now, log, family.WithRefusals(o.Refusals))
	}
	if o.Users == nil {
		o.Users = users.New(st, o.Families, o.Passwords, now, users.WithLog(log))
	}
	if o.Authz == nil {
		o.Authz = authz.New(st, secrets, o.Families, now, log)
	}
	sessions := session.New(st, secrets, o.Families, now)
	pages, err := web.New(web.Options{
		Issuer: issuer, Store: st, Secrets: secrets, Authz: o.Authz, Sessions: sessions, Users: o.Users, Families: o.Families,
		Tokens: token.NewIssuer(issuer, o.Signer, now), Refusals: o.Refusals, Now: now, Log: log,
		TrustedProxies: o.TrustedProxies, DBTimeout: o.DBTimeout,
	})
	if err != nil {
		t.Fatal(err)
	}
	if o.ErrorPage == nil {
		o.ErrorPage = pages.ErrorPage
	}
	srv, err := server.New(o)
	if err != nil {
		t.Fatal(err)
	}
	// The public handler as serve builds it: the protocol endpoints and
	// the pages on one mux.
	mux := http.NewServeMux()
	pages.Register(mux)
	mux.Handle("/", srv)
	ts.Config.Handler = mux
	ts.Start()
	t.Cleanup(ts.Close)
	return &Rig{Store: st, Secrets: secrets, Keys: km, Server: srv, HTTP: ts, URL: issuer, Logs: logs, Authz: o.Authz, Sessions: sessions}
}

// Client returns an HTTP client for the rig.
func (r *Rig) Client() *http.Client { return r.HTTP.Client() }

// AddClient registers c with secret sec (a generated-style secret stored
// as a keyed hash); sec "" makes the client public.
func (r *Rig) AddClient(t testing.TB, c store.Client, sec string) *store.Client {
	t.Helper()
	if sec != "" {
		c.SecretHash = r.Secrets.Hash(sec)
	} else {
		c.Public = true
	}
	if c.CreatedAt.IsZero() {
		c.CreatedAt, c.UpdatedAt = time.Now(), time.Now()
	}
	if err := r.Store.CreateClient(context.Background(), &c); err != nil {
		t.Fatal(err)
	}
	return &c
}

// AddUser registers an enabled user with the given password.
func (r *Rig) AddUser(t testing.TB, username, password string) *store.User {
	t.Helper()
	u := &store.User{ID: secret.NewID(), Username: username, PasswordPHC: secret.HashPassword(password),
		CreatedAt: time.Now().Add(-time.Minute), UpdatedAt: time.Now()}
	if err := r.Store.CreateUser(context.Background(), u); err != nil {
		t.Fatal(err)
	}
	return u
}

// Dur returns a pointer to d, for the optional durations of store.Client.
func Dur(d time.Duration) *time.Duration { return &d }
