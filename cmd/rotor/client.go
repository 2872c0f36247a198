package main

import (
	"errors"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/rotor-auth/rotor/internal/clients"
	"github.com/rotor-auth/rotor/internal/config"
	"github.com/rotor-auth/rotor/internal/oauth"
	"github.com/rotor-auth/rotor/internal/server"
	"github.com/rotor-auth/rotor/internal/store"
)

func (a *app) clientCmd() *cobra.Command {
	c := &cobra.Command{
		Use:   "client",
		Short: "Register and manage OAuth clients",
	}
	c.AddCommand(a.clientCreateCmd(), a.clientListCmd(), a.clientGetCmd(), a.clientDeleteCmd(),
		a.clientUpdateCmd(), a.clientSetDisabledCmd(true), a.clientSetDisabledCmd(false))
	return c
}

// clientView is a client as `client get --json` shows it: never its
// secret's hash.
type clientView struct {
	ID string `json:"id"`
	// Name is shown on the consent page; "" shows the id.
	Name string `json:"name"`
	// Type is "confidential" or "public".
	Type string `json:"type"`
	// SecretKind is "generated", "chosen" or "none".
	SecretKind   string   `json:"secret_kind"`
	GrantTypes   []string `json:"grant_types"`
	Scopes       []string `json:"scopes"`
	Audiences    []string `json:"audiences"`
	RedirectURIs []string `json:"redirect_uris"`
	// PostLogoutRedirectURIs are where logout may send the browser.
	PostLogoutRedirectURIs []string `json:"post_logout_redirect_uris"`
	// AllowedOrigins are the browser origins allowed CORS; null means
	// the default, the origins of the redirect URIs.
	AllowedOrigins []string `json:"allowed_origins"`
	// SkipConsent: a first-party client whose users see no consent page.
	SkipConsent        bool    `json:"skip_consent"`
	ReuseGrace         *string `json:"reuse_grace"`
	AccessTokenTTL     *string `json:"access_token_ttl"`
	RefreshIdleTTL     *string `json:"refresh_idle_ttl"`
	RefreshAbsoluteTTL *string `json:"refresh_absolute_ttl"`
	Disabled           bool    `json:"disabled"`
	RequireDPoP        bool    `json:"require_dpop"`
	// RefreshRequiresVerifier: every refresh sends the PKCE verifier.
	RefreshRequiresVerifier bool   `json:"refresh_requires_verifier"`
	Introspect              bool   `json:"introspect"`
	AuthMethod              string `json:"token_endpoint_auth_method"`
	JWKSURI                 string `json:"jwks_uri,omitempty"`
	CreatedAt               string `json:"created_at"`
	UpdatedAt               string `json:"updated_at"`
	// ClientSecret is set only in the answer to `client create
	// --generate-secret`, the one time the secret is shown.
	ClientSecret string `json:"client_secret,omitempty"`
}

