package main

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/rotor-auth/rotor/internal/secret"
	"github.com/rotor-auth/rotor/internal/store"
)

func TestClientLifecycle(t *testing.T) {
	h := newHarness(t)
	ctx := context.Background()

	created := decode[clientView](t, h.ok("client", "create", "--id", "web", "--generate-secret",
		"--grant-types", "password,refresh_token", "--scopes", "read write",
		"--audiences", "https://api.example.com", "--reuse-grace", "0s", "--json"))
	if !strings.HasPrefix(created.ClientSecret, secret.PrefixClientSecret) {
		t.Fatalf("generated secret %q lacks its prefix", created.ClientSecret)
	}
	if created.Type != "confidential" || created.SecretKind != "generated" || created.ReuseGrace == nil || *created.ReuseGrace != "0s" {
		t.Fatalf("created %+v", created)
	}

	st := h.store()
	c, err := st.GetClient(ctx, "web")
	if err != nil {
		t.Fatal(err)
	}
	if !secret.Equal(c.SecretHash, h.secrets().Hash(created.ClientSecret)) || c.SecretPHC != "" {
		t.Fatal("the generated secret is not stored as its keyed hash")
	}
	if c.ReuseGrace == nil || *c.ReuseGrace != 0 || c.AccessTokenTTL != nil {
		t.Fatalf("per-client lifetimes stored as %v / %v", c.ReuseGrace, c.AccessTokenTTL)
	}

	out := h.ok("client", "create", "--id", "svc", "--secret", "an operator chosen secret",
		"--grant-types", "client_credentials", "--access-token-ttl", "5m")
	if !strings.Contains(out, `Created confidential client "svc"`) || strings.Contains(out, "an operator chosen secret") {
		t.Fatalf("create said %q", out)
	}
	svc, err := st.GetClient(ctx, "svc")
	if err != nil {
		t.Fatal(err)
	}
	if err := secret.VerifyPassword(svc.SecretPHC, "an operator chosen secret"); err != nil || svc.SecretHash != nil {
		t.Fatalf("the chosen secret is not stored as argon2id: %v", err)
	}
	if svc.AccessTokenTTL == nil || *svc.AccessTokenTTL != 5*time.Minute {
		t.Fatal("--access-token-ttl not stored")
	}

	out = h.ok("client", "create", "--id", "tv", "--public", "--grant-types", "refresh_token", "--redirect-uris", "https://tv.example.com/cb",
		"--require-dpop")
	if !strings.Contains(out, `public client "tv"`) || strings.Contains(out, "client_secret") {
		t.Fatalf("create said %q", out)
	}
	if tv := decode[clientView](t, h.ok("client", "get", "--id", "tv", "--json")); !tv.RequireDPoP {
		t.Fatal("--require-dpop not stored")
	}

	r := h.run("", "client", "create", "--id", "web", "--public", "--grant-types", "refresh_token")
	if r.code != 1 || !strings.Contains(r.stderr, `a client with id "web" already exists`) {
		t.Fatalf("duplicate id: exit %d, %s", r.code, r.stderr)
	}

	list := decode[[]clientView](t, h.ok("client", "list", "--json"))
	if len(list) != 3 || list[0].ID != "svc" || list[1].ID != "tv" || list[2].ID != "web" {
		t.Fatalf("list --json = %+v", list)
	}
	for _, v := range list {
		if v.ClientSecret != "" {
			t.Fatal("list shows a secret")
		}
	}
	human := h.ok("client", "list")
	if !strings.HasPrefix(human, "ID") || !strings.Contains(human, "svc") || !strings.Contains(human, "public") {
		t.Fatalf("client list:\n%s", human)
	}

	got := decode[clientView](t, h.ok("client", "get", "--id", "web", "--json"))
	if got.ID != "web" || strings.Join(got.GrantTypes, ",") != "password,refresh_token" || strings.Join(got.Scopes, " ") != "read write" ||
		got.Audiences[0] != "https://api.example.com" || got.ClientSecret != "" {
		t.Fatalf("get --json = %+v", got)
	}
	if out := h.ok("client", "get", "--id", "svc"); !strings.Contains(out, "access-token TTL:") || !strings.Contains(out, "5m") {
		t.Fatalf("client get:\n%s", out)
	}
	if r := h.run("", "client", "get", "--id", "nope"); r.code != 1 || !strings.Contains(r.stderr, `no client with id "nope"`) {
		t.Fatalf("get unknown: exit %d, %s", r.code, r.stderr)
	}

	h.ok("client", "disable", "--id", "tv")
	if c, _ := st.GetClient(ctx, "tv"); !c.Disabled {
		t.Fatal("client disable did not disable")
	}
	h.ok("client", "enable", "--id", "tv")
	if c, _ := st.GetClient(ctx, "tv"); c.Disabled {
		t.Fatal("client enable did not enable")
	}

	// delete revokes the client's families first.
	now := time.Now()
	for i, id := range []string{"AAAAAAAAAAAAAAAAAAAAAA", "BBBBBBBBBBBBBBBBBBBBBA"} {
		f := &store.Family{ID: id, ClientID: "tv", Subject: "u1", Generation: 1, LiveHash: []byte{byte(i)},
			CreatedAt: now, LastUsedAt: now, ExpiresAt: now.Add(time.Hour), AbsoluteExpiresAt: now.Add(time.Hour)}
		if err := st.CreateFamily(ctx, f); err != nil {
			t.Fatal(err)
		}
	}
	if out := h.ok("client", "delete", "--id", "tv"); !strings.Contains(out, `Revoked 2 families of client "tv" and deleted the client.`) {
		t.Fatalf("delete said %q", out)
	}
	if _, err := st.GetClient(ctx, "tv"); err == nil {
		t.Fatal("client still there")
	}
	if f, _ := st.GetFamily(ctx, "AAAAAAAAAAAAAAAAAAAAAA"); !f.Revoked() || f.RevokeReason != "admin" {
		t.Fatalf("family not revoked by delete: %+v", f)
	}
}

