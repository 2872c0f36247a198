package main

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"strings"
	"sync"
	"time"

	"github.com/spf13/cobra"

	"github.com/rotor-auth/rotor/internal/audit"
	"github.com/rotor-auth/rotor/internal/authz"
	"github.com/rotor-auth/rotor/internal/config"
	"github.com/rotor-auth/rotor/internal/family"
	"github.com/rotor-auth/rotor/internal/janitor"
	"github.com/rotor-auth/rotor/internal/keys"
	"github.com/rotor-auth/rotor/internal/metrics"
	"github.com/rotor-auth/rotor/internal/secret"
	"github.com/rotor-auth/rotor/internal/server"
	"github.com/rotor-auth/rotor/internal/session"
	"github.com/rotor-auth/rotor/internal/store"
	"github.com/rotor-auth/rotor/internal/store/backend"
	"github.com/rotor-auth/rotor/internal/token"
	"github.com/rotor-auth/rotor/internal/users"
	"github.com/rotor-auth/rotor/internal/web"
)

// HTTP server limits. Token requests are small and quick; these bound
// what a slow or hostile client can hold.
const (
	readHeaderTimeout = 5 * time.Second
	readTimeout       = 15 * time.Second
	writeTimeout      = 30 * time.Second
	idleTimeout       = 2 * time.Minute
	maxHeaderBytes    = 32 << 10
	shutdownTimeout   = 15 * time.Second

	janitorInterval = time.Minute
	// keyCheckInterval is how often serve checks whether a new signing key
	// is due; shortened to half the prepublication window when that is
	// shorter, so a new key is always published in time.
	keyCheckInterval = 5 * time.Minute
	// keyReloadInterval is how often a replica rereads the keys other
	// replicas may have created.
	keyReloadInterval = time.Minute
)

func (a *app) serveCmd() *cobra.Command {
	var migrate, demo bool
	cmd := &cobra.Command{
		Use:   "serve",
		Short: "Run the authorization server",
		Long: `Run the authorization server.

With no configuration at all it uses the embedded SQLite database ./rotor.db
(created and migrated as needed), creates a master key file beside it
(./rotor.db.masterkey, mode 0600) and a signing key, and listens on
http://127.0.0.1:8080, with Prometheus metrics at
http://127.0.0.1:8081/metrics (--admin-addr: keep it private). In
production set ROTOR_MASTER_KEY, an https issuer
(--tls-cert/--tls-key, or a TLS-terminating proxy), and for several replicas
a PostgreSQL database.

On PostgreSQL, serve does not change the schema unless --migrate is given:
run "rotor migrate" once per release instead. Durations are Go durations
(15s, 10m, 720h). SIGINT or SIGTERM stops the server cleanly.

--demo creates, the first time, what a first sign-in in a browser needs: a
confidential web client "demo-web" (its generated secret printed once), a
public single-page app client "demo-spa", for the examples at
http://127.0.0.1:8083 and http://127.0.0.1:8082, and a user "demo" with a
random password printed once. Later starts leave them as they are.`,
		Example: `  rotor serve
  rotor serve --demo
  rotor serve --addr 127.0.0.1:9000 --access-token-ttl 5m --reuse-grace 10s
  ROTOR_MASTER_KEY=... rotor serve --db postgres://rotor:secret@db/rotor --addr :8080 --issuer https://auth.example.com
  rotor serve --addr :8443 --issuer https://auth.example.com --tls-cert cert.pem --tls-key key.pem`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return a.serve(cmd, migrate, demo) },
	}
	for _, k := range config.Keys() {
		if k.Flag != "db" { // global
			a.configFlag(cmd.Flags(), k.Flag)
		}
	}
	cmd.Flags().BoolVar(&migrate, "migrate", false, "on PostgreSQL, apply missing migrations before serving (SQLite is always migrated)")
	cmd.Flags().BoolVar(&demo, "demo", false, "create (once) a demo web client, a demo single-page app client and a demo user, and print how to sign in")
	return cmd
}

