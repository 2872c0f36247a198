// Package secret mints Rotor's opaque tokens and protects secrets at rest:
// the master key and the subkeys derived from it, keyed hashes (the only
// form in which refresh tokens and client secrets reach the database),
// the refresh-token format with its MAC, short token ids for logs, sealing
// with AES-GCM, argon2id password hashes, and constant-time comparison.
//
// It imports only the standard library and x/crypto.
package secret
