package server

import (
	"context"
	"time"

	"github.com/rotor-auth/rotor/internal/clients"
	"github.com/rotor-auth/rotor/internal/family"
	"github.com/rotor-auth/rotor/internal/oauth"
	"github.com/rotor-auth/rotor/internal/secret"
	"github.com/rotor-auth/rotor/internal/store"
	"github.com/rotor-auth/rotor/internal/token"
)

var _ = register(oauth.GrantClientCredentials, func(d grantDeps) grant {
	return clientCredentialsGrant{store: d.store, families: d.families, tokens: d.tokens, now: d.now}
})

// clientCredentialsGrant is grant_type=client_credentials (RFC 6749 §4.4):
// an access token for the client itself, no refresh token, no family.
type clientCredentialsGrant struct {
	store    store.Queries
	families *family.Service
	tokens   *token.Issuer
	now      func() time.Time
}

func (g clientCredentialsGrant) token(ctx context.Context, req *tokenRequest) (*oauth.TokenResponse, error) {
	if req.client.Public && !clients.PublicMayUse(oauth.GrantClientCredentials) {
		// A row registered before the rule, or written by hand.
		return nil, oauth.UnauthorizedClient(clients.ErrPublicClientCredentials.Error())
	}
	scopes, err := requestedScopes(req.form, req.client.Scopes)
	if err != nil {
		return nil, err
	}
	at := token.Access{JTI: secret.NewID(), Subject: req.client.ID, Scopes: scopes, TTL: g.families.AccessTTL(req.client)}
	return issueOnly(ctx, g.store, g.tokens, req, at, oauth.GrantClientCredentials, g.now())
}