func (a *app) serve(cmd *cobra.Command, migrate, demo bool) error {
	ctx := cmd.Context()
	started := time.Now()
	cfg, err := a.config(cmd)
	if err != nil {
		return err
	}
	log := cfg.NewLogger(a.stderr)
	log.Debug("configuration", "config", cfg)
	if cfg.InsecureIssuer() {
		log.Warn("insecure_http: the issuer uses plain http on a host that is not loopback, so refresh tokens cross the network in clear",
			"issuer", cfg.Issuer)
	}

	raw, err := backend.Open(ctx, cfg.DB)
	if err != nil {
		return err
	}
	defer raw.Close()
	log.Debug("database opened", "db", backend.Redact(cfg.DB))
	if backend.IsEmbedded(cfg.DB) || migrate {
		if _, err := migrateStore(ctx, raw, backend.Redact(cfg.DB), log); err != nil {
			return err
		}
	}
	// Every audit event is written through st, so it is counted there
	// once committed (internal/metrics, store.go).
	mx := metrics.New(server.GrantTypes())
	st := mx.Store(raw)
	mk, err := cfg.MasterKey(a.lookupEnv, log)
	if err != nil {
		return err
	}
	sk, err := secret.Derive(mk)
	if err != nil {
		return err
	}
	km := a.keyManager(cfg, st, sk)
	if err := km.EnsureCurrent(ctx); err != nil {
		if errors.Is(err, secret.ErrUnseal) {
			return fmt.Errorf("the signing keys in %s do not open with this master key: is it the key this database was created with? (%w)", backend.Redact(cfg.DB), err)
		}
		if !backend.IsEmbedded(cfg.DB) && !migrate {
			// The first query of a fresh PostgreSQL database fails here.
			return fmt.Errorf("prepare a signing key: %w\nIf this database is new or Rotor was upgraded, run \"rotor migrate\" first (or serve with --migrate)", err)
		}
		return fmt.Errorf("prepare a signing key: %w", err)
	}

	var tlsCfg *tls.Config
	if cfg.TLSCert != "" {
		r, err := newCertReloader(cfg.TLSCert, cfg.TLSKey, log, time.Now)
		if err != nil {
			return err
		}
		tlsCfg = tlsConfig(r)
	}
	ln, err := net.Listen("tcp", cfg.Addr)
	if err != nil {
		return fmt.Errorf("listen on %s: %w", cfg.Addr, err)
	}
	adminLn, err := net.Listen("tcp", cfg.AdminAddr)
	if err != nil {
		ln.Close()
		return fmt.Errorf("listen on %s (admin_addr): %w", cfg.AdminAddr, err)
	}
	closeListeners := func() { ln.Close(); adminLn.Close() }
	issuer := strings.TrimRight(cfg.Issuer, "/")
	if _, port, _ := net.SplitHostPort(cfg.Addr); cfg.IssuerDerived && port == "0" {
		issuer = cfg.DeriveIssuer(ln.Addr().String())
	}
	refusals := audit.NewAggregator(st, 0, 0, a.now, log)
	fams := family.New(st, sk, cfg.Family(), a.now, log, family.WithRefusals(refusals))
	proxies, _ := cfg.TrustedPrefixes() // validated with the configuration
	passwords := secret.NewVerifier(0)
	h, err := publicHandler(publicParts{
		issuer: issuer, st: st, sk: sk, km: km, fams: fams, passwords: passwords, refusals: refusals,
		users: users.New(st, fams, passwords, a.now, users.WithLog(log)), now: a.now, log: log,
		dpopNonce: cfg.DPoPNonce, dbTimeout: cfg.DBTimeout, proxies: proxies, metrics: mx,
		device: authz.DeviceConfig{TTL: cfg.DeviceCodeTTL, Interval: cfg.DevicePollInterval, MaxPending: authz.DefaultDeviceConfig().MaxPending},
	})
	if err != nil {
		closeListeners()
		return err
	}
	var demoText strings.Builder
	if demo {
		dctx, cancel := context.WithTimeout(ctx, demoTimeout)
		err := a.setUpDemo(dctx, &demoText, st, sk, fams, passwords, log, issuer)
		cancel()
		if err != nil {
			closeListeners()
			return err
		}
	}
	srv := newHTTPServer(h, tlsCfg, log)
	// The admin listener has no TLS of its own: it belongs on a private
	// network (or behind the operator's proxy).
	adminSrv := newHTTPServer(adminHandler(mx), nil, log)

	// Background work stops after the last request has been answered.
	bg, stopBG := context.WithCancel(context.WithoutCancel(ctx))
	var wg sync.WaitGroup
	log.Debug("background work", "key_check_interval", keyInterval(cfg.KeyPrepublish),
		"key_reload_interval", keyReloadInterval, "janitor_interval", janitorInterval)
	wg.Go(func() { keyLoop(bg, km, keyInterval(cfg.KeyPrepublish), log) })
	wg.Go(func() { refusals.Run(bg) })
	wg.Go(func() {
		mx.Run(bg, metrics.RefreshInterval, metrics.Gauges{
			Families:    raw.CountFamilies,
			KeyActiveAt: func(ctx context.Context) (time.Time, bool, error) { return activeKeyAt(ctx, km) },
			Now:         a.now,
		}, func(err error) { log.Warn("metrics: cannot refresh the gauges; retrying later", "err", err) })
	})
	wg.Go(func() {
		janitor.New(st, janitor.Options{AuditRetention: cfg.AuditRetention, Keys: km, Log: log}).Run(bg, janitorInterval)
	})
	served := make(chan error, 2)
	go func() {
		if tlsCfg != nil {
			served <- srv.ServeTLS(ln, "", "")
		} else {
			served <- srv.Serve(ln)
		}
	}()
	go func() {
		if err := adminSrv.Serve(adminLn); err != nil && !errors.Is(err, http.ErrServerClosed) {
			served <- fmt.Errorf("admin listener: %w", err)
		} else {
			served <- err
		}
	}()

	log.Info("rotor is serving", "addr", ln.Addr().String(), "admin_addr", adminLn.Addr().String(), "issuer", issuer, "db", backend.Redact(cfg.DB),
		"tls", tlsCfg != nil, "startup", time.Since(started).Round(time.Millisecond))
	printBanner(a.stdout, cfg, issuer, ln.Addr().String(), adminLn.Addr().String(), tlsCfg != nil, demoText.String())
	if a.serveReady != nil {
		a.serveReady(issuer)
	}

	var serveErr error
	select {
	case <-ctx.Done():
		log.Info("shutting down")
	case serveErr = <-served:
	}
	sctx, cancel := context.WithTimeout(context.Background(), shutdownTimeout)
	defer cancel()
	// Both listeners close, then their requests in flight finish.
	var shut sync.WaitGroup
	var adminErr error
	shut.Go(func() { adminErr = adminSrv.Shutdown(sctx) })
	shutErr := srv.Shutdown(sctx)
	shut.Wait()
	shutErr = errors.Join(shutErr, adminErr)
	stopBG()
	wg.Wait()
	if serveErr != nil && !errors.Is(serveErr, http.ErrServerClosed) {
		return fmt.Errorf("serve: %w", serveErr)
	}
	if shutErr != nil {
		return fmt.Errorf("shut down: %w", shutErr)
	}
	log.Info("stopped")
	return nil
}

