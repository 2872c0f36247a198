package main

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"golang.org/x/oauth2"

	"github.com/rotor-auth/rotor/client"
	"github.com/rotor-auth/rotor/internal/keys"
	"github.com/rotor-auth/rotor/internal/secret"
	"github.com/rotor-auth/rotor/internal/store"
	"github.com/rotor-auth/rotor/internal/store/testdb"
	"github.com/rotor-auth/rotor/internal/testrig"
	"github.com/rotor-auth/rotor/resource"
)

// TestAPI runs the example, configured as its documentation says, with
// tokens from a real Rotor signing with each algorithm it offers
// ("rotor serve --key-algorithm ...").
func TestAPI(t *testing.T) {
	for _, alg := range []string{keys.ES256, keys.EdDSA, keys.RS256} {
		t.Run(alg, func(t *testing.T) { testAPI(t, alg) })
	}
}

func testAPI(t *testing.T, alg string) {
	st := testdb.SQLite(t)
	secrets, err := secret.Derive(secret.NewMasterKey())
	if err != nil {
		t.Fatal(err)
	}
	// The server's first key, as serve creates it on an empty database.
	if err := keys.NewManager(st, secrets, keys.Options{Algorithm: alg}).EnsureCurrent(context.Background()); err != nil {
		t.Fatal(err)
	}
	r := testrig.Start(t, st, secrets)
	r.AddClient(t, store.Client{ID: "shop", GrantTypes: []string{"client_credentials"},
		Scopes: []string{"orders:read", "orders:write"}, Audiences: []string{"https://orders.example.com"}}, "secret")
	env := map[string]string{"ISSUER": r.URL, "AUDIENCE": "https://orders.example.com"}
	v, err := resource.New(context.Background(), config(func(k string) string { return env[k] }))
	if err != nil {
		t.Fatalf("the example does not start against a Rotor signing %s: %v", alg, err)
	}
	defer v.Close()
	api := httptest.NewServer(routes(v))
	defer api.Close()

	token := func(scope string) string {
		req, _ := http.NewRequest("POST", r.URL+"/oauth2/token", strings.NewReader(url.Values{"grant_type": {"client_credentials"}, "scope": {scope}}.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.SetBasicAuth("shop", "secret")
		resp, err := r.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var tr struct {
			AccessToken string `json:"access_token"`
		}
		if err := json.NewDecoder(resp.Body).Decode(&tr); err != nil || tr.AccessToken == "" {
			t.Fatalf("token: %d %v", resp.StatusCode, err)
		}
		return tr.AccessToken
	}
	call := func(method, tok string) (int, string) {
		req, _ := http.NewRequest(method, api.URL+"/orders", nil)
		req.Header.Set("Authorization", "Bearer "+tok)
		resp, err := api.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	read := token("orders:read")
	head, _, _ := strings.Cut(read, ".")
	if b, _ := base64.RawURLEncoding.DecodeString(head); !strings.Contains(string(b), `"alg":"`+alg+`"`) {
		t.Fatalf("the token's header is %s, want alg %s", b, alg)
	}
	if code, body := call("GET", read); code != 200 || body != "orders of shop (client shop)\n" {
		t.Fatalf("GET: %d %q", code, body)
	}
	if code, _ := call("POST", token("orders:read")); code != http.StatusForbidden {
		t.Fatalf("POST with orders:read: %d", code)
	}
	if code, _ := call("POST", token("orders:write")); code != http.StatusCreated {
		t.Fatalf("POST with orders:write: %d", code)
	}
}

// TestAPIWithDPoPClient runs both halves together against a real Rotor: a
// program signs in with a DPoP key through the client package, refreshes,
// and calls the example API, which verifies each proof with resource.
func TestAPIWithDPoPClient(t *testing.T) {
	r := testrig.Start(t, testdb.SQLite(t), nil)
	r.AddClient(t, store.Client{ID: "cli", GrantTypes: []string{"password", "refresh_token"},
		Scopes: []string{"orders:read", "orders:write"}, Audiences: []string{"https://orders.example.com"},
		AccessTokenTTL: testrig.Dur(time.Minute)}, "")
	r.AddUser(t, "alice", "correct horse battery staple")
	ctx := context.Background()
	v, err := resource.New(ctx, resource.Config{Issuer: r.URL, Audience: "https://orders.example.com", RequireDPoP: true})
	if err != nil {
		t.Fatal(err)
	}
	defer v.Close()
	api := httptest.NewServer(routes(v))
	defer api.Close()

	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	dpop, err := client.NewDPoP(key)
	if err != nil {
		t.Fatal(err)
	}
	oc := &oauth2.Config{ClientID: "cli", Endpoint: oauth2.Endpoint{TokenURL: r.URL + "/oauth2/token", AuthStyle: oauth2.AuthStyleInParams}}
	hc := &http.Client{Transport: dpop.Transport(r.HTTP.Client().Transport)}
	tok, err := oc.PasswordCredentialsToken(context.WithValue(ctx, oauth2.HTTPClient, hc), "alice", "correct horse battery staple")
	if err != nil {
		t.Fatal(err)
	}
	if tok.Type() != "DPoP" {
		t.Fatalf("token type %q, want DPoP", tok.Type())
	}
	// Expired at once, so that the first call refreshes (with a proof).
	tok.Expiry = time.Now().Add(-time.Second)
	st := client.NewMemoryStore(tok)
	src := client.TokenSource(ctx, &client.Config{OAuth2: oc, DPoP: dpop}, st)
	hc = src.Client()
	for i := range 3 {
		for _, method := range []string{"GET", "POST"} {
			req, _ := http.NewRequest(method, api.URL+"/orders", nil)
			resp, err := hc.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode >= 300 || !strings.HasPrefix(string(b), "order") {
				t.Fatalf("call %d %s: %d %q %q", i, method, resp.StatusCode, b, resp.Header.Values("WWW-Authenticate"))
			}
		}
	}
	saved, err := st.Load(ctx)
	if err != nil || saved.RefreshToken == tok.RefreshToken {
		t.Fatalf("the rotated refresh token was not saved: %v", err)
	}

	// The same access token without the client's key is refused.
	now, err := src.Token()
	if err != nil {
		t.Fatal(err)
	}
	req, _ := http.NewRequest("GET", api.URL+"/orders", nil)
	req.Header.Set("Authorization", "Bearer "+now.AccessToken)
	resp, err := api.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("the bound token passed as a bearer token: %d", resp.StatusCode)
	}
}

// TestCORS checks that only the listed browser origins may call the API:
// a preflight for the headers a DPoP client sends, and the real answer
// with the headers a browser app needs to read exposed.
func TestCORS(t *testing.T) {
	api := httptest.NewServer(cors(origins(" http://127.0.0.1:8082 ,,https://app.example.com"), http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("WWW-Authenticate", `DPoP error="invalid_token"`)
		w.WriteHeader(http.StatusUnauthorized)
	})))
	defer api.Close()
	do := func(method, origin string, hdr ...string) *http.Response {
		t.Helper()
		req, _ := http.NewRequest(method, api.URL+"/orders", nil)
		if origin != "" {
			req.Header.Set("Origin", origin)
		}
		for i := 0; i < len(hdr); i += 2 {
			req.Header.Set(hdr[i], hdr[i+1])
		}
		resp, err := api.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp
	}
	preflight := []string{"Access-Control-Request-Method", "GET", "Access-Control-Request-Headers", "authorization,dpop"}
	tests := []struct {
		name, method, origin string
		hdr                  []string
		status               int
		allowOrigin          string
	}{
		{"a preflight from a listed origin", "OPTIONS", "http://127.0.0.1:8082", preflight, http.StatusNoContent, "http://127.0.0.1:8082"},
		{"a preflight from another port", "OPTIONS", "http://127.0.0.1:8083", preflight, http.StatusForbidden, ""},
		{"a preflight from another scheme", "OPTIONS", "http://app.example.com", preflight, http.StatusForbidden, ""},
		{"a preflight from the null origin", "OPTIONS", "null", preflight, http.StatusForbidden, ""},
		{"a request from a listed origin", "GET", "https://app.example.com", nil, http.StatusUnauthorized, "https://app.example.com"},
		{"a request from another origin", "GET", "https://evil.example.com", nil, http.StatusUnauthorized, ""},
		{"a request without an origin", "GET", "", nil, http.StatusUnauthorized, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp := do(tt.method, tt.origin, tt.hdr...)
			h := resp.Header
			if resp.StatusCode != tt.status || h.Get("Access-Control-Allow-Origin") != tt.allowOrigin {
				t.Fatalf("%d, Access-Control-Allow-Origin %q; want %d, %q", resp.StatusCode, h.Get("Access-Control-Allow-Origin"), tt.status, tt.allowOrigin)
			}
			if !slices.Contains(h.Values("Vary"), "Origin") {
				t.Errorf("Vary %q lacks Origin", h.Values("Vary"))
			}
			if h.Get("Access-Control-Allow-Credentials") != "" {
				t.Error("credentials allowed")
			}
			switch {
			case tt.allowOrigin != "" && tt.method == "OPTIONS":
				if h.Get("Access-Control-Allow-Headers") != "Authorization, DPoP" || !strings.Contains(h.Get("Access-Control-Allow-Methods"), "GET") {
					t.Errorf("preflight headers %v", h)
				}
			case tt.allowOrigin != "":
				if h.Get("Access-Control-Expose-Headers") != "WWW-Authenticate, DPoP-Nonce" {
					t.Errorf("exposed %q", h.Get("Access-Control-Expose-Headers"))
				}
			}
		})
	}
}