func TestClientCreatePrivateKeyJWT(t *testing.T) {
	h := newHarness(t)
	k, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	pub, _ := json.Marshal(jose.JSONWebKeySet{Keys: []jose.JSONWebKey{{Key: k.Public(), KeyID: "k1"}}})
	priv, _ := json.Marshal(jose.JSONWebKeySet{Keys: []jose.JSONWebKey{{Key: k, KeyID: "k1"}}})
	dir := t.TempDir()
	write := func(name string, b []byte) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, b, 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}

	v := decode[clientView](t, h.ok("client", "create", "--id", "robot", "--jwks", write("pub.json", pub),
		"--grant-types", "client_credentials", "--json"))
	if v.AuthMethod != "private_key_jwt" || v.ClientSecret != "" {
		t.Fatalf("created %+v", v)
	}
	c, err := h.store().GetClient(context.Background(), "robot")
	if err != nil || c.AuthMethod != "private_key_jwt" || string(c.JWKS) != string(pub) {
		t.Fatalf("stored %+v, %v", c, err)
	}
	v = decode[clientView](t, h.ok("client", "create", "--id", "robot2", "--jwks-uri", "https://robot.example/jwks.json",
		"--grant-types", "client_credentials", "--json"))
	if v.JWKSURI != "https://robot.example/jwks.json" {
		t.Fatalf("created %+v", v)
	}

	for name, args := range map[string][]string{
		"a private key":    {"--jwks", write("priv.json", priv)},
		"not a JWKS":       {"--jwks", write("junk.json", []byte(`{"keys": 3}`))},
		"an empty set":     {"--jwks", write("empty.json", []byte(`{"keys": []}`))},
		"a missing file":   {"--jwks", filepath.Join(dir, "nope.json")},
		"plain http":       {"--jwks-uri", "http://robot.example/jwks.json"},
		"a relative URL":   {"--jwks-uri", "/jwks.json"},
		"a secret as well": {"--jwks", write("pub2.json", pub), "--generate-secret"},
	} {
		r := h.run("", append([]string{"client", "create", "--id", "bad", "--grant-types", "client_credentials"}, args...)...)
		if r.code == 0 || r.stderr == "" {
			t.Errorf("%s: exit %d, stderr %q", name, r.code, r.stderr)
		}
	}
	if _, err := h.store().GetClient(context.Background(), "bad"); err == nil {
		t.Fatal("a refused client was stored")
	}
}

