// Command cli is an example command-line program that signs in to Rotor
// and calls an API, keeping its session with the client package: the
// tokens live in a file (mode 0600, replaced atomically, locked so that two
// runs at once never both refresh), and every run refreshes only when the
// access token is about to expire.
//
//	cli -issuer http://127.0.0.1:8080 -client-id cli login
//	cli -issuer http://127.0.0.1:8080 -client-id cli get http://127.0.0.1:9090/orders
//	cli logout
//
// It is a public client: a program installed on people's machines cannot
// keep a secret (RFC 8252 §8.5). login signs in one of two ways:
//
//   - The device flow (RFC 8628), which works anywhere, over SSH too: the
//     program shows a code, the person opens Rotor's /device page on any
//     device, types the code and allows it, while the program polls.
//   - With -browser (the default when this machine can open one): the
//     authorization code flow with PKCE through a loopback redirect (RFC
//     8252 §7.3): the program listens on 127.0.0.1 on a free port, opens
//     the browser (xdg-open, open, or $BROWSER), and receives the code.
//
// With -dpop at login, the session is bound to a P-256 key stored beside
// the tokens, and later runs prove it on every request.
package main

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/subtle"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"errors"
	"flag"
	"fmt"
	"html"
	"io"
	"io/fs"
	"net"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"runtime"
	"strings"
	"time"

	"golang.org/x/oauth2"

	"github.com/rotor-auth/rotor/client"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "cli:", err)
		if errors.Is(err, client.ErrSignInAgain) {
			fmt.Fprintln(os.Stderr, "cli: the session is over; run: cli login")
			os.Exit(2)
		}
		os.Exit(1)
	}
}

func run() error {
	defDir, _ := os.UserConfigDir()
	issuer := flag.String("issuer", "http://127.0.0.1:8080", "Rotor's issuer URL")
	clientID := flag.String("client-id", "cli", "OAuth client id (a public client)")
	scope := flag.String("scope", "", `space-separated scopes to ask for at login; empty: the client's registered scopes`)
	dir := flag.String("dir", filepath.Join(defDir, "rotor-example-cli"), "where the token (and DPoP key) are kept")
	flag.Parse()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()

	st := client.NewFileStore(filepath.Join(*dir, "token.json"))
	keyPath := filepath.Join(*dir, "dpop-key.pem")
	switch flag.Arg(0) {
	case "logout":
		return errors.Join(st.Clear(ctx), ignoreMissing(os.Remove(keyPath)))
	case "login", "get":
	default:
		return errors.New("usage: cli [flags] login [-browser] [-dpop] | get URL | logout")
	}

	md, err := discover(ctx, *issuer)
	if err != nil {
		return err
	}
	oc := &oauth2.Config{ClientID: *clientID, Scopes: strings.Fields(*scope), Endpoint: oauth2.Endpoint{
		AuthURL: md.AuthorizationEndpoint, DeviceAuthURL: md.DeviceAuthorizationEndpoint,
		TokenURL: md.TokenEndpoint, AuthStyle: oauth2.AuthStyleInParams}}

	if flag.Arg(0) == "login" {
		sub := flag.NewFlagSet("login", flag.ExitOnError)
		browser := sub.Bool("browser", canOpenBrowser(), "sign in with a browser on this machine (loopback code flow); -browser=false uses the device flow")
		bind := sub.Bool("dpop", false, "bind the session to a new DPoP key")
		_ = sub.Parse(flag.Args()[1:])
		return login(ctx, oc, st, keyPath, md.Issuer, *browser, *bind)
	}
	if flag.NArg() != 2 {
		return errors.New("usage: cli [flags] get URL")
	}
	dpop, err := loadKey(keyPath)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	src := client.TokenSource(ctx, &client.Config{OAuth2: oc, DPoP: dpop}, st)
	resp, err := src.Client().Get(flag.Arg(1))
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	fmt.Fprintln(os.Stderr, resp.Status)
	_, err = io.Copy(os.Stdout, io.LimitReader(resp.Body, 1<<20))
	return err
}

