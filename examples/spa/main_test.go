package main

import (
	"encoding/json"
	"io"
	"io/fs"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"
)

func testConfig(t *testing.T, env map[string]string) config {
	t.Helper()
	cfg, err := configFrom(func(k string) string { return env[k] })
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

func get(t *testing.T, srv *httptest.Server, path string) (*http.Response, string) {
	t.Helper()
	resp, err := srv.Client().Get(srv.URL + path)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, string(b)
}

// TestServer checks what the Go half serves: the settings, the page at
// the redirect URI, and a policy that lets the page connect to itself,
// the issuer and the API only.
func TestServer(t *testing.T) {
	cfg := testConfig(t, map[string]string{"ISSUER": "http://127.0.0.1:8080/", "API": "http://127.0.0.1:9090/base"})
	srv := httptest.NewServer(routes(cfg))
	defer srv.Close()

	resp, body := get(t, srv, "/config.json")
	var got map[string]string
	if err := json.Unmarshal([]byte(body), &got); err != nil || resp.Header.Get("Content-Type") != "application/json" {
		t.Fatalf("/config.json: %v %q", err, body)
	}
	want := map[string]string{"issuer": "http://127.0.0.1:8080", "client_id": "demo-spa", "api": "http://127.0.0.1:9090/base",
		"scope": "openid profile offline_access", "resource": "https://orders.example.com"}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("config %s = %q, want %q", k, got[k], v)
		}
	}

	_, index := get(t, srv, "/")
	resp, callback := get(t, srv, "/callback?code=x&state=y")
	if resp.StatusCode != 200 || callback != index || !strings.Contains(index, `<script type="module" src="/app.js"></script>`) {
		t.Errorf("/callback is not the page: %d", resp.StatusCode)
	}
	csp := resp.Header.Get("Content-Security-Policy")
	for _, d := range []string{"default-src 'self'", "connect-src 'self' http://127.0.0.1:8080 http://127.0.0.1:9090;",
		"frame-ancestors 'none'", "object-src 'none'", "base-uri 'none'"} {
		if !strings.Contains(csp, d) {
			t.Errorf("CSP %q lacks %q", csp, d)
		}
	}
	if strings.Contains(csp, "unsafe") {
		t.Errorf("CSP %q allows unsafe sources", csp)
	}
	if resp.Header.Get("Referrer-Policy") != "no-referrer" || resp.Header.Get("X-Frame-Options") != "DENY" {
		t.Errorf("headers %v", resp.Header)
	}
	for _, js := range []string{"/app.js", "/oauth.js", "/dpop.js"} {
		resp, _ := get(t, srv, js)
		if resp.StatusCode != 200 || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/javascript") {
			t.Errorf("%s: %d %q", js, resp.StatusCode, resp.Header.Get("Content-Type"))
		}
	}
	if resp, _ := get(t, srv, "/main.go"); resp.StatusCode != http.StatusNotFound {
		t.Errorf("/main.go: %d", resp.StatusCode)
	}
}

// TestConfigRefusesBadURLs: the policy is built from the URLs, so they
// must be URLs.
func TestConfigRefusesBadURLs(t *testing.T) {
	for _, env := range []map[string]string{
		{"ISSUER": "javascript:alert(1)"},
		{"API": "127.0.0.1:9090"},
		{"ISSUER": "http://user@127.0.0.1:8080"},
	} {
		if _, err := configFrom(func(k string) string { return env[k] }); err == nil {
			t.Errorf("%v accepted", env)
		}
	}
}

// TestNoInlineScript: the page runs under a policy without
// 'unsafe-inline', so no script may be inline: no <script> without src,
// no on* attribute, no javascript: URL.
func TestNoInlineScript(t *testing.T) {
	inline := []*regexp.Regexp{
		regexp.MustCompile(`(?i)<script\b[^>]*>\s*[^<\s]`),
		regexp.MustCompile(`(?i)\son[a-z]+\s*=`),
		regexp.MustCompile(`(?i)javascript:`),
	}
	scriptTag := regexp.MustCompile(`(?i)<script\b[^>]*>`)
	err := fs.WalkDir(static, "static", func(path string, d fs.DirEntry, err error) error {
		if err != nil || !strings.HasSuffix(path, ".html") {
			return err
		}
		b, err := fs.ReadFile(static, path)
		if err != nil {
			return err
		}
		for _, tag := range scriptTag.FindAll(b, -1) {
			if !strings.Contains(string(tag), " src=") {
				t.Errorf("%s: a script without src: %s", path, tag)
			}
		}
		for _, re := range inline {
			if m := re.Find(b); m != nil {
				t.Errorf("%s: inline script %q", path, m)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}
