package secret

import (
	"context"
	"errors"
	"runtime"
	"time"
)

// ErrBusy is returned by [Verifier.Verify] when every slot stayed taken
// for the verifier's wait: the caller answers "try again shortly" rather
// than queueing without bound.
var ErrBusy = errors.New("secret: too many password verifications at once")

// Verifier bounds how many argon2id verifications run at once. Each takes
// about 19 MiB and tens of milliseconds of a core; without a bound, a
// flood of bad passwords or secrets would take the server's memory. One
// Verifier is shared by everything that checks passwords and chosen
// client secrets, so the bound holds for the process. It is safe for
// concurrent use.
type Verifier struct {
	slots chan struct{}
	wait  time.Duration
}

// NewVerifier returns a Verifier with one slot per CPU that waits at most
// wait for a slot (2 s when wait is zero).
func NewVerifier(wait time.Duration) *Verifier {
	if wait <= 0 {
		wait = 2 * time.Second
	}
	return &Verifier{slots: make(chan struct{}, runtime.GOMAXPROCS(0)), wait: wait}
}

// dummyPHC equalises the time of an unknown name with that of a wrong
// password, so response times do not reveal which users exist.
var dummyPHC = HashPassword("rotor-dummy-secret")

// Verify reports whether password matches phc ("" compares against a
// dummy hash and reports false, in the same time). It waits a bounded
// time for a slot and then returns ErrBusy.
func (v *Verifier) Verify(ctx context.Context, phc, password string) (bool, error) {
	t := time.NewTimer(v.wait)
	defer t.Stop()
	select {
	case v.slots <- struct{}{}:
	case <-t.C:
		return false, ErrBusy
	case <-ctx.Done():
		return false, ctx.Err()
	}
	defer func() { <-v.slots }()
	if phc == "" {
		_ = VerifyPassword(dummyPHC, password)
		return false, nil
	}
	return VerifyPassword(phc, password) == nil, nil
}