// login signs in and saves the session, holding the store's lock so that
// a run refreshing at the same moment cannot clear or overwrite it.
func login(ctx context.Context, oc *oauth2.Config, st *client.FileStore, keyPath, issuer string, browser, bind bool) error {
	// The new key waits beside the current one until the new session is
	// saved: a sign-in that is denied must not destroy the session in use.
	hc := http.DefaultClient
	newKeyPath := keyPath + ".new"
	if bind {
		dpop, err := newKey(newKeyPath)
		if err != nil {
			return err
		}
		defer os.Remove(newKeyPath) // gone already once renamed
		hc = &http.Client{Transport: dpop.Transport(nil)}
	}
	ctx = context.WithValue(ctx, oauth2.HTTPClient, hc)
	signIn := deviceFlow
	if browser {
		signIn = loopbackFlow
	}
	tok, err := signIn(ctx, oc, issuer)
	if err != nil {
		return err
	}
	unlock, err := st.Lock(ctx)
	if err != nil {
		return err
	}
	defer unlock()
	// Key and token change together under the lock, so a run refreshing
	// meanwhile never pairs the old token with the new key.
	if bind {
		err = os.Rename(newKeyPath, keyPath)
	} else {
		err = ignoreMissing(os.Remove(keyPath))
	}
	if err != nil {
		return err
	}
	if err := st.Save(ctx, tok); err != nil {
		return err
	}
	fmt.Fprintf(os.Stderr, "Signed in (%s token); session saved in %s\n", tok.Type(), st.Path())
	return nil
}

// deviceFlow is the device authorization grant (RFC 8628). x/oauth2
// polls as §3.5 says: every interval seconds, 5 more after each slow_down,
// on through authorization_pending, until tokens, access_denied,
// expired_token or the code's expiry.
func deviceFlow(ctx context.Context, oc *oauth2.Config, _ string) (*oauth2.Token, error) {
	if oc.Endpoint.DeviceAuthURL == "" {
		return nil, errors.New("the server offers no device flow (no device_authorization_endpoint in its metadata)")
	}
	da, err := oc.DeviceAuth(ctx)
	if err != nil {
		return nil, err
	}
	// Both lines, since a person may read the code off this terminal and
	// type it on a phone, or click the complete link on this machine.
	fmt.Fprintf(os.Stderr, "Open %s and enter the code %s\n", da.VerificationURI, da.UserCode)
	if da.VerificationURIComplete != "" {
		fmt.Fprintf(os.Stderr, "or open %s\n", da.VerificationURIComplete)
	}
	fmt.Fprintln(os.Stderr, "Waiting for you to allow it...")
	tok, err := oc.DeviceAccessToken(ctx, da)
	var re *oauth2.RetrieveError
	switch {
	case errors.As(err, &re) && re.ErrorCode == "access_denied":
		return nil, errors.New("the sign-in was denied on the device page")
	case errors.As(err, &re) && re.ErrorCode == "expired_token",
		errors.Is(err, context.DeadlineExceeded) && !da.Expiry.IsZero() && !time.Now().Before(da.Expiry):
		return nil, errors.New("the code expired before it was allowed; run login again")
	}
	return tok, err
}

// loopbackFlow is the authorization code flow of a native app (RFC 8252):
// the redirect URI is a port of 127.0.0.1 that this process listens on
// (§7.3; Rotor matches a registered http://127.0.0.1/... at any port),
// PKCE with S256 binds the code to this process (RFC 7636), and state
// ties the answer to this request (RFC 6749 §10.12).
func loopbackFlow(ctx context.Context, oc *oauth2.Config, issuer string) (*oauth2.Token, error) {
	if oc.Endpoint.AuthURL == "" {
		return nil, errors.New("the server offers no code flow (no authorization_endpoint in its metadata)")
	}
	ctx, cancel := context.WithTimeout(ctx, 10*time.Minute)
	defer cancel()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	cfg := *oc
	cfg.RedirectURL = fmt.Sprintf("http://%s/callback", ln.Addr())
	verifier, state := oauth2.GenerateVerifier(), rand.Text()
	type result struct {
		code string
		err  error
	}
	got := make(chan result, 1)
	srv := &http.Server{ReadHeaderTimeout: 10 * time.Second, Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		q := r.URL.Query()
		if r.URL.Path != "/callback" || subtle.ConstantTimeCompare([]byte(q.Get("state")), []byte(state)) != 1 {
			http.Error(w, "This is not the answer to this sign-in.", http.StatusBadRequest)
			return
		}
		res := result{code: q.Get("code")}
		switch {
		case q.Get("error") != "":
			// Quoted: the text came through the browser, from anyone.
			res = result{err: fmt.Errorf("the sign-in failed: %q %q", q.Get("error"), q.Get("error_description"))}
		case q.Has("iss") && q.Get("iss") != issuer: // RFC 9207 §2.4
			res = result{err: errors.New("the answer comes from another issuer")}
		case res.code == "":
			res = result{err: errors.New("the answer carries no code")}
		}
		msg := "You are signed in. You can close this tab and go back to the terminal."
		if res.err != nil {
			msg = "The sign-in did not work: " + res.err.Error()
		}
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		fmt.Fprintf(w, "<!doctype html><title>cli</title><p id=result>%s</p>", html.EscapeString(msg))
		// The page is sent before the result, which closes the server.
		_ = http.NewResponseController(w).Flush()
		select {
		case got <- res:
		default: // a second answer (a reload): the first counts
		}
	})}
	go func() { _ = srv.Serve(ln) }()
	defer srv.Close()

	u := cfg.AuthCodeURL(state, oauth2.S256ChallengeOption(verifier))
	fmt.Fprintf(os.Stderr, "Opening your browser to sign in. If it does not open, visit:\n\n  %s\n\n", u)
	openBrowser(u)
	var res result
	select {
	case res = <-got:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	if res.err != nil {
		return nil, res.err
	}
	return cfg.Exchange(ctx, res.code, oauth2.VerifierOption(verifier))
}

