package server_test

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rotor-auth/rotor/internal/audit"
	"github.com/rotor-auth/rotor/internal/server"
	"github.com/rotor-auth/rotor/internal/store"
	"github.com/rotor-auth/rotor/internal/store/postgres"
	"github.com/rotor-auth/rotor/internal/store/testdb"
)

const svcSecret = "s3cret-for-tests"

// standard registers the clients most tests use: "svc" (confidential,
// every grant, audience "api") and "spa" (public), and user alice.
func standard(t testing.TB, r *rig, grace time.Duration) {
	t.Helper()
	r.addClient(t, store.Client{ID: "svc", GrantTypes: []string{"password", "refresh_token", "client_credentials"},
		Scopes: []string{"read", "write"}, Audiences: []string{"https://api.example"}, ReuseGrace: dur(grace)}, svcSecret)
	r.addClient(t, store.Client{ID: "spa", GrantTypes: []string{"password", "refresh_token"},
		Scopes: []string{"read"}, ReuseGrace: dur(grace)}, "")
	r.addUser(t, "alice", "correct horse")
}

func passwordGrant(t testing.TB, r *rig) response {
	t.Helper()
	resp := r.post(t, "/oauth2/token", url.Values{"grant_type": {"password"}, "username": {"alice"},
		"password": {"correct horse"}, "scope": {"read write"}}, "svc", svcSecret)
	expectOK(t, resp)
	return resp
}

func refresh(t testing.TB, r *rig, rt string) response {
	t.Helper()
	return r.post(t, "/oauth2/token", url.Values{"grant_type": {"refresh_token"}, "refresh_token": {rt}}, "svc", svcSecret)
}

