package server

import (
	"encoding/json"
	"net/http"

	"github.com/rotor-auth/rotor/internal/dpop"
	"github.com/rotor-auth/rotor/internal/oauth"
)

// metadata is the RFC 8414 document. It advertises exactly what works.
func (s *Server) metadata() oauth.Metadata {
	iss := s.opts.Issuer
	auth := []string{oauth.AuthClientSecretBasic, oauth.AuthClientSecretPost, oauth.AuthPrivateKeyJWT, oauth.AuthNone}
	return oauth.Metadata{
		Issuer:                                     iss,
		TokenEndpoint:                              iss + "/oauth2/token",
		JWKSURI:                                    iss + "/.well-known/jwks.json",
		RevocationEndpoint:                         iss + "/oauth2/revoke",
		IntrospectionEndpoint:                      iss + "/oauth2/introspect",
		DenyListEndpoint:                           iss + "/oauth2/denylist",
		DPoPSigningAlgs:                            dpop.AlgorithmNames(),
		ResponseTypesSupported:                     []string{},
		GrantTypesSupported:                        GrantTypes(),
		TokenEndpointAuthMethodsSupported:          auth,
		RevocationEndpointAuthMethodsSupported:     auth,
		IntrospectionEndpointAuthMethodsSupported:  []string{oauth.AuthClientSecretBasic, oauth.AuthClientSecretPost, oauth.AuthPrivateKeyJWT},
		TokenEndpointAuthSigningAlgValuesSupported: dpop.AlgorithmNames(),
	}
}

func (s *Server) handleMetadata(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "public, max-age=3600")
	_ = json.NewEncoder(w).Encode(s.metadata())
}
