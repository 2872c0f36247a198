package client

import (
	"errors"
	"strings"
)

// ErrSignInAgain is matched, through [errors.Is], by every error that means
// the session is over and the user must sign in again: the server answered
// invalid_grant (the refresh token expired, was revoked, or was replayed),
// or the store holds no usable token.
var ErrSignInAgain = errors.New("client: sign in again")

// ErrNoToken is returned by [Store.Load] when nothing is stored.
var ErrNoToken = errors.New("client: no token stored")

// ErrNotSaved is matched, through [errors.Is], by the error a [Source]
// returns when the server rotated the refresh token but [Store.Save]
// failed. The new token is not handed out; the Source keeps it in memory
// and tries to save it again on the next call, before anything else. See
// the package documentation for what happens if the process ends first.
var ErrNotSaved = errors.New("client: the rotated refresh token could not be saved")

// ReauthError says that the session cannot be refreshed and the user must
// sign in again. errors.Is(err, [ErrSignInAgain]) is true for it.
type ReauthError struct {
	// Reason says why, in words for a log: "invalid_grant", or a
	// description of what the store held.
	Reason string
	// Err is the underlying error: an *oauth2.RetrieveError carrying the
	// server's invalid_grant answer, or [ErrNoToken].
	Err error
}

// Error describes the reason; it never contains a token.
func (e *ReauthError) Error() string {
	var b strings.Builder
	b.WriteString("client: sign in again: ")
	b.WriteString(e.Reason)
	if e.Err != nil {
		b.WriteString(": ")
		b.WriteString(e.Err.Error())
	}
	return b.String()
}

// Is reports whether target is [ErrSignInAgain].
func (e *ReauthError) Is(target error) bool { return target == ErrSignInAgain }

// Unwrap returns the underlying error.
func (e *ReauthError) Unwrap() error { return e.Err }
