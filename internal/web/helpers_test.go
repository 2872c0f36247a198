package web_test

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"html"
	"io"
	"log/slog"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/netip"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rotor-auth/rotor/internal/audit"
	"github.com/rotor-auth/rotor/internal/authz"
	"github.com/rotor-auth/rotor/internal/family"
	"github.com/rotor-auth/rotor/internal/keys"
	"github.com/rotor-auth/rotor/internal/secret"
	"github.com/rotor-auth/rotor/internal/session"
	"github.com/rotor-auth/rotor/internal/store"
	"github.com/rotor-auth/rotor/internal/store/testdb"
	"github.com/rotor-auth/rotor/internal/token"
	"github.com/rotor-auth/rotor/internal/users"
	"github.com/rotor-auth/rotor/internal/web"
)

// clock is a settable clock for the whole rig.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time      { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) Add(d time.Duration) { c.mu.Lock(); c.t = c.t.Add(d); c.mu.Unlock() }

// rig is the pages on a loopback server over a real SQLite store, with
// the domain services they use; the authorization endpoint is played by
// the test, which seals requests as it would.
type rig struct {
	st       store.Store
	secrets  *secret.Keys
	clock    *clock
	families *family.Service
	authz    *authz.Service
	sessions *session.Service
	tokens   *token.Issuer
	refusals *audit.Aggregator
	web      *web.Handler
	srv      *httptest.Server
	issuer   string
	client   *store.Client
	user     *store.User
}

const (
	password    = "correct horse battery staple"
	redirectURI = "http://127.0.0.1:9/callback"
	logoutURI   = "http://127.0.0.1:9/signed-out"
	verifier    = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk1234"
)

// loopbackProxy makes the test's loopback connections a trusted proxy, so
// that a browser's from address counts; without it they come from
// 127.0.0.1.
var loopbackProxy = []netip.Prefix{netip.MustParsePrefix("127.0.0.1/32")}

func newRig(t testing.TB) *rig { t.Helper(); return newRigOn(t, testdb.SQLite(t)) }

// newRigOn is newRig over st.
func newRigOn(t testing.TB, st store.Store) *rig {
	t.Helper()
	secrets, err := secret.Derive(secret.NewMasterKey())
	if err != nil {
		t.Fatal(err)
	}
	clk := &clock{t: time.Now().UTC()}
	ts := httptest.NewUnstartedServer(nil)
	issuer := "http://" + ts.Listener.Addr().String()
	log := slog.New(slog.DiscardHandler)
	km := keys.NewManager(st, secrets, keys.Options{MaxTokenTTL: 10 * time.Minute, Now: clk.Now})
	if err := km.EnsureCurrent(context.Background()); err != nil {
		t.Fatal(err)
	}
	agg := audit.NewAggregator(st, 0, 0, clk.Now, log)
	fams := family.New(st, secrets, family.DefaultConfig(), clk.Now, log, family.WithRefusals(agg))
	r := &rig{st: st, secrets: secrets, clock: clk, families: fams, refusals: agg, issuer: issuer,
		authz:    authz.New(st, secrets, fams, clk.Now, log),
		sessions: session.New(st, secrets, fams, clk.Now),
		tokens:   token.NewIssuer(issuer, km, clk.Now),
	}
	r.web, err = web.New(web.Options{Issuer: issuer, Store: st, Secrets: secrets, Authz: r.authz, Sessions: r.sessions,
		Users: users.New(st, fams, secret.NewVerifier(0), clk.Now), Families: fams, Tokens: r.tokens, Refusals: agg, Now: clk.Now, Log: log,
		TrustedProxies: loopbackProxy})
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	r.web.Register(mux)
	ts.Config.Handler = mux
	ts.Start()
	t.Cleanup(ts.Close)
	r.srv = ts
	r.client = r.addClient(t, store.Client{ID: "webapp", Name: "Example Web App",
		GrantTypes: []string{"authorization_code", "refresh_token"}, RedirectURIs: []string{redirectURI},
		PostLogoutRedirectURIs: []string{logoutURI}, Scopes: []string{"openid", "profile", "offline_access", "read"}})
	r.user = r.addUser(t, "alice")
	return r
}

func (r *rig) addClient(t testing.TB, c store.Client) *store.Client {
	t.Helper()
	c.SecretHash = r.secrets.Hash("secret-" + c.ID)
	c.CreatedAt, c.UpdatedAt = r.clock.Now(), r.clock.Now()
	if err := r.st.CreateClient(context.Background(), &c); err != nil {
		t.Fatal(err)
	}
	return &c
}

func (r *rig) addUser(t testing.TB, name string) *store.User {
	t.Helper()
	u := &store.User{ID: secret.NewID(), Username: name, PasswordPHC: secret.HashPassword(password),
		CreatedAt: r.clock.Now().Add(-time.Hour), UpdatedAt: r.clock.Now().Add(-time.Hour)}
	if err := r.st.CreateUser(context.Background(), u); err != nil {
		t.Fatal(err)
	}
	return u
}

// request seals an authorization request of the rig's client, as the
// authorization endpoint does, and returns the login page's URL.
func (r *rig) request(edit ...func(*authz.Request)) string {
	return r.requestTo(redirectURI, "openid read", edit...)
}

// requestTo is request with another redirect URI and scope.
func (r *rig) requestTo(redirectURI, scope string, edit ...func(*authz.Request)) string {
	sum := sha256.Sum256([]byte(verifier))
	req := &authz.Request{ClientID: r.client.ID, RedirectURI: redirectURI, RedirectGiven: true, Scopes: strings.Fields(scope),
		State: "st-1", Nonce: "n-1", CodeChallenge: base64.RawURLEncoding.EncodeToString(sum[:]), MaxAge: -1,
		IssuedAt: r.clock.Now()}
	for _, f := range edit {
		f(req)
	}
	return r.issuer + web.LoginPath + "?" + url.Values{"request": {authz.Seal(r.secrets, req)}}.Encode()
}

