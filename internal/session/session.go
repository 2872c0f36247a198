package session

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/rotor-auth/rotor/internal/audit"
	"github.com/rotor-auth/rotor/internal/family"
	"github.com/rotor-auth/rotor/internal/secret"
	"github.com/rotor-auth/rotor/internal/store"
)

// Lifetimes of a browser session: it ends after IdleTTL without use, and
// after AbsoluteTTL whatever happens; a person then signs in again.
const (
	IdleTTL     = 12 * time.Hour
	AbsoluteTTL = 14 * 24 * time.Hour
	// touchEvery bounds the writes a busy session costs: its idle expiry
	// slides at most once a minute.
	touchEvery = time.Minute
)

// Prefix starts every cookie value, so that secret scanners recognise a
// leaked one. MaxCookieLen caps what is read from a browser.
const (
	Prefix       = "rs_"
	MaxCookieLen = 128
)

// ErrNoSession: the cookie names no live session (unknown, ended or
// expired, or not a cookie of ours).
var ErrNoSession = errors.New("session: no live session")

// Service starts, finds and ends browser sessions. It is safe for
// concurrent use.
type Service struct {
	st       store.Store
	keys     *secret.Keys
	families *family.Service
	now      func() time.Time
}

// New returns a Service; now is the clock.
func New(st store.Store, keys *secret.Keys, families *family.Service, now func() time.Time) *Service {
	return &Service{st: st, keys: keys, families: families, now: now}
}

// Start records a sign-in of u, who has just entered their password, and
// returns the cookie value to send to the browser with the session row.
// prev is the browser's live session and prevCookie its cookie, or nil and
// "". The same user signing in again (prompt=login, max_age) keeps the
// session and its cookie, with a new auth_time, so that a later logout
// still ends every grant made in it; anyone else gets a new session and a
// new cookie, and prev ends (with its families): a cookie planted before
// a sign-in is worthless after it (session fixation).
func (s *Service) Start(ctx context.Context, u *store.User, prev *store.Session, prevCookie string, m audit.Meta) (string, *store.Session, error) {
	now := s.now()
	m = m.At(now)
	if prev != nil && prev.Subject == u.ID && prevCookie != "" {
		sess := *prev
		sess.AuthTime, sess.LastSeenAt = now, now
		sess.ExpiresAt = earliest(now.Add(IdleTTL), sess.AbsoluteExpiresAt)
		sess.IP, sess.UserAgent = m.IP, m.UserAgent
		if err := s.st.UpdateSession(ctx, &sess); err != nil {
			return "", nil, fmt.Errorf("session: sign in again: %w", err)
		}
		return prevCookie, &sess, nil
	}
	cookie := Prefix + random()
	sess := &store.Session{
		ID:                secret.NewID(),
		Hash:              s.keys.Hash(cookie),
		Subject:           u.ID,
		AuthTime:          now,
		CreatedAt:         now,
		LastSeenAt:        now,
		ExpiresAt:         now.Add(IdleTTL),
		AbsoluteExpiresAt: now.Add(AbsoluteTTL),
		IP:                m.IP,
		UserAgent:         m.UserAgent,
	}
	err := s.st.Tx(ctx, func(tx store.Tx) error {
		if prev != nil {
			if _, err := s.endIn(ctx, tx, prev.ID, audit.ReasonLogout, m); err != nil {
				return err
			}
		}
		if err := tx.CreateSession(ctx, sess); err != nil {
			return err
		}
		return tx.AppendEvents(ctx, audit.NewSessionStarted(m, sess))
	})
	if err != nil {
		return "", nil, fmt.Errorf("session: start: %w", err)
	}
	return cookie, sess, nil
}

// Lookup returns the live session of a cookie value, sliding its idle
// expiry; ErrNoSession when there is none.
func (s *Service) Lookup(ctx context.Context, cookie string, m audit.Meta) (*store.Session, error) {
	if cookie == "" || len(cookie) > MaxCookieLen || !strings.HasPrefix(cookie, Prefix) {
		return nil, ErrNoSession
	}
	sess, err := s.st.GetSessionByHash(ctx, s.keys.Hash(cookie))
	if errors.Is(err, store.ErrNotFound) {
		return nil, ErrNoSession
	}
	if err != nil {
		return nil, fmt.Errorf("session: lookup: %w", err)
	}
	now := s.now()
	if !Live(sess, now) {
		return nil, ErrNoSession
	}
	if now.Sub(sess.LastSeenAt) >= touchEvery {
		sess.LastSeenAt = now
		sess.ExpiresAt = earliest(now.Add(IdleTTL), sess.AbsoluteExpiresAt)
		sess.IP, sess.UserAgent = m.IP, m.UserAgent
		if err := s.st.UpdateSession(ctx, sess); err != nil {
			return nil, fmt.Errorf("session: touch: %w", err)
		}
	}
	return sess, nil
}

// Live reports whether a session is usable at now.
func Live(sess *store.Session, now time.Time) bool {
	return !sess.Ended() && now.Before(sess.ExpiresAt) && now.Before(sess.AbsoluteExpiresAt)
}

// End ends session id and revokes the families created in it, in one
// transaction, and returns how many families ended. Ending a session that
// has ended already changes nothing.
func (s *Service) End(ctx context.Context, id string, reason audit.Reason, m audit.Meta) (int, error) {
	n, err := store.Do(ctx, s.st, func(tx store.Tx) (int, error) {
		return s.endIn(ctx, tx, id, reason, m)
	})
	if err != nil {
		return 0, fmt.Errorf("session: end: %w", err)
	}
	return n, nil
}

func (s *Service) endIn(ctx context.Context, tx store.Tx, id string, reason audit.Reason, m audit.Meta) (int, error) {
	// The session's row lock first, then its families: a code redeemed
	// in this session holds the same lock while it creates its family,
	// so that family is either seen here and revoked, or never created.
	sess, err := tx.LockSession(ctx, id)
	if errors.Is(err, store.ErrNotFound) {
		return 0, nil
	}
	if err != nil {
		return 0, err
	}
	now := s.now()
	m = m.At(now)
	wasLive := !sess.Ended()
	if wasLive {
		sess.EndedAt, sess.EndReason = now, string(reason)
		if err := tx.UpdateSession(ctx, sess); err != nil {
			return 0, err
		}
	}
	ids, err := s.families.RevokeWhereIn(ctx, tx, store.FamilyFilter{SessionID: id}, audit.ReasonLogout, m)
	if err != nil {
		return 0, err
	}
	if !wasLive {
		return len(ids), nil
	}
	return len(ids), tx.AppendEvents(ctx, audit.NewSessionEnded(m, sess, reason, len(ids)))
}

// Find returns the session of a cookie value whether or not it is still
// usable, so that a logout ends (and revokes the grants of) a session
// that went idle too; ErrNoSession when the cookie names none.
func (s *Service) Find(ctx context.Context, cookie string) (*store.Session, error) {
	if cookie == "" || len(cookie) > MaxCookieLen || !strings.HasPrefix(cookie, Prefix) {
		return nil, ErrNoSession
	}
	sess, err := s.st.GetSessionByHash(ctx, s.keys.Hash(cookie))
	if errors.Is(err, store.ErrNotFound) {
		return nil, ErrNoSession
	}
	if err != nil {
		return nil, fmt.Errorf("session: find: %w", err)
	}
	return sess, nil
}

func random() string {
	b := make([]byte, 32)
	rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}

func earliest(a, b time.Time) time.Time {
	if a.Before(b) {
		return a
	}
	return b
}
