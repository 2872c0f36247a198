package secret

import (
	"context"
	"errors"
	"runtime"
	"sync"
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
//
// It is fair between sources (the caller's address): one source holds at
// most half the slots (at least one), so a flood from one address cannot
// take every slot from the others.
type Verifier struct {
	slots chan struct{}
	wait  time.Duration

	mu      sync.Mutex
	sources map[string]chan struct{} // per source, its share of the slots
	users   map[string]int           // per source, the callers holding or waiting
	share   int
	typical time.Duration // moving average of a verification's duration
}

// Typical is how long one verification takes these days (a moving
// average; 50 ms before the first). Callers that must not tell a wrong
// secret from an unknown name by the time they answer wait this long
// for both.
func (v *Verifier) Typical() time.Duration {
	v.mu.Lock()
	defer v.mu.Unlock()
	if v.typical == 0 {
		return 50 * time.Millisecond
	}
	return v.typical
}

func (v *Verifier) took(d time.Duration) {
	v.mu.Lock()
	defer v.mu.Unlock()
	if v.typical == 0 {
		v.typical = d
		return
	}
	v.typical += (d - v.typical) / 8
}

// NewVerifier returns a Verifier with one slot per CPU that waits at most
// wait for a slot (2 s when wait is zero).
func NewVerifier(wait time.Duration) *Verifier {
	if wait <= 0 {
		wait = 2 * time.Second
	}
	n := runtime.GOMAXPROCS(0)
	return &Verifier{slots: make(chan struct{}, n), wait: wait, sources: map[string]chan struct{}{}, share: max(1, n/2)}
}

// source returns the semaphore of a source, counting one more user of it.
func (v *Verifier) source(name string) (chan struct{}, func()) {
	v.mu.Lock()
	defer v.mu.Unlock()
	if v.sources == nil {
		v.sources = map[string]chan struct{}{}
	}
	sem, ok := v.sources[name]
	if !ok {
		sem = make(chan struct{}, max(1, v.share))
		v.sources[name] = sem
	}
	users := v.users[name] + 1
	if v.users == nil {
		v.users = map[string]int{}
	}
	v.users[name] = users
	return sem, func() {
		v.mu.Lock()
		defer v.mu.Unlock()
		if v.users[name]--; v.users[name] == 0 {
			delete(v.users, name)
			delete(v.sources, name)
		}
	}
}

// dummyPHC equalises the time of an unknown name with that of a wrong
// password, so response times do not reveal which users exist.
var dummyPHC = HashPassword("rotor-dummy-secret")

// Verify reports whether password matches phc ("" compares against a
// dummy hash and reports false, in the same time). source names the
// caller (its address) for fairness. It waits a bounded time for its
// source's share and a slot, and then returns ErrBusy.
func (v *Verifier) Verify(ctx context.Context, source, phc, password string) (bool, error) {
	t := time.NewTimer(v.wait)
	defer t.Stop()
	sem, done := v.source(source)
	defer done()
	select {
	case sem <- struct{}{}:
	case <-t.C:
		return false, ErrBusy
	case <-ctx.Done():
		return false, ctx.Err()
	}
	defer func() { <-sem }()
	select {
	case v.slots <- struct{}{}:
	case <-t.C:
		return false, ErrBusy
	case <-ctx.Done():
		return false, ctx.Err()
	}
	defer func() { <-v.slots }()
	start := time.Now()
	defer func() { v.took(time.Since(start)) }()
	if phc == "" {
		_ = VerifyPassword(dummyPHC, password)
		return false, nil
	}
	return VerifyPassword(phc, password) == nil, nil
}
