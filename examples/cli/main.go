// Command cli is an example command-line program that signs in to Rotor
// and calls an API, keeping its session with the client package: the
// tokens live in a file (mode 0600, replaced atomically, locked so that two
// runs at once never both refresh), and every run refreshes only when the
// access token is about to expire.
//
//	cli -issuer http://127.0.0.1:8080 -client-id cli login -user alice
//	cli -issuer http://127.0.0.1:8080 -client-id cli get http://127.0.0.1:9000/hello
//	cli logout
//
// The password comes from $ROTOR_PASSWORD or a line on stdin. With -dpop at
// login, the session is bound to a P-256 key stored beside the tokens, and
// later runs prove it on every request. It signs in with the password grant
// because Rotor has no device flow yet; the client must allow it.
package main

import (
	"bufio"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	"golang.org/x/oauth2"

	"github.com/rotor-auth/rotor/client"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "cli:", err)
		if errors.Is(err, client.ErrSignInAgain) {
			fmt.Fprintln(os.Stderr, "cli: the session is over; run: cli login -user NAME")
			os.Exit(2)
		}
		os.Exit(1)
	}
}

func run() error {
	defDir, _ := os.UserConfigDir()
	issuer := flag.String("issuer", "http://127.0.0.1:8080", "Rotor's issuer URL")
	clientID := flag.String("client-id", "cli", "OAuth client id")
	secret := flag.String("client-secret", os.Getenv("ROTOR_CLIENT_SECRET"), "client secret; empty for a public client")
	dir := flag.String("dir", filepath.Join(defDir, "rotor-example-cli"), "where the token (and DPoP key) are kept")
	flag.Parse()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()

	st := client.NewFileStore(filepath.Join(*dir, "token.json"))
	keyPath := filepath.Join(*dir, "dpop-key.pem")
	switch flag.Arg(0) {
	case "logout":
		return errors.Join(st.Clear(ctx), ignoreMissing(os.Remove(keyPath)))
	case "login", "get":
	default:
		return errors.New("usage: cli [flags] login [-user NAME] [-dpop] | get URL | logout")
	}

	tokenURL, err := discover(ctx, *issuer)
	if err != nil {
		return err
	}
	oc := &oauth2.Config{ClientID: *clientID, ClientSecret: *secret,
		Endpoint: oauth2.Endpoint{TokenURL: tokenURL, AuthStyle: oauth2.AuthStyleInHeader}}
	if *secret == "" {
		oc.Endpoint.AuthStyle = oauth2.AuthStyleInParams
	}

	if flag.Arg(0) == "login" {
		sub := flag.NewFlagSet("login", flag.ExitOnError)
		user := sub.String("user", os.Getenv("USER"), "user name")
		bind := sub.Bool("dpop", false, "bind the session to a new DPoP key")
		_ = sub.Parse(flag.Args()[1:])
		return login(ctx, oc, st, keyPath, *user, *bind)
	}
	if flag.NArg() != 2 {
		return errors.New("usage: cli [flags] get URL")
	}
	dpop, err := loadKey(keyPath)
	if err != nil {
		return err
	}
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

// login signs in with the password grant and saves the session, holding
// the store's lock so that a run refreshing at the same moment cannot
// clear or overwrite it.
func login(ctx context.Context, oc *oauth2.Config, st *client.FileStore, keyPath, user string, bind bool) error {
	password := os.Getenv("ROTOR_PASSWORD")
	if password == "" {
		fmt.Fprintf(os.Stderr, "password for %s: ", user)
		line, err := bufio.NewReader(os.Stdin).ReadString('\n')
		if err != nil && line == "" {
			return err
		}
		password = strings.TrimRight(line, "\r\n")
	}
	// The new key waits beside the current one until the new session is
	// saved: a mistyped password must not destroy the session in use.
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
	tok, err := oc.PasswordCredentialsToken(context.WithValue(ctx, oauth2.HTTPClient, hc), user, password)
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
	fmt.Fprintf(os.Stderr, "signed in as %s (%s token); session saved in %s\n", user, tok.Type(), st.Path())
	return nil
}

// discover reads the token endpoint from the issuer's metadata (RFC 8414).
func discover(ctx context.Context, issuer string) (string, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, strings.TrimSuffix(issuer, "/")+"/.well-known/oauth-authorization-server", nil)
	if err != nil {
		return "", err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	var md struct {
		TokenEndpoint string `json:"token_endpoint"`
	}
	if err := json.NewDecoder(io.LimitReader(resp.Body, 1<<20)).Decode(&md); err != nil || md.TokenEndpoint == "" {
		return "", fmt.Errorf("%s: no token_endpoint in the metadata (%s)", issuer, resp.Status)
	}
	return md.TokenEndpoint, nil
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
