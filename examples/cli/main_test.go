package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/rotor-auth/rotor/internal/testrig"
)

const (
	audience   = "https://orders.example.com"
	password   = "correct horse battery staple"
	clientName = "Example CLI"
	// waitLimit bounds every wait on the CLI, so that a run that never
	// prints what the test waits for fails it instead of hanging it.
	waitLimit = time.Minute
)

// rig is the rotor binary, examples/api and the built example, all on
// loopback, with the user alice, and a Chromium to sign in with.
type rig struct {
	t       *testing.T
	rotor   *testrig.RotorProcess
	api     string
	cli     string
	dir     string
	browser context.Context
}

// newRig starts Rotor (polling interval 1 s, so that the device flow
// takes a second, not five) after registering the client with args, as
// the README says, then examples/api, and builds the example. Chromium
// comes first: without it the test skips (or fails under
// ROTOR_TEST_REQUIRE_SERVICES=1) before building anything.
func newRig(t *testing.T, clientArgs ...string) *rig {
	t.Helper()
	if testing.Short() {
		t.Skip("builds and runs binaries and a browser")
	}
	browser := testrig.Chromium(t)
	rotor := testrig.NewRotorProcess(t)
	rotor.CreateClient(t, append([]string{"--id", "cli", "--name", clientName, "--public", "--scopes", "orders:read",
		"--audiences", audience, "--access-token-ttl", "2s"}, clientArgs...)...)
	rotor.CreateUser(t, "alice", password)
	rotor.Serve(t, "--device-poll-interval", "1s")
	api := exec.Command(testrig.BuildCommand(t, "github.com/rotor-auth/rotor/examples/api"))
	api.Env = append(os.Environ(), "ISSUER="+rotor.URL, "AUDIENCE="+audience, "ADDR=127.0.0.1:0")
	apiURL := testrig.StartCommand(t, api, regexp.MustCompile(`orders API on (http://127\.0\.0\.1:[0-9]+)`))[1]
	return &rig{t: t, rotor: rotor, api: apiURL, cli: testrig.BuildCommand(t, "github.com/rotor-auth/rotor/examples/cli"),
		dir: t.TempDir(), browser: browser}
}

func (r *rig) command(ctx context.Context, args ...string) *exec.Cmd {
	cmd := exec.CommandContext(ctx, r.cli, append([]string{"-issuer", r.rotor.URL, "-client-id", "cli", "-dir", r.dir}, args...)...)
	// BROWSER=true: the loopback flow "opens" the browser with true(1),
	// and the test drives Chromium to the printed URL instead.
	cmd.Env = append(os.Environ(), "BROWSER=true")
	return cmd
}

// run runs the CLI to its end and returns its standard output and exit
// code.
func (r *rig) run(args ...string) (string, int) {
	r.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), waitLimit)
	defer cancel()
	var stderr bytes.Buffer
	cmd := r.command(ctx, args...)
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		r.t.Logf("cli %s: exit %d\n%s", strings.Join(args, " "), ee.ExitCode(), stderr.String())
		return string(out), ee.ExitCode()
	} else if err != nil {
		r.t.Fatal(err)
	}
	return string(out), 0
}

// running is a CLI started in the background, its output read line by
// line.
type running struct {
	t      *testing.T
	lines  chan string
	out    testrig.Output
	exited chan struct{}
	code   int
}

// start starts the CLI; it is killed when the test ends if still running.
func (r *rig) start(args ...string) *running {
	r.t.Helper()
	cmd := r.command(context.Background(), args...)
	pr, pw := io.Pipe()
	cmd.Stdout, cmd.Stderr = pw, pw
	p := &running{t: r.t, lines: make(chan string, 256), exited: make(chan struct{})}
	if err := cmd.Start(); err != nil {
		r.t.Fatal(err)
	}
	go func() {
		s := bufio.NewScanner(pr)
		for s.Scan() {
			_, _ = p.out.Write([]byte(s.Text() + "\n"))
			p.lines <- s.Text()
		}
		close(p.lines)
	}()
	go func() {
		err := cmd.Wait()
		p.code = cmd.ProcessState.ExitCode()
		_ = pw.CloseWithError(err)
		close(p.exited)
	}()
	r.t.Cleanup(func() {
		_ = cmd.Process.Kill()
		<-p.exited
		if r.t.Failed() {
			r.t.Logf("output of cli %s:\n%s", strings.Join(args, " "), p.out.String())
		}
	})
	return p
}

