package server_test

import (
	"context"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/base64"
	"encoding/json"
	"errors"
	"hash"
	"html"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	"golang.org/x/oauth2"

	"github.com/rotor-auth/rotor/internal/secret"
	"github.com/rotor-auth/rotor/internal/store"
	"github.com/rotor-auth/rotor/internal/store/testdb"
)

// The code flow as a server-side web app does it with golang.org/x/oauth2,
// and a person's browser without script: an HTTP client with a cookie
// jar that fills the login and consent forms.

const (
	flowSecret = "web-app-secret-for-the-code-flow"
	flowPass   = "correct horse battery staple"
	// flowRedirect is registered without a port; the requests give one,
	// which RFC 8252 §7.3 lets a loopback redirect URI choose.
	flowRedirect = "http://127.0.0.1/cb"
	flowCallback = "http://127.0.0.1:43123/cb"
)

// flowSetup registers the confidential client "webapp" and the user
// alice, and returns x/oauth2's configuration of the client.
func flowSetup(t testing.TB, r *rig) (*oauth2.Config, *store.User) {
	t.Helper()
	r.AddClient(t, store.Client{ID: "webapp", Name: "Web App", GrantTypes: []string{"authorization_code", "refresh_token"},
		Scopes: []string{"read"}, RedirectURIs: []string{flowRedirect}}, flowSecret)
	u := &store.User{ID: secret.NewID(), Username: "alice", Email: "alice@example.com", EmailVerified: true,
		PasswordPHC: secret.HashPassword(flowPass), CreatedAt: time.Now().Add(-time.Minute), UpdatedAt: time.Now()}
	if err := r.Store.CreateUser(context.Background(), u); err != nil {
		t.Fatal(err)
	}
	return &oauth2.Config{
		ClientID: "webapp", ClientSecret: flowSecret, RedirectURL: flowCallback,
		Scopes: []string{"openid", "profile", "email", "offline_access", "read"},
		Endpoint: oauth2.Endpoint{AuthURL: r.URL + "/oauth2/authorize", TokenURL: r.URL + "/oauth2/token",
			AuthStyle: oauth2.AuthStyleInHeader},
	}, u
}

// pageClient is a browser without script: it keeps cookies and shows
// each redirect rather than following it.
type pageClient struct {
	t      testing.TB
	c      *http.Client
	issuer *url.URL
}

func newPageClient(t testing.TB, r *rig) *pageClient {
	t.Helper()
	jar, err := cookiejar.New(nil)
	if err != nil {
		t.Fatal(err)
	}
	iss, err := url.Parse(r.URL)
	if err != nil {
		t.Fatal(err)
	}
	c := *r.Client()
	c.Jar = jar
	c.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	return &pageClient{t: t, c: &c, issuer: iss}
}

// page is an answer, read.
type page struct {
	status int
	header http.Header
	body   string
	url    string
}

func (p *pageClient) send(req *http.Request) *page {
	p.t.Helper()
	resp, err := p.c.Do(req)
	if err != nil {
		p.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		p.t.Fatal(err)
	}
	return &page{status: resp.StatusCode, header: resp.Header, body: string(b), url: req.URL.String()}
}

// walk sends req and follows the redirects that stay on the issuer, as a
// browser would. It returns the page it stops at, or the URL of a
// redirect that leaves the issuer (to the client), without following it.
func (p *pageClient) walk(req *http.Request) (*page, *url.URL) {
	p.t.Helper()
	for range 10 {
		pg := p.send(req)
		if pg.status != http.StatusSeeOther && pg.status != http.StatusFound {
			return pg, nil
		}
		next, err := req.URL.Parse(pg.header.Get("Location"))
		if err != nil {
			p.t.Fatalf("bad Location %q: %v", pg.header.Get("Location"), err)
		}
		if next.Host != p.issuer.Host {
			return pg, next
		}
		if req, err = http.NewRequest(http.MethodGet, next.String(), nil); err != nil {
			p.t.Fatal(err)
		}
	}
	p.t.Fatal("more than 10 redirects")
	return nil, nil
}

func (p *pageClient) get(u string) (*page, *url.URL) {
	p.t.Helper()
	req, err := http.NewRequest(http.MethodGet, u, nil)
	if err != nil {
		p.t.Fatal(err)
	}
	return p.walk(req)
}

