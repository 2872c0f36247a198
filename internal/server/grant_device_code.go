package server

import (
	"context"
	"errors"
	"net/http"
	"time"

	"github.com/rotor-auth/rotor/internal/authz"
	"github.com/rotor-auth/rotor/internal/family"
	"github.com/rotor-auth/rotor/internal/oauth"
	"github.com/rotor-auth/rotor/internal/secret"
	"github.com/rotor-auth/rotor/internal/store"
	"github.com/rotor-auth/rotor/internal/token"
)

var _ = register(oauth.GrantDeviceCode, func(d grantDeps) grant {
	return deviceGrant{store: d.store, authz: d.authz, families: d.families, tokens: d.tokens, now: d.now}
})

// deviceGrant is grant_type=urn:ietf:params:oauth:grant-type:device_code
// (RFC 8628 §3.4): the device polls until the person answers; an approved
// code gives tokens once, and its family is created in the transaction
// that spends it. A refresh token comes when the client may refresh.
type deviceGrant struct {
	store    store.Queries
	authz    *authz.Service
	families *family.Service
	tokens   *token.Issuer
	now      func() time.Time
}

func (g deviceGrant) token(ctx context.Context, req *tokenRequest) (*oauth.TokenResponse, error) {
	dc := req.form.Get("device_code")
	if dc == "" {
		return nil, oauth.InvalidRequest("device_code is required")
	}
	jti := secret.NewID()
	red, err := g.authz.PollDevice(ctx, authz.DevicePoll{
		Client: req.client, DeviceCode: dc, DPoPJKT: req.jkt, AccessTokenID: jti, Meta: req.meta,
		Refresh: req.client.AllowsGrant(oauth.GrantRefreshToken),
	})
	var (
		refusal *authz.DeviceRefusal
		fe      *family.Error
	)
	switch {
	case errors.As(err, &refusal):
		e := &oauth.Error{Code: refusal.Code, Description: refusal.Description, Status: http.StatusBadRequest}
		if refusal == authz.ErrAuthorizationPending || refusal == authz.ErrSlowDown {
			// Waiting is the flow working, not a failure: not audited.
			return nil, recorded{e}
		}
		return nil, e
	case errors.As(err, &fe):
		return nil, familyError(fe)
	case err != nil:
		return nil, err
	}
	return answerRedeemed(ctx, g.store, g.families, g.tokens, req, red, jti, oauth.GrantDeviceCode, g.now())
}