func TestTokenEndpointProtocol(t *testing.T) {
	r := newRig(t, testdb.SQLite(t), nil)
	standard(t, r, 0)
	basic := func(id, sec string) string {
		return "Basic " + base64.StdEncoding.EncodeToString([]byte(id+":"+sec))
	}
	for _, tc := range []struct {
		name        string
		contentType string
		body        string
		authz       string
		status      int
		code        string
	}{
		{"repeated parameter", "application/x-www-form-urlencoded", "grant_type=client_credentials&grant_type=client_credentials", basic("svc", svcSecret), 400, "invalid_request"},
		{"JSON body", "application/json", `{"grant_type":"client_credentials"}`, basic("svc", svcSecret), 400, "invalid_request"},
		{"no grant_type", "application/x-www-form-urlencoded", "scope=read", basic("svc", svcSecret), 400, "invalid_request"},
		{"unknown grant", "application/x-www-form-urlencoded", "grant_type=magic", basic("svc", svcSecret), 400, "unsupported_grant_type"},
		{"wrong secret over Basic", "application/x-www-form-urlencoded", "grant_type=client_credentials", basic("svc", "nope"), 401, "invalid_client"},
		{"unknown client", "application/x-www-form-urlencoded", "grant_type=client_credentials", basic("ghost", "x"), 401, "invalid_client"},
		{"no client at all", "application/x-www-form-urlencoded", "grant_type=client_credentials", "", 401, "invalid_client"},
		{"two auth methods", "application/x-www-form-urlencoded", "grant_type=client_credentials&client_secret=" + svcSecret, basic("svc", svcSecret), 400, "invalid_request"},
		{"public client may not use client_credentials", "application/x-www-form-urlencoded", "grant_type=client_credentials&client_id=spa", "", 400, "unauthorized_client"},
		{"scope outside the client's", "application/x-www-form-urlencoded", "grant_type=client_credentials&scope=admin", basic("svc", svcSecret), 400, "invalid_scope"},
		{"resource not allowed", "application/x-www-form-urlencoded", "grant_type=client_credentials&resource=https%3A%2F%2Fevil.example", basic("svc", svcSecret), 400, "invalid_target"},
		{"bad escape", "application/x-www-form-urlencoded", "grant_type=%zz", basic("svc", svcSecret), 400, "invalid_request"},
		{"refresh without token", "application/x-www-form-urlencoded", "grant_type=refresh_token", basic("svc", svcSecret), 400, "invalid_request"},
		{"garbage refresh token", "application/x-www-form-urlencoded", "grant_type=refresh_token&refresh_token=rt_nope", basic("svc", svcSecret), 400, "invalid_grant"},
		{"wrong password", "application/x-www-form-urlencoded", "grant_type=password&username=alice&password=wrong", basic("svc", svcSecret), 400, "invalid_grant"},
		{"unknown user", "application/x-www-form-urlencoded", "grant_type=password&username=bob&password=x", basic("svc", svcSecret), 400, "invalid_grant"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			req, _ := http.NewRequest(http.MethodPost, r.URL+"/oauth2/token", strings.NewReader(tc.body))
			req.Header.Set("Content-Type", tc.contentType)
			if tc.authz != "" {
				req.Header.Set("Authorization", tc.authz)
			}
			resp, err := r.HTTP.Client().Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			var body map[string]string
			_ = json.NewDecoder(resp.Body).Decode(&body)
			if resp.StatusCode != tc.status || body["error"] != tc.code {
				t.Fatalf("got %d %v, want %d %s", resp.StatusCode, body, tc.status, tc.code)
			}
			if resp.Header.Get("Cache-Control") != "no-store" {
				t.Fatal("missing Cache-Control: no-store")
			}
			if tc.status == 401 && !strings.HasPrefix(resp.Header.Get("WWW-Authenticate"), "Basic") {
				t.Fatal("401 without a Basic WWW-Authenticate challenge")
			}
		})
	}

	t.Run("oversized body", func(t *testing.T) {
		big := "grant_type=client_credentials&pad=" + strings.Repeat("a", 1<<20)
		resp := r.postRaw(t, "/oauth2/token", "application/x-www-form-urlencoded", big, "svc", svcSecret)
		if resp.Status != http.StatusRequestEntityTooLarge && resp.Status != http.StatusBadRequest {
			t.Fatalf("oversized body: %d", resp.Status)
		}
	})
	t.Run("GET is refused", func(t *testing.T) {
		resp, err := r.HTTP.Client().Get(r.URL + "/oauth2/token")
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusMethodNotAllowed {
			t.Fatalf("GET /oauth2/token: %d", resp.StatusCode)
		}
	})
	t.Run("client_secret_post works", func(t *testing.T) {
		resp := r.post(t, "/oauth2/token", url.Values{"grant_type": {"client_credentials"}, "client_id": {"svc"}, "client_secret": {svcSecret}})
		expectOK(t, resp)
		if resp.str("refresh_token") != "" {
			t.Fatal("client_credentials must not issue a refresh token")
		}
	})
}

// claims decodes an access token's payload without verifying it; the
// signature is the resource server's business and is tested in keys.
func claims(t testing.TB, jwt string) map[string]any {
	t.Helper()
	parts := strings.Split(jwt, ".")
	if len(parts) != 3 {
		t.Fatalf("not a compact JWS: %q", jwt)
	}
	hdr, _ := base64.RawURLEncoding.DecodeString(parts[0])
	var h map[string]any
	if err := json.Unmarshal(hdr, &h); err != nil || h["typ"] != "at+jwt" || h["alg"] != "ES256" || h["kid"] == "" {
		t.Fatalf("access token header %s", hdr)
	}
	payload, _ := base64.RawURLEncoding.DecodeString(parts[1])
	var c map[string]any
	if err := json.Unmarshal(payload, &c); err != nil {
		t.Fatal(err)
	}
	return c
}