// TestClientUpdate: client update changes what it names, under the rules
// of create, records who did it, and keeps the rest.
func TestClientUpdate(t *testing.T) {
	h := newHarness(t)
	h.ok("client", "create", "--id", "api", "--generate-secret", "--grant-types", "client_credentials", "--scopes", "read")
	if out := h.ok("client", "update", "--id", "api", "--introspect"); !strings.Contains(out, "introspect true") {
		t.Fatalf("update said %q", out)
	}
	var v clientView
	if err := json.Unmarshal([]byte(h.ok("client", "get", "--id", "api", "--json")), &v); err != nil {
		t.Fatal(err)
	}
	if !v.Introspect || strings.Join(v.Scopes, " ") != "read" || v.SecretKind != "generated" {
		t.Fatalf("after update %+v", v)
	}
	if r := h.run("", "client", "update", "--id", "api", "--scopes", "read,write"); r.code != 2 || !strings.Contains(r.stderr, "separated by spaces") {
		t.Fatalf("a bad scope: exit %d %s", r.code, r.stderr)
	}
	if r := h.run("", "client", "update", "--id", "nope", "--introspect"); r.code != 1 || !strings.Contains(r.stderr, `no client with id "nope"`) {
		t.Fatalf("unknown client: exit %d %s", r.code, r.stderr)
	}
	if r := h.run("", "client", "update", "--id", "api"); r.code != 2 {
		t.Fatalf("nothing to change: exit %d", r.code)
	}
}

// TestClientRefreshRequiresVerifier: the verifier binding is set at
// creation or by update, and refused for a client without the code flow.
func TestClientRefreshRequiresVerifier(t *testing.T) {
	h := newHarness(t)
	v := decode[clientView](t, h.ok("client", "create", "--id", "web", "--generate-secret", "--grant-types", "authorization_code,refresh_token",
		"--redirect-uris", "https://app.example.com/cb", "--refresh-requires-verifier", "--json"))
	if !v.RefreshRequiresVerifier {
		t.Fatalf("created %+v", v)
	}
	h.ok("client", "update", "--id", "web", "--refresh-requires-verifier=false")
	if v := decode[clientView](t, h.ok("client", "get", "--id", "web", "--json")); v.RefreshRequiresVerifier {
		t.Fatal("update did not turn the binding off")
	}
	h.ok("client", "create", "--id", "svc", "--generate-secret", "--grant-types", "client_credentials")
	if r := h.run("", "client", "update", "--id", "svc", "--refresh-requires-verifier"); r.code != 2 || !strings.Contains(r.stderr, "--refresh-requires-verifier needs the authorization_code") {
		t.Fatalf("a client without the code flow: exit %d %s", r.code, r.stderr)
	}
}