// await returns the submatches of the next line that matches re.
func (p *running) await(re *regexp.Regexp) []string {
	p.t.Helper()
	timer := time.NewTimer(waitLimit)
	defer timer.Stop()
	for {
		select {
		case line, ok := <-p.lines:
			if !ok {
				p.t.Fatalf("the CLI ended without printing a line like %s:\n%s", re, p.out.String())
			}
			if m := re.FindStringSubmatch(line); m != nil {
				return m
			}
		case <-timer.C:
			p.t.Fatalf("the CLI printed no line like %s within %v:\n%s", re, waitLimit, p.out.String())
		}
	}
}

// wait waits for the CLI to end and returns its exit code and output.
func (p *running) wait() (int, string) {
	p.t.Helper()
	select {
	case <-p.exited:
	case <-time.After(waitLimit):
		p.t.Fatalf("the CLI did not end within %v:\n%s", waitLimit, p.out.String())
	}
	for range p.lines { // the rest of the output
	}
	return p.code, p.out.String()
}

// ended says whether the CLI has ended already.
func (p *running) ended() bool {
	select {
	case <-p.exited:
		return true
	default:
		return false
	}
}

// do runs browser actions, failing the test with what they were for.
func (r *rig) do(what string, actions ...chromedp.Action[chromedp.Void]) {
	r.t.Helper()
	if err := chromedp.Do(r.browser, actions...); err != nil {
		r.t.Fatalf("browser, %s: %v", what, err)
	}
}

func (r *rig) text(sel string) string {
	r.t.Helper()
	s, err := chromedp.Run(r.browser, chromedp.Text(sel))
	if err != nil {
		r.t.Fatalf("browser, text of %s: %v", sel, err)
	}
	return s
}

// signIn fills Rotor's login page as alice.
func (r *rig) signIn() {
	r.t.Helper()
	r.do("the login page", chromedp.WaitVisible(`input[name=username]`), chromedp.SetValue(`input[name=username]`, "alice"),
		chromedp.SendKeys(`input[name=password]`, password), chromedp.Click(`form button[type=submit]`))
}

// tokens reads the session file the CLI keeps.
func (r *rig) tokens() (accessToken, refreshToken, tokenType string) {
	r.t.Helper()
	path := filepath.Join(r.dir, "token.json")
	fi, err := os.Stat(path)
	if err != nil {
		r.t.Fatalf("no session file: %v", err)
	}
	if fi.Mode().Perm() != 0o600 {
		r.t.Errorf("the session file has mode %v, want 0600", fi.Mode().Perm())
	}
	b, err := os.ReadFile(path)
	if err != nil {
		r.t.Fatal(err)
	}
	var v struct {
		AccessToken  string `json:"access_token"`
		RefreshToken string `json:"refresh_token"`
		TokenType    string `json:"token_type"`
	}
	if err := json.Unmarshal(b, &v); err != nil {
		r.t.Fatal(err)
	}
	return v.AccessToken, v.RefreshToken, v.TokenType
}

// callAPI runs "cli get" on examples/api twice; with access tokens of 2 s
// each run refreshes, and the refresh token saved rotates each time.
func (r *rig) callAPI() {
	r.t.Helper()
	_, rt, _ := r.tokens()
	for range 2 {
		out, code := r.run("get", r.api+"/orders")
		if code != 0 || !strings.HasPrefix(out, "orders of ") || !strings.Contains(out, "(client cli)") {
			r.t.Fatalf("cli get: exit %d, %q", code, out)
		}
		_, next, _ := r.tokens()
		if next == "" || next == rt {
			r.t.Fatal("cli get did not rotate the refresh token")
		}
		rt = next
	}
}