func TestAccessTokenClaims(t *testing.T) {
	r := newRig(t, testdb.SQLite(t), nil)
	standard(t, r, 0)
	resp := passwordGrant(t, r)
	if resp.str("token_type") != "Bearer" || resp.Body["expires_in"].(float64) != 600 {
		t.Fatalf("token response %s", resp.Raw)
	}
	if exp := resp.Body["refresh_token_expires_in"].(float64); exp <= 0 || exp > 30*24*3600 {
		t.Fatalf("refresh_token_expires_in = %v", exp)
	}
	c := claims(t, resp.str("access_token"))
	for _, k := range []string{"iss", "sub", "aud", "exp", "iat", "nbf", "jti", "client_id", "scope", "sid"} {
		if _, ok := c[k]; !ok {
			t.Errorf("claim %q missing from %v", k, c)
		}
	}
	if c["iss"] != r.URL || c["client_id"] != "svc" || c["scope"] != "read write" {
		t.Fatalf("claims %v", c)
	}
	if aud, _ := c["aud"].([]any); len(aud) != 1 || aud[0] != "https://api.example" {
		t.Fatalf("aud %v, want the client's audiences", c["aud"])
	}
	// A client with no audiences gets the issuer.
	spa := r.post(t, "/oauth2/token", url.Values{"grant_type": {"password"}, "client_id": {"spa"},
		"username": {"alice"}, "password": {"correct horse"}})
	expectOK(t, spa)
	if aud, _ := claims(t, spa.str("access_token"))["aud"].([]any); len(aud) != 1 || aud[0] != r.URL {
		t.Fatalf("aud %v, want the issuer", aud)
	}
}

func TestRefreshOverHTTP(t *testing.T) {
	testdb.Each(t, func(t *testing.T, st store.Store) {
		r := newRig(t, st, nil)
		standard(t, r, 0)
		first := passwordGrant(t, r)
		second := refresh(t, r, first.str("refresh_token"))
		expectOK(t, second)
		if second.str("refresh_token") == first.str("refresh_token") {
			t.Fatal("refresh token was not rotated")
		}
		if claims(t, second.str("access_token"))["sid"] != claims(t, first.str("access_token"))["sid"] {
			t.Fatal("sid changed across a refresh")
		}
		narrowed := r.post(t, "/oauth2/token", url.Values{"grant_type": {"refresh_token"},
			"refresh_token": {second.str("refresh_token")}, "scope": {"read"}}, "svc", svcSecret)
		expectOK(t, narrowed)
		if narrowed.str("scope") != "read" {
			t.Fatalf("narrowed scope %q", narrowed.str("scope"))
		}
		wider := r.post(t, "/oauth2/token", url.Values{"grant_type": {"refresh_token"},
			"refresh_token": {narrowed.str("refresh_token")}, "scope": {"read admin"}}, "svc", svcSecret)
		expectError(t, wider, 400, "invalid_scope")

		// Another client presenting the token: invalid_grant, nothing revoked.
		r.addClient(t, store.Client{ID: "other", GrantTypes: []string{"refresh_token"}}, "other-secret")
		stolen := r.post(t, "/oauth2/token", url.Values{"grant_type": {"refresh_token"},
			"refresh_token": {narrowed.str("refresh_token")}}, "other", "other-secret")
		expectError(t, stolen, 400, "invalid_grant")

		// Replay of the first token revokes the family; the live one dies too.
		expectError(t, refresh(t, r, first.str("refresh_token")), 400, "invalid_grant")
		expectError(t, refresh(t, r, narrowed.str("refresh_token")), 400, "invalid_grant")
	})
}

