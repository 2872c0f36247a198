package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"slices"
	"strings"
	"time"

	"github.com/rotor-auth/rotor/internal/store"
)

const sessionCols = `id, hash, subject, auth_time, created_at, last_seen_at, expires_at,
	absolute_expires_at, ip, user_agent, ended_at, end_reason`

func scanSession(s scanner) (*store.Session, error) {
	var (
		se                                       store.Session
		authTime, created, seen, exp, abs, ended sql.NullInt64
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
// exists (the constraint error names the column, not the hash).
func (q *queries) CreateSession(ctx context.Context, s *store.Session) error {
	query, args := insertSQL("sessions", sessionColumns(s))
	_, err := q.w.ExecContext(ctx, query, args...)
	return mapErr(err)
}

// GetSession returns a session by id; [store.ErrNotFound] if there is none.
func (q *queries) GetSession(ctx context.Context, id string) (*store.Session, error) {
	return scanSession(q.r.QueryRowContext(ctx, `SELECT `+sessionCols+` FROM sessions WHERE id = ?`, id))
}

// GetSessionByHash returns the session of a cookie's hash;
// [store.ErrNotFound] if there is none.
func (q *queries) GetSessionByHash(ctx context.Context, hash []byte) (*store.Session, error) {
	return scanSession(q.r.QueryRowContext(ctx, `SELECT `+sessionCols+` FROM sessions WHERE hash = ?`, hash))
}

// UpdateSession writes the mutable fields of a session.
func (q *queries) UpdateSession(ctx context.Context, s *store.Session) error {
	query, args := updateSQL("sessions", "id", sessionFixed, sessionColumns(s))
	return oneRow(q.w.ExecContext(ctx, stickyEnd(query), args...))
}

// stickyEnd makes an UPDATE of a session keep an end that is stored: the
// right-hand sides of SET read the row as it was before the statement.
func stickyEnd(query string) string {
	query = strings.Replace(query, "end_reason = ?", "end_reason = CASE WHEN ended_at IS NULL THEN ? ELSE end_reason END", 1)
	return strings.Replace(query, "ended_at = ?", "ended_at = COALESCE(ended_at, ?)", 1)
}

// LockSession reads a session on the writer connection: inside [DB.Tx]
// the transaction already holds the database write lock (BEGIN
// IMMEDIATE), which serialises it with every other writer.
func (q *queries) LockSession(ctx context.Context, id string) (*store.Session, error) {
	return scanSession(q.w.QueryRowContext(ctx, `SELECT `+sessionCols+` FROM sessions WHERE id = ?`, id))
}

// ListSessions returns a user's live sessions, most recently seen first.
func (q *queries) ListSessions(ctx context.Context, subject string, now time.Time) ([]store.Session, error) {
	n := timeIn(now)
	return list(ctx, q.r, scanSession, `SELECT `+sessionCols+` FROM sessions
		WHERE subject = ? AND ended_at IS NULL AND expires_at > ? AND absolute_expires_at > ?
		ORDER BY last_seen_at DESC, id`, subject, n, n)
}

// EndSessions ends, in one statement, every session of subject not yet
// ended, and returns their ids in increasing order.
func (q *queries) EndSessions(ctx context.Context, subject, reason string, at time.Time) ([]string, error) {
	if at.IsZero() {
		// A NULL ended_at would read back as live.
		return nil, errors.New("sqlite: EndSessions needs an end time")
	}
	ids, err := list(ctx, q.w, scanString, `UPDATE sessions SET ended_at = ?, end_reason = ?
		WHERE subject = ? AND ended_at IS NULL RETURNING id`, timeIn(at), reason, subject)
	if err != nil {
		return nil, err
	}
	slices.Sort(ids)
	return ids, nil
}

// DeleteExpiredSessions deletes at most limit sessions ended or expired
// at or before before (one without an expiry counts as expired).
func (q *queries) DeleteExpiredSessions(ctx context.Context, before time.Time, limit int) (int, error) {
	b := timeIn(before)
	return rowCount(q.w.ExecContext(ctx, `DELETE FROM sessions WHERE id IN (
		SELECT id FROM sessions WHERE ended_at <= ? OR expires_at <= ? OR absolute_expires_at <= ?
			OR expires_at IS NULL OR absolute_expires_at IS NULL
		LIMIT ?)`, b, b, b, limit))
}
