// Package family is the heart of Rotor: refresh-token families. It creates
// a family when a user authorizes a client, rotates its refresh token on
// every use, answers an idempotent retry inside the reuse grace period with
// the same successor, takes any other reuse for a replay and revokes the
// whole family in the same transaction that detected it, and enforces
// expiry, scope narrowing, user consistency and the per (user, client) cap.
//
// It is pure logic over store.Tx and an injected clock: no HTTP. It returns
// domain errors (ErrReplayed, ...); the HTTP edge maps them to RFC codes.
// It imports internal/store, internal/secret and internal/audit only.
package family