func viewClient(c *store.Client) clientView {
	v := clientView{
		ID: c.ID, Name: c.Name, Type: "confidential", SecretKind: "none",
		GrantTypes: nonNil(c.GrantTypes), Scopes: nonNil(c.Scopes),
		Audiences: nonNil(c.Audiences), RedirectURIs: nonNil(c.RedirectURIs),
		ReuseGrace: durText(c.ReuseGrace), AccessTokenTTL: durText(c.AccessTokenTTL),
		RefreshIdleTTL: durText(c.RefreshIdleTTL), RefreshAbsoluteTTL: durText(c.RefreshAbsoluteTTL),
		Disabled: c.Disabled, RequireDPoP: c.RequireDPoP, Introspect: c.Introspect, CreatedAt: timeText(c.CreatedAt), UpdatedAt: timeText(c.UpdatedAt),
	}
	v.AuthMethod, v.JWKSURI = c.AuthMethod, c.JWKSURI
	v.RefreshRequiresVerifier = c.RefreshRequiresVerifier
	v.PostLogoutRedirectURIs, v.AllowedOrigins, v.SkipConsent = nonNil(c.PostLogoutRedirectURIs), c.AllowedOrigins, c.SkipConsent
	switch {
	case c.Public:
		v.Type = "public"
	case c.SecretHash != nil:
		v.SecretKind = "generated"
	case c.SecretPHC != "":
		v.SecretKind = "chosen"
	}
	if v.AuthMethod == "" {
		v.AuthMethod = oauth.AuthClientSecretBasic
		if c.Public {
			v.AuthMethod = oauth.AuthNone
		}
	}
	return v
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

func durText(d *time.Duration) *string {
	if d == nil {
		return nil
	}
	s := config.FormatDuration(*d)
	return &s
}

func (a *app) clientCreateCmd() *cobra.Command {
	var (
		id, sec, scopes, name                  string
		generate, public, asJSON, requireDPoP  bool
		introspect, skipConsent, needVerifier  bool
		grants, audiences, redirects           []string
		postLogout, origins                    []string
		grace, accessTTL, idleTTL, absoluteTTL string
		jwksFile, jwksURI                      string
	)
	cmd := &cobra.Command{
		Use:   "create --id ID (--secret S | --generate-secret | --public | --jwks FILE | --jwks-uri URL) --grant-types a,b --scopes \"a b\"",
		Short: "Register a client",
		Long: `Register a client. Choose exactly one way for it to authenticate:

  --generate-secret  Rotor mints a 256-bit secret, prints it once and stores
                     only its keyed hash (recommended);
  --secret S         a secret you choose, stored as an argon2id hash;
  --public           no secret (mobile, SPA, CLI apps); a public client may
                     not use client_credentials;
  --jwks FILE        private_key_jwt (RFC 7523): the client signs a JWT with
                     a key of this JSON Web Key Set (public keys only);
  --jwks-uri URL     private_key_jwt with the set fetched from an https URL
                     (cached; refetched when an unknown key id appears).

Grant types: ` + strings.Join(server.GrantTypes(), ", ") + `. The lifetimes
default to the server's settings; set them here to override for this client.

Redirect URIs (and post-logout ones) are https, http on a loopback host
(127.0.0.1, [::1], localhost) or a private-use scheme such as
com.example.app:/callback; they are matched exactly, except that a
127.0.0.1 or [::1] redirect URI matches any port (RFC 8252 §7.3). The
authorization_code grant needs at least one. --allowed-origins defaults to
the origins of the redirect URIs. --skip-consent is for first-party
clients: confidential ones, or public ones whose redirect URIs are all
https.`,
		Example: `  rotor client create --id web --generate-secret --grant-types password,refresh_token --scopes "read write"
  rotor client create --id cli --name "Example CLI" --public --grant-types urn:ietf:params:oauth:grant-type:device_code,refresh_token --scopes read
  rotor client create --id billing --generate-secret --grant-types client_credentials --scopes invoices --audiences https://api.example.com
  rotor client create --id web --name "Example Web" --generate-secret --grant-types authorization_code,refresh_token --scopes "openid profile" \
      --redirect-uris https://app.example.com/callback --post-logout-redirect-uris https://app.example.com/
  rotor client create --id spa --public --grant-types authorization_code,refresh_token --scopes openid \
      --redirect-uris https://spa.example.com/callback --allowed-origins https://spa.example.com`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := required(cmd, "id", "grant-types"); err != nil {
				return err
			}
			how, err := exactlyOne(cmd, "secret", "generate-secret", "public", "jwks", "jwks-uri")
			if err != nil {
				return err
			}
			c := &store.Client{ID: id, Public: public, RequireDPoP: requireDPoP, RefreshRequiresVerifier: needVerifier, Introspect: introspect, GrantTypes: grants,
				Audiences: audiences, RedirectURIs: redirects, PostLogoutRedirectURIs: postLogout,
				Name: name, SkipConsent: skipConsent}
			if cmd.Flags().Changed("allowed-origins") {
				c.AllowedOrigins = append([]string{}, origins...) // given empty: no origin at all
			}
			c.Scopes = strings.Fields(scopes) // the clients package checks each
			if err := parseClientDurations(cmd, c, grace, accessTTL, idleTTL, absoluteTTL); err != nil {
				return err
			}
			if how == "secret" && sec == "" {
				return usagef("--secret is empty; give a secret or use --generate-secret")
			}
			switch how {
			case "jwks":
				b, err := os.ReadFile(jwksFile)
				if err != nil {
					return fmt.Errorf("read --jwks: %w", err)
				}
				c.AuthMethod, c.JWKS = oauth.AuthPrivateKeyJWT, b
			case "jwks-uri":
				c.AuthMethod, c.JWKSURI = oauth.AuthPrivateKeyJWT, jwksURI
			}
			// The rules are checked before the database is opened, so a
			// mistyped command changes nothing anywhere.
			rules := clients.New(nil, nil, nil, clientRules(), a.now)
			probe := *c
			if how == "secret" || how == "generate-secret" {
				probe.SecretPHC = "set"
			}
			if err := rules.Validate(&probe); err != nil {
				return clientUsage(err)
			}

			e, cs, err := openService(a, cmd, a.clients)
			if err != nil {
				return err
			}
			defer e.close()
			minted, err := cs.Create(cmd.Context(), c, clients.Secret{Generate: how == "generate-secret", Chosen: sec}, cliMeta)
			switch {
			case errors.Is(err, clients.ErrExists):
				return fmt.Errorf("a client with id %q already exists", id)
			case err != nil:
				return clientUsage(err)
			}
			a.wrote(e)

			if asJSON {
				v := viewClient(c)
				v.ClientSecret = minted
				return a.printJSON(v)
			}
			v := viewClient(c)
			fmt.Fprintf(a.stdout, "Created %s client %q: grant types %s; scopes %s.\n",
				v.Type, id, strings.Join(c.GrantTypes, ", "), orDash(oauth.JoinScope(c.Scopes)))
			if minted != "" {
				fmt.Fprintf(a.stdout, "\nclient_secret: %s\n\nStore this secret now: it is shown only once, and Rotor keeps only a hash of it.\n", minted)
			}
			if how == "secret" && len(sec) < 16 {
				fmt.Fprintln(a.stderr, "warning: this secret is shorter than 16 characters; --generate-secret makes a strong one")
			}
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&id, "id", "", "client id (required)")
	f.StringVar(&sec, "secret", "", "a secret you choose, stored as an argon2id hash")
	f.BoolVar(&generate, "generate-secret", false, "mint a 256-bit secret and print it once")
	f.BoolVar(&public, "public", false, "a public client, with no secret")
	f.StringVar(&jwksFile, "jwks", "", "file with the client's JSON Web Key Set, for private_key_jwt")
	f.StringVar(&jwksURI, "jwks-uri", "", "https URL of the client's JSON Web Key Set, for private_key_jwt")
	f.StringSliceVar(&grants, "grant-types", nil, "comma-separated grant types: "+strings.Join(server.GrantTypes(), ", ")+" (required)")
	f.StringVar(&scopes, "scopes", "", `space-separated scopes the client may ask for, such as "read write"`)
	f.StringSliceVar(&audiences, "audiences", nil, "comma-separated audiences (resource servers) its access tokens may name")
	f.StringSliceVar(&redirects, "redirect-uris", nil, "comma-separated redirect URIs")
	signInFlags(f, &name, &postLogout, &origins, &skipConsent)
	f.StringVar(&grace, "reuse-grace", "", "reuse grace period for this client; 0s disables it (default: the server's)")
	f.StringVar(&accessTTL, "access-token-ttl", "", "access-token lifetime for this client (default: the server's)")
	f.StringVar(&idleTTL, "refresh-idle-ttl", "", "refresh-token idle lifetime for this client (default: the server's)")
	f.StringVar(&absoluteTTL, "refresh-absolute-ttl", "", "refresh-token absolute lifetime for this client (default: the server's)")
	f.BoolVar(&requireDPoP, "require-dpop", false, "refuse token requests without a DPoP proof (RFC 9449); its families are bound to the key")
	f.BoolVar(&needVerifier, "refresh-requires-verifier", false, "bind each family of the code flow to its PKCE code_verifier: every refresh must send it again (DPoP binds more strongly)")
	f.BoolVar(&introspect, "introspect", false, "a resource server: may introspect any access token (otherwise only those naming it in their audience)")
	f.BoolVar(&asJSON, "json", false, "print the client as JSON")
	return cmd
}

// signInFlags defines the flags of the settings the sign-in pages use,
// shared by client create and client update.
func signInFlags(f *pflag.FlagSet, name *string, postLogout, origins *[]string, skipConsent *bool) {
	f.StringVar(name, "name", "", "the name people see on the consent page (default: the id)")
	f.StringSliceVar(postLogout, "post-logout-redirect-uris", nil, "comma-separated URIs where logout may send the browser afterwards")
	f.StringSliceVar(origins, "allowed-origins", nil, `comma-separated browser origins (https://app.example.com) allowed CORS; "" for none (default: the origins of the redirect URIs)`)
	f.BoolVar(skipConsent, "skip-consent", false, "a first-party client: its users are never shown the consent page")
}

// parseClientDurations sets a client's own lifetimes from the flags
// given; the clients package checks them.
func parseClientDurations(cmd *cobra.Command, c *store.Client, grace, access, idle, absolute string) error {
	parse := func(flag, v string) (*time.Duration, error) {
		if !cmd.Flags().Changed(flag) {
			return nil, nil
		}
		d, err := config.ParseDuration(v)
		if err != nil {
			return nil, usagef("--%s %v", flag, err)
		}
		return &d, nil
	}
	var err error
	if c.ReuseGrace, err = parse("reuse-grace", grace); err != nil {
		return err
	}
	if c.AccessTokenTTL, err = parse("access-token-ttl", access); err != nil {
		return err
	}
	if c.RefreshIdleTTL, err = parse("refresh-idle-ttl", idle); err != nil {
		return err
	}
	c.RefreshAbsoluteTTL, err = parse("refresh-absolute-ttl", absolute)
	return err
}

// clientUsage turns the clients package's refusal into a usage error in
// its own words.
func clientUsage(err error) error {
	var ve *clients.ValidationError
	if errors.As(err, &ve) {
		return usageError{strings.Join(ve.Problems, "\n")}
	}
	return err
}

func (a *app) clientListCmd() *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:     "list",
		Short:   "List clients",
		Example: "  rotor client list\n  rotor client list --json | jq -r '.[].id'",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			e, err := a.open(cmd)
			if err != nil {
				return err
			}
			defer e.close()
			clients, err := e.st.ListClients(cmd.Context())
			if err != nil {
				return fmt.Errorf("list clients: %w", err)
			}
			views := make([]clientView, len(clients))
			for i := range clients {
				views[i] = viewClient(&clients[i])
			}
			return printList(a, views, asJSON, "No clients yet. Create one with: rotor client create --help",
				"ID\tNAME\tTYPE\tGRANT TYPES\tSCOPES\tSTATUS\tCREATED", func(v clientView) string {
					return strings.Join([]string{v.ID, orDash(v.Name), v.Type, strings.Join(v.GrantTypes, ","),
						orDash(strings.Join(v.Scopes, " ")), status(v.Disabled), v.CreatedAt}, "\t")
				})
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print the clients as a JSON array")
	return cmd
}

