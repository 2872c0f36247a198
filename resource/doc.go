// Package resource verifies OAuth 2.0 access tokens for the APIs that
// accept them: RFC 9068 JWT access tokens, as Rotor issues, checked offline
// against the issuer's published keys, with optional DPoP (RFC 9449) proof
// of possession and optional awareness of revocation.
//
// [New] discovers the issuer's metadata and key set; [Verifier.Verify]
// checks a token; [Verifier.Middleware] protects an [net/http] handler,
// answers failures as RFC 6750 and RFC 9449 prescribe (WWW-Authenticate
// with invalid_request, invalid_token, insufficient_scope or
// invalid_dpop_proof), and hands the claims to the handler through the
// request context ([ClaimsFrom]); [Verifier.Require] adds a scope
// requirement to one route.
//
// What a token must be to pass: a JWS compact serialization signed by a
// key of the issuer's JWKS, chosen by its kid (a map lookup, nothing
// else), with that key's own algorithm: by default whatever asymmetric
// algorithm the key set publishes for it, or one of [Config.Algorithms]
// when that is set ("none" and HMAC can never pass, whatever the header
// says); header typ "at+jwt";
// iss equal to [Config.Issuer]; aud containing [Config.Audience]; exp in
// the future and nbf and iat not in it, give or take [Config.Leeway];
// sub, client_id and jti present; every scope of [Config.RequiredScopes].
// A token bound to a key (cnf.jkt) must come with the DPoP scheme and a
// valid proof for this very request.
//
// # DPoP
//
// A token bound to a key must arrive as "Authorization: DPoP <token>" with
// a DPoP header: a proof (RFC 9449 §4) signed by that key, naming the
// request's method and URL ([Config.BaseURL] says what the URL looks like
// from outside), issued within [Config.DPoPWindow], carrying the hash of
// the token (ath) and a jti this process has not seen. Sent as a bearer
// token it is refused, or a thief could simply drop the proof (§7.2). A
// bearer token sent with the DPoP scheme is refused too: the client was
// told token_type Bearer and must send it so. Proof jtis are remembered in
// memory, per process: replicas of an API do not share them, so a proof
// captured in transit could be replayed once against each replica within
// the window, for the same method and URL only. Server nonces (§9) are
// not used.
//
// # Revocation, and what it costs
//
// A signed token verified offline stays valid until it expires, even if
// the user signs out or the server detects a stolen refresh token: that is
// the price of verifying without a network call. Rotor's access tokens
// live 10 minutes by default, which bounds the damage. Two optional modes
// shorten it, each at a cost:
//
//   - [Introspection]: every verification also asks the issuer's RFC 7662
//     introspection endpoint. Revocation takes effect at once (or after
//     [Introspection.CacheTTL] if a cache is set), at the price of one
//     network round trip per request and a hard dependency on the issuer:
//     when it cannot answer, verification fails with 503 (fail closed) unless
//     [Introspection.FailOpen] is set.
//   - [DenyList]: a background poll of Rotor's deny-list (the revoked
//     families, by sid, and the revoked access tokens, by jti) every
//     [DenyList.Interval]. No network call per request; a revocation takes
//     effect within one interval. A failing poll keeps the last list, so
//     during an outage of the issuer the list grows stale: revocations made
//     meanwhile are not seen until a poll succeeds, unless
//     [DenyList.MaxStale] makes verification fail closed past that age.
//
// # Concurrency
//
// A [Verifier] is safe for concurrent use. An unknown kid fetches the key
// set at most once per [Config.JWKSMinInterval] however many requests carry
// it; a failing fetch keeps the keys already known. Background work (key
// refresh, deny-list polling) runs until [Verifier.Close].
//
// This package imports only the standard library and go-jose, so that an
// API pulls in no database driver and nothing of Rotor's server.
package resource
