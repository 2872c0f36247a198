package client

import (
	"context"
	"sync"

	"golang.org/x/oauth2"
)

// Store keeps the token between runs. The refresh token in it is the only
// way back into the session, and the server accepts only the newest one, so
// Save must be durable when it returns nil.
//
// Both methods are called by one [Source] at a time, but several Sources
// (in one process or many) may share a store; implementations must be safe
// for concurrent use. Tokens passed to Save and returned by Load are not
// modified afterwards by the caller.
type Store interface {
	// Load returns the stored token, or an error wrapping [ErrNoToken] if
	// there is none.
	Load(ctx context.Context) (*oauth2.Token, error)
	// Save replaces the stored token.
	Save(ctx context.Context, tok *oauth2.Token) error
}

// Locker is implemented by stores that several Sources or processes share.
// A [Source] holds the lock from the moment it loads the token until it has
// saved the successor, so that only one of them refreshes a given refresh
// token: the others wait, load the successor and use it. Without the lock,
// two processes could each present the same refresh token, and outside the
// server's reuse grace period the second one would be taken for a replay,
// revoking the session.
//
// Code that writes a fresh sign-in to a shared store while other processes
// may be refreshing should hold the lock while it saves.
type Locker interface {
	// Lock blocks until the caller holds the lock or ctx is done, and
	// returns the function that releases it. The lock is not reentrant.
	Lock(ctx context.Context) (unlock func() error, err error)
}

// Clearer is implemented by stores that can forget their token. After the
// server refuses the refresh token with invalid_grant, a [Source] clears
// the store (holding the lock if the store is a [Locker]) so that no
// process sharing it presents the dead token again; Load then reports
// [ErrNoToken] until someone signs in again.
type Clearer interface {
	// Clear removes the stored token; clearing an empty store is not an
	// error.
	Clear(ctx context.Context) error
}

// MemoryStore is a [Store] in memory, for tests and for programs that sign
// in on every start. It implements [Locker] and [Clearer], so Sources that
// share it behave like processes that share a [FileStore].
type MemoryStore struct {
	mu   sync.Mutex
	tok  *oauth2.Token
	lock chan struct{}
}

// NewMemoryStore returns a MemoryStore holding tok, which may be nil. The
// zero MemoryStore is an empty store, ready to use.
func NewMemoryStore(tok *oauth2.Token) *MemoryStore {
	return &MemoryStore{tok: tok}
}

var (
	_ Store   = (*MemoryStore)(nil)
	_ Locker  = (*MemoryStore)(nil)
	_ Clearer = (*MemoryStore)(nil)
)

// Load returns the token, or [ErrNoToken].
func (m *MemoryStore) Load(context.Context) (*oauth2.Token, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.tok == nil {
		return nil, ErrNoToken
	}
	return m.tok, nil
}

// Save replaces the token.
func (m *MemoryStore) Save(_ context.Context, tok *oauth2.Token) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.tok = tok
	return nil
}

// Clear forgets the token.
func (m *MemoryStore) Clear(context.Context) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.tok = nil
	return nil
}

// Lock takes the store's lock; see [Locker].
func (m *MemoryStore) Lock(ctx context.Context) (func() error, error) {
	m.mu.Lock()
	if m.lock == nil {
		m.lock = make(chan struct{}, 1)
	}
	lock := m.lock
	m.mu.Unlock()
	select {
	case lock <- struct{}{}:
		var once sync.Once
		return func() error {
			once.Do(func() { <-lock })
			return nil
		}, nil
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}
