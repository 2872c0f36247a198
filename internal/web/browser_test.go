package web_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/rotor-auth/rotor/internal/store"
	"github.com/rotor-auth/rotor/internal/web"
)

// chromium is Debian's Chromium, which .ci/run installs.
const chromium = "/usr/bin/chromium"

// newChromium starts a headless Chromium for the test, or skips when
// there is none (fails under ROTOR_TEST_REQUIRE_SERVICES=1).
func newChromium(t *testing.T) context.Context {
	t.Helper()
	if _, err := exec.LookPath(chromium); err != nil {
		if os.Getenv("ROTOR_TEST_REQUIRE_SERVICES") == "1" {
			t.Fatalf("ROTOR_TEST_REQUIRE_SERVICES=1 but %s is missing: apt-get install chromium", chromium)
		}
		t.Skipf("%s is missing (apt-get install chromium)", chromium)
	}
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(chromium), chromedp.NoSandbox, chromedp.DisableGPU, chromedp.NoFirstRun,
		chromedp.Flag("disable-background-networking", true), chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true), chromedp.Flag("hide-scrollbars", true))
	actx, cancelA := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancelC := chromedp.NewContext(actx)
	ctx, cancelT := context.WithTimeout(ctx, 60*time.Second)
	t.Cleanup(func() { cancelT(); cancelC(); cancelA() })
	if err := chromedp.Do(ctx); err != nil {
		t.Fatalf("start chromium: %v", err)
	}
	return ctx
}

// TestPagesInChromium drives the pages in a real browser: the stylesheet
// applies under the CSP, the keyboard reaches the form, a wrong password
// shows the alert, and Allow's redirect reaches the client, which CSP
// form-action would block in Chromium were the client's origin missing.
// With ROTOR_SCREENSHOTS=1 it writes docs/screenshots/*.png at a phone's
// width (390 px) and a laptop's (1280 px).
func TestPagesInChromium(t *testing.T) {
	ctx := newChromium(t)
	r := newRig(t)
	got := make(chan url.Values, 8)
	app := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		if req.URL.Path == "/favicon.ico" {
			http.NotFound(w, req)
			return
		}
		got <- req.URL.Query()
		fmt.Fprint(w, "<!doctype html><title>app</title>signed in")
	}))
	t.Cleanup(app.Close)
	r.client = r.addClient(t, store.Client{ID: "notes", Name: "Team Notes", GrantTypes: []string{"authorization_code", "refresh_token"},
		RedirectURIs: []string{app.URL + "/callback"}, PostLogoutRedirectURIs: []string{app.URL + "/bye"}})
	loginURL := r.requestTo(app.URL+"/callback", "openid profile email offline_access notes:write")

	shots := os.Getenv("ROTOR_SCREENSHOTS") == "1"
	shoot := func(name string) {
		t.Helper()
		if !shots {
			return
		}
		for _, size := range [][2]int64{{390, 844}, {1280, 800}} {
			if err := chromedp.Do(ctx, chromedp.EmulateViewport(size[0], size[1])); err != nil {
				t.Fatal(err)
			}
			png, err := chromedp.Run(ctx, chromedp.CaptureScreenshot())
			if err != nil {
				t.Fatal(err)
			}
			path := filepath.Join("..", "..", "docs", "screenshots", fmt.Sprintf("%s-%d.png", name, size[0]))
			if err := os.WriteFile(path, png, 0o644); err != nil {
				t.Fatal(err)
			}
		}
		if err := chromedp.Do(ctx, chromedp.EmulateViewport(1280, 800)); err != nil {
			t.Fatal(err)
		}
	}
	if shots {
		if err := os.MkdirAll(filepath.Join("..", "..", "docs", "screenshots"), 0o755); err != nil {
			t.Fatal(err)
		}
	}

	run := func(what string, actions ...chromedp.Action[chromedp.Void]) {
		t.Helper()
		if err := chromedp.Do(ctx, actions...); err != nil {
			t.Fatalf("%s: %v", what, err)
		}
	}
	get := func(what string, a chromedp.Action[string]) string {
		t.Helper()
		v, err := chromedp.Run(ctx, a)
		if err != nil {
			t.Fatalf("%s: %v", what, err)
		}
		return v
	}
	run("login page", chromedp.EmulateViewport(1280, 800), chromedp.Navigate(loginURL), chromedp.WaitVisible(`input[name=username]`))
	bg := get("background", chromedp.Evaluate[string](`getComputedStyle(document.body).backgroundColor`))
	focused := get("focus", chromedp.Evaluate[string](`document.activeElement.name`))
	if bg != "rgb(243, 244, 246)" {
		t.Errorf("the stylesheet did not apply: body background %q", bg)
	}
	if focused != "username" {
		t.Errorf("focus starts on %q, want the username", focused)
	}
	shoot("login")

	// Keyboard only: type, Tab to the password, Enter submits.
	run("tab", chromedp.SendKeys(`input[name=username]`, "alice"), chromedp.KeyEvent("\t"))
	if ring := get("focus ring", chromedp.Evaluate[string](`document.activeElement.name + " " + getComputedStyle(document.activeElement).outlineStyle`)); ring != "password solid" {
		t.Errorf("after Tab: %q, want the password field with a visible outline", ring)
	}
	run("wrong password", chromedp.KeyEvent("wrong password"), chromedp.KeyEvent("\r"), chromedp.WaitVisible(`[role=alert]`))
	alert := get("alert", chromedp.Text(`[role=alert]`))
	if alert != "Wrong username or password." {
		t.Errorf("alert %q", alert)
	}
	shoot("login-error")

	run("consent page", chromedp.SetValue(`input[name=password]`, password), chromedp.Submit(`input[name=password]`),
		chromedp.WaitVisible(`button[name=decision][value=allow]`))
	shoot("consent")
	run("allow", chromedp.Click(`button[name=decision][value=allow]`), chromedp.WaitReady(`body`))
	select {
	case q := <-got:
		if q.Get("code") == "" || q.Get("state") != "st-1" {
			t.Errorf("the client got %v", q)
		}
	case <-ctx.Done():
		t.Fatal("Allow never reached the client: is the client's origin in form-action?")
	}
	loc := get("location", chromedp.Location())
	if !strings.HasPrefix(loc, app.URL+"/callback?") {
		t.Errorf("the browser is at %q", loc)
	}

	run("error page", chromedp.Navigate(r.issuer+web.LoginPath+"?request=not-a-request"), chromedp.WaitVisible(`[role=alert]`))
	shoot("error")

	run("logout page", chromedp.Navigate(r.issuer+web.LogoutPath+"?"+url.Values{"client_id": {"notes"},
		"post_logout_redirect_uri": {app.URL + "/bye"}, "state": {"s1"}}.Encode()), chromedp.WaitVisible(`button[name=logout]`))
	shoot("logout")
	run("confirm logout", chromedp.Click(`button[name=logout]`), chromedp.WaitReady(`body`))
	select {
	case q := <-got:
		if q.Get("state") != "s1" {
			t.Errorf("after logout the client got %v", q)
		}
	case <-ctx.Done():
		t.Fatal("the logout redirect never reached the client")
	}
}
