package main

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/rotor-auth/rotor/internal/secret"
)

// startServe runs `rotor serve` on a free port and returns its issuer and
// a function that stops it and returns its exit code.
func startServe(t *testing.T, h *harness, args ...string) (issuer string, out, errb *syncBuffer, stop func() int) {
	t.Helper()
	out, errb = &syncBuffer{}, &syncBuffer{}
	a := h.app("", out, errb)
	ready := make(chan string, 1)
	a.serveReady = func(iss string) { ready <- iss }
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan int, 1)
	go func() {
		done <- a.execute(ctx, append([]string{"serve", "--addr", "127.0.0.1:0", "--admin-addr", "127.0.0.1:0"}, args...))
	}()
	select {
	case issuer = <-ready:
	case code := <-done:
		cancel()
		t.Fatalf("serve exited with %d:\n%s%s", code, out.String(), errb.String())
	case <-time.After(30 * time.Second):
		cancel()
		t.Fatal("serve did not start")
	}
	stopped := false
	stop = func() int {
		if stopped {
			return 0
		}
		stopped = true
		cancel()
		select {
		case code := <-done:
			return code
		case <-time.After(30 * time.Second):
			t.Fatal("serve did not stop")
			return -1
		}
	}
	t.Cleanup(func() { stop() })
	return issuer, out, errb, stop
}

func getJSON(t *testing.T, u string) map[string]any {
	t.Helper()
	resp, err := http.Get(u)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %s\n%s", u, resp.Status, b)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatalf("GET %s: %v\n%s", u, err, b)
	}
	return m
}

func TestServeZeroConfig(t *testing.T) {
	h := newHarness(t)
	delete(h.env, "ROTOR_LOG_LEVEL")
	start := time.Now()
	issuer, out, errb, stop := startServe(t, h)
	meta := getJSON(t, issuer+"/.well-known/oauth-authorization-server")
	if took := time.Since(start); took > 5*time.Second { // 1 s is the goal; leave room for -race
		t.Errorf("metadata answered %v after start", took)
	}
	if meta["issuer"] != issuer || !strings.HasPrefix(issuer, "http://127.0.0.1:") {
		t.Fatalf("metadata issuer %v, serve issuer %q", meta["issuer"], issuer)
	}
	jwks := getJSON(t, issuer+"/.well-known/jwks.json")
	if ks, _ := jwks["keys"].([]any); len(ks) == 0 {
		t.Fatalf("JWKS has no key: %v", jwks)
	}

	fi, err := os.Stat(filepath.Join(h.dir, "rotor.db.masterkey"))
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("master key file: %v, mode %v", err, fi)
	}
	if !strings.Contains(errb.String(), "ROTOR_MASTER_KEY") {
		t.Errorf("no warning about ROTOR_MASTER_KEY in the log:\n%s", errb.String())
	}
	for _, want := range []string{issuer, "rotor client create", "rotor user create", "curl", "/oauth2/token"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("banner lacks %q:\n%s", want, out.String())
		}
	}
	if code := stop(); code != 0 {
		t.Fatalf("serve exited with %d after a clean stop:\n%s", code, errb.String())
	}
	if !strings.Contains(errb.String(), "stopped") {
		t.Errorf("no clean stop in the log:\n%s", errb.String())
	}
}

