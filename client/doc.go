// Package client holds the refresh token of an OAuth 2.0 session safely,
// for Go services and CLIs that talk to Rotor (or any server that rotates
// refresh tokens). [TokenSource] returns an oauth2.TokenSource, so it plugs
// into golang.org/x/oauth2 and everything built on it.
//
// A server that rotates refresh tokens accepts each one once: the answer
// carries a successor, and the old token presented again later is taken
// for a replay that revokes the whole session. A [Source] is built so that
// a correct program never does that:
//
//   - Single flight: however many goroutines call Token at once, one
//     refresh request is sent; the others wait for its result.
//   - Write-through: the rotated token is saved in the [Store] before the
//     new access token is handed out. If Save fails, the caller gets an
//     error matching [ErrNotSaved] and no token; the Source keeps the
//     successor in memory and saves it first on the next call.
//   - Shared stores: a store that is also a [Locker] ([FileStore],
//     [MemoryStore]) is locked from load to save, so that Sources in many
//     processes sharing one file refresh each token once; the others load
//     the successor.
//   - Early refresh: the token is refreshed RefreshBefore (default one
//     minute) before it expires.
//   - Lost answers: after a network error, a cut-off answer, a 5xx or a
//     429, the same refresh token is sent again, a bounded number of times
//     with backoff, inside RetryWindow (default 10 s). Rotor answers a retry
//     of the previous token within its reuse grace period (default 15 s)
//     with the same successor, so a dropped answer does not end the session.
//   - "Sign in again": invalid_grant is returned as a [*ReauthError],
//     matching [ErrSignInAgain]. The refused token is never sent again, and
//     a store that is a [Clearer] is cleared, so that no other process
//     sharing it sends it either.
//   - DPoP (RFC 9449): with Config.DPoP set, every token request carries a
//     proof made with the key, and the server's DPoP-Nonce is honoured;
//     [Source.Client] and [Transport] call APIs with DPoP-bound tokens.
//
// # A crash between the server's answer and Save
//
// Rotation happens on the server first: once it has answered, the refresh
// token in the store is the previous one. If the process dies (or the
// machine loses power) after the answer and before Save completes, the
// successor, which existed only in memory, is lost; the store still holds
// the previous token, intact, because Save replaces the file atomically.
// What the user sees depends on how soon the program runs again:
//
//   - Within the server's reuse grace period (Rotor: 15 s by default,
//     per client): the next run presents the previous token, which Rotor
//     treats as a retry and answers with the same successor and a fresh
//     access token. The user sees nothing.
//   - After it: the previous token is an already-used token, which Rotor
//     must take for a replay (a thief's copy looks the same). It revokes
//     the whole session and answers invalid_grant; the user gets
//     [ErrSignInAgain] and has to sign in again. Nothing leaks and no
//     other session is affected, but this session is gone.
//
// The same holds when Save fails and the process exits before a later
// Token call saves the kept successor. The window is the time between
// the server's answer and the end of Save: a few milliseconds for a
// [FileStore]. A store that cannot save durably should fail rather than
// pretend, so the caller knows.
//
// Refresh tokens never appear in errors or logs from this package.
//
// The package imports the standard library and golang.org/x/oauth2 only,
// never Rotor's internal packages.
package client
