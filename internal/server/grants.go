package server

import (
	"context"
	"log/slog"
	"slices"
	"strings"
	"time"

	"github.com/rotor-auth/rotor/internal/audit"
	"github.com/rotor-auth/rotor/internal/authz"
	"github.com/rotor-auth/rotor/internal/family"
	"github.com/rotor-auth/rotor/internal/oauth"
	"github.com/rotor-auth/rotor/internal/store"
	"github.com/rotor-auth/rotor/internal/token"
	"github.com/rotor-auth/rotor/internal/users"
)

// grant is one grant type. The token endpoint has already parsed the form,
// authenticated the client and checked that it may use the grant.
type grant interface {
	token(ctx context.Context, req *tokenRequest) (*oauth.TokenResponse, error)
}

// grantDeps is everything a grant may need; each grant's constructor
// takes only its own part of it.
type grantDeps struct {
	store    store.Store
	families *family.Service
	users    *users.Service
	authz    *authz.Service
	tokens   *token.Issuer
	refusals audit.Recorder
	now      func() time.Time
	log      *slog.Logger
}

// registered is one entry of the registry of grants.
type registered struct {
	name  string
	build func(grantDeps) grant
}

// registry is the one list of grant types: it feeds the token endpoint's
// dispatch, the metadata's grant_types_supported and the grant types a
// client may be given ([GrantTypes]). Each grant's file adds itself with
// [register], so a new grant touches its own file only.
var registry []registered

// register adds a grant type to the registry; the grant files call it
// from a package-level variable initialiser.
func register(name string, build func(grantDeps) grant) struct{} {
	registry = append(registry, registered{name, build})
	slices.SortStableFunc(registry, func(a, b registered) int {
		if d := order(a.name) - order(b.name); d != 0 {
			return d
		}
		return strings.Compare(a.name, b.name)
	})
	return struct{}{}
}

// order keeps the registry in a stable, readable order: the grants that
// existed first, then the others by name.
func order(name string) int {
	if i := slices.Index([]string{oauth.GrantAuthorizationCode, oauth.GrantRefreshToken, oauth.GrantClientCredentials, oauth.GrantPassword}, name); i >= 0 {
		return i
	}
	return 4
}

// GrantTypes returns the grant types the token endpoint serves, which are
// the ones a client may be registered for.
func GrantTypes() []string {
	names := make([]string, len(registry))
	for i, r := range registry {
		names[i] = r.name
	}
	return names
}

func newGrants(d grantDeps) map[string]grant {
	m := make(map[string]grant, len(registry))
	for _, r := range registry {
		m[r.name] = r.build(d)
	}
	return m
}

// respond builds the token response for an access token and, when the
// grant has a family, its refresh token.
func respond(ctx context.Context, tokens *token.Issuer, req *tokenRequest, at token.Access, g *family.Grant, now time.Time) (*oauth.TokenResponse, error) {
	at.ClientID, at.Audience, at.JKT = req.client.ID, req.aud, req.jkt
	tok, claims, err := tokens.Issue(ctx, at)
	if err != nil {
		return nil, err
	}
	resp := &oauth.TokenResponse{
		AccessToken: tok,
		TokenType:   claims.TokenType(),
		ExpiresIn:   int64(at.TTL / time.Second),
		Scope:       oauth.JoinScope(at.Scopes),
	}
	if g != nil {
		resp.RefreshToken = g.RefreshToken
		resp.RefreshTokenExpiresIn = int64(g.RefreshExpiresIn(now) / time.Second)
	}
	return resp, nil
}

// issueOnly answers with an access token and no refresh token, and
// records the issue.
func issueOnly(ctx context.Context, st store.Queries, tokens *token.Issuer, req *tokenRequest, at token.Access, grant string, now time.Time) (*oauth.TokenResponse, error) {
	resp, err := respond(ctx, tokens, req, at, nil, now)
	if err != nil {
		return nil, err
	}
	ev := audit.NewAccessTokenIssued(req.meta.At(now), audit.Issued{ClientID: req.client.ID, Subject: at.Subject, JTI: at.JTI, Grant: grant})
	if err := st.AppendEvents(ctx, ev); err != nil {
		return nil, err
	}
	return resp, nil
}
