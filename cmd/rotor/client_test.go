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