// TestServeEndToEnd gets tokens with a client and a user made by the CLI,
// then revokes the family from the CLI and sees the refresh refused.
func TestServeEndToEnd(t *testing.T) {
	h := newHarness(t)
	h.ok("user", "create", "--username", "alice", "--password", "correct horse")
	created := decode[clientView](t, h.ok("client", "create", "--id", "web", "--generate-secret",
		"--grant-types", "password,refresh_token", "--scopes", "read write", "--json"))
	issuer, _, errb, _ := startServe(t, h, "--access-token-ttl", "2m", "--reuse-grace", "0s")

	token := func(form url.Values) (int, map[string]any) {
		req, _ := http.NewRequest(http.MethodPost, issuer+"/oauth2/token", strings.NewReader(form.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.SetBasicAuth("web", created.ClientSecret)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var m map[string]any
		_ = json.NewDecoder(resp.Body).Decode(&m)
		return resp.StatusCode, m
	}
	code, tok := token(url.Values{"grant_type": {"password"}, "username": {"alice"}, "password": {"correct horse"}})
	if code != 200 || tok["refresh_token"] == nil {
		t.Fatalf("password grant: %d %v", code, tok)
	}
	if tok["expires_in"].(float64) != 120 {
		t.Fatalf("--access-token-ttl not applied: expires_in %v", tok["expires_in"])
	}
	code, tok2 := token(url.Values{"grant_type": {"refresh_token"}, "refresh_token": {tok["refresh_token"].(string)}})
	if code != 200 {
		t.Fatalf("refresh: %d %v", code, tok2)
	}

	if out := h.ok("revoke", "--user", "alice"); out != "Revoked 1 family.\n" {
		t.Fatalf("revoke said %q", out)
	}
	code, res := token(url.Values{"grant_type": {"refresh_token"}, "refresh_token": {tok2["refresh_token"].(string)}})
	if code != 400 || res["error"] != "invalid_grant" {
		t.Fatalf("refresh after revoke: %d %v", code, res)
	}
	for _, s := range []string{tok["refresh_token"].(string), tok2["refresh_token"].(string), created.ClientSecret} {
		if strings.Contains(errb.String(), s) {
			t.Fatal("the server log holds a token or secret")
		}
	}
}

func TestServeFlagsWinOverEnvironment(t *testing.T) {
	h := newHarness(t)
	h.env["ROTOR_ISSUER"] = "http://localhost:1"
	issuer, _, _, _ := startServe(t, h, "--issuer", "http://localhost:2/")
	if issuer != "http://localhost:2" {
		t.Fatalf("issuer %q", issuer)
	}
}

// TestServeDemo: serve --demo creates the demo web client (its secret
// printed once), the demo SPA client and the demo user (its password
// printed once), and says where to go; a second start leaves them as
// they are and prints no secret.
func TestServeDemo(t *testing.T) {
	h := newHarness(t)
	ctx := context.Background()
	issuer, out, _, stop := startServe(t, h, "--demo")
	text := out.String()
	secretLine := regexp.MustCompile(`client_secret: (\S+)`).FindStringSubmatch(text)
	pwLine := regexp.MustCompile(`with the password (\S+)`).FindStringSubmatch(text)
	if secretLine == nil || pwLine == nil {
		t.Fatalf("no secret or password printed:\n%s", text)
	}
	for _, want := range []string{`client "demo-web"`, `client "demo-spa"`, `user "demo"`, "http://127.0.0.1:8082/", "http://127.0.0.1:8083/", issuer} {
		if !strings.Contains(text, want) {
			t.Errorf("output lacks %q:\n%s", want, text)
		}
	}
	if strings.Contains(text, "grant_type=password") {
		t.Errorf("the demo banner still shows the password grant:\n%s", text)
	}
	if code := stop(); code != 0 {
		t.Fatalf("serve exited with %d", code)
	}

	st := h.store()
	web, err := st.GetClient(ctx, "demo-web")
	if err != nil || web.Public || !secret.Equal(web.SecretHash, h.secrets().Hash(secretLine[1])) ||
		strings.Join(web.GrantTypes, ",") != "authorization_code,refresh_token" || strings.Join(web.RedirectURIs, ",") != "http://127.0.0.1:8083/callback" {
		t.Fatalf("demo-web stored as %+v, %v", web, err)
	}
	spa, err := st.GetClient(ctx, "demo-spa")
	if err != nil || !spa.Public || spa.SecretHash != nil || strings.Join(spa.RedirectURIs, ",") != "http://127.0.0.1:8082/callback" ||
		strings.Join(spa.GrantTypes, ",") != "authorization_code,refresh_token" {
		t.Fatalf("demo-spa stored as %+v, %v", spa, err)
	}
	u, err := st.GetUserByUsername(ctx, "demo")
	if err != nil || secret.VerifyPassword(u.PasswordPHC, pwLine[1]) != nil {
		t.Fatalf("the demo user does not have the printed password: %v", err)
	}

	_, out, _, _ = startServe(t, h, "--demo")
	text = out.String()
	if strings.Contains(text, "client_secret:") || strings.Contains(text, pwLine[1]) || strings.Count(text, "exists already") != 3 {
		t.Fatalf("second start:\n%s", text)
	}
	if again, _ := st.GetClient(ctx, "demo-web"); !secret.Equal(again.SecretHash, web.SecretHash) {
		t.Fatal("a second start changed the demo secret")
	}
	if again, _ := st.GetUserByUsername(ctx, "demo"); again.PasswordPHC != u.PasswordPHC {
		t.Fatal("a second start changed the demo password")
	}
}
