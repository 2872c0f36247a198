// Package clients owns the rules for OAuth clients: what a valid client
// is (its id, grant types, scopes, audiences, redirect URIs, lifetimes
// and authentication method), and how one is created, updated, disabled,
// enabled and deleted: one transaction each, audited with its actor, and
// ending the client's sessions where it must. The CLI, the admin API and
// the pages are thin adapters over it.
//
// It imports internal/family, internal/audit, internal/oauth,
// internal/secret and internal/store, nothing higher.
package clients

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/rotor-auth/rotor/internal/audit"
	"github.com/rotor-auth/rotor/internal/family"
	"github.com/rotor-auth/rotor/internal/oauth"
	"github.com/rotor-auth/rotor/internal/secret"
	"github.com/rotor-auth/rotor/internal/store"
)

// Errors of this package. A *[ValidationError] lists what is wrong with
// a client, in words.
var (
	ErrNotFound = errors.New("clients: no such client")
	ErrExists   = errors.New("clients: a client with that id exists already")
)

// ValidationError lists every problem of a client.
type ValidationError struct{ Problems []string }

func (e *ValidationError) Error() string { return strings.Join(e.Problems, "; ") }

// MaxIDLen bounds a client id, and MaxNameLen its display name (in
// characters).
const (
	MaxIDLen   = 128
	MaxNameLen = 100
)

// Options are the rules that depend on the rest of the server.
type Options struct {
	// GrantTypes are the grant types a client may be given: the token
	// endpoint's registry.
	GrantTypes []string
	// CheckJWKS validates an inline JSON Web Key Set for private_key_jwt,
	// and CheckJWKSURI the URL of one; nil accepts any.
	CheckJWKS    func([]byte) error
	CheckJWKSURI func(string) error
	// Name writes a setting's key ("reuse_grace", "redirect_uris") as
	// the caller's user knows it (a flag, a JSON member); the key itself
	// when nil.
	Name func(key string) string
}

// Service changes clients. It is safe for concurrent use.
type Service struct {
	st   store.Store
	keys *secret.Keys
	fams *family.Service
	opts Options
	now  func() time.Time
}

// New returns a Service.
func New(st store.Store, keys *secret.Keys, fams *family.Service, opts Options, now func() time.Time) *Service {
	if opts.Name == nil {
		opts.Name = func(k string) string { return k }
	}
	return &Service{st: st, keys: keys, fams: fams, opts: opts, now: now}
}