// TestConcurrentRefreshOverHTTP: 50 simultaneous refreshes of one token,
// through real HTTP. Grace 0: one 200, 49 invalid_grant, family revoked so
// the winner's successor is refused. Grace 15 s: fifty 200s with the same
// refresh token, family live. No 5xx ever. On PostgreSQL also with two
// server instances sharing the database, callers split between them.
func TestConcurrentRefreshOverHTTP(t *testing.T) {
	const n = 50
	run := func(t *testing.T, rigs []*rig, grace time.Duration) {
		r0 := rigs[0]
		first := passwordGrant(t, r0)
		rt := first.str("refresh_token")
		var (
			wg    sync.WaitGroup
			start = make(chan struct{})
			out   = make([]response, n)
		)
		for i := range n {
			wg.Add(1)
			go func() {
				defer wg.Done()
				<-start
				out[i] = refresh(t, rigs[i%len(rigs)], rt)
			}()
		}
		close(start)
		wg.Wait()
		ok, refused := 0, 0
		tokens := map[string]bool{}
		for _, resp := range out {
			switch {
			case resp.Status == 200:
				ok++
				tokens[resp.str("refresh_token")] = true
			case resp.Status == 400 && resp.str("error") == "invalid_grant":
				refused++
			default:
				t.Fatalf("unexpected answer %d %s", resp.Status, resp.Raw)
			}
		}
		if grace == 0 {
			if ok != 1 || refused != n-1 {
				t.Fatalf("grace 0: %d ok, %d invalid_grant; want 1 and %d", ok, refused, n-1)
			}
			for tok := range tokens {
				expectError(t, refresh(t, r0, tok), 400, "invalid_grant")
			}
			return
		}
		if ok != n || len(tokens) != 1 {
			t.Fatalf("grace 15s: %d ok with %d distinct tokens; want %d and 1", ok, len(tokens), n)
		}
		for tok := range tokens {
			expectOK(t, refresh(t, r0, tok))
		}
	}
	for _, grace := range []time.Duration{0, 15 * time.Second} {
		testdb.Each(t, func(t *testing.T, st store.Store) {
			t.Run(grace.String(), func(t *testing.T) {
				r := newRig(t, st, nil)
				standard(t, r, grace)
				run(t, []*rig{r}, grace)
			})
		})
		t.Run("postgres two instances "+grace.String(), func(t *testing.T) {
			dsn := testdb.PostgresDSN(t)
			st1, st2 := openPostgres(t, dsn), openPostgres(t, dsn)
			a := newRig(t, st1, nil)
			b := newRig(t, st2, a.Secrets)
			standard(t, a, grace)
			run(t, []*rig{a, b}, grace)
		})
	}
}