// submit posts a page's form, its hidden fields and extra, to path.
func (p *pageClient) submit(pg *page, path string, extra url.Values) (*page, *url.URL) {
	p.t.Helper()
	f := pg.hidden()
	if f.Get("csrf_token") == "" || f.Get("request") == "" {
		p.t.Fatalf("no form with csrf_token and request at %s: %d %.400s", pg.url, pg.status, pg.body)
	}
	for k, v := range extra {
		f[k] = v
	}
	req, err := http.NewRequest(http.MethodPost, p.issuer.String()+path, strings.NewReader(f.Encode()))
	if err != nil {
		p.t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	return p.walk(req)
}

var hiddenField = regexp.MustCompile(`<input type="hidden" name="([a-z_]+)" value="([^"]*)">`)

// hidden returns the page's hidden form fields.
func (pg *page) hidden() url.Values {
	v := url.Values{}
	for _, m := range hiddenField.FindAllStringSubmatch(pg.body, -1) {
		v.Set(m[1], html.UnescapeString(m[2]))
	}
	return v
}

// signInFlow starts an authorization at authURL and, signing in as
// alice and allowing what is asked when asked, returns the redirect to
// the client.
func signInFlow(t testing.TB, p *pageClient, authURL string) *url.URL {
	t.Helper()
	pg, back := p.get(authURL)
	if back != nil {
		return back
	}
	if pg.status != http.StatusOK || !strings.Contains(pg.body, `name="password"`) {
		t.Fatalf("want the login page, got %d %.400s", pg.status, pg.body)
	}
	pg, back = p.submit(pg, "/login", url.Values{"username": {"alice"}, "password": {flowPass}})
	if back != nil {
		return back
	}
	if pg.status != http.StatusOK || !strings.Contains(pg.body, `value="allow"`) {
		t.Fatalf("want the consent page, got %d %.400s", pg.status, pg.body)
	}
	_, back = p.submit(pg, "/consent", url.Values{"decision": {"allow"}})
	if back == nil {
		t.Fatal("Allow did not send the browser to the client")
	}
	return back
}

// callbackCode checks the authorization response (RFC 6749 §4.1.2, RFC
// 9207) and returns its code.
func callbackCode(t testing.TB, back *url.URL, issuer, state string) string {
	t.Helper()
	q := back.Query()
	if got := back.Scheme + "://" + back.Host + back.Path; got != flowCallback {
		t.Fatalf("redirected to %s, want %s", got, flowCallback)
	}
	if q.Get("error") != "" || q.Get("code") == "" || q.Get("state") != state || q.Get("iss") != issuer {
		t.Fatalf("authorization response %v, want a code with state %q and iss %q", q, state, issuer)
	}
	return q.Get("code")
}

// TestCodeFlowWithXOAuth2 is the code flow end to end with the client
// library most Go web apps use: PKCE S256 from oauth2.GenerateVerifier,
// the login and consent forms, the exchange, an id_token checked against
// the published JWKS (OIDC Core §3.1.3.7), userinfo with the access
// token, and a refresh that rotates.
func TestCodeFlowWithXOAuth2(t *testing.T) {
	testdb.Each(t, func(t *testing.T, st store.Store) {
		r := newRig(t, st, nil)
		cfg, alice := flowSetup(t, r)
		ctx := context.WithValue(context.Background(), oauth2.HTTPClient, r.Client())
		verifier := oauth2.GenerateVerifier()
		state, nonce := secret.NewID(), secret.NewID()
		authURL := cfg.AuthCodeURL(state, oauth2.S256ChallengeOption(verifier), oauth2.SetAuthURLParam("nonce", nonce))

		p := newPageClient(t, r)
		code := callbackCode(t, signInFlow(t, p, authURL), r.URL, state)
		tok, err := cfg.Exchange(ctx, code, oauth2.VerifierOption(verifier))
		if err != nil {
			t.Fatalf("exchange: %v", err)
		}
		if tok.AccessToken == "" || tok.RefreshToken == "" || !strings.EqualFold(tok.TokenType, "bearer") {
			t.Fatalf("token response: type %q, access %t, refresh %t", tok.TokenType, tok.AccessToken != "", tok.RefreshToken != "")
		}
		rawID, _ := tok.Extra("id_token").(string)
		if rawID == "" {
			t.Fatal("no id_token for scope openid")
		}
		claims := verifyIDToken(t, r, rawID, "webapp")
		if claims["nonce"] != nonce || claims["sub"] != alice.ID {
			t.Errorf("id_token nonce %v sub %v, want %q %q", claims["nonce"], claims["sub"], nonce, alice.ID)
		}
		if claims["azp"] != nil && claims["azp"] != "webapp" {
			t.Errorf("azp %v", claims["azp"])
		}
		if sid, _ := claims["sid"].(string); sid == "" {
			t.Error("the id_token names no session (sid)")
		}
		if at, _ := claims["auth_time"].(float64); at <= 0 || time.Since(time.Unix(int64(at), 0)) > time.Minute {
			t.Errorf("auth_time %v is not the login just now", claims["auth_time"])
		}
		wantAtHash, err := atHash(claims["alg"].(string), tok.AccessToken)
		if err != nil {
			t.Fatal(err)
		}
		if claims["at_hash"] != wantAtHash {
			t.Errorf("at_hash %v, want %s", claims["at_hash"], wantAtHash)
		}

		// The same code a second time is refused (RFC 6749 §4.1.2).
		if _, err := cfg.Exchange(ctx, code, oauth2.VerifierOption(verifier)); !isOAuthError(err, "invalid_grant") {
			t.Fatalf("second redemption of a code: %v, want invalid_grant", err)
		}

		// And a fresh flow, since that replay ended the first family.
		p = newPageClient(t, r)
		verifier = oauth2.GenerateVerifier()
		state = secret.NewID()
		back := signInFlow(t, p, cfg.AuthCodeURL(state, oauth2.S256ChallengeOption(verifier), oauth2.SetAuthURLParam("nonce", nonce)))
		tok, err = cfg.Exchange(ctx, callbackCode(t, back, r.URL, state), oauth2.VerifierOption(verifier))
		if err != nil {
			t.Fatalf("exchange: %v", err)
		}

		// Refresh through x/oauth2: a new refresh token, and a new id_token
		// without nonce (OIDC Core §12.2).
		old := tok.RefreshToken
		tok.Expiry = time.Now().Add(-time.Second)
		next, err := cfg.TokenSource(ctx, tok).Token()
		if err != nil {
			t.Fatalf("refresh: %v", err)
		}
		if next.RefreshToken == "" || next.RefreshToken == old || next.AccessToken == tok.AccessToken {
			t.Fatal("refresh did not rotate the tokens")
		}
		if raw, _ := next.Extra("id_token").(string); raw == "" {
			t.Error("no id_token on refresh")
		} else if c := verifyIDToken(t, r, raw, "webapp"); c["nonce"] != nil || c["sub"] != alice.ID {
			t.Errorf("refreshed id_token: nonce %v sub %v", c["nonce"], c["sub"])
		}

		// Last, since it skips on a build without the endpoint.
		info := userInfo(t, r, next.AccessToken)
		if info["sub"] != alice.ID || info["preferred_username"] != "alice" || info["email"] != "alice@example.com" || info["email_verified"] != true {
			t.Errorf("userinfo %v", info)
		}
	})
}

// verifyIDToken checks an id_token's signature with the issuer's JWKS
// and its iss, aud and times (OIDC Core §3.1.3.7), and returns its claims
// with the header's alg under "alg".
func verifyIDToken(t testing.TB, r *rig, raw, clientID string) map[string]any {
	t.Helper()
	resp, err := r.Client().Get(r.URL + "/.well-known/jwks.json")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var set jose.JSONWebKeySet
	if err := json.NewDecoder(resp.Body).Decode(&set); err != nil {
		t.Fatalf("jwks: %v", err)
	}
	jws, err := jose.ParseSignedCompact(raw, []jose.SignatureAlgorithm{jose.ES256, jose.EdDSA, jose.RS256})
	if err != nil {
		t.Fatalf("id_token: %v", err)
	}
	if len(jws.Signatures) != 1 {
		t.Fatalf("id_token has %d signatures", len(jws.Signatures))
	}
	h := jws.Signatures[0].Header
	keys := set.Key(h.KeyID)
	if len(keys) != 1 {
		t.Fatalf("the JWKS holds %d keys with the id_token's kid %q", len(keys), h.KeyID)
	}
	payload, err := jws.Verify(keys[0])
	if err != nil {
		t.Fatalf("the id_token's signature does not verify with the JWKS: %v", err)
	}
	var c map[string]any
	if err := json.Unmarshal(payload, &c); err != nil {
		t.Fatal(err)
	}
	if c["iss"] != r.URL {
		t.Errorf("iss %v, want %s", c["iss"], r.URL)
	}
	switch aud := c["aud"].(type) {
	case string:
		if aud != clientID {
			t.Errorf("aud %q, want %q", aud, clientID)
		}
	case []any:
		if !slices.Contains(aud, any(clientID)) {
			t.Errorf("aud %v lacks %q", aud, clientID)
		}
	default:
		t.Errorf("aud %v", c["aud"])
	}
	now := float64(time.Now().Unix())
	if exp, _ := c["exp"].(float64); exp <= now {
		t.Errorf("exp %v is not in the future", c["exp"])
	}
	if iat, _ := c["iat"].(float64); iat > now+5 || iat < now-60 {
		t.Errorf("iat %v is not now", c["iat"])
	}
	c["alg"] = h.Algorithm
	return c
}

// atHash is OIDC Core §3.1.3.6's at_hash: the left half of the hash of
// the access token, with the hash of the id_token's alg (SHA-512 for
// Ed25519).
func atHash(alg, accessToken string) (string, error) {
	var h hash.Hash
	switch alg {
	case "ES256", "RS256", "PS256":
		h = sha256.New()
	case "EdDSA":
		h = sha512.New()
	default:
		return "", errors.New("no at_hash rule for " + alg)
	}
	h.Write([]byte(accessToken))
	sum := h.Sum(nil)
	return base64.RawURLEncoding.EncodeToString(sum[:len(sum)/2]), nil
}

// userInfo calls GET /userinfo with a Bearer token and returns its claims,
// or nil (with the test skipped) when the server has no such endpoint.
func userInfo(t testing.TB, r *rig, accessToken string) map[string]any {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, r.URL+"/userinfo", nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+accessToken)
	resp, err := r.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<16))
	if resp.StatusCode == http.StatusNotFound {
		t.Skip("GET /userinfo answers 404: this build has no UserInfo endpoint")
	}
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("userinfo: %d %s", resp.StatusCode, body)
	}
	var c map[string]any
	if err := json.Unmarshal(body, &c); err != nil {
		t.Fatalf("userinfo is not JSON: %s", body)
	}
	return c
}