func status(disabled bool) string {
	if disabled {
		return "disabled"
	}
	return "enabled"
}

func (a *app) clientGetCmd() *cobra.Command {
	var (
		id     string
		asJSON bool
	)
	cmd := &cobra.Command{
		Use:     "get --id ID",
		Short:   "Show one client",
		Example: "  rotor client get --id web\n  rotor client get --id web --json",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := required(cmd, "id"); err != nil {
				return err
			}
			e, err := a.open(cmd)
			if err != nil {
				return err
			}
			defer e.close()
			c, err := getClient(cmd, e.st, id)
			if err != nil {
				return err
			}
			v := viewClient(c)
			if asJSON {
				return a.printJSON(v)
			}
			dur := func(p *string) string {
				if p == nil {
					return "server default"
				}
				return *p
			}
			w := a.table()
			fmt.Fprintf(w, "id:\t%s\n", v.ID)
			fmt.Fprintf(w, "name:\t%s\n", orDash(v.Name))
			fmt.Fprintf(w, "type:\t%s\n", v.Type)
			fmt.Fprintf(w, "secret:\t%s\n", v.SecretKind)
			fmt.Fprintf(w, "authentication:\t%s\n", v.AuthMethod)
			if v.JWKSURI != "" {
				fmt.Fprintf(w, "JWKS URI:\t%s\n", v.JWKSURI)
			}
			fmt.Fprintf(w, "status:\t%s\n", status(v.Disabled))
			fmt.Fprintf(w, "grant types:\t%s\n", strings.Join(v.GrantTypes, ", "))
			fmt.Fprintf(w, "scopes:\t%s\n", orDash(strings.Join(v.Scopes, " ")))
			fmt.Fprintf(w, "audiences:\t%s\n", orDash(strings.Join(v.Audiences, ", ")))
			fmt.Fprintf(w, "redirect URIs:\t%s\n", orDash(strings.Join(v.RedirectURIs, ", ")))
			fmt.Fprintf(w, "post-logout redirect URIs:\t%s\n", orDash(strings.Join(v.PostLogoutRedirectURIs, ", ")))
			fmt.Fprintf(w, "allowed origins:\t%s\n", originsText(v.AllowedOrigins))
			fmt.Fprintf(w, "skip consent:\t%t\n", v.SkipConsent)
			fmt.Fprintf(w, "require DPoP:\t%t\n", v.RequireDPoP)
			fmt.Fprintf(w, "refresh requires verifier:\t%t\n", v.RefreshRequiresVerifier)
			fmt.Fprintf(w, "introspect:\t%t\n", v.Introspect)
			fmt.Fprintf(w, "reuse grace:\t%s\n", dur(v.ReuseGrace))
			fmt.Fprintf(w, "access-token TTL:\t%s\n", dur(v.AccessTokenTTL))
			fmt.Fprintf(w, "refresh idle TTL:\t%s\n", dur(v.RefreshIdleTTL))
			fmt.Fprintf(w, "refresh absolute TTL:\t%s\n", dur(v.RefreshAbsoluteTTL))
			fmt.Fprintf(w, "created:\t%s\n", v.CreatedAt)
			fmt.Fprintf(w, "updated:\t%s\n", v.UpdatedAt)
			return w.Flush()
		},
	}
	cmd.Flags().StringVar(&id, "id", "", "client id (required)")
	cmd.Flags().BoolVar(&asJSON, "json", false, "print the client as JSON")
	return cmd
}