// TestClientSignInSettings: the settings the sign-in pages use are
// stored from client create, shown by get and list, changed by update,
// and checked by the rules of the clients package.
func TestClientSignInSettings(t *testing.T) {
	h := newHarness(t)
	ctx := context.Background()
	v := decode[clientView](t, h.ok("client", "create", "--id", "web", "--name", "Example Web", "--generate-secret",
		"--grant-types", "refresh_token", "--redirect-uris", "https://app.example.com/callback",
		"--post-logout-redirect-uris", "https://app.example.com/,https://app.example.com/bye",
		"--allowed-origins", "HTTPS://App.Example.com:443", "--skip-consent", "--json"))
	if v.Name != "Example Web" || !v.SkipConsent || strings.Join(v.PostLogoutRedirectURIs, " ") != "https://app.example.com/ https://app.example.com/bye" ||
		strings.Join(v.AllowedOrigins, " ") != "https://app.example.com" {
		t.Fatalf("created %+v", v)
	}
	c, err := h.store().GetClient(ctx, "web")
	if err != nil || c.Name != "Example Web" || !c.SkipConsent || len(c.PostLogoutRedirectURIs) != 2 ||
		len(c.AllowedOrigins) != 1 || c.AllowedOrigins[0] != "https://app.example.com" {
		t.Fatalf("stored %+v, %v", c, err)
	}
	out := h.ok("client", "get", "--id", "web")
	for _, want := range []string{"Example Web", "post-logout redirect URIs:", "https://app.example.com/bye", "allowed origins:", "skip consent:"} {
		if !strings.Contains(out, want) {
			t.Errorf("client get lacks %q:\n%s", want, out)
		}
	}
	if out := h.ok("client", "list"); !strings.Contains(out, "NAME") || !strings.Contains(out, "Example Web") {
		t.Errorf("client list:\n%s", out)
	}

	// Without --allowed-origins: the default (null in JSON); with an
	// empty one: none.
	dflt := decode[clientView](t, h.ok("client", "create", "--id", "spa", "--public", "--grant-types", "refresh_token",
		"--redirect-uris", "http://127.0.0.1:8082/callback", "--json"))
	if dflt.AllowedOrigins != nil || dflt.SkipConsent || dflt.Name != "" {
		t.Fatalf("defaults %+v", dflt)
	}
	if out := h.ok("client", "get", "--id", "spa"); !strings.Contains(out, "the origins of the redirect URIs") {
		t.Errorf("client get of the default origins:\n%s", out)
	}
	h.ok("client", "update", "--id", "spa", "--allowed-origins", "", "--name", "Demo SPA")
	if c, _ := h.store().GetClient(ctx, "spa"); c.AllowedOrigins == nil || len(c.AllowedOrigins) != 0 || c.Name != "Demo SPA" {
		t.Fatalf("after update %+v", c)
	}
	h.ok("client", "update", "--id", "spa", "--allowed-origins", "http://127.0.0.1:8082", "--post-logout-redirect-uris", "http://127.0.0.1:8082/")
	if c, _ := h.store().GetClient(ctx, "spa"); len(c.AllowedOrigins) != 1 || len(c.PostLogoutRedirectURIs) != 1 {
		t.Fatalf("after update %+v", c)
	}

	for name, args := range map[string][]string{
		"an http redirect off loopback":     {"--redirect-uris", "http://app.example.com/cb"},
		"a post-logout URI with a fragment": {"--post-logout-redirect-uris", "https://app.example.com/#x"},
		"an origin with a path":             {"--allowed-origins", "https://app.example.com/x"},
		"a name with a control character":   {"--name", "bad\x07name"},
		"a public client skipping consent":  {"--redirect-uris", "http://127.0.0.1/cb", "--skip-consent"},
	} {
		r := h.run("", append([]string{"client", "create", "--id", "bad", "--public", "--grant-types", "refresh_token"}, args...)...)
		if r.code != 2 || r.stderr == "" {
			t.Errorf("%s: exit %d, stderr %q", name, r.code, r.stderr)
		}
	}
	if r := h.run("", "client", "update", "--id", "spa", "--skip-consent"); r.code != 2 || !strings.Contains(r.stderr, "--skip-consent") {
		t.Errorf("update of a loopback public client to skip consent: exit %d %s", r.code, r.stderr)
	}
	if _, err := h.store().GetClient(ctx, "bad"); err == nil {
		t.Fatal("a refused client was stored")
	}
}

