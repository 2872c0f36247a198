// Command web is a server-side web app that signs people in with Rotor:
// the confidential-client pattern, which is also the Backend-for-Frontend
// that the OAuth browser-apps BCP recommends. The browser holds only a
// session cookie of this app; the tokens stay in this process.
//
// It uses the authorization code flow with PKCE (RFC 7636) through
// golang.org/x/oauth2, checks state and the RFC 9207 iss, verifies the
// id_token against the issuer's JWKS (signature, iss, aud, exp, nonce),
// refreshes through the client package (which saves each rotated
// refresh token before using it), calls examples/api with the access
// token, and signs out with OIDC RP-Initiated Logout.
//
//	rotor serve --demo    # prints the demo-web client's secret
//	CLIENT_SECRET=... go run ./examples/web
//
// Settings, from the environment: CLIENT_SECRET (required); ISSUER
// (default http://127.0.0.1:8080); CLIENT_ID (default demo-web); ADDR
// (default 127.0.0.1:8083); API (default http://127.0.0.1:9090); SCOPES
// (default "openid profile offline_access": GET /orders of examples/api
// needs no scope, only the audience); RESOURCE, the API's identifier,
// sent as an RFC 8707 resource indicator (default
// https://orders.example.com, "-" for none).
package main

import (
	"context"
	"crypto/subtle"
	"embed"
	"encoding/json"
	"errors"
	"fmt"
	"html/template"
	"io"
	"log"
	"net"
	"net/http"
	"net/url"
	"os"
	"strings"
	"time"

	"golang.org/x/oauth2"

	"github.com/rotor-auth/rotor/client"
)

//go:embed templates/*.html static/*.css
var files embed.FS

var pages = template.Must(template.ParseFS(files, "templates/*.html"))

// maxAPIAnswer caps what the page shows of an API answer.
const maxAPIAnswer = 4 << 10

// config is the app's settings.
type config struct {
	Issuer, ClientID, ClientSecret string
	Addr, API, Resource            string
	Scopes                         []string
}

// configFrom reads the settings through getenv.
func configFrom(getenv func(string) string) (config, error) {
	c := config{
		Issuer: strings.TrimRight(getenv("ISSUER"), "/"), ClientID: getenv("CLIENT_ID"), ClientSecret: getenv("CLIENT_SECRET"),
		Addr: getenv("ADDR"), API: strings.TrimRight(getenv("API"), "/"), Resource: getenv("RESOURCE"),
		Scopes: strings.Fields(getenv("SCOPES")),
	}
	if c.Issuer == "" {
		c.Issuer = "http://127.0.0.1:8080"
	}
	if c.ClientID == "" {
		c.ClientID = "demo-web"
	}
	if c.Addr == "" {
		c.Addr = "127.0.0.1:8083"
	}
	if c.API == "" {
		c.API = "http://127.0.0.1:9090"
	}
	switch c.Resource {
	case "":
		c.Resource = "https://orders.example.com"
	case "-":
		c.Resource = ""
	}
	if len(c.Scopes) == 0 {
		c.Scopes = []string{"openid", "profile", "offline_access"}
	}
	if c.ClientSecret == "" {
		return c, errors.New("set CLIENT_SECRET to the client's secret (rotor serve --demo prints demo-web's once)")
	}
	return c, nil
}

func main() {
	cfg, err := configFrom(os.Getenv)
	if err != nil {
		log.Fatal(err)
	}
	ln, err := net.Listen("tcp", cfg.Addr)
	if err != nil {
		log.Fatal(err)
	}
	base := "http://" + ln.Addr().String()
	a, err := newApp(context.Background(), cfg, base, http.DefaultClient)
	if err != nil {
		log.Fatal(err)
	}
	log.Printf("web app on %s, signing in with %s as %s", base, cfg.Issuer, cfg.ClientID)
	srv := &http.Server{Handler: a.routes(), ReadHeaderTimeout: 5 * time.Second}
	log.Fatal(srv.Serve(ln))
}

// metadata is what the app reads of the issuer's OpenID Provider
// metadata (OIDC Discovery §3).
type metadata struct {
	Issuer                string   `json:"issuer"`
	AuthorizationEndpoint string   `json:"authorization_endpoint"`
	TokenEndpoint         string   `json:"token_endpoint"`
	JWKSURI               string   `json:"jwks_uri"`
	RevocationEndpoint    string   `json:"revocation_endpoint"`
	UserinfoEndpoint      string   `json:"userinfo_endpoint"`
	EndSessionEndpoint    string   `json:"end_session_endpoint"`
	IDTokenSigningAlgs    []string `json:"id_token_signing_alg_values_supported"`
	ISSParameterSupported bool     `json:"authorization_response_iss_parameter_supported"`
}

