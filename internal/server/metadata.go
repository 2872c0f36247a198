package server

import (
	"context"
	"encoding/json"
	"net/http"

	"github.com/rotor-auth/rotor/internal/dpop"
	"github.com/rotor-auth/rotor/internal/oauth"
)

// idTokenClaims are the claims an id_token or the UserInfo endpoint may
// carry (token.IDTokenClaims, oauth.UserInfo).
var idTokenClaims = []string{
	"iss", "sub", "aud", "exp", "iat", "auth_time", "nonce", "at_hash", "azp", "sid",
	"preferred_username", "email", "email_verified",
}

// metadata is the one document served both as RFC 8414 authorization
// server metadata and as the OpenID Provider configuration (OpenID
// Connect Discovery §3): the registry of grants, the key set's algs and
// this list feed both, so the two never disagree. It advertises exactly
// what works. id_token_signing_alg_values_supported lists the algs of the
// published keys, which is what Rotor signs with: Discovery §3 asks for
// RS256 in it, which holds when the keys are RS256 (keys.RS256); Rotor
// does not claim an alg it does not sign with.
func (s *Server) metadata(ctx context.Context) (oauth.Metadata, error) {
	algs, err := s.opts.Signer.Algorithms(ctx)
	if err != nil {
		return oauth.Metadata{}, err
	}
	iss := s.opts.Issuer
	auth := []string{oauth.AuthClientSecretBasic, oauth.AuthClientSecretPost, oauth.AuthPrivateKeyJWT, oauth.AuthNone}
	return oauth.Metadata{
		Issuer:                        iss,
		AuthorizationEndpoint:         iss + "/oauth2/authorize",
		TokenEndpoint:                 iss + "/oauth2/token",
		UserinfoEndpoint:              iss + "/userinfo",
		JWKSURI:                       iss + "/.well-known/jwks.json",
		RevocationEndpoint:            iss + "/oauth2/revoke",
		IntrospectionEndpoint:         iss + "/oauth2/introspect",
		EndSessionEndpoint:            iss + "/oauth2/logout",
		DenyListEndpoint:              iss + "/oauth2/denylist",
		DeviceAuthorizationEndpoint:   iss + "/oauth2/device_authorization",
		ScopesSupported:               []string{"openid", "profile", "email", "offline_access"},
		ResponseTypesSupported:        []string{"code"},
		ResponseModesSupported:        []string{"query"},
		CodeChallengeMethodsSupported: []string{"S256"},
		AuthorizationResponseISSParameterSupported: true,
		PromptValuesSupported:                      []string{"none", "login", "consent", "select_account"},
		SubjectTypesSupported:                      []string{"public"},
		IDTokenSigningAlgValuesSupported:           algs,
		ClaimsSupported:                            idTokenClaims,
		DPoPSigningAlgs:                            dpop.AlgorithmNames(),
		GrantTypesSupported:                        GrantTypes(),
		TokenEndpointAuthMethodsSupported:          auth,
		RevocationEndpointAuthMethodsSupported:     auth,
		IntrospectionEndpointAuthMethodsSupported:  []string{oauth.AuthClientSecretBasic, oauth.AuthClientSecretPost, oauth.AuthPrivateKeyJWT},
		TokenEndpointAuthSigningAlgValuesSupported: dpop.AlgorithmNames(),
	}, nil
}

// handleMetadata serves the metadata at both well-known URLs.
func (s *Server) handleMetadata(w http.ResponseWriter, r *http.Request) {
	// The algs come from the key set, whose reload reads the database.
	ctx, cancel := context.WithTimeout(r.Context(), s.opts.DBTimeout)
	defer cancel()
	md, err := s.metadata(ctx)
	if err != nil {
		s.internalError(w, r, err)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	// After a rotation to a key of another alg, the advertised algs may
	// be this far behind; relying parties check each id_token against the
	// JWKS, whose keys name their alg.
	w.Header().Set("Cache-Control", "public, max-age=3600")
	_ = json.NewEncoder(w).Encode(md)
}