// Validate checks every rule for a client and normalises its lists
// (trimmed, without duplicates). It reports every problem at once.
func (s *Service) Validate(c *store.Client) error {
	var p []string
	add := func(format string, args ...any) { p = append(p, fmt.Sprintf(format, args...)) }
	name := s.opts.Name

	if err := CheckID(c.ID); err != nil {
		add("%s: %v", name("id"), err)
	}
	var grants []string
	for _, g := range c.GrantTypes {
		g = strings.TrimSpace(g)
		switch {
		case g == "":
		case !slices.Contains(s.opts.GrantTypes, g):
			add("unknown grant type %q: Rotor supports %s", g, strings.Join(s.opts.GrantTypes, ", "))
		case c.Public && !PublicMayUse(g):
			add("%s", ErrPublicClientCredentials)
		case !slices.Contains(grants, g):
			grants = append(grants, g)
		}
	}
	if len(grants) == 0 && len(p) == 0 {
		add("%s names no grant type", name("grant_types"))
	}
	c.GrantTypes = grants

	for _, sc := range c.Scopes {
		if _, err := oauth.ParseScope(sc); err != nil || strings.ContainsAny(sc, " ,") || sc == "" {
			add("%s: %q is not a scope: scopes are separated by spaces, not commas, and are words of visible ASCII characters without quotes or backslashes", name("scopes"), sc)
		}
	}
	c.Scopes = dedupe(c.Scopes)

	var auds []string
	for _, a := range c.Audiences {
		a = strings.TrimSpace(a)
		if a == "" {
			add("%s has an empty entry", name("audiences"))
			continue
		}
		auds = append(auds, a)
	}
	c.Audiences = dedupe(auds)

	// URIs are kept as written (trimmed): they are matched as strings
	// ([RedirectAllowed]), so the registered text is the one to match.
	uris := func(key string, list []string) []string {
		var out []string
		for _, v := range list {
			v = strings.TrimSpace(v)
			if err := CheckRedirectURI(v); err != nil {
				add("%s: %q %v", name(key), v, err)
				continue
			}
			out = append(out, v)
		}
		return dedupe(out)
	}
	c.RedirectURIs = uris("redirect_uris", c.RedirectURIs)
	c.PostLogoutRedirectURIs = uris("post_logout_redirect_uris", c.PostLogoutRedirectURIs)
	if slices.Contains(grants, oauth.GrantAuthorizationCode) && len(c.RedirectURIs) == 0 {
		add("a client with the authorization_code grant needs at least one redirect URI (%s)", name("redirect_uris"))
	}

	var origins []string
	for _, v := range c.AllowedOrigins {
		o, err := ParseOrigin(strings.TrimSpace(v))
		if err != nil {
			add("%s: %q: %v", name("allowed_origins"), v, err)
			continue
		}
		origins = append(origins, o)
	}
	if c.AllowedOrigins != nil {
		// Empty but set stays empty: no origin at all, rather than the
		// default (the origins of the redirect URIs).
		c.AllowedOrigins = append([]string{}, dedupe(origins)...)
	}

	c.Name = strings.TrimSpace(c.Name)
	if err := CheckName(c.Name); err != nil {
		add("%s: %v", name("name"), err)
	}
	// Consent is what stops another app from getting tokens in this
	// client's name without the user noticing; it may be skipped only
	// when the client's identity is assured (RFC 8252 §8.6, RFC 9700
	// §2.1): it authenticates, or its codes can only reach https
	// redirect URIs, which only the domain's owner receives. A loopback
	// port or a private-use scheme can be claimed by any app on the
	// device.
	switch {
	case !c.RefreshRequiresVerifier:
	case !c.AllowsGrant(oauth.GrantAuthorizationCode) || !c.AllowsGrant(oauth.GrantRefreshToken):
		add("%s needs the authorization_code and refresh_token grant types: the verifier is the code flow's PKCE code_verifier", name("refresh_requires_verifier"))
	case c.AllowsGrant(oauth.GrantDeviceCode) || c.AllowsGrant(oauth.GrantPassword):
		// Those grants have no verifier: their families would refresh
		// unbound, under a setting that promises otherwise.
		add("%s cannot go with the device_code or password grant types, whose refresh tokens have no code_verifier to bind to (use DPoP, --require-dpop)", name("refresh_requires_verifier"))
	}
	if c.SkipConsent && c.Public && !httpsOnly(c.RedirectURIs) {
		add("%s: a public client may skip consent only when all its redirect URIs are https: any app on a device can receive a loopback or private-use scheme redirect and pass for it", name("skip_consent"))
	}

	p = append(p, family.Lifetimes{
		AccessTokenTTL: c.AccessTokenTTL, RefreshIdleTTL: c.RefreshIdleTTL,
		RefreshAbsoluteTTL: c.RefreshAbsoluteTTL, ReuseGrace: c.ReuseGrace,
	}.Problems(name)...)

	switch {
	case c.AuthMethod == oauth.AuthPrivateKeyJWT:
		if (c.JWKS == nil) == (c.JWKSURI == "") {
			add("a private_key_jwt client needs exactly one of a JWKS and a JWKS URI")
		}
		if c.JWKS != nil && s.opts.CheckJWKS != nil {
			if err := s.opts.CheckJWKS(c.JWKS); err != nil {
				add("%s: %v", name("jwks"), err)
			}
		}
		if c.JWKSURI != "" && s.opts.CheckJWKSURI != nil {
			if err := s.opts.CheckJWKSURI(c.JWKSURI); err != nil {
				add("%s: %v", name("jwks_uri"), err)
			}
		}
		if c.Public || c.SecretHash != nil || c.SecretPHC != "" {
			add("a private_key_jwt client has no secret and is not public")
		}
	case c.AuthMethod != "":
		add("unknown authentication method %q", c.AuthMethod)
	case c.Public && (c.SecretHash != nil || c.SecretPHC != ""):
		add("a public client has no secret")
	case !c.Public && c.SecretHash == nil && c.SecretPHC == "":
		add("a confidential client needs a secret (or keys, for private_key_jwt)")
	}
	if len(p) > 0 {
		return &ValidationError{Problems: p}
	}
	return nil
}