// discover reads the issuer's metadata; its issuer must be the one asked
// for (OIDC Discovery §4.3), or the endpoints could be anyone's.
func discover(ctx context.Context, hc *http.Client, issuer string) (*metadata, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, issuer+"/.well-known/openid-configuration", nil)
	if err != nil {
		return nil, err
	}
	resp, err := hc.Do(req)
	if err != nil {
		return nil, fmt.Errorf("discover %s: %w", issuer, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("discover %s: %s", issuer, resp.Status)
	}
	var md metadata
	if err := json.NewDecoder(io.LimitReader(resp.Body, maxMetadata)).Decode(&md); err != nil {
		return nil, fmt.Errorf("discover %s: %w", issuer, err)
	}
	switch {
	case md.Issuer != issuer:
		return nil, fmt.Errorf("discover %s: the metadata names issuer %q", issuer, md.Issuer)
	case md.AuthorizationEndpoint == "" || md.TokenEndpoint == "" || md.JWKSURI == "":
		return nil, fmt.Errorf("discover %s: the metadata lacks the authorization, token or JWKS endpoint", issuer)
	}
	return &md, nil
}

// app is the web app.
type app struct {
	cfg      config
	base     string // this app's URL, http://host:port
	secure   bool
	md       *metadata
	oauth    *oauth2.Config
	ids      *idVerifier
	hc       *http.Client
	sessions *sessions
	// ctx is the token sources' context: they refresh in the background
	// of requests, so not a request's.
	ctx context.Context
}

// newApp discovers the issuer and builds the app served at base.
func newApp(ctx context.Context, cfg config, base string, hc *http.Client) (*app, error) {
	md, err := discover(ctx, hc, cfg.Issuer)
	if err != nil {
		return nil, err
	}
	return &app{
		cfg: cfg, base: base, secure: strings.HasPrefix(base, "https://"), md: md, hc: hc,
		oauth: &oauth2.Config{
			ClientID: cfg.ClientID, ClientSecret: cfg.ClientSecret, Scopes: cfg.Scopes,
			RedirectURL: base + "/callback",
			Endpoint: oauth2.Endpoint{AuthURL: md.AuthorizationEndpoint, TokenURL: md.TokenEndpoint,
				AuthStyle: oauth2.AuthStyleInHeader},
		},
		ids:      newIDVerifier(md, cfg.ClientID, hc, time.Now),
		sessions: newSessions(time.Now),
		ctx:      context.WithValue(context.WithoutCancel(ctx), oauth2.HTTPClient, hc),
	}, nil
}

func (a *app) routes() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /{$}", a.home)
	mux.HandleFunc("GET /login", a.login)
	mux.HandleFunc("GET /callback", a.callback)
	mux.HandleFunc("POST /call", a.call)
	mux.HandleFunc("POST /logout", a.logout)
	mux.Handle("GET /static/", http.FileServerFS(files))
	return a.headers(mux)
}

// headers sets the security headers of every answer: no script at all,
// forms only to this app (and the redirects they lead to, to Rotor), no
// framing, no referrer (the callback URL carries the code).
func (a *app) headers(next http.Handler) http.Handler {
	issuer := origin(a.cfg.Issuer)
	csp := "default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self' " + issuer +
		"; frame-ancestors 'none'; base-uri 'none'"
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("Content-Security-Policy", csp)
		h.Set("X-Frame-Options", "DENY")
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("Referrer-Policy", "no-referrer")
		h.Set("Cache-Control", "no-store")
		next.ServeHTTP(w, r)
	})
}

// origin returns scheme://host[:port] of a URL.
func origin(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return ""
	}
	return u.Scheme + "://" + u.Host
}

// page is what the templates show.
type page struct {
	Name, CSRF, Result, Notice, Error string
	SignedIn                          bool
}

func (a *app) render(w http.ResponseWriter, status int, name string, p page) {
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(status)
	if err := pages.ExecuteTemplate(w, name, p); err != nil {
		log.Printf("render %s: %v", name, err)
	}
}

// fail shows an error page that lets the person start again.
func (a *app) fail(w http.ResponseWriter, status int, msg string) {
	a.render(w, status, "error.html", page{Error: msg})
}

func (a *app) home(w http.ResponseWriter, r *http.Request) {
	s, _ := a.sessions.get(r)
	p := page{}
	switch {
	case s != nil && s.signedIn():
		p = page{SignedIn: true, Name: s.name, CSRF: s.csrf, Result: a.sessions.takeResult(s)}
	case r.URL.Query().Has("signed_out"):
		p.Notice = "You are signed out."
	case r.URL.Query().Has("state"):
		// Back from Rotor's end_session_endpoint.
		p.Notice = "You are signed out of Rotor too."
	}
	a.render(w, http.StatusOK, "home.html", p)
}

