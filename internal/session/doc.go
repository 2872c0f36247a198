// Package session owns browser sessions: the cookie holds a random value
// of 256 bits, the database only its keyed hash, and each session has a
// public id (the id_token's sid) that is not the cookie. Ending a session
// revokes, in the same transaction, the families created in it (OIDC
// RP-Initiated Logout; see docs/design.md). It knows no HTTP: internal/web
// sets and reads the cookie.
package session