// originsText writes a client's allowed origins for people.
func originsText(origins []string) string {
	switch {
	case origins == nil:
		return "the origins of the redirect URIs"
	case len(origins) == 0:
		return "none"
	}
	return strings.Join(origins, ", ")
}

func getClient(cmd *cobra.Command, st store.Queries, id string) (*store.Client, error) {
	c, err := st.GetClient(cmd.Context(), id)
	if errors.Is(err, store.ErrNotFound) {
		return nil, fmt.Errorf("no client with id %q", id)
	}
	if err != nil {
		return nil, fmt.Errorf("read client %q: %w", id, err)
	}
	return c, nil
}

func (a *app) clientDeleteCmd() *cobra.Command {
	var id string
	cmd := &cobra.Command{
		Use:   "delete --id ID",
		Short: "Revoke every family of a client, then delete it",
		Long: `Revoke every live refresh-token family of the client (deny-listing their
access tokens), then delete the client. This cannot be undone; to stop a
client for a while, use "rotor client disable".`,
		Example: "  rotor client delete --id web",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := required(cmd, "id"); err != nil {
				return err
			}
			e, cs, err := openService(a, cmd, a.clients)
			if err != nil {
				return err
			}
			defer e.close()
			ids, err := cs.Delete(cmd.Context(), id, cliMeta)
			if errors.Is(err, clients.ErrNotFound) {
				return fmt.Errorf("no client with id %q", id)
			}
			if err != nil {
				return err
			}
			a.wrote(e)
			fmt.Fprintf(a.stdout, "Revoked %s of client %q and deleted the client.\n", plural(len(ids), "family", "families"), id)
			return nil
		},
	}
	cmd.Flags().StringVar(&id, "id", "", "client id (required)")
	return cmd
}

