package server_test

import (
	"bytes"
	"encoding/json"
	"flag"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/rotor-auth/rotor/internal/store"
	"github.com/rotor-auth/rotor/internal/store/testdb"
)

// update rewrites the golden files: go test ./internal/server -run Golden -update
var update = flag.Bool("update", false, "rewrite the golden files under testdata/")

// The values that differ from run to run, and what the golden files hold
// in their place. Everything else of a wire format is compared as is.
var (
	goldenJWT  = regexp.MustCompile(`eyJ[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+`)
	goldenRT   = regexp.MustCompile(`rt_[A-Za-z0-9_-]+`)
	goldenPort = regexp.MustCompile(`http://127\.0\.0\.1:[0-9]+`)
)

// normalise rewrites one answer's variable parts: tokens, the issuer's
// port, times, ids.
func normalise(t *testing.T, raw []byte, ids map[string]string) []byte {
	t.Helper()
	s := goldenJWT.ReplaceAllString(string(raw), "<jwt>")
	s = goldenRT.ReplaceAllString(s, "<refresh_token>")
	s = goldenPort.ReplaceAllString(s, "http://127.0.0.1:PORT")
	for id, name := range ids {
		s = strings.ReplaceAll(s, id, name)
	}
	var v any
	if err := json.Unmarshal([]byte(s), &v); err != nil {
		t.Fatalf("not JSON: %v\n%s", err, raw)
	}
	v = placeholders(v, "")
	var out bytes.Buffer
	enc := json.NewEncoder(&out)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	if err := enc.Encode(v); err != nil {
		t.Fatal(err)
	}
	return out.Bytes()
}

// placeholders replaces the members whose values are times or counters
// of seconds with their kind, keeping keys and types visible.
func placeholders(v any, key string) any {
	switch x := v.(type) {
	case map[string]any:
		for k, e := range x {
			if key == "sid" || key == "jti" { // a deny-list: id → expiry
				x[k] = "<unix time>"
				continue
			}
			x[k] = placeholders(e, k)
		}
		return x
	case []any:
		if key == "grant_types_supported" {
			// The registry's list, checked against server.GrantTypes()
			// by TestMetadataAndJWKS: a new grant changes no golden file.
			return "<the registry of grants>"
		}
		for i, e := range x {
			x[i] = placeholders(e, key)
		}
		return x
	case float64:
		switch key {
		case "exp", "iat", "nbf", "expires_in", "refresh_token_expires_in":
			return "<seconds>"
		}
	}
	return v
}

func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.MkdirAll("testdata", 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run with -update to create it)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s differs from its golden file (run with -update if the change is meant):\n--- got\n%s\n--- want\n%s", name, got, want)
	}
}

// TestGoldenWireFormats pins the JSON that clients and resource servers
// parse: the metadata (both well-known URLs), a token answer, introspection answers and the
// deny-list.
func TestGoldenWireFormats(t *testing.T) {
	r := newRig(t, testdb.SQLite(t), nil)
	standard(t, r, 0)
	r.addClient(t, store.Client{ID: "api", GrantTypes: []string{"client_credentials"}, Introspect: true}, "api-secret")
	get := func(path string, auth ...string) []byte {
		t.Helper()
		req, err := http.NewRequest(http.MethodGet, r.URL+path, nil)
		if err != nil {
			t.Fatal(err)
		}
		if len(auth) == 2 {
			req.SetBasicAuth(auth[0], auth[1])
		}
		resp, err := r.HTTP.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("GET %s: %d %s", path, resp.StatusCode, b)
		}
		return b
	}
	golden(t, "metadata.json", normalise(t, get("/.well-known/oauth-authorization-server"), nil))
	// The OpenID Provider configuration is the same document (OpenID
	// Connect Discovery §3 extends RFC 8414's).
	if oidc, oauth := get("/.well-known/openid-configuration"), get("/.well-known/oauth-authorization-server"); !bytes.Equal(oidc, oauth) {
		t.Errorf("openid-configuration differs from oauth-authorization-server:\n%s\n%s", oidc, oauth)
	}

	g := passwordGrant(t, r)
	c := claims(t, g.str("access_token"))
	ids := map[string]string{c["sid"].(string): "<family id>", c["sub"].(string): "<user id>", c["jti"].(string): "<jti>"}
	golden(t, "token_password.json", normalise(t, []byte(g.Raw), ids))

	intro := r.post(t, "/oauth2/introspect", url.Values{"token": {g.str("access_token")}}, "api", "api-secret")
	expectOK(t, intro)
	golden(t, "introspect_access.json", normalise(t, []byte(intro.Raw), ids))
	intro = r.post(t, "/oauth2/introspect", url.Values{"token": {g.str("refresh_token")}}, "svc", svcSecret)
	expectOK(t, intro)
	golden(t, "introspect_refresh.json", normalise(t, []byte(intro.Raw), ids))
	intro = r.post(t, "/oauth2/introspect", url.Values{"token": {"rt_unknown"}}, "svc", svcSecret)
	golden(t, "introspect_inactive.json", normalise(t, []byte(intro.Raw), ids))

	if resp := r.post(t, "/oauth2/revoke", url.Values{"token": {g.str("refresh_token")}}, "svc", svcSecret); resp.Status != http.StatusOK {
		t.Fatalf("revoke: %d %s", resp.Status, resp.Raw)
	}
	golden(t, "denylist.json", normalise(t, get("/oauth2/denylist", "svc", svcSecret), ids))
}