// browser is an HTTP client with a cookie jar that does not follow
// redirects, so that each step can be checked.
type browser struct {
	t testing.TB
	// base is the issuer the browser talks to.
	base string
	c    *http.Client
	jar  *cookiejar.Jar
	// from, when set, is sent as X-Forwarded-For: the address the browser
	// seems to come from to a Rotor that trusts the loopback proxy.
	from string
	// agent, when set, is the User-Agent the browser sends.
	agent string
}

// forwarding sends a browser's from address as a proxy would, and its
// agent.
type forwarding struct{ b *browser }

func (f forwarding) RoundTrip(req *http.Request) (*http.Response, error) {
	if f.b.from != "" || f.b.agent != "" {
		req = req.Clone(req.Context())
	}
	if f.b.from != "" {
		req.Header.Set("X-Forwarded-For", f.b.from)
	}
	if f.b.agent != "" {
		req.Header.Set("User-Agent", f.b.agent)
	}
	return http.DefaultTransport.RoundTrip(req)
}

func (r *rig) browser(t testing.TB) *browser { return newBrowser(t, r.issuer) }

// newBrowser is a browser for the pages at base.
func newBrowser(t testing.TB, base string) *browser {
	jar, _ := cookiejar.New(nil)
	b := &browser{t: t, base: base, jar: jar}
	b.c = &http.Client{Jar: jar, Transport: forwarding{b},
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	return b
}

// response is an answer, read.
type response struct {
	*http.Response
	body string
}

func (b *browser) get(u string) *response {
	b.t.Helper()
	resp, err := b.c.Get(u)
	if err != nil {
		b.t.Fatal(err)
	}
	return read(b.t, resp)
}

func (b *browser) post(path string, form url.Values) *response {
	b.t.Helper()
	resp, err := b.c.PostForm(b.base+path, form)
	if err != nil {
		b.t.Fatal(err)
	}
	return read(b.t, resp)
}

func read(t testing.TB, resp *http.Response) *response {
	t.Helper()
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return &response{Response: resp, body: string(body)}
}

// follow resolves a Location against the issuer.
func (b *browser) follow(resp *response) *response {
	b.t.Helper()
	loc := resp.Header.Get("Location")
	if loc == "" {
		b.t.Fatalf("no redirect: %d %s", resp.StatusCode, resp.body)
	}
	u, err := url.Parse(b.base)
	if err != nil {
		b.t.Fatal(err)
	}
	next, err := u.Parse(loc)
	if err != nil {
		b.t.Fatal(err)
	}
	return b.get(next.String())
}

var hiddenRE = regexp.MustCompile(`<input type="hidden" name="([a-z_]+)" value="([^"]*)">`)

// hidden returns a page's hidden form fields.
func (resp *response) hidden() url.Values {
	v := url.Values{}
	for _, m := range hiddenRE.FindAllStringSubmatch(resp.body, -1) {
		v.Set(m[1], html.UnescapeString(m[2]))
	}
	return v
}

var alertRE = regexp.MustCompile(`role="alert">([^<]*)<`)

// alert returns the text of the page's [role=alert], or "".
func (resp *response) alert() string {
	m := alertRE.FindStringSubmatch(resp.body)
	if m == nil {
		return ""
	}
	return html.UnescapeString(m[1])
}

// login fills and sends the login form of page with the password pw.
func (b *browser) login(page *response, username, pw string) *response {
	b.t.Helper()
	f := page.hidden()
	if f.Get("csrf_token") == "" || f.Get("request") == "" {
		b.t.Fatalf("not a login form: %d %s", page.StatusCode, page.body)
	}
	f.Set("username", username)
	f.Set("password", pw)
	return b.post(web.LoginPath, f)
}

// decide sends the consent page's form with decision.
func (b *browser) decide(page *response, decision string) *response {
	b.t.Helper()
	f := page.hidden()
	f.Set("decision", decision)
	return b.post(web.ConsentPath, f)
}

// callback checks that resp sends the browser to the client's redirect
// URI and returns its query.
func callback(t testing.TB, resp *response) url.Values {
	t.Helper()
	if resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("status %d, want 303 to the client: %s", resp.StatusCode, resp.body)
	}
	loc := resp.Header.Get("Location")
	if !strings.HasPrefix(loc, redirectURI+"?") {
		t.Fatalf("redirect to %q, want the client's %s", loc, redirectURI)
	}
	u, _ := url.Parse(loc)
	return u.Query()
}

// signIn runs login and consent (allow) and returns the code.
func (b *browser) signIn(loginURL string) string {
	b.t.Helper()
	page := b.get(loginURL)
	next := b.follow(b.login(page, "alice", password))
	if next.StatusCode == http.StatusOK {
		next = b.decide(next, "allow")
	}
	q := callback(b.t, next)
	if q.Get("code") == "" {
		b.t.Fatalf("no code: %v", q)
	}
	return q.Get("code")
}

// redeem redeems code as the token endpoint would.
func (r *rig) redeem(t testing.TB, code string) *authz.Redeemed {
	t.Helper()
	got, err := r.authz.Redeem(context.Background(), authz.RedeemParams{Client: r.client, Code: code, RedirectURI: redirectURI,
		Verifier: verifier, AccessTokenID: secret.NewID(), Refresh: func([]string) bool { return true }})
	if err != nil {
		t.Fatal(err)
	}
	return got
}