func TestIntrospectionAndRevocation(t *testing.T) {
	testdb.Each(t, func(t *testing.T, st store.Store) {
		r := newRig(t, st, nil)
		standard(t, r, 0)
		r.addClient(t, store.Client{ID: "api", GrantTypes: []string{"client_credentials"}, Introspect: true}, "api-secret")
		// Access tokens are introspected by the resource server "api";
		// refresh tokens only by their own client (RFC 7662 §4).
		introspect := func(tok string) response {
			id, sec := "api", "api-secret"
			if strings.HasPrefix(tok, "rt_") {
				id, sec = "svc", svcSecret
			}
			resp := r.post(t, "/oauth2/introspect", url.Values{"token": {tok}}, id, sec)
			expectOK(t, resp)
			return resp
		}
		g := passwordGrant(t, r)
		at, rt := g.str("access_token"), g.str("refresh_token")
		if a := introspect(at); a.Body["active"] != true || a.str("client_id") != "svc" || a.str("scope") != "read write" {
			t.Fatalf("access token introspection %s", a.Raw)
		}
		// No token_type for a refresh token: "refresh_token" is not an
		// RFC 6749 §7.1 token type (RFC 7662 §2.2).
		if a := introspect(rt); a.Body["active"] != true || a.Body["token_type"] != nil || a.str("client_id") != "svc" {
			t.Fatalf("refresh token introspection %s", a.Raw)
		}
		if a := r.post(t, "/oauth2/introspect", url.Values{"token": {rt}}, "api", "api-secret"); a.Body["active"] != false {
			t.Fatalf("another client introspected svc's refresh token: %s", a.Raw)
		}
		if a := introspect("not-a-token"); a.Body["active"] != false || len(a.Body) != 1 {
			t.Fatalf("garbage introspection %s", a.Raw)
		}
		// Public clients may not introspect.
		pub := r.post(t, "/oauth2/introspect", url.Values{"token": {at}, "client_id": {"spa"}})
		expectError(t, pub, 401, "invalid_client")

		// Revoking the access token deny-lists its jti.
		expectOK(t, r.post(t, "/oauth2/revoke", url.Values{"token": {at}}, "svc", svcSecret))
		if a := introspect(at); a.Body["active"] != false {
			t.Fatalf("revoked access token still active: %s", a.Raw)
		}
		// Revoking the refresh token revokes the family: token inactive,
		// refresh refused, and the family's access tokens deny-listed.
		g2 := refresh(t, r, rt)
		expectOK(t, g2)
		expectOK(t, r.post(t, "/oauth2/revoke", url.Values{"token": {g2.str("refresh_token")}, "token_type_hint": {"refresh_token"}}, "svc", svcSecret))
		if a := introspect(g2.str("refresh_token")); a.Body["active"] != false {
			t.Fatal("revoked family's refresh token still active")
		}
		if a := introspect(g2.str("access_token")); a.Body["active"] != false {
			t.Fatal("revoked family's access token still active")
		}
		expectError(t, refresh(t, r, g2.str("refresh_token")), 400, "invalid_grant")

		// The deny-list carries both revocations, for confidential
		// clients only.
		dl := denyList(t, r, "api", "api-secret")
		if dl.Status != 200 || dl.Header.Get("Cache-Control") != "no-store" {
			t.Fatalf("deny-list: %d %s", dl.Status, dl.Raw)
		}
		sids, _ := dl.Body["sid"].(map[string]any)
		jtis, _ := dl.Body["jti"].(map[string]any)
		sid, jti := claims(t, g2.str("access_token"))["sid"].(string), claims(t, at)["jti"].(string)
		if exp, _ := sids[sid].(float64); exp < float64(time.Now().Unix()) {
			t.Fatalf("deny-list lacks the revoked family %s: %s", sid, dl.Raw)
		}
		if exp, _ := jtis[jti].(float64); exp < float64(time.Now().Unix()) {
			t.Fatalf("deny-list lacks the revoked access token %s: %s", jti, dl.Raw)
		}
		if strings.Contains(dl.Raw, at) || strings.Contains(dl.Raw, "rt_") {
			t.Fatal("the deny-list holds a token")
		}
		expectError(t, denyList(t, r, "spa", ""), 401, "invalid_client")
		expectError(t, denyList(t, r, "api", "wrong"), 401, "invalid_client")

		// Unknown tokens: 200.
		expectOK(t, r.post(t, "/oauth2/revoke", url.Values{"token": {"rt_unknown"}}, "svc", svcSecret))
		// A token issued to another client: answered as an unknown one
		// (RFC 7009 §2.2), so revocation is no validity oracle; nothing
		// revoked.
		g3 := passwordGrant(t, r)
		for _, tok := range []string{g3.str("refresh_token"), g3.str("access_token")} {
			other := r.post(t, "/oauth2/revoke", url.Values{"token": {tok}}, "api", "api-secret")
			unknown := r.post(t, "/oauth2/revoke", url.Values{"token": {"rt_unknown"}}, "api", "api-secret")
			if other.Status != 200 || other.Raw != unknown.Raw {
				t.Fatalf("revoking another client's token: %d %q, want as for an unknown token %d %q", other.Status, other.Raw, unknown.Status, unknown.Raw)
			}
		}
		if a := introspect(g3.str("access_token")); a.Body["active"] != true {
			t.Fatal("another client revoked svc's access token")
		}
		expectOK(t, refresh(t, r, g3.str("refresh_token")))
	})
}

func denyList(t *testing.T, r *rig, id, sec string) response {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, r.URL+"/oauth2/denylist", nil)
	req.SetBasicAuth(id, sec)
	resp, err := r.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	out := response{Status: resp.StatusCode, Header: resp.Header}
	raw, _ := io.ReadAll(resp.Body)
	out.Raw = string(raw)
	if err := json.Unmarshal(raw, &out.Body); err != nil {
		t.Fatalf("deny-list answer is not JSON: %q", raw)
	}
	return out
}

