package postgres

import (
	"context"
	"errors"
	"slices"
	"time"

	"github.com/rotor-auth/rotor/internal/store"
)

const familyCols = `id, client_id, subject, scopes, dpop_jkt, generation, live_hash,
	prev_hash, rotated_at, grace_sealed, grace_until, created_at, last_used_at,
	expires_at, absolute_expires_at, last_ip, last_user_agent, revoked_at, revoke_reason,
	session_id, auth_time, verifier_hash`

func scanFamily(s scanner) (*store.Family, error) {
	var (
		f                                  store.Family
		scopes                             []string
		generation                         int64
		rotated, graceUntil, created, used *time.Time
		expires, absolute, revoked         *time.Time
		authTime                           *time.Time
	)
	err := s.Scan(&f.ID, &f.ClientID, &f.Subject, &scopes, &f.DPoPJKT, &generation, &f.LiveHash,
		&f.PrevHash, &rotated, &f.GraceSealed, &graceUntil, &created, &used,
		&expires, &absolute, &f.LastIP, &f.LastUserAgent, &revoked, &f.RevokeReason,
		&f.SessionID, &authTime, &f.VerifierHash)
	if err != nil {
		return nil, mapErr(err)
	}
	f.Scopes = listOut(scopes)
	f.Generation = uint64(generation) // never negative: written by genIn
	f.LiveHash, f.PrevHash, f.GraceSealed = bytesOut(f.LiveHash), bytesOut(f.PrevHash), bytesOut(f.GraceSealed)
	f.VerifierHash = bytesOut(f.VerifierHash)
	f.RotatedAt, f.GraceUntil, f.CreatedAt, f.LastUsedAt = timeOut(rotated), timeOut(graceUntil), timeOut(created), timeOut(used)
	f.ExpiresAt, f.AbsoluteExpiresAt, f.RevokedAt = timeOut(expires), timeOut(absolute), timeOut(revoked)
	f.AuthTime = timeOut(authTime)
	return &f, nil
}

// familyColumns are the columns of a family's row and their values.
func familyColumns(f *store.Family) ([]column, error) {
	gen, err := genIn(f.Generation)
	if err != nil {
		return nil, err
	}
	return []column{
		{"id", f.ID},
		{"client_id", f.ClientID},
		{"subject", f.Subject},
		{"scopes", listIn(f.Scopes)},
		{"dpop_jkt", f.DPoPJKT},
		{"generation", gen},
		{"live_hash", f.LiveHash},
		{"prev_hash", f.PrevHash},
		{"rotated_at", timeIn(f.RotatedAt)},
		{"grace_sealed", f.GraceSealed},
		{"grace_until", timeIn(f.GraceUntil)},
		{"created_at", timeIn(f.CreatedAt)},
		{"last_used_at", timeIn(f.LastUsedAt)},
		{"expires_at", timeIn(f.ExpiresAt)},
		{"absolute_expires_at", timeIn(f.AbsoluteExpiresAt)},
		{"last_ip", f.LastIP},
		{"last_user_agent", f.LastUserAgent},
		{"revoked_at", timeIn(f.RevokedAt)},
		{"revoke_reason", f.RevokeReason},
		{"session_id", f.SessionID},
		{"auth_time", timeIn(f.AuthTime)},
		{"verifier_hash", f.VerifierHash},
	}, nil
}

// familyFixed are the columns of a family that never change after it is
// created.
var familyFixed = []string{"client_id", "subject", "created_at", "absolute_expires_at"}

// CreateFamily inserts a family; [store.ErrConflict] if the id exists.
func (q *queries) CreateFamily(ctx context.Context, f *store.Family) error {
	cols, err := familyColumns(f)
	if err != nil {
		return err
	}
	query, args := insertSQL("families", cols)
	return insertResult(q.q.Exec(ctx, query+" ON CONFLICT DO NOTHING", args...))
}

// GetFamily returns a family without locking it; [store.ErrNotFound] if
// there is none.
func (q *queries) GetFamily(ctx context.Context, id string) (*store.Family, error) {
	return scanFamily(q.q.QueryRow(ctx, `SELECT `+familyCols+` FROM families WHERE id = $1`, id))
}

// LockFamily returns a family and, inside [DB.Tx], holds its row lock until
// the transaction ends, on every replica; [store.ErrNotFound] if there is
// none. Outside a transaction it is [queries.GetFamily].
func (q *queries) LockFamily(ctx context.Context, id string) (*store.Family, error) {
	if !q.inTx {
		return q.GetFamily(ctx, id)
	}
	return scanFamily(q.q.QueryRow(ctx, `SELECT `+familyCols+` FROM families WHERE id = $1 FOR UPDATE`, id))
}

// UpdateFamily overwrites the mutable fields of a family (all but ID,
// ClientID, Subject, CreatedAt and AbsoluteExpiresAt); [store.ErrNotFound]
// if there is none.
func (q *queries) UpdateFamily(ctx context.Context, f *store.Family) error {
	cols, err := familyColumns(f)
	if err != nil {
		return err
	}
	query, args := updateSQL("families", "id", familyFixed, cols)
	return oneRow(q.q.Exec(ctx, query, args...))
}