// login starts a sign-in: a fresh session (never one the browser brought,
// against session fixation) holding state, nonce and the PKCE verifier,
// and a redirect to Rotor's authorization endpoint.
func (a *app) login(w http.ResponseWriter, r *http.Request) {
	s := &session{state: random(32), nonce: random(32), verifier: oauth2.GenerateVerifier()}
	id, ok := a.sessions.add(s, pendingTTL)
	if !ok {
		a.fail(w, http.StatusServiceUnavailable, "Too many sign-ins at once. Try again in a minute.")
		return
	}
	setCookie(w, id, a.secure, pendingTTL)
	opts := []oauth2.AuthCodeOption{oauth2.S256ChallengeOption(s.verifier), oauth2.SetAuthURLParam("nonce", s.nonce)}
	if a.cfg.Resource != "" {
		opts = append(opts, oauth2.SetAuthURLParam("resource", a.cfg.Resource))
	}
	http.Redirect(w, r, a.oauth.AuthCodeURL(s.state, opts...), http.StatusSeeOther)
}

// callback finishes a sign-in: the answer must belong to this browser's
// sign-in (state), come from this issuer (RFC 9207 iss), and its code is
// exchanged with the PKCE verifier; the id_token then names the user.
func (a *app) callback(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	s, id := a.sessions.get(r)
	if s == nil || s.state == "" || subtle.ConstantTimeCompare([]byte(q.Get("state")), []byte(s.state)) != 1 {
		a.fail(w, http.StatusBadRequest, "This sign-in answer does not belong to a sign-in started in this browser, or it expired.")
		return
	}
	// The pending sign-in is used up whatever happens next.
	a.sessions.delete(id)
	clearCookie(w, a.secure)
	if iss := q.Get("iss"); (iss != "" || a.md.ISSParameterSupported) && iss != a.md.Issuer {
		a.fail(w, http.StatusBadRequest, "This sign-in answer comes from another issuer than the one this app uses.")
		return
	}
	if e := q.Get("error"); e != "" {
		msg := "Rotor did not sign you in (" + e + ")."
		if e == "access_denied" {
			msg = "You did not allow this app to access your account."
		}
		a.fail(w, http.StatusOK, msg)
		return
	}
	opts := []oauth2.AuthCodeOption{oauth2.VerifierOption(s.verifier)}
	if a.cfg.Resource != "" {
		opts = append(opts, oauth2.SetAuthURLParam("resource", a.cfg.Resource))
	}
	ctx := context.WithValue(r.Context(), oauth2.HTTPClient, a.hc)
	tok, err := a.oauth.Exchange(ctx, q.Get("code"), opts...)
	if err != nil {
		log.Printf("code exchange: %v", err)
		a.fail(w, http.StatusBadGateway, "Rotor did not accept the sign-in. Sign in again.")
		return
	}
	raw, _ := tok.Extra("id_token").(string)
	claims, err := a.ids.verify(r.Context(), raw, s.nonce)
	if err != nil {
		log.Printf("sign-in refused: %v", err)
		a.fail(w, http.StatusBadGateway, "Rotor's answer did not check out. Sign in again.")
		return
	}
	if claims.PreferredUsername == "" && claims.Email == "" {
		// The id_token need not carry the profile claims; userinfo does
		// (OIDC Core §5.4).
		if err := a.userinfo(r.Context(), tok, claims); err != nil {
			log.Printf("userinfo: %v", err)
		}
	}
	signed := &session{name: claims.name(), subject: claims.Subject, idToken: raw}
	a.startSource(signed, tok)
	nid, ok := a.sessions.add(signed, idleTTL)
	if !ok {
		a.fail(w, http.StatusServiceUnavailable, "Too many sessions at once. Try again in a minute.")
		return
	}
	setCookie(w, nid, a.secure, idleTTL)
	http.Redirect(w, r, "/", http.StatusSeeOther)
}

// userinfo reads the user's claims from the userinfo endpoint into c. The
// answer's sub must be the id_token's (OIDC Core §5.3.2), or it is about
// someone else.
func (a *app) userinfo(ctx context.Context, tok *oauth2.Token, c *idClaims) error {
	if a.md.UserinfoEndpoint == "" {
		return nil
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, a.md.UserinfoEndpoint, nil)
	if err != nil {
		return err
	}
	tok.SetAuthHeader(req)
	resp, err := a.hc.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("%s", resp.Status)
	}
	var info struct {
		Subject           string `json:"sub"`
		PreferredUsername string `json:"preferred_username"`
		Email             string `json:"email"`
	}
	if err := json.NewDecoder(io.LimitReader(resp.Body, maxMetadata)).Decode(&info); err != nil {
		return err
	}
	if info.Subject != c.Subject {
		return errors.New("the userinfo answer is about another user")
	}
	c.PreferredUsername, c.Email = info.PreferredUsername, info.Email
	return nil
}

