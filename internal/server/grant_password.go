package server

import (
	"context"
	"errors"
	"time"

	"github.com/rotor-auth/rotor/internal/audit"
	"github.com/rotor-auth/rotor/internal/family"
	"github.com/rotor-auth/rotor/internal/oauth"
	"github.com/rotor-auth/rotor/internal/secret"
	"github.com/rotor-auth/rotor/internal/store"
	"github.com/rotor-auth/rotor/internal/token"
	"github.com/rotor-auth/rotor/internal/users"
)

var _ = register(oauth.GrantPassword, func(d grantDeps) grant {
	return passwordGrant{store: d.store, families: d.families, users: d.users, tokens: d.tokens, refusals: d.refusals, now: d.now}
})

// passwordGrant is grant_type=password (RFC 6749 §4.3), for clients that
// enable it. It creates a family like any user grant.
type passwordGrant struct {
	store    store.Queries
	families *family.Service
	users    *users.Service
	tokens   *token.Issuer
	refusals audit.Recorder
	now      func() time.Time
}

func (g passwordGrant) token(ctx context.Context, req *tokenRequest) (*oauth.TokenResponse, error) {
	username, password := req.form.Get("username"), req.form.Get("password")
	if username == "" || !req.form.Has("password") {
		return nil, oauth.InvalidRequest("username and password are required")
	}
	scopes, err := requestedScopes(req.form, req.client.Scopes)
	if err != nil {
		return nil, err
	}
	u, reason, err := g.users.Authenticate(ctx, username, password, req.meta.IP)
	var th *users.Throttled
	if errors.As(err, &th) {
		_ = g.fail(ctx, req, "", audit.ReasonThrottled)
		return nil, recorded{oauth.TooManyRequests("too many failed sign-ins for this user or from this address; retry later",
			int(max(1, th.RetryAfter.Round(time.Second)/time.Second)))}
	}
	if err != nil {
		return nil, err
	}
	if reason != "" {
		subject := ""
		if u != nil {
			subject = u.ID
		}
		return nil, g.fail(ctx, req, subject, reason)
	}
	jti := secret.NewID()
	at := token.Access{JTI: jti, Subject: u.ID, Scopes: scopes, TTL: g.families.AccessTTL(req.client)}
	if !req.client.AllowsGrant(oauth.GrantRefreshToken) {
		// No refresh token will be handed out, so no family: an access
		// token alone, recorded like client_credentials.
		return issueOnly(ctx, g.store, g.tokens, req, at, oauth.GrantPassword, g.now())
	}
	fg, err := g.families.Create(ctx, family.CreateParams{
		Client: req.client, User: u, Scopes: scopes, AccessTokenID: jti, Grant: oauth.GrantPassword, DPoPJKT: req.jkt, Meta: req.meta,
	})
	var fe *family.Error
	if errors.As(err, &fe) {
		return nil, familyError(fe)
	}
	if err != nil {
		return nil, err
	}
	at.SID = fg.Family.ID
	return respond(ctx, g.tokens, req, at, fg, g.now())
}

func (g passwordGrant) fail(ctx context.Context, req *tokenRequest, subject string, reason audit.Reason) error {
	g.refusals.Record(ctx, audit.NewPasswordGrantFailed(req.meta.At(g.now()), req.client.ID, subject, reason))
	return recorded{oauth.InvalidGrant("invalid username or password")}
}