// RevokeFamilies revokes, in one statement, every family not yet revoked
// of the filter's ClientID, Subject and SessionID, clears their
// GraceSealed, and returns their ids in increasing order. An empty filter
// is refused.
func (q *queries) RevokeFamilies(ctx context.Context, filter store.FamilyFilter, reason string, at time.Time) ([]string, error) {
	if filter.ClientID == "" && filter.Subject == "" && filter.SessionID == "" {
		return nil, errors.New("postgres: RevokeFamilies needs a client, a subject or a session")
	}
	if at.IsZero() {
		// A NULL revoked_at would read back as live.
		return nil, errors.New("postgres: RevokeFamilies needs a revocation time")
	}
	w := where{args: []any{timeIn(at), reason}}
	w.add("revoked_at IS NULL")
	filterFamilies(&w, filter)
	// The rows are locked in id order first, so that two bulk revocations,
	// or one and a refresh, cannot deadlock on each other's rows.
	ids, err := list(ctx, q.q, scanString, `UPDATE families SET revoked_at = $1,
		revoke_reason = $2, grace_sealed = NULL
		WHERE id IN (SELECT id FROM families`+w.sql()+` ORDER BY id FOR UPDATE)
		RETURNING id`, w.args...)
	if err != nil {
		return nil, err
	}
	slices.Sort(ids)
	return ids, nil
}

// RevokeFamily revokes one family if it is not revoked yet, clears its
// GraceSealed, and reports whether it did; [store.ErrNotFound] if there is
// none.
func (q *queries) RevokeFamily(ctx context.Context, id, reason string, at time.Time) (bool, error) {
	if at.IsZero() {
		return false, errors.New("postgres: RevokeFamily needs a revocation time")
	}
	tag, err := q.q.Exec(ctx, `UPDATE families SET revoked_at = $2, revoke_reason = $3,
		grace_sealed = NULL WHERE id = $1 AND revoked_at IS NULL`, id, timeIn(at), reason)
	if err != nil {
		return false, mapErr(err)
	}
	if tag.RowsAffected() == 1 {
		return true, nil
	}
	// Rare path: tell an already revoked family from a missing one.
	var exists bool
	if err := q.q.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM families WHERE id = $1)`, id).Scan(&exists); err != nil {
		return false, mapErr(err)
	}
	if !exists {
		return false, store.ErrNotFound
	}
	return false, nil
}

// ListFamilies returns the matching families, least recently used first.
func (q *queries) ListFamilies(ctx context.Context, filter store.FamilyFilter) ([]store.Family, error) {
	var w where
	filterFamilies(&w, filter)
	if filter.LiveOnly {
		w.add("revoked_at IS NULL AND expires_at > %s", filter.Now)
		w.add("absolute_expires_at > %s", filter.Now)
	}
	// A zero LastUsedAt is NULL and sorts first, as the zero time would.
	sql := `SELECT ` + familyCols + ` FROM families` + w.sql() + ` ORDER BY last_used_at NULLS FIRST, id`
	if filter.Limit > 0 {
		sql += w.arg(" LIMIT %s", filter.Limit)
	}
	return list(ctx, q.q, scanFamily, sql, w.args...)
}

// filterFamilies adds the conditions of filter's ClientID, Subject and
// SessionID to w.
func filterFamilies(w *where, filter store.FamilyFilter) {
	if filter.ClientID != "" {
		w.add("client_id = %s", filter.ClientID)
	}
	if filter.Subject != "" {
		w.add("subject = %s", filter.Subject)
	}
	if filter.SessionID != "" {
		// The partial index's own condition, spelt out so that a generic
		// plan, which cannot see the parameter, may still use the index.
		w.add("session_id <> '' AND session_id = %s", filter.SessionID)
	}
}

// CountFamilies returns the number of families in the store.
func (q *queries) CountFamilies(ctx context.Context) (int64, error) {
	var n int64
	if err := q.q.QueryRow(ctx, `SELECT count(*) FROM families`).Scan(&n); err != nil {
		return 0, mapErr(err)
	}
	return n, nil
}

// DeleteExpiredFamilies deletes at most limit families whose absolute
// expiry is at or before now, and returns how many it deleted.
func (q *queries) DeleteExpiredFamilies(ctx context.Context, now time.Time, limit int) (int, error) {
	if err := checkLimit(limit); err != nil {
		return 0, err
	}
	// SKIP LOCKED: the janitors of several replicas split the work, and a
	// family locked by a refresh in flight waits for the next sweep rather
	// than stalling this one.
	return rowCount(q.q.Exec(ctx, `DELETE FROM families WHERE id IN (
		SELECT id FROM families
		WHERE absolute_expires_at <= $1 OR absolute_expires_at IS NULL
		LIMIT $2 FOR UPDATE SKIP LOCKED)`, now, limit))
}

// ClearExpiredGrace wipes GraceSealed from at most limit families whose
// GraceUntil is at or before now, and returns how many it cleared.
func (q *queries) ClearExpiredGrace(ctx context.Context, now time.Time, limit int) (int, error) {
	if err := checkLimit(limit); err != nil {
		return 0, err
	}
	return rowCount(q.q.Exec(ctx, `UPDATE families SET grace_sealed = NULL WHERE id IN (
		SELECT id FROM families
		WHERE grace_sealed IS NOT NULL AND (grace_until <= $1 OR grace_until IS NULL)
		LIMIT $2 FOR UPDATE SKIP LOCKED)`, now, limit))
}
