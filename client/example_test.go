package client_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"

	"golang.org/x/oauth2"

	"github.com/rotor-auth/rotor/client"
)

// A service signs in once, then asks the Source for a token whenever it
// needs one; the Source refreshes and saves the rotated refresh token.
func ExampleTokenSource() {
	issuer, stop := startRotor() // a real Rotor on loopback, for the example
	defer stop()
	ctx := context.Background()

	oc := &oauth2.Config{
		ClientID: "cli", ClientSecret: "cli-secret", Scopes: []string{"read"},
		Endpoint: oauth2.Endpoint{TokenURL: issuer + "/oauth2/token", AuthStyle: oauth2.AuthStyleInHeader},
	}
	first, err := oc.PasswordCredentialsToken(ctx, "alice", "correct horse")
	if err != nil {
		log.Fatal(err)
	}
	st := client.NewMemoryStore(first)

	src := client.TokenSource(ctx, &client.Config{OAuth2: oc}, st)
	tok, err := src.Token() // any number of goroutines may call this
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(tok.Type(), tok.Valid())
	// Output: Bearer true
}

// A CLI keeps its session in a file (mode 0600, replaced atomically,
// locked so that two runs at once do not both refresh) and calls an API.
func ExampleNewFileStore() {
	issuer, stop := startRotor()
	defer stop()
	api := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintln(w, "authorized:", strings.HasPrefix(r.Header.Get("Authorization"), "Bearer "))
	}))
	defer api.Close()
	dir, _ := os.MkdirTemp("", "example")
	defer os.RemoveAll(dir)
	ctx := context.Background()

	oc := &oauth2.Config{ClientID: "cli", ClientSecret: "cli-secret",
		Endpoint: oauth2.Endpoint{TokenURL: issuer + "/oauth2/token", AuthStyle: oauth2.AuthStyleInHeader}}
	st := client.NewFileStore(filepath.Join(dir, "token.json"))

	// Sign in once ("login" command) ...
	first, err := oc.PasswordCredentialsToken(ctx, "alice", "correct horse")
	if err != nil {
		log.Fatal(err)
	}
	if err := st.Save(ctx, first); err != nil {
		log.Fatal(err)
	}

	// ... and on every later run, call the API.
	src := client.TokenSource(ctx, &client.Config{OAuth2: oc}, st)
	resp, err := src.Client().Get(api.URL)
	if err != nil {
		log.Fatal(err)
	}
	defer resp.Body.Close()
	io.Copy(os.Stdout, resp.Body)
	// Output: authorized: true
}

// With a DPoP key, the session is bound to the key: a stolen refresh or
// access token is useless without it.
func ExampleNewDPoP() {
	issuer, stop := startRotor()
	defer stop()
	ctx := context.Background()

	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader) // keep it with the tokens
	dpop, err := client.NewDPoP(key)
	if err != nil {
		log.Fatal(err)
	}
	oc := &oauth2.Config{ClientID: "app", // a public client
		Endpoint: oauth2.Endpoint{TokenURL: issuer + "/oauth2/token", AuthStyle: oauth2.AuthStyleInParams}}

	// The sign-in carries a proof too: x/oauth2 sends it through the
	// DPoP transport.
	login := context.WithValue(ctx, oauth2.HTTPClient, &http.Client{Transport: dpop.Transport(nil)})
	first, err := oc.PasswordCredentialsToken(login, "alice", "correct horse")
	if err != nil {
		log.Fatal(err)
	}

	src := client.TokenSource(ctx, &client.Config{OAuth2: oc, DPoP: dpop}, client.NewMemoryStore(first))
	tok, err := src.Token()
	if err != nil {
		log.Fatal(err)
	}
	// src.Client() sends "Authorization: DPoP" with a proof on each request.
	fmt.Println(tok.Type())
	// Output: DPoP
}

// When the session is over (revoked, expired, or its refresh token
// replayed), Token returns an error matching ErrSignInAgain.
func ExampleErrSignInAgain() {
	issuer, stop := startRotor()
	defer stop()
	oc := &oauth2.Config{ClientID: "cli", ClientSecret: "cli-secret",
		Endpoint: oauth2.Endpoint{TokenURL: issuer + "/oauth2/token"}}

	// An empty store: nobody has signed in on this machine yet.
	src := client.TokenSource(context.Background(), &client.Config{OAuth2: oc}, client.NewMemoryStore(nil))
	_, err := src.Token()
	if errors.Is(err, client.ErrSignInAgain) {
		fmt.Println("please sign in")
	}
	// Output: please sign in
}
