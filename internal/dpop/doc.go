// Package dpop verifies DPoP proofs (RFC 9449) presented at the token
// endpoint: signature by the embedded public key, typ, htm, htu, iat
// window, server nonces, and a jti replay cache. It knows nothing of
// families or HTTP routing; the server decides what a verified key
// thumbprint binds. It imports go-jose and the standard library only.
package dpop