var (
	deviceLine   = regexp.MustCompile(`^Open (http://127\.0\.0\.1:[0-9]+/device) and enter the code ([B-Z]{4}-[B-Z]{4})$`)
	completeLine = regexp.MustCompile(`^or open (http://127\.0\.0\.1:[0-9]+/device\?user_code=\S+)$`)
	loopbackLine = regexp.MustCompile(`^\s+(http://127\.0\.0\.1:[0-9]+/oauth2/authorize\?\S+)$`)
)

// TestDeviceFlowLogin signs in through the device flow (RFC 8628): the
// CLI prints the page and the code and polls while, in Chromium, alice
// opens the complete link, signs in, checks the code and allows it.
// Then the CLI calls examples/api, refreshing; a second sign-in that is
// denied leaves the session in use as it was; logout ends it.
func TestDeviceFlowLogin(t *testing.T) {
	t.Parallel()
	r := newRig(t, "--grant-types", "urn:ietf:params:oauth:grant-type:device_code,refresh_token")

	login := r.start("-scope", "orders:read", "login", "-browser=false")
	m := login.await(deviceLine)
	page, code := m[1], m[2]
	if page != r.rotor.URL+"/device" {
		t.Errorf("verification_uri %s, want %s/device", page, r.rotor.URL)
	}
	complete := login.await(completeLine)[1]

	r.do("open the complete link", chromedp.Navigate(complete))
	r.signIn()
	r.do("the code form", chromedp.WaitVisible(`input[name=user_code]`))
	if got, err := chromedp.Run(r.browser, chromedp.Value(`input[name=user_code]`)); err != nil || got != code {
		t.Fatalf("the code form holds %q (%v), want the printed %q", got, err, code)
	}
	if login.ended() {
		t.Fatal("the CLI stopped before the code was allowed")
	}
	r.do("continue", chromedp.Click(`form button[type=submit]`), chromedp.WaitVisible(`button[name=decision][value=allow]`))
	if shown := r.text("main"); !strings.Contains(shown, clientName) || !strings.Contains(shown, code) {
		t.Errorf("the confirmation does not show the client and the code:\n%s", shown)
	}
	r.do("allow", chromedp.Click(`button[name=decision][value=allow]`), chromedp.WaitVisible(`h1`))
	if h := r.text("h1"); h != "Your device is signed in" {
		t.Errorf("after Allow the page says %q", h)
	}
	if exit, out := login.wait(); exit != 0 || !strings.Contains(out, "Signed in (Bearer token)") {
		t.Fatalf("cli login: exit %d\n%s", exit, out)
	}
	at, rt, _ := r.tokens()
	if at == "" || !strings.HasPrefix(rt, "rt_") {
		t.Fatal("the session file lacks the access or the refresh token")
	}
	r.callAPI()

	// Denied: the CLI says so, and the session saved before stays.
	again := r.start("login", "-browser=false")
	again.await(deviceLine)
	r.do("open the second link", chromedp.Navigate(again.await(completeLine)[1]),
		chromedp.WaitVisible(`input[name=user_code]`), chromedp.Click(`form button[type=submit]`),
		chromedp.WaitVisible(`button[name=decision][value=deny]`), chromedp.Click(`button[name=decision][value=deny]`),
		chromedp.WaitVisible(`h1`))
	if exit, out := again.wait(); exit != 1 || !strings.Contains(out, "the sign-in was denied") {
		t.Fatalf("a denied login: exit %d\n%s", exit, out)
	}
	r.callAPI()

	if _, code := r.run("logout"); code != 0 {
		t.Fatalf("logout exited %d", code)
	}
	if _, code := r.run("get", r.api+"/orders"); code != 2 {
		t.Fatalf("get after logout exited %d, want 2 (sign in again)", code)
	}
}