// startSource gives a session its token source over tok: it refreshes
// once for concurrent requests and keeps the rotated refresh token.
func (a *app) startSource(s *session, tok *oauth2.Token) {
	s.tokens = client.NewMemoryStore(tok)
	s.src = client.TokenSource(a.ctx, &client.Config{OAuth2: a.oauth, HTTPClient: a.hc}, s.tokens)
}

// checkCSRF reports whether a form post carries the session's token.
// SameSite=Lax already keeps other sites' posts from carrying the cookie;
// this is the second lock.
func checkCSRF(r *http.Request, s *session) bool {
	r.Body = http.MaxBytesReader(nil, r.Body, 4<<10)
	return subtle.ConstantTimeCompare([]byte(r.PostFormValue("csrf_token")), []byte(s.csrf)) == 1
}

// call calls the API with the session's access token, refreshed first
// when it is about to expire, and shows the answer (post, redirect, get).
func (a *app) call(w http.ResponseWriter, r *http.Request) {
	s, id := a.sessions.get(r)
	if s == nil || !s.signedIn() {
		http.Redirect(w, r, "/", http.StatusSeeOther)
		return
	}
	if !checkCSRF(r, s) {
		a.fail(w, http.StatusForbidden, "This form expired. Go back to the home page and try again.")
		return
	}
	req, err := http.NewRequestWithContext(r.Context(), http.MethodGet, a.cfg.API+"/orders", nil)
	if err != nil {
		a.fail(w, http.StatusInternalServerError, "The API address is not valid.")
		return
	}
	resp, err := s.src.Client().Do(req)
	switch {
	case errors.Is(err, client.ErrSignInAgain):
		// The session at Rotor is over (revoked, expired, replayed).
		a.sessions.delete(id)
		clearCookie(w, a.secure)
		a.fail(w, http.StatusOK, "Your session has ended. Sign in again.")
		return
	case err != nil:
		log.Printf("call the API: %v", err)
		a.sessions.setResult(s, "The API could not be reached.")
	default:
		b, _ := io.ReadAll(io.LimitReader(resp.Body, maxAPIAnswer))
		resp.Body.Close()
		a.sessions.setResult(s, fmt.Sprintf("%s\n%s", resp.Status, strings.TrimSpace(string(b))))
	}
	http.Redirect(w, r, "/", http.StatusSeeOther)
}

// logout ends the session here, revokes its refresh token (RFC 7009) and
// sends the browser to Rotor's end_session_endpoint (OIDC RP-Initiated
// Logout §2), which ends the session at Rotor and comes back to the home
// page.
func (a *app) logout(w http.ResponseWriter, r *http.Request) {
	s, id := a.sessions.get(r)
	if s == nil || !s.signedIn() {
		http.Redirect(w, r, "/?signed_out", http.StatusSeeOther)
		return
	}
	if !checkCSRF(r, s) {
		a.fail(w, http.StatusForbidden, "This form expired. Go back to the home page and try again.")
		return
	}
	a.sessions.delete(id)
	clearCookie(w, a.secure)
	if tok, err := s.tokens.Load(r.Context()); err == nil && tok.RefreshToken != "" {
		a.revoke(r.Context(), tok.RefreshToken)
	}
	if a.md.EndSessionEndpoint == "" {
		http.Redirect(w, r, "/?signed_out", http.StatusSeeOther)
		return
	}
	v := url.Values{"id_token_hint": {s.idToken}, "client_id": {a.cfg.ClientID},
		"post_logout_redirect_uri": {a.base + "/"}, "state": {random(16)}}
	http.Redirect(w, r, a.md.EndSessionEndpoint+"?"+v.Encode(), http.StatusSeeOther)
}

// revoke revokes a refresh token, and with it its whole family at Rotor.
// A failure is logged, not shown: the end-session step revokes the
// session's families as well.
func (a *app) revoke(ctx context.Context, rt string) {
	if a.md.RevocationEndpoint == "" {
		return
	}
	form := url.Values{"token": {rt}, "token_type_hint": {"refresh_token"}}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, a.md.RevocationEndpoint, strings.NewReader(form.Encode()))
	if err != nil {
		return
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth(url.QueryEscape(a.cfg.ClientID), url.QueryEscape(a.cfg.ClientSecret)) // RFC 6749 §2.3.1
	resp, err := a.hc.Do(req)
	if err != nil {
		log.Printf("revoke: %v", err)
		return
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		log.Printf("revoke: %s", resp.Status)
	}
}
