package testrig

import (
	"context"
	"os"
	"os/exec"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// EnvRequireServices, set to 1 (as in CI), turns the skips of tests that
// need an outside program (Chromium here, PostgreSQL and Redis in testdb)
// into failures.
const EnvRequireServices = "ROTOR_TEST_REQUIRE_SERVICES"

// browserTimeout bounds a whole browser test, so that a page that never
// shows what the test waits for fails it instead of hanging it.
const browserTimeout = 2 * time.Minute

// chromiumPaths are where Debian's chromium package (and others) put the
// browser; the first that exists is used.
var chromiumPaths = []string{"/usr/bin/chromium", "/usr/bin/chromium-browser", "/usr/bin/google-chrome"}

// findChromium returns the browser's path, or "".
func findChromium() string {
	if p := os.Getenv("ROTOR_TEST_CHROMIUM"); p != "" {
		return p
	}
	for _, p := range chromiumPaths {
		if _, err := os.Stat(p); err == nil {
			return p
		}
	}
	if p, err := exec.LookPath("chromium"); err == nil {
		return p
	}
	return ""
}

// Chromium starts a headless Chromium with a fresh profile and returns a
// chromedp context for one tab; the browser is closed when the test ends.
// Without Chromium the test is skipped, or fails when
// ROTOR_TEST_REQUIRE_SERVICES=1 (.ci/run installs it with apt).
func Chromium(t testing.TB) context.Context {
	t.Helper()
	path := findChromium()
	if path == "" {
		msg := "no Chromium found (apt-get install -y chromium, or set ROTOR_TEST_CHROMIUM)"
		if os.Getenv(EnvRequireServices) == "1" {
			t.Fatal("testrig: " + EnvRequireServices + "=1 but " + msg)
		}
		t.Skip("testrig: " + msg + "; skipping the browser test")
	}
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(path),
		chromedp.Headless,
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.NoFirstRun,
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.UserDataDir(t.TempDir()),
	)
	ctx, cancelTimeout := context.WithTimeout(context.Background(), browserTimeout)
	actx, cancelAlloc := chromedp.NewExecAllocator(ctx, opts...)
	bctx, cancelBrowser := chromedp.NewContext(actx, chromedp.WithLogf(t.Logf))
	t.Cleanup(func() {
		cancelBrowser()
		cancelAlloc()
		cancelTimeout()
	})
	// Start the browser now, so that a browser that cannot start fails
	// here with its own error.
	if err := chromedp.Do(bctx); err != nil {
		t.Fatalf("start Chromium (%s): %v", path, err)
	}
	return bctx
}