// canOpenBrowser says whether a browser on this machine can reach our
// loopback listener: not over SSH (it would open on the other end, if at
// all), and only with a program to open it.
func canOpenBrowser() bool {
	if os.Getenv("SSH_CONNECTION") != "" || os.Getenv("SSH_TTY") != "" {
		return false
	}
	if os.Getenv("BROWSER") != "" {
		return true
	}
	switch runtime.GOOS {
	case "darwin":
		return hasProgram("open")
	case "linux", "freebsd", "openbsd", "netbsd":
		return (os.Getenv("DISPLAY") != "" || os.Getenv("WAYLAND_DISPLAY") != "") && hasProgram("xdg-open")
	}
	return false
}

// openBrowser starts $BROWSER, xdg-open or open on url and does not wait;
// with none of them, the printed URL is the way.
func openBrowser(url string) {
	name := os.Getenv("BROWSER")
	if name == "" {
		name = "xdg-open"
		if runtime.GOOS == "darwin" {
			name = "open"
		}
	}
	if !hasProgram(name) {
		return
	}
	cmd := exec.Command(name, url)
	if cmd.Start() == nil {
		go func() { _ = cmd.Wait() }()
	}
}

func hasProgram(name string) bool {
	_, err := exec.LookPath(name)
	return err == nil
}

// metadata is the part of the server's metadata (RFC 8414) this program uses.
type metadata struct {
	Issuer                      string `json:"issuer"`
	AuthorizationEndpoint       string `json:"authorization_endpoint"`
	DeviceAuthorizationEndpoint string `json:"device_authorization_endpoint"`
	TokenEndpoint               string `json:"token_endpoint"`
}

// discover reads the endpoints from the issuer's metadata (RFC 8414).
func discover(ctx context.Context, issuer string) (*metadata, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, strings.TrimSuffix(issuer, "/")+"/.well-known/oauth-authorization-server", nil)
	if err != nil {
		return nil, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	var md metadata
	if err := json.NewDecoder(io.LimitReader(resp.Body, 1<<20)).Decode(&md); err != nil || md.TokenEndpoint == "" {
		return nil, fmt.Errorf("%s: no token_endpoint in the metadata (%s)", issuer, resp.Status)
	}
	return &md, nil
}

// newKey creates a P-256 key and stores it, readable by its owner only.
func newKey(path string) (*client.DPoP, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, err
	}
	if err := os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), 0o600); err != nil {
		return nil, err
	}
	return client.NewDPoP(key)
}

// loadKey returns the stored DPoP key, or nil if the session is not bound.
func loadKey(path string) (*client.DPoP, error) {
	data, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	block, _ := pem.Decode(data)
	if block == nil {
		return nil, fmt.Errorf("%s: not a PEM file", path)
	}
	key, err := x509.ParsePKCS8PrivateKey(block.Bytes)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	signer, ok := key.(*ecdsa.PrivateKey)
	if !ok {
		return nil, fmt.Errorf("%s: not an ECDSA key", path)
	}
	return client.NewDPoP(signer)
}

func ignoreMissing(err error) error {
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	return err
}