// publicParts are what the public listener is built from.
type publicParts struct {
	issuer    string
	st        store.Store
	sk        *secret.Keys
	km        *keys.Manager
	fams      *family.Service
	users     *users.Service
	passwords *secret.Verifier
	refusals  audit.Recorder
	now       func() time.Time
	log       *slog.Logger
	dpopNonce bool
	dbTimeout time.Duration
	proxies   []netip.Prefix
	device    authz.DeviceConfig
	metrics   *metrics.Metrics
}

// publicHandler is the public listener's handler: the protocol endpoints
// for machines (internal/server) and the pages for people (internal/web)
// on one mux, sharing stored rows and URLs only (docs/design.md).
func publicHandler(p publicParts) (http.Handler, error) {
	az := authz.New(p.st, p.sk, p.fams, p.now, p.log, authz.WithDevice(p.device))
	pages, err := web.New(web.Options{
		Issuer: p.issuer, Store: p.st, Secrets: p.sk, Authz: az, Sessions: session.New(p.st, p.sk, p.fams, p.now),
		Users: p.users, Families: p.fams, Tokens: token.NewIssuer(p.issuer, p.km, p.now), Refusals: p.refusals, Now: p.now, Log: p.log,
		TrustedProxies: p.proxies, DBTimeout: p.dbTimeout,
	})
	if err != nil {
		return nil, err
	}
	srv, err := server.New(server.Options{
		Issuer:         p.issuer,
		Store:          p.st,
		Secrets:        p.sk,
		Signer:         p.km,
		Families:       p.fams,
		Users:          p.users,
		Authz:          az,
		ErrorPage:      pages.ErrorPage,
		Passwords:      p.passwords,
		Now:            p.now,
		Log:            p.log,
		DPoPNonce:      p.dpopNonce,
		DBTimeout:      p.dbTimeout,
		Refusals:       p.refusals,
		TrustedProxies: p.proxies,
		Metrics:        p.metrics,
	})
	if err != nil {
		return nil, err
	}
	mux := http.NewServeMux()
	pages.Register(mux)
	mux.Handle("/", srv)
	return p.metrics.Middleware(mux), nil
}

