package server

import (
	"context"
	"errors"
	"slices"
	"time"

	"github.com/rotor-auth/rotor/internal/audit"
	"github.com/rotor-auth/rotor/internal/family"
	"github.com/rotor-auth/rotor/internal/oauth"
	"github.com/rotor-auth/rotor/internal/secret"
	"github.com/rotor-auth/rotor/internal/token"
)

var _ = register(oauth.GrantRefreshToken, func(d grantDeps) grant {
	return refreshGrant{families: d.families, tokens: d.tokens, now: d.now}
})

// refreshGrant is grant_type=refresh_token (RFC 6749 §6): rotation, grace
// retries and replay detection, all in the family service
// (docs/design.md, "The family model").
type refreshGrant struct {
	families *family.Service
	tokens   *token.Issuer
	now      func() time.Time
}

func (g refreshGrant) token(ctx context.Context, req *tokenRequest) (*oauth.TokenResponse, error) {
	rt := req.form.Get("refresh_token")
	if rt == "" {
		return nil, oauth.InvalidRequest("refresh_token is required")
	}
	var scopes []string
	if req.form.Has("scope") {
		var err error
		if scopes, err = oauth.ParseScope(req.form.Get("scope")); err != nil {
			return nil, err
		}
		if scopes == nil {
			scopes = []string{}
		}
	}
	jti := secret.NewID()
	fg, err := g.families.Refresh(ctx, family.RefreshParams{
		Client: req.client, Token: rt, Scopes: scopes, DPoPJKT: req.jkt, AccessTokenID: jti, Meta: req.meta,
		Verifier: req.form.Get("code_verifier"),
	})
	var fe *family.Error
	if errors.As(err, &fe) {
		return nil, recorded{familyError(fe)} // the family service recorded it
	}
	if err != nil {
		return nil, err
	}
	at := token.Access{JTI: jti, Subject: fg.Family.Subject, SID: fg.Family.ID, Scopes: fg.Scopes, TTL: g.families.AccessTTL(req.client)}
	resp, err := respond(ctx, g.tokens, req, at, fg, g.now())
	if err != nil || !slices.Contains(fg.Family.Scopes, "openid") {
		return resp, err
	}
	// OIDC Core §12.2: a refresh of an OpenID Connect grant answers with
	// a new id_token for the same subject and session, with the original
	// auth_time and no nonce.
	resp.IDToken, err = g.tokens.IssueID(ctx, token.ID{
		Subject: fg.Family.Subject, ClientID: req.client.ID, SID: fg.Family.SessionID,
		AuthTime: fg.Family.AuthTime, AccessToken: resp.AccessToken, TTL: at.TTL,
	})
	if err != nil {
		return nil, err
	}
	return resp, nil
}

// familyError maps a refusal of the family package to its RFC error.
func familyError(fe *family.Error) *oauth.Error {
	switch fe.Reason {
	case audit.ReasonInvalidScope:
		return oauth.InvalidScope("the requested scope exceeds the grant")
	case audit.ReasonReuseDetected:
		return oauth.InvalidGrant("the refresh token was already used; the grant has been revoked")
	case audit.ReasonExpiredIdle, audit.ReasonExpiredAbsolute:
		return oauth.InvalidGrant("the refresh token has expired")
	case audit.ReasonRevoked:
		return oauth.InvalidGrant("the grant has been revoked")
	case audit.ReasonUserDisabled, audit.ReasonUserDeleted, audit.ReasonTokensInvalidated:
		return oauth.InvalidGrant("the grant is no longer valid; sign in again")
	case audit.ReasonDPoPMismatch:
		return oauth.InvalidGrant("the DPoP key does not match the grant; the grant has been revoked")
	case audit.ReasonVerifierMissing:
		return oauth.InvalidGrant("the grant is bound to the code_verifier; send it with every refresh")
	case audit.ReasonVerifierMismatch:
		return oauth.InvalidGrant("the code_verifier does not match the grant; the grant has been revoked")
	case audit.ReasonDPoPMissing:
		return oauth.InvalidDPoPProof("the grant is bound to a key; send a DPoP proof")
	default:
		return oauth.InvalidGrant("the refresh token is invalid")
	}
}
