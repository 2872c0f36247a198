// Package keys owns Rotor's signing keys: generation (ES256 by default,
// EdDSA and RS256 available), sealing at rest with a key derived from the
// master key, rotation on demand and on a schedule, the JWKS document, and
// signing and verifying RFC 9068 access tokens and OpenID Connect
// id_tokens, told apart by their typ.
//
// A rotated key is published before it signs, and a superseded key stays
// published until every token it signed has expired. Signing never touches
// the database: the decrypted key set is cached and reloaded periodically,
// so replicas pick up a rotation made elsewhere.
//
// It imports internal/store and internal/secret only.
package keys
