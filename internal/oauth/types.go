package oauth

import (
	"net"
	"strings"
)

// IsLoopback reports whether host is "localhost" or a loopback address,
// where plain http never leaves the machine.
func IsLoopback(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// Grant types Rotor knows, by their registered names.
const (
	GrantAuthorizationCode = "authorization_code"
	GrantRefreshToken      = "refresh_token"
	GrantClientCredentials = "client_credentials"
	GrantPassword          = "password"
	GrantDeviceCode        = "urn:ietf:params:oauth:grant-type:device_code"
)

// Client authentication methods (RFC 8414 §2, IANA registry).
const (
	AuthClientSecretBasic = "client_secret_basic"
	AuthClientSecretPost  = "client_secret_post"
	AuthNone              = "none"
	AuthPrivateKeyJWT     = "private_key_jwt"
)

// TokenResponse is a successful token response (RFC 6749 §5.1).
type TokenResponse struct {
	AccessToken           string `json:"access_token"`
	TokenType             string `json:"token_type"`
	ExpiresIn             int64  `json:"expires_in"`
	RefreshToken          string `json:"refresh_token,omitempty"`
	RefreshTokenExpiresIn int64  `json:"refresh_token_expires_in,omitempty"`
	Scope                 string `json:"scope,omitempty"`
	// IDToken is the OpenID Connect id_token (OIDC Core §3.1.3.3).
	IDToken string `json:"id_token,omitempty"`
}

// Introspection is an introspection response (RFC 7662 §2.2). An inactive
// token is answered with Active false and nothing else.
type Introspection struct {
	Active    bool   `json:"active"`
	Scope     string `json:"scope,omitempty"`
	ClientID  string `json:"client_id,omitempty"`
	Username  string `json:"username,omitempty"`
	TokenType string `json:"token_type,omitempty"`
	Exp       int64  `json:"exp,omitempty"`
	Iat       int64  `json:"iat,omitempty"`
	Nbf       int64  `json:"nbf,omitempty"`
	Sub       string `json:"sub,omitempty"`
	Aud       any    `json:"aud,omitempty"`
	Iss       string `json:"iss,omitempty"`
	Jti       string `json:"jti,omitempty"`
	Sid       string `json:"sid,omitempty"`
	// Cnf is the key a DPoP-bound token is bound to (RFC 9449 §6.2).
	Cnf *Confirmation `json:"cnf,omitempty"`
}

// Confirmation is the cnf claim of a DPoP-bound token: the SHA-256 JWK
// thumbprint of its key (RFC 9449 §6.1).
type Confirmation struct {
	JKT string `json:"jkt"`
}

// UserInfo is an OpenID Connect UserInfo answer (Core §5.3.2) with the
// standard claims Rotor knows (§5.1); a claim without a value is left out.
type UserInfo struct {
	Subject           string `json:"sub"`
	PreferredUsername string `json:"preferred_username,omitempty"`
	Email             string `json:"email,omitempty"`
	EmailVerified     *bool  `json:"email_verified,omitempty"`
}

// Metadata is authorization server metadata (RFC 8414 §2), which is also
// the OpenID Provider metadata (OpenID Connect Discovery §3): one
// document for both. Only what Rotor actually supports is advertised.
type Metadata struct {
	Issuer                string `json:"issuer"`
	AuthorizationEndpoint string `json:"authorization_endpoint"`
	TokenEndpoint         string `json:"token_endpoint"`
	UserinfoEndpoint      string `json:"userinfo_endpoint"`
	JWKSURI               string `json:"jwks_uri"`
	RevocationEndpoint    string `json:"revocation_endpoint"`
	IntrospectionEndpoint string `json:"introspection_endpoint"`
	// EndSessionEndpoint is OpenID Connect RP-Initiated Logout's (§2.1).
	EndSessionEndpoint     string   `json:"end_session_endpoint"`
	ScopesSupported        []string `json:"scopes_supported,omitempty"`
	ResponseTypesSupported []string `json:"response_types_supported"`
	ResponseModesSupported []string `json:"response_modes_supported"`
	// CodeChallengeMethodsSupported is RFC 7636's (RFC 8414 §2).
	CodeChallengeMethodsSupported []string `json:"code_challenge_methods_supported"`
	// AuthorizationResponseISSParameterSupported is RFC 9207 §3's.
	AuthorizationResponseISSParameterSupported bool `json:"authorization_response_iss_parameter_supported"`
	// RequestParameterSupported and RequestURIParameterSupported are
	// always written: OpenID Connect Discovery §3 reads a missing
	// request_uri_parameter_supported as true.
	RequestParameterSupported                  bool     `json:"request_parameter_supported"`
	RequestURIParameterSupported               bool     `json:"request_uri_parameter_supported"`
	PromptValuesSupported                      []string `json:"prompt_values_supported"`
	SubjectTypesSupported                      []string `json:"subject_types_supported"`
	IDTokenSigningAlgValuesSupported           []string `json:"id_token_signing_alg_values_supported"`
	ClaimsSupported                            []string `json:"claims_supported"`
	GrantTypesSupported                        []string `json:"grant_types_supported"`
	TokenEndpointAuthMethodsSupported          []string `json:"token_endpoint_auth_methods_supported"`
	RevocationEndpointAuthMethodsSupported     []string `json:"revocation_endpoint_auth_methods_supported"`
	IntrospectionEndpointAuthMethodsSupported  []string `json:"introspection_endpoint_auth_methods_supported"`
	TokenEndpointAuthSigningAlgValuesSupported []string `json:"token_endpoint_auth_signing_alg_values_supported,omitempty"`
	// DenyListEndpoint is Rotor's own: the revoked families and access
	// tokens, for resource servers that poll rather than introspect.
	DenyListEndpoint string `json:"rotor_denylist_endpoint,omitempty"`
	// DeviceAuthorizationEndpoint is RFC 8628 §4's.
	DeviceAuthorizationEndpoint string `json:"device_authorization_endpoint,omitempty"`
	// DPoPSigningAlgs are the DPoP proof algorithms accepted (RFC 9449 §5.1).
	DPoPSigningAlgs []string `json:"dpop_signing_alg_values_supported,omitempty"`
}