// adminHandler is the admin listener's handler: GET /metrics, with no key
// (the listener is private; requiring one comes with the admin API keys).
func adminHandler(mx *metrics.Metrics) http.Handler {
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", mx.Handler())
	return mux
}

// activeKeyAt is when the signing key in use became active; one query of
// the few stored keys, made by the gauges' refresh, not per request.
func activeKeyAt(ctx context.Context, km *keys.Manager) (time.Time, bool, error) {
	all, err := km.Keys(ctx)
	if err != nil {
		return time.Time{}, false, err
	}
	for _, k := range all {
		if k.State == "active" {
			return k.ActiveAt, true, nil
		}
	}
	return time.Time{}, false, nil
}

// newHTTPServer is the HTTP server of serve, with its limits; the bench's
// floor server uses it too, so that both measure the same stack.
func newHTTPServer(h http.Handler, tlsCfg *tls.Config, log *slog.Logger) *http.Server {
	return &http.Server{
		Handler:           h,
		TLSConfig:         tlsCfg,
		ReadHeaderTimeout: readHeaderTimeout,
		ReadTimeout:       readTimeout,
		WriteTimeout:      writeTimeout,
		IdleTimeout:       idleTimeout,
		MaxHeaderBytes:    maxHeaderBytes,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}
}

// keyManager builds the signing-key manager with the configured policy.
// A superseded key stays published for the longest lifetime any access
// token may have, the hard cap rather than today's settings: a client's
// lifetime or the server's flag may change after the key signed.
func (a *app) keyManager(cfg *config.Config, st store.Store, sk *secret.Keys) *keys.Manager {
	return keys.NewManager(st, sk, keys.Options{
		Algorithm:      cfg.KeyAlgorithm,
		RotationPeriod: cfg.KeyRotation,
		Prepublish:     cfg.KeyPrepublish,
		MaxTokenTTL:    config.MaxAccessTokenTTL,
		ReloadInterval: keyReloadInterval,
		Now:            a.now,
	})
}

func keyInterval(prepublish time.Duration) time.Duration {
	d := keyCheckInterval
	if half := prepublish / 2; half > 0 && half < d {
		d = max(half, time.Second)
	}
	return d
}

// keyChecker makes sure a signing key is current and the next one
// published in time; [keys.Manager] is one. keyLoop calls it from one
// goroutine.
type keyChecker interface {
	EnsureCurrent(ctx context.Context) error
}

// keyLoop checks, every interval, that a signing key is current and the
// next one published in time (scheduled rotation).
func keyLoop(ctx context.Context, km keyChecker, every time.Duration, log *slog.Logger) {
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		switch err := km.EnsureCurrent(ctx); {
		case err != nil && ctx.Err() == nil:
			log.Error("scheduled signing-key check failed; retrying later", "err", err)
		case err == nil:
			log.Debug("signing keys checked", "next_check", every)
		}
	}
}

// printBanner tells a new user where the server is and what to try next:
// the demo's words when there are some (serve --demo), or else how to
// make a client and a user.
func printBanner(w io.Writer, cfg *config.Config, issuer, addr, adminAddr string, tls bool, demo string) {
	scheme := "http"
	if tls {
		scheme = "https"
	}
	db := ""
	switch {
	case cfg.DB == config.Default().DB:
	case backend.IsEmbedded(cfg.DB):
		db = " --db " + cfg.DB
	default:
		db = " --db \"$ROTOR_DATABASE_URL\""
	}
	fmt.Fprintf(w, `Rotor is running.

  issuer     %s
  listening  %s://%s
  admin      http://%s/metrics
  database   %s
  metadata   %s/.well-known/oauth-authorization-server
`, issuer, scheme, addr, adminAddr, backend.Redact(cfg.DB), issuer)
	if demo != "" {
		fmt.Fprintf(w, "%s\nStop with Ctrl-C.\n", demo)
		return
	}
	fmt.Fprintf(w, `
Next, in another terminal:

  rotor client create%s --id demo --generate-secret --grant-types password,refresh_token --scopes "read write"
  rotor user create%s --username alice --password-stdin
  curl -s -u demo:CLIENT_SECRET -d grant_type=password -d username=alice -d password=PASSWORD %s/oauth2/token
  rotor audit tail%s --follow

Stop with Ctrl-C.
`, db, db, issuer, db)
}