// isOAuthError reports whether err is x/oauth2's error for an RFC 6749
// §5.2 answer with code.
func isOAuthError(err error, code string) bool {
	var re *oauth2.RetrieveError
	return errors.As(err, &re) && re.ErrorCode == code
}

// BenchmarkCodeFlow measures a whole authorization code flow without a
// browser, on SQLite: GET /oauth2/authorize, the login page's redirect,
// the code at the client's redirect URI, and POST /oauth2/token through
// x/oauth2. "session" is a person who has a live session and consented
// before; "password" signs in with the password each time (argon2id).
func BenchmarkCodeFlow(b *testing.B) {
	for _, login := range []bool{false, true} {
		name := "session"
		if login {
			name = "password"
		}
		b.Run(name, func(b *testing.B) {
			r := newRig(b, testdb.SQLite(b), nil)
			cfg, _ := flowSetup(b, r)
			ctx := context.WithValue(context.Background(), oauth2.HTTPClient, r.Client())
			// Consent once, and keep the session of that sign-in.
			p := newPageClient(b, r)
			v := oauth2.GenerateVerifier()
			back := signInFlow(b, p, cfg.AuthCodeURL("warm", oauth2.S256ChallengeOption(v)))
			if _, err := cfg.Exchange(ctx, callbackCode(b, back, r.URL, "warm"), oauth2.VerifierOption(v)); err != nil {
				b.Fatal(err)
			}
			for b.Loop() {
				if login {
					p = newPageClient(b, r) // no session: the password every time
				}
				v := oauth2.GenerateVerifier()
				var back *url.URL
				authURL := cfg.AuthCodeURL("s", oauth2.S256ChallengeOption(v))
				if login {
					back = signInFlow(b, p, authURL)
				} else if _, back = p.get(authURL); back == nil {
					b.Fatal("a signed-in person who consented before did not go straight to the client")
				}
				tok, err := cfg.Exchange(ctx, callbackCode(b, back, r.URL, "s"), oauth2.VerifierOption(v))
				if err != nil || tok.AccessToken == "" {
					b.Fatalf("exchange: %v", err)
				}
			}
		})
	}
}
