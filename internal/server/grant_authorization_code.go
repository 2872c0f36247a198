package server

import (
	"context"
	"errors"
	"slices"
	"time"

	"github.com/rotor-auth/rotor/internal/authz"
	"github.com/rotor-auth/rotor/internal/family"
	"github.com/rotor-auth/rotor/internal/oauth"
	"github.com/rotor-auth/rotor/internal/secret"
	"github.com/rotor-auth/rotor/internal/store"
	"github.com/rotor-auth/rotor/internal/token"
)

var _ = register(oauth.GrantAuthorizationCode, func(d grantDeps) grant {
	return codeGrant{store: d.store, authz: d.authz, families: d.families, tokens: d.tokens, now: d.now}
})

// codeGrant is grant_type=authorization_code (RFC 6749 §4.1.3) with PKCE
// (RFC 7636 §4.5). Redeeming the code and creating the family are one
// transaction (internal/authz); a code that comes back revokes what it
// made.
type codeGrant struct {
	store    store.Queries
	authz    *authz.Service
	families *family.Service
	tokens   *token.Issuer
	now      func() time.Time
}

func (g codeGrant) token(ctx context.Context, req *tokenRequest) (*oauth.TokenResponse, error) {
	code := req.form.Get("code")
	if code == "" {
		return nil, oauth.InvalidRequest("code is required")
	}
	if v := req.form.Get("code_verifier"); req.form.Has("code_verifier") && !authz.ValidVerifier(v) {
		return nil, oauth.InvalidGrant("code_verifier must be 43 to 128 unreserved characters (RFC 7636 §4.1)")
	}
	jti := secret.NewID()
	red, err := g.authz.Redeem(ctx, authz.RedeemParams{
		Client: req.client, Code: code, RedirectURI: req.form.Get("redirect_uri"), Verifier: req.form.Get("code_verifier"),
		DPoPJKT: req.jkt, AccessTokenID: jti, Meta: req.meta,
		Refresh: func(scopes []string) bool { return refreshFor(req.client.AllowsGrant(oauth.GrantRefreshToken), scopes) },
	})
	var (
		refusal *authz.Refusal
		fe      *family.Error
	)
	switch {
	case errors.As(err, &refusal):
		return nil, oauth.InvalidGrant(refusal.Reason)
	case errors.As(err, &fe):
		return nil, familyError(fe)
	case err != nil:
		return nil, err
	}
	return answerRedeemed(ctx, g.store, g.families, g.tokens, req, red, jti, oauth.GrantAuthorizationCode, g.now())
}

// answerRedeemed answers a redeemed code or device code: the access
// token (bound to the family when one was made, else recorded on its own),
// the refresh token, and an id_token when openid was granted (OIDC Core
// §3.1.3.3). red.Code holds what the grant was for.
func answerRedeemed(ctx context.Context, st store.Queries, families *family.Service, tokens *token.Issuer, req *tokenRequest,
	red *authz.Redeemed, jti, grant string, now time.Time) (*oauth.TokenResponse, error) {
	c := red.Code
	aud, err := codeAudience(req, c.Audiences)
	if err != nil {
		return nil, err
	}
	req.aud = aud
	at := token.Access{JTI: jti, Subject: c.Subject, Scopes: c.Scopes, TTL: families.AccessTTL(req.client)}
	var resp *oauth.TokenResponse
	if red.Grant != nil {
		// The family's creation recorded the access token's issue.
		at.SID = red.Grant.Family.ID
		resp, err = respond(ctx, tokens, req, at, red.Grant, now)
	} else {
		resp, err = issueOnly(ctx, st, tokens, req, at, grant, now)
	}
	if err != nil {
		return nil, err
	}
	if slices.Contains(c.Scopes, "openid") {
		resp.IDToken, err = tokens.IssueID(ctx, token.ID{
			Subject: c.Subject, ClientID: req.client.ID, Nonce: c.Nonce, SID: c.SessionID,
			AuthTime: c.AuthTime, AccessToken: resp.AccessToken, TTL: at.TTL,
		})
		if err != nil {
			return nil, err
		}
	}
	return resp, nil
}

// refreshFor says whether a grant of scopes gets a refresh token: the
// client must be allowed the refresh_token grant and, in an OpenID
// Connect request, offline_access must have been granted (OIDC Core §11).
func refreshFor(clientMayRefresh bool, scopes []string) bool {
	if !clientMayRefresh {
		return false
	}
	return !slices.Contains(scopes, "openid") || slices.Contains(scopes, ScopeOfflineAccess)
}

// codeAudience is the access token's audience for a code: the resources
// of the authorization request, which a resource parameter of the token
// request may narrow (RFC 8707 §2.2), but not widen.
func codeAudience(req *tokenRequest, asked []string) ([]string, error) {
	if len(asked) == 0 {
		return req.aud, nil
	}
	if len(req.form.All("resource"))+len(req.form.All("audience")) == 0 {
		return asked, nil
	}
	for _, a := range req.aud {
		if !slices.Contains(asked, a) {
			return nil, oauth.InvalidTarget("the requested resource was not part of the authorization request")
		}
	}
	return req.aud, nil
}
