package server

import (
	"context"
	"runtime"
	"time"

	"github.com/rotor-auth/rotor/internal/oauth"
	"github.com/rotor-auth/rotor/internal/secret"
)

// slowHashes bounds how many argon2id verifications run at once. Each
// takes about 19 MiB and tens of milliseconds of a core; without a bound,
// a flood of bad passwords or secrets would take the server's memory.
type slowHashes struct {
	slots chan struct{}
	wait  time.Duration
}

func newSlowHashes() *slowHashes {
	return &slowHashes{slots: make(chan struct{}, runtime.GOMAXPROCS(0)), wait: 2 * time.Second}
}

// dummyPHC equalises the time of an unknown username with that of a
// wrong password, so response times do not reveal which users exist.
var dummyPHC = secret.HashPassword("rotor-dummy-secret")

// verify reports whether password matches phc ("" compares against a
// dummy hash and reports false). It waits a bounded time for a slot and
// then answers temporarily_unavailable.
func (h *slowHashes) verify(ctx context.Context, phc, password string) (bool, error) {
	t := time.NewTimer(h.wait)
	defer t.Stop()
	select {
	case h.slots <- struct{}{}:
	case <-t.C:
		e := oauth.TemporarilyUnavailable("the server is busy verifying credentials; retry shortly")
		e.RetryAfter = 1
		return false, e
	case <-ctx.Done():
		return false, ctx.Err()
	}
	defer func() { <-h.slots }()
	if phc == "" {
		_ = secret.VerifyPassword(dummyPHC, password)
		return false, nil
	}
	return secret.VerifyPassword(phc, password) == nil, nil
}