// ErrPublicClientCredentials is why a public client may not use
// client_credentials: the grant's only proof is the client's own.
var ErrPublicClientCredentials = errors.New("a public client cannot use client_credentials: it has no secret to prove who it is")

// PublicMayUse reports whether a public client may use the grant type:
// every one but client_credentials (RFC 6749 §4.4), whose only proof is
// the client's own authentication.
func PublicMayUse(grant string) bool { return grant != oauth.GrantClientCredentials }

// CheckID checks a client id: 1 to MaxIDLen visible ASCII characters.
func CheckID(id string) error {
	if id == "" || len(id) > MaxIDLen {
		return fmt.Errorf("a client id is 1 to %d characters", MaxIDLen)
	}
	for _, r := range id {
		if r <= ' ' || r > '~' {
			return fmt.Errorf("%q may hold only visible ASCII characters, without spaces", id)
		}
	}
	return nil
}

// CheckName checks a client's display name, shown to people on the
// consent page: at most MaxNameLen printable characters (no control or
// format characters, which could disguise it), or empty for the id.
func CheckName(n string) error {
	if !utf8.ValidString(n) {
		return fmt.Errorf("a name is text (UTF-8)")
	}
	if utf8.RuneCountInString(n) > MaxNameLen {
		return fmt.Errorf("a name is at most %d characters", MaxNameLen)
	}
	for _, r := range n {
		if !unicode.IsPrint(r) {
			return fmt.Errorf("%q holds a character that is not printable (%U)", n, r)
		}
	}
	return nil
}

func dedupe(list []string) []string {
	var out []string
	for _, v := range list {
		if !slices.Contains(out, v) {
			out = append(out, v)
		}
	}
	return out
}

// Secret says how a new client authenticates, beside its AuthMethod.
type Secret struct {
	// Generate mints a 256-bit secret, returned once by Create and stored
	// as a keyed hash.
	Generate bool
	// Chosen is a secret the operator chose, stored as an argon2id hash.
	Chosen string
}

// Create validates and registers c (with its secret), recorded as
// client_created. It returns the minted secret when sec.Generate is set:
// the only time it exists outside the client.
func (s *Service) Create(ctx context.Context, c *store.Client, sec Secret, m audit.Meta) (minted string, err error) {
	switch {
	case sec.Generate && sec.Chosen != "":
		return "", &ValidationError{Problems: []string{"choose a generated or a chosen secret, not both"}}
	case sec.Generate:
		minted = secret.NewClientSecret()
		c.SecretHash = s.keys.Hash(minted)
	case sec.Chosen != "":
		c.SecretPHC = secret.HashPassword(sec.Chosen)
	}
	if err := s.Validate(c); err != nil {
		return "", err
	}
	now := s.now().UTC()
	c.CreatedAt, c.UpdatedAt = now, now
	err = s.st.Tx(ctx, func(tx store.Tx) error {
		// A client_credentials token's sub is the client id (RFC 9068
		// §5): an id that is also a user's subject would let the client's
		// tokens pass for the user's.
		switch _, err := tx.GetUser(ctx, c.ID); {
		case err == nil:
			return &ValidationError{Problems: []string{fmt.Sprintf("%s %q is a user's subject; choose another id", s.opts.Name("id"), c.ID)}}
		case !errors.Is(err, store.ErrNotFound):
			return err
		}
		if err := tx.CreateClient(ctx, c); err != nil {
			return err
		}
		return tx.AppendEvents(ctx, audit.NewClientCreated(m.At(now), c))
	})
	var ve *ValidationError
	if errors.As(err, &ve) {
		return "", err
	}
	if errors.Is(err, store.ErrConflict) {
		return "", ErrExists
	}
	if err != nil {
		return "", fmt.Errorf("clients: create %q: %w", c.ID, err)
	}
	return minted, nil
}