// TestClientCreateJSONCarriesSecret: the --json answer of client create
// holds client_secret when Rotor generated one (the only time it is
// shown), and it is the secret that authenticates; a public client's
// answer has no such member at all.
func TestClientCreateJSONCarriesSecret(t *testing.T) {
	h := newHarness(t)
	var m map[string]any
	if err := json.Unmarshal([]byte(h.ok("client", "create", "--id", "web", "--generate-secret", "--grant-types", "refresh_token", "--json")), &m); err != nil {
		t.Fatal(err)
	}
	sec, _ := m["client_secret"].(string)
	c, err := h.store().GetClient(context.Background(), "web")
	if err != nil || sec == "" || !secret.Equal(c.SecretHash, h.secrets().Hash(sec)) {
		t.Fatalf("client_secret %q does not match the stored hash (%v)", sec, err)
	}
	m = nil
	if err := json.Unmarshal([]byte(h.ok("client", "create", "--id", "spa", "--public", "--grant-types", "refresh_token", "--json")), &m); err != nil {
		t.Fatal(err)
	}
	if _, ok := m["client_secret"]; ok {
		t.Fatalf("a public client's answer has client_secret: %v", m)
	}
	m = nil
	if err := json.Unmarshal([]byte(h.ok("client", "create", "--id", "svc", "--secret", "an operator chosen secret", "--grant-types", "client_credentials", "--json")), &m); err != nil {
		t.Fatal(err)
	}
	if _, ok := m["client_secret"]; ok {
		t.Fatal("a chosen secret is echoed back")
	}
}

// TestClientAuthorizationCodeGrant: --grant-types
// authorization_code,refresh_token enables the code flow for a client,
// once the token endpoint registers the grant.
func TestClientAuthorizationCodeGrant(t *testing.T) {
	h := newHarness(t)
	v := decode[clientView](t, h.ok("client", "create", "--id", "web", "--generate-secret", "--grant-types", "authorization_code,refresh_token",
		"--redirect-uris", "http://127.0.0.1:8081/callback", "--json"))
	if strings.Join(v.GrantTypes, ",") != "authorization_code,refresh_token" {
		t.Fatalf("grant types %v", v.GrantTypes)
	}
	r := h.run("", "client", "create", "--id", "noredirect", "--public", "--grant-types", "authorization_code")
	if r.code != 2 || !strings.Contains(r.stderr, "at least one redirect URI (--redirect-uris)") {
		t.Fatalf("the code grant without a redirect URI: exit %d %s", r.code, r.stderr)
	}
}

// TestClientDeviceCodeGrant: --grant-types accepts the device
// authorization grant (RFC 8628) by its URN, and a device-flow client
// needs no redirect URI.
func TestClientDeviceCodeGrant(t *testing.T) {
	h := newHarness(t)
	v := decode[clientView](t, h.ok("client", "create", "--id", "cli", "--public",
		"--grant-types", "urn:ietf:params:oauth:grant-type:device_code,refresh_token", "--scopes", "orders:read", "--json"))
	if strings.Join(v.GrantTypes, ",") != "urn:ietf:params:oauth:grant-type:device_code,refresh_token" || len(v.RedirectURIs) != 0 {
		t.Fatalf("created %+v", v)
	}
	c, err := h.store().GetClient(context.Background(), "cli")
	if err != nil || !c.AllowsGrant("urn:ietf:params:oauth:grant-type:device_code") || !c.Public {
		t.Fatalf("stored %+v, %v", c, err)
	}
	if r := h.run("", "client", "create", "--id", "tv", "--public", "--grant-types", "device_code"); r.code != 2 ||
		!strings.Contains(r.stderr, `unknown grant type "device_code"`) || !strings.Contains(r.stderr, "urn:ietf:params:oauth:grant-type:device_code") {
		t.Fatalf("a short name for the grant: exit %d %s", r.code, r.stderr)
	}
}