// TestLoopbackLogin signs in with the code flow of a native app (RFC
// 8252 §7.3) and a DPoP key: the CLI listens on a loopback port and
// prints the authorization URL; an answer with another state is refused;
// Chromium follows the URL, alice signs in and allows, and Rotor sends the
// browser back to the CLI's port with the code. The session is then bound
// to the key, and the API sees DPoP-bound tokens.
func TestLoopbackLogin(t *testing.T) {
	t.Parallel()
	r := newRig(t, "--grant-types", "urn:ietf:params:oauth:grant-type:device_code,authorization_code,refresh_token",
		"--redirect-uris", "http://127.0.0.1/callback")

	login := r.start("login", "-browser", "-dpop")
	authURL := login.await(loopbackLine)[1]
	u, err := url.Parse(authURL)
	if err != nil {
		t.Fatal(err)
	}
	q := u.Query()
	redirect := q.Get("redirect_uri")
	if !regexp.MustCompile(`^http://127\.0\.0\.1:[0-9]+/callback$`).MatchString(redirect) || q.Get("code_challenge_method") != "S256" ||
		q.Get("code_challenge") == "" || q.Get("state") == "" {
		t.Fatalf("the authorization URL lacks a loopback redirect, PKCE S256 or state: %s", authURL)
	}

	// Someone else's answer on the port: refused, and the CLI waits on.
	resp, err := http.Get(redirect + "?" + url.Values{"code": {"stolen"}, "state": {"not-" + q.Get("state")}}.Encode())
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusBadRequest {
		t.Errorf("a callback with another state answered %d, want 400", resp.StatusCode)
	}

	r.do("open the authorization URL", chromedp.Navigate(authURL))
	r.signIn()
	r.do("consent", chromedp.WaitVisible(`button[name=decision][value=allow]`), chromedp.Click(`button[name=decision][value=allow]`),
		chromedp.WaitVisible(`#result`))
	if got := r.text("#result"); !strings.Contains(got, "You are signed in") {
		t.Errorf("the CLI's page says %q", got)
	}
	if exit, out := login.wait(); exit != 0 || !strings.Contains(out, "Signed in (DPoP token)") {
		t.Fatalf("cli login: exit %d\n%s", exit, out)
	}
	if _, _, typ := r.tokens(); typ != "DPoP" {
		t.Errorf("token_type %q, want DPoP", typ)
	}
	if fi, err := os.Stat(filepath.Join(r.dir, "dpop-key.pem")); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("the DPoP key file: %v", err)
	}
	r.callAPI()
}

// TestDeviceFlowExpired: a code nobody allows expires (here after 2 s),
// and login ends with a message saying so instead of polling on.
func TestDeviceFlowExpired(t *testing.T) {
	t.Parallel()
	if testing.Short() {
		t.Skip("builds and runs binaries")
	}
	rotor := testrig.NewRotorProcess(t)
	rotor.CreateClient(t, "--id", "cli", "--public", "--grant-types", "urn:ietf:params:oauth:grant-type:device_code,refresh_token")
	rotor.Serve(t, "--device-poll-interval", "1s", "--device-code-ttl", "2s")
	r := &rig{t: t, rotor: rotor, cli: testrig.BuildCommand(t, "github.com/rotor-auth/rotor/examples/cli"), dir: t.TempDir()}
	login := r.start("login", "-browser=false")
	login.await(deviceLine)
	if exit, out := login.wait(); exit != 1 || !strings.Contains(out, "the code expired before it was allowed") {
		t.Fatalf("an expired code: exit %d\n%s", exit, out)
	}
	if _, err := os.Stat(filepath.Join(r.dir, "token.json")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("a session file after an expired code: %v", err)
	}
}
