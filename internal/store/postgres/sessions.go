package postgres

import (
	"context"
	"errors"
	"regexp"
	"slices"
	"time"

	"github.com/rotor-auth/rotor/internal/store"
)

const sessionCols = `id, hash, subject, auth_time, created_at, last_seen_at, expires_at,
	absolute_expires_at, ip, user_agent, ended_at, end_reason`

func scanSession(s scanner) (*store.Session, error) {
	var (
		se                                       store.Session
		authTime, created, seen, exp, abs, ended *time.Time
	)
	if err := s.Scan(&se.ID, &se.Hash, &se.Subject, &authTime, &created, &seen, &exp, &abs,
		&se.IP, &se.UserAgent, &ended, &se.EndReason); err != nil {
		return nil, mapErr(err)
	}
	se.Hash = bytesOut(se.Hash)
	se.AuthTime, se.CreatedAt, se.LastSeenAt = timeOut(authTime), timeOut(created), timeOut(seen)
	se.ExpiresAt, se.AbsoluteExpiresAt, se.EndedAt = timeOut(exp), timeOut(abs), timeOut(ended)
	return &se, nil
}

// sessionColumns are the columns of a session's row and their values.
func sessionColumns(s *store.Session) []column {
	return []column{
		{"id", s.ID},
		{"hash", s.Hash},
		{"subject", s.Subject},
		{"auth_time", timeIn(s.AuthTime)},
		{"created_at", timeIn(s.CreatedAt)},
		{"last_seen_at", timeIn(s.LastSeenAt)},
		{"expires_at", timeIn(s.ExpiresAt)},
		{"absolute_expires_at", timeIn(s.AbsoluteExpiresAt)},
		{"ip", s.IP},
		{"user_agent", s.UserAgent},
		{"ended_at", timeIn(s.EndedAt)},
		{"end_reason", s.EndReason},
	}
}

// sessionFixed are the columns of a session that never change after it
// is created.
var sessionFixed = []string{"hash", "subject", "created_at", "absolute_expires_at"}

// CreateSession inserts a session; [store.ErrConflict] if its id or hash
// exists. DO NOTHING without a target covers both unique keys, and no
// unique-violation detail, which would quote the hash, reaches an error.
func (q *queries) CreateSession(ctx context.Context, s *store.Session) error {
	query, args := insertSQL("sessions", sessionColumns(s))
	return insertResult(q.q.Exec(ctx, query+" ON CONFLICT DO NOTHING", args...))
}

// GetSession returns a session by id; [store.ErrNotFound] if there is none.
func (q *queries) GetSession(ctx context.Context, id string) (*store.Session, error) {
	return scanSession(q.q.QueryRow(ctx, `SELECT `+sessionCols+` FROM sessions WHERE id = $1`, id))
}

// GetSessionByHash returns the session of a cookie's hash;
// [store.ErrNotFound] if there is none.
func (q *queries) GetSessionByHash(ctx context.Context, hash []byte) (*store.Session, error) {
	return scanSession(q.q.QueryRow(ctx, `SELECT `+sessionCols+` FROM sessions WHERE hash = $1`, hash))
}

// UpdateSession writes the mutable fields of a session; [store.ErrNotFound]
// if there is none.
func (q *queries) UpdateSession(ctx context.Context, s *store.Session) error {
	query, args := updateSQL("sessions", "id", sessionFixed, sessionColumns(s))
	return oneRow(q.q.Exec(ctx, stickyEnd(query), args...))
}

var (
	setEndedAt   = regexp.MustCompile(`\bended_at = (\$\d+)`)
	setEndReason = regexp.MustCompile(`\bend_reason = (\$\d+)`)
)

// stickyEnd makes an UPDATE of a session keep an end that is stored: the
// right-hand sides of SET read the row as it was before the statement.
func stickyEnd(query string) string {
	query = setEndReason.ReplaceAllString(query, "end_reason = CASE WHEN sessions.ended_at IS NULL THEN $1 ELSE sessions.end_reason END")
	return setEndedAt.ReplaceAllString(query, "ended_at = COALESCE(sessions.ended_at, $1)")
}

// LockSession returns a session and, inside [DB.Tx], holds its row lock
// until the transaction ends; outside a transaction it only reads.
func (q *queries) LockSession(ctx context.Context, id string) (*store.Session, error) {
	query := `SELECT ` + sessionCols + ` FROM sessions WHERE id = $1`
	if q.inTx {
		query += ` FOR UPDATE`
	}
	return scanSession(q.q.QueryRow(ctx, query, id))
}

// ListSessions returns a user's live sessions, most recently seen first.
func (q *queries) ListSessions(ctx context.Context, subject string, now time.Time) ([]store.Session, error) {
	return list(ctx, q.q, scanSession, `SELECT `+sessionCols+` FROM sessions
		WHERE subject = $1 AND ended_at IS NULL AND expires_at > $2 AND absolute_expires_at > $2
		ORDER BY last_seen_at DESC NULLS LAST, id`, subject, now)
}

// EndSessions ends, in one statement, every session of subject not yet
// ended, and returns their ids in increasing order.
func (q *queries) EndSessions(ctx context.Context, subject, reason string, at time.Time) ([]string, error) {
	if at.IsZero() {
		// A NULL ended_at would read back as live.
		return nil, errors.New("postgres: EndSessions needs an end time")
	}
	// The rows are locked in id order first, as RevokeFamilies does, so
	// that two sign-outs everywhere of one user cannot deadlock.
	ids, err := list(ctx, q.q, scanString, `UPDATE sessions SET ended_at = $1, end_reason = $2
		WHERE id IN (SELECT id FROM sessions WHERE subject = $3 AND ended_at IS NULL ORDER BY id FOR UPDATE)
		RETURNING id`, timeIn(at), reason, subject)
	if err != nil {
		return nil, err
	}
	slices.Sort(ids)
	return ids, nil
}

// DeleteExpiredSessions deletes at most limit sessions ended or expired
// at or before before (one without an expiry counts as expired).
func (q *queries) DeleteExpiredSessions(ctx context.Context, before time.Time, limit int) (int, error) {
	if err := checkLimit(limit); err != nil {
		return 0, err
	}
	return rowCount(q.q.Exec(ctx, `DELETE FROM sessions WHERE id IN (
		SELECT id FROM sessions
		WHERE ended_at <= $1 OR expires_at <= $1 OR absolute_expires_at <= $1
			OR expires_at IS NULL OR absolute_expires_at IS NULL
		LIMIT $2 FOR UPDATE SKIP LOCKED)`, before, limit))
}
