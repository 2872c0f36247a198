package main

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"time"

	"github.com/rotor-auth/rotor/internal/audit"
	"github.com/rotor-auth/rotor/internal/clients"
	"github.com/rotor-auth/rotor/internal/family"
	"github.com/rotor-auth/rotor/internal/oauth"
	"github.com/rotor-auth/rotor/internal/secret"
	"github.com/rotor-auth/rotor/internal/store"
	"github.com/rotor-auth/rotor/internal/users"
)

// What `rotor serve --demo` creates. The addresses are those the
// examples listen on: examples/web at 127.0.0.1:8083, examples/spa at
// 127.0.0.1:8082 (loopback http, which the redirect-URI rules allow).
const (
	demoWebID    = "demo-web"
	demoSPAID    = "demo-spa"
	demoUsername = "demo"
	demoWebURL   = "http://127.0.0.1:8083"
	demoSPAURL   = "http://127.0.0.1:8082"
	// demoScopes are what the demo clients may ask for: OpenID Connect
	// and a refresh token, and "read" for examples/api.
	demoScopes = "openid profile email offline_access read"
	// demoAudience is examples/api's audience, which the examples ask
	// for with an RFC 8707 resource indicator.
	demoAudience = "https://orders.example.com"
)

// demoMeta marks the audit events of what --demo creates.
var demoMeta = audit.Meta{UserAgent: "rotor-serve-demo", Actor: audit.ActorCLI}

// demoClients are the demo's clients: a confidential web app (a
// generated secret, shown once) and a public single-page app.
func demoClients() []*store.Client {
	grants := []string{oauth.GrantAuthorizationCode, oauth.GrantRefreshToken}
	return []*store.Client{
		{ID: demoWebID, Name: "Rotor demo web app", GrantTypes: grants, Scopes: strings.Fields(demoScopes),
			Audiences: []string{demoAudience}, RedirectURIs: []string{demoWebURL + "/callback"}, PostLogoutRedirectURIs: []string{demoWebURL + "/"}},
		{ID: demoSPAID, Name: "Rotor demo single-page app", Public: true, GrantTypes: grants, Scopes: strings.Fields(demoScopes),
			Audiences: []string{demoAudience}, RedirectURIs: []string{demoSPAURL + "/callback"}, PostLogoutRedirectURIs: []string{demoSPAURL + "/"}},
	}
}

// setUpDemo creates, once, the demo clients and user, and tells w what
// it made (with the web client's secret and the user's password, the
// only time they are shown) or that they exist already, left as they
// are: a restart never changes a secret that a running example holds.
func (a *app) setUpDemo(ctx context.Context, w io.Writer, st store.Store, sk *secret.Keys, fams *family.Service, pw *secret.Verifier, log *slog.Logger, issuer string) error {
	cs := clients.New(st, sk, fams, clientRules(), a.now)
	var b strings.Builder
	b.WriteString("\nDemo (--demo):\n\n")
	secretHint := "the client_secret above"
	for _, c := range demoClients() {
		kind := "public single-page app client"
		if !c.Public {
			kind = "confidential web app client"
		}
		switch _, err := st.GetClient(ctx, c.ID); {
		case err == nil:
			fmt.Fprintf(&b, "  The %s %q exists already; left as it is.\n", kind, c.ID)
			if !c.Public {
				secretHint = "the client_secret printed when " + c.ID + " was created"
			}
			continue
		case !errors.Is(err, store.ErrNotFound):
			return fmt.Errorf("demo: read client %q: %w", c.ID, err)
		}
		minted, err := cs.Create(ctx, c, clients.Secret{Generate: !c.Public}, demoMeta)
		switch {
		case errors.Is(err, clients.ErrExists): // another replica, just now
			fmt.Fprintf(&b, "  The %s %q exists already; left as it is.\n", kind, c.ID)
			continue
		case err != nil:
			return fmt.Errorf("demo: create client %q: %w", c.ID, err)
		}
		fmt.Fprintf(&b, "  Created the %s %q (redirect URI %s).\n", kind, c.ID, c.RedirectURIs[0])
		if minted != "" {
			fmt.Fprintf(&b, "    client_secret: %s\n    Store it now: it is shown only once.\n", minted)
		}
	}

	us := users.New(st, fams, pw, a.now, users.WithLog(log))
	switch _, err := us.Lookup(ctx, demoUsername); {
	case err == nil:
		fmt.Fprintf(&b, "  The user %q exists already; left as it is (its password is the one shown when it was created).\n", demoUsername)
	case !errors.Is(err, users.ErrNotFound):
		return fmt.Errorf("demo: read user %q: %w", demoUsername, err)
	default:
		// Random, not a fixed password: a demo left running on a shared
		// machine must not open to a password everyone knows.
		password := rand.Text()
		_, err := us.Create(ctx, demoUsername, password, demoMeta,
			users.WithEmail(demoUsername+"@example.com", true))
		switch {
		case errors.Is(err, users.ErrExists):
			fmt.Fprintf(&b, "  The user %q exists already; left as it is.\n", demoUsername)
		case err != nil:
			return fmt.Errorf("demo: create user %q: %w", demoUsername, err)
		default:
			fmt.Fprintf(&b, "  Created the user %q with the password %s\n    (shown only once; change it with: rotor user passwd --username %s --password-stdin).\n",
				demoUsername, password, demoUsername)
		}
	}

	fmt.Fprintf(&b, `
  To sign in, run the API and an example, each in another terminal, from
  the repository root, and open the example in a browser:

    ISSUER=%[4]s AUDIENCE=%[5]s ALLOWED_ORIGINS=%[1]s go run ./examples/api
    go run ./examples/spa                      then open %[1]s/
    CLIENT_SECRET=... go run ./examples/web    then open %[2]s/   (CLIENT_SECRET is %[3]s)

  Sign in as %[6]q.
`, demoSPAURL, demoWebURL, secretHint, issuer, demoAudience, demoUsername)
	_, err := io.WriteString(w, b.String())
	return err
}

// demoTimeout bounds the demo's setup at start.
const demoTimeout = 30 * time.Second