func TestMetadataAndJWKS(t *testing.T) {
	r := newRig(t, testdb.SQLite(t), nil)
	resp, err := r.HTTP.Client().Get(r.URL + "/.well-known/oauth-authorization-server")
	if err != nil {
		t.Fatal(err)
	}
	var md map[string]any
	_ = json.NewDecoder(resp.Body).Decode(&md)
	resp.Body.Close()
	if md["issuer"] != r.URL || md["token_endpoint"] != r.URL+"/oauth2/token" {
		t.Fatalf("metadata %v", md)
	}
	gts, _ := md["grant_types_supported"].([]any)
	if want := server.GrantTypes(); len(gts) != len(want) || fmt.Sprint(gts) != fmt.Sprint(want) {
		t.Fatalf("grant_types_supported %v, want the registry's %v: it advertises what does not work", gts, want)
	}
	resp, err = r.HTTP.Client().Get(md["jwks_uri"].(string))
	if err != nil {
		t.Fatal(err)
	}
	var set struct {
		Keys []map[string]any `json:"keys"`
	}
	_ = json.NewDecoder(resp.Body).Decode(&set)
	resp.Body.Close()
	if len(set.Keys) == 0 || set.Keys[0]["kid"] == nil || set.Keys[0]["d"] != nil {
		t.Fatalf("jwks %v", set)
	}
}