// Get returns a client.
func (s *Service) Get(ctx context.Context, id string) (*store.Client, error) {
	c, err := s.st.GetClient(ctx, id)
	if errors.Is(err, store.ErrNotFound) {
		return nil, ErrNotFound
	}
	return c, err
}

// Update applies edit to the client id, validates the result and stores
// it, recorded as client_updated with what (the names of the settings
// changed, never a secret).
func (s *Service) Update(ctx context.Context, id, what string, edit func(*store.Client) error, m audit.Meta) (*store.Client, error) {
	var c *store.Client
	err := s.st.Tx(ctx, func(tx store.Tx) (err error) {
		if c, err = tx.LockClient(ctx, id); err != nil {
			return err
		}
		if err := edit(c); err != nil {
			return err
		}
		c.ID = id
		if err := s.Validate(c); err != nil {
			return err
		}
		now := s.now().UTC()
		c.UpdatedAt = now
		if err := tx.UpdateClient(ctx, c); err != nil {
			return err
		}
		return tx.AppendEvents(ctx, audit.NewClientUpdated(m.At(now), c, what))
	})
	if errors.Is(err, store.ErrNotFound) {
		return nil, ErrNotFound
	}
	return c, err
}

// SetDisabled disables or enables a client. Disabling revokes every live
// family of the client (deny-listing their access tokens) in the same
// transaction, so enabling it again brings no session back.
func (s *Service) SetDisabled(ctx context.Context, id string, disabled bool, m audit.Meta) ([]string, error) {
	var ids []string
	err := s.st.Tx(ctx, func(tx store.Tx) error {
		// Under the row lock: a concurrent update cannot write the old
		// state back, and a grant in flight (which shares the lock)
		// commits its family before the revocation below sees it.
		c, err := tx.LockClient(ctx, id)
		if err != nil {
			return err
		}
		now := s.now().UTC()
		c.Disabled, c.UpdatedAt = disabled, now
		if disabled {
			// Its access tokens end too, and enabling it again brings
			// none of them back.
			c.TokensValidAfter = now
		}
		if err := tx.UpdateClient(ctx, c); err != nil {
			return err
		}
		if !disabled {
			return tx.AppendEvents(ctx, audit.NewClientEnabled(m.At(now), c))
		}
		if ids, err = s.fams.RevokeWhereIn(ctx, tx, store.FamilyFilter{ClientID: id}, audit.ReasonAdmin, m); err != nil {
			return err
		}
		return tx.AppendEvents(ctx, audit.NewClientDisabled(m.At(now), c, len(ids)))
	})
	if errors.Is(err, store.ErrNotFound) {
		return nil, ErrNotFound
	}
	if err != nil {
		return nil, fmt.Errorf("clients: update %q: %w", id, err)
	}
	return ids, nil
}

// Delete revokes every live family of the client (deny-listing their
// access tokens) and deletes it, in one transaction.
func (s *Service) Delete(ctx context.Context, id string, m audit.Meta) ([]string, error) {
	var ids []string
	err := s.st.Tx(ctx, func(tx store.Tx) (err error) {
		if _, err := tx.LockClient(ctx, id); err != nil {
			return err
		}
		if ids, err = s.fams.RevokeWhereIn(ctx, tx, store.FamilyFilter{ClientID: id}, audit.ReasonAdmin, m); err != nil {
			return err
		}
		if err := tx.DeleteClient(ctx, id); err != nil {
			return err
		}
		return tx.AppendEvents(ctx, audit.NewClientDeleted(m.At(s.now().UTC()), id, len(ids)))
	})
	if errors.Is(err, store.ErrNotFound) {
		return nil, ErrNotFound
	}
	if err != nil {
		return nil, fmt.Errorf("clients: delete %q: %w", id, err)
	}
	return ids, nil
}