// clientSetDisabledCmd is `client disable` or `client enable`.
func (a *app) clientSetDisabledCmd(disable bool) *cobra.Command {
	var id string
	verb, short := "enable", "Let a disabled client authenticate again"
	if disable {
		verb, short = "disable", "Stop a client from authenticating and revoke its families"
	}
	cmd := &cobra.Command{
		Use:     verb + " --id ID",
		Short:   short,
		Example: "  rotor client " + verb + " --id web",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := required(cmd, "id"); err != nil {
				return err
			}
			e, cs, err := openService(a, cmd, a.clients)
			if err != nil {
				return err
			}
			defer e.close()
			ids, err := cs.SetDisabled(cmd.Context(), id, disable, cliMeta)
			if errors.Is(err, clients.ErrNotFound) {
				return fmt.Errorf("no client with id %q", id)
			}
			if err != nil {
				return err
			}
			a.wrote(e)
			if disable {
				fmt.Fprintf(a.stdout, "Disabled client %q: it can no longer get or refresh tokens, and its %s are revoked.\n", id, plural(len(ids), "family", "families"))
			} else {
				fmt.Fprintf(a.stdout, "Enabled client %q.\n", id)
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&id, "id", "", "client id (required)")
	return cmd
}

// clientUpdateCmd is `client update`: change the settings named on the
// command line, under the rules of client create.
func (a *app) clientUpdateCmd() *cobra.Command {
	var (
		id, scopes, name        string
		introspect, skipConsent bool
		requireDPoP             bool
		redirects, postLogout   []string
		origins                 []string
		needVerifier            bool
	)
	cmd := &cobra.Command{
		Use:   "update --id ID [--introspect=true|false] [--require-dpop=true|false] [--scopes \"a b\"] [--name N] [--redirect-uris ...] ...",
		Short: "Change a client's settings",
		Long: `Change the settings named on the command line and keep the others. A
resource server that introspects access tokens it is not named in the
audience of needs --introspect: introspection answers "active" only to
such a client or to one in the token's audience.`,
		Example: "  rotor client update --id api --introspect\n  rotor client update --id web --scopes \"read write\"\n" +
			"  rotor client update --id web --name \"Example Web\" --post-logout-redirect-uris https://app.example.com/",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := required(cmd, "id"); err != nil {
				return err
			}
			var changed []string
			for _, f := range updatable {
				if cmd.Flags().Changed(f) {
					changed = append(changed, f)
				}
			}
			if len(changed) == 0 {
				return usagef("name at least one setting to change: %s", orList(updatable))
			}
			sc := strings.Fields(scopes) // the clients package checks each
			e, cs, err := openService(a, cmd, a.clients)
			if err != nil {
				return err
			}
			defer e.close()
			c, err := cs.Update(cmd.Context(), id, strings.Join(changed, ","), func(c *store.Client) error {
				if cmd.Flags().Changed("introspect") {
					c.Introspect = introspect
				}
				if cmd.Flags().Changed("require-dpop") {
					c.RequireDPoP = requireDPoP
				}
				if cmd.Flags().Changed("scopes") {
					c.Scopes = sc
				}
				if cmd.Flags().Changed("name") {
					c.Name = name
				}
				if cmd.Flags().Changed("redirect-uris") {
					c.RedirectURIs = redirects
				}
				if cmd.Flags().Changed("post-logout-redirect-uris") {
					c.PostLogoutRedirectURIs = postLogout
				}
				if cmd.Flags().Changed("allowed-origins") {
					c.AllowedOrigins = append([]string{}, origins...)
				}
				if cmd.Flags().Changed("skip-consent") {
					c.SkipConsent = skipConsent
				}
				if cmd.Flags().Changed("refresh-requires-verifier") {
					c.RefreshRequiresVerifier = needVerifier
				}
				return nil
			}, cliMeta)
			switch {
			case errors.Is(err, clients.ErrNotFound):
				return fmt.Errorf("no client with id %q", id)
			case err != nil:
				return clientUsage(err)
			}
			a.wrote(e)
			fmt.Fprintf(a.stdout, "Updated client %q: %s (introspect %t, require DPoP %t, scopes %s).\n",
				id, strings.Join(changed, ", "), c.Introspect, c.RequireDPoP, orDash(oauth.JoinScope(c.Scopes)))
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&id, "id", "", "client id (required)")
	f.BoolVar(&introspect, "introspect", false, "a resource server: may introspect any access token")
	f.BoolVar(&requireDPoP, "require-dpop", false, "refuse token requests without a DPoP proof (RFC 9449)")
	f.StringVar(&scopes, "scopes", "", `space-separated scopes the client may ask for, such as "read write"`)
	f.StringSliceVar(&redirects, "redirect-uris", nil, "comma-separated redirect URIs, replacing the registered ones")
	f.BoolVar(&needVerifier, "refresh-requires-verifier", false, "bind new families of the code flow to their PKCE code_verifier (families made before stay unbound)")
	signInFlags(f, &name, &postLogout, &origins, &skipConsent)
	return cmd
}

// updatable are the settings client update changes.
var updatable = []string{"introspect", "require-dpop", "scopes", "name", "redirect-uris",
	"post-logout-redirect-uris", "allowed-origins", "skip-consent", "refresh-requires-verifier"}