// openPostgres opens a second handle on a PostgreSQL schema, as a second
// replica would.
func openPostgres(t testing.TB, dsn string) store.Store {
	t.Helper()
	db, err := postgres.Open(context.Background(), dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	if err := db.Migrate(context.Background()); err != nil {
		t.Fatal(err)
	}
	return db
}

// TestHostileText: bytes PostgreSQL would refuse (invalid UTF-8, NUL) are
// refused at the edge as protocol errors, and a long or Latin-1 User-Agent
// is cleaned, so no backend answers them with a 5xx.
func TestHostileText(t *testing.T) {
	testdb.Each(t, func(t *testing.T, st store.Store) {
		r := newRig(t, st, nil)
		standard(t, r, 0)
		expectError(t, r.postRaw(t, "/oauth2/token", "application/x-www-form-urlencoded",
			"grant_type=client_credentials&client_id=%FF&client_secret=x"), 400, "invalid_request")
		expectError(t, r.postRaw(t, "/oauth2/token", "application/x-www-form-urlencoded",
			"grant_type=password&username=al%00ice&password=x", "svc", svcSecret), 400, "invalid_request")
		expectError(t, r.post(t, "/oauth2/token", url.Values{"grant_type": {"client_credentials"}}, "sv\xffc", "x"), 401, "invalid_client")

		for _, ua := range []string{strings.Repeat("a", 255) + "é and more", "Mozilla \xe9\xe8 Latin-1"} {
			req, _ := http.NewRequest(http.MethodPost, r.URL+"/oauth2/token", strings.NewReader(url.Values{
				"grant_type": {"password"}, "username": {"alice"}, "password": {"correct horse"}}.Encode()))
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			req.Header.Set("User-Agent", ua)
			req.SetBasicAuth("svc", svcSecret)
			resp, err := r.Client().Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != 200 {
				t.Fatalf("User-Agent %q: status %d", ua, resp.StatusCode)
			}
		}
		// An empty scope is an omitted one (RFC 6749 §3.1): all scopes.
		g := r.post(t, "/oauth2/token", url.Values{"grant_type": {"password"}, "username": {"alice"},
			"password": {"correct horse"}, "scope": {""}}, "svc", svcSecret)
		expectOK(t, g)
		if g.str("scope") != "read write" {
			t.Fatalf("scope= gave scope %q, want the client's scopes", g.str("scope"))
		}
	})
}

// TestClientAndUserChangesEndSessions: a refresh and an introspection see
// the client and user as they are now: a client disabled, deleted, or no
// longer allowed to refresh; a user disabled.
func TestClientAndUserChangesEndSessions(t *testing.T) {
	testdb.Each(t, func(t *testing.T, st store.Store) {
		r := newRig(t, st, nil)
		standard(t, r, 15*time.Second)
		r.addClient(t, store.Client{ID: "api", GrantTypes: []string{"client_credentials"}, Introspect: true}, "api-secret")
		ctx := t.Context()
		// Access tokens are introspected by the resource server "api";
		// refresh tokens by their own client, which cannot authenticate
		// while disabled (then nobody sees the token as active).
		active := func(tok string) bool {
			id, sec := "api", "api-secret"
			if strings.HasPrefix(tok, "rt_") {
				id, sec = "svc", svcSecret
			}
			resp := r.post(t, "/oauth2/introspect", url.Values{"token": {tok}}, id, sec)
			if id == "svc" && resp.Status == http.StatusUnauthorized {
				return false
			}
			expectOK(t, resp)
			return resp.Body["active"] == true
		}
		update := func(mut func(c *store.Client)) {
			c, err := st.GetClient(ctx, "svc")
			if err != nil {
				t.Fatal(err)
			}
			mut(c)
			if err := st.UpdateClient(ctx, c); err != nil {
				t.Fatal(err)
			}
		}

		g := passwordGrant(t, r)
		update(func(c *store.Client) { c.GrantTypes = []string{"password"} })
		if active(g.str("refresh_token")) {
			t.Fatal("refresh token active for a client that may no longer refresh")
		}
		expectError(t, refresh(t, r, g.str("refresh_token")), 400, "unauthorized_client")
		update(func(c *store.Client) { c.GrantTypes = []string{"password", "refresh_token"} })
		if !active(g.str("refresh_token")) {
			t.Fatal("refresh token inactive once the client may refresh again")
		}

		update(func(c *store.Client) { c.Disabled = true })
		if active(g.str("refresh_token")) || active(g.str("access_token")) {
			t.Fatal("tokens of a disabled client are active")
		}
		expectError(t, refresh(t, r, g.str("refresh_token")), 401, "invalid_client")
		update(func(c *store.Client) { c.Disabled = false })
		g = refresh(t, r, g.str("refresh_token"))
		expectOK(t, g)

		u, err := st.GetUserByUsername(ctx, "alice")
		if err != nil {
			t.Fatal(err)
		}
		u.Disabled = true
		if err := st.UpdateUser(ctx, u); err != nil {
			t.Fatal(err)
		}
		if active(g.str("refresh_token")) {
			t.Fatal("refresh token of a disabled user is active")
		}
		expectError(t, refresh(t, r, g.str("refresh_token")), 400, "invalid_grant")

		if err := st.DeleteClient(ctx, "svc"); err != nil {
			t.Fatal(err)
		}
		if active(g.str("access_token")) {
			t.Fatal("access token of a deleted client is active")
		}
	})
}

// TestEveryRefusalIsAudited: each refusal of an authenticated client's
// token request is in the audit trail once, with its reason.
func TestEveryRefusalIsAudited(t *testing.T) {
	r := newRig(t, testdb.SQLite(t), nil)
	standard(t, r, 0)
	r.addClient(t, store.Client{ID: "ccOnly", GrantTypes: []string{"client_credentials"}, Scopes: []string{"read"}}, "cc-secret")
	ctx := t.Context()
	count := func(typ string) map[string]int {
		evs, err := r.Store.ListEvents(ctx, store.EventFilter{Type: typ})
		if err != nil {
			t.Fatal(err)
		}
		out := map[string]int{}
		for _, e := range evs {
			out[e.Reason]++
		}
		return out
	}
	expectError(t, r.post(t, "/oauth2/token", url.Values{"grant_type": {"password"}, "username": {"alice"}, "password": {"x"}}, "ccOnly", "cc-secret"), 400, "unauthorized_client")
	expectError(t, r.post(t, "/oauth2/token", url.Values{"grant_type": {"client_credentials"}, "resource": {"https://other.example"}}, "svc", svcSecret), 400, "invalid_target")
	expectError(t, r.post(t, "/oauth2/token", url.Values{"grant_type": {"client_credentials"}, "scope": {"admin"}}, "ccOnly", "cc-secret"), 400, "invalid_scope")
	expectError(t, r.post(t, "/oauth2/token", url.Values{"grant_type": {"refresh_token"}}, "svc", svcSecret), 400, "invalid_request")
	got := count(audit.TokenRequestFailed)
	for _, reason := range []string{"unauthorized_client", "invalid_target", "invalid_scope", "invalid_request"} {
		if got[reason] != 1 {
			t.Fatalf("token_request_failed by reason %v, want one %s", got, reason)
		}
	}
	// Refusals recorded elsewhere are not recorded twice.
	expectError(t, refresh(t, r, "rt_forged"), 400, "invalid_grant")
	expectError(t, r.post(t, "/oauth2/token", url.Values{"grant_type": {"password"}, "username": {"alice"}, "password": {"wrong"}}, "svc", svcSecret), 400, "invalid_grant")
	expectError(t, r.post(t, "/oauth2/token", url.Values{"grant_type": {"client_credentials"}}, "svc", "wrong"), 401, "invalid_client")
	if after := count(audit.TokenRequestFailed); len(after) != 4 || after["invalid_grant"] != 0 || after["invalid_client"] != 0 {
		t.Fatalf("refusals recorded twice: %v", after)
	}
	if n := count(audit.RefreshFailed); n[audit.ReasonMalformed] != 1 {
		t.Fatalf("refresh_failed %v", n)
	}
	if n := count(audit.PasswordGrantFailed); n["wrong_password"] != 1 {
		t.Fatalf("password_grant_failed %v", n)
	}
	if n := count(audit.ClientAuthFailed); len(n) != 1 {
		t.Fatalf("client_auth_failed %v", n)
	}
}

// TestPasswordGrantWithoutRefresh: a client that may not refresh gets an
// access token and no family that nothing could ever use.
func TestPasswordGrantWithoutRefresh(t *testing.T) {
	r := newRig(t, testdb.SQLite(t), nil)
	standard(t, r, 0)
	r.addClient(t, store.Client{ID: "once", GrantTypes: []string{"password"}, Scopes: []string{"read"}}, "once-secret")
	g := r.post(t, "/oauth2/token", url.Values{"grant_type": {"password"}, "username": {"alice"}, "password": {"correct horse"}}, "once", "once-secret")
	expectOK(t, g)
	if g.str("refresh_token") != "" || g.Body["refresh_token_expires_in"] != nil {
		t.Fatalf("a client without refresh_token got %s", g.Raw)
	}
	if c := claims(t, g.str("access_token")); c["sid"] != nil || c["sub"] == "" {
		t.Fatalf("claims %v", c)
	}
	fams, err := r.Store.ListFamilies(t.Context(), store.FamilyFilter{})
	if err != nil || len(fams) != 0 {
		t.Fatalf("families %v %v, want none", fams, err)
	}
	evs, _ := r.Store.ListEvents(t.Context(), store.EventFilter{Type: audit.AccessTokenIssued})
	if len(evs) != 1 || evs[0].Detail != "grant=password" || evs[0].FamilyID != "" {
		t.Fatalf("issue events %+v", evs)
	}
}

// TestTwoAuthorizationHeadersAreRefused: a request with two Authorization
// headers is invalid_request, as a repeated parameter is; the first one
// does not silently win.
func TestTwoAuthorizationHeadersAreRefused(t *testing.T) {
	r := newRig(t, testdb.SQLite(t), nil)
	standard(t, r, 0)
	basic := "Basic " + base64.StdEncoding.EncodeToString([]byte("svc:"+svcSecret))
	for _, path := range []string{"/oauth2/token", "/oauth2/introspect", "/oauth2/revoke"} {
		req, err := http.NewRequest(http.MethodPost, r.URL+path, strings.NewReader("grant_type=client_credentials&token=x"))
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.Header.Add("Authorization", basic)
		req.Header.Add("Authorization", "Basic "+base64.StdEncoding.EncodeToString([]byte("other:x")))
		resp, err := r.HTTP.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusBadRequest || !strings.Contains(string(body), `"invalid_request"`) {
			t.Fatalf("%s with two Authorization headers: %d %s, want 400 invalid_request", path, resp.StatusCode, body)
		}
	}
}
