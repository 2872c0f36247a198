package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"time"

	"github.com/rotor-auth/rotor/internal/store"
)

const familyCols = `id, client_id, subject, scopes, dpop_jkt, generation, live_hash, prev_hash,
	rotated_at, grace_sealed, grace_until, created_at, last_used_at, expires_at,
	absolute_expires_at, last_ip, last_user_agent, revoked_at, revoke_reason, session_id, auth_time, verifier_hash`

func scanFamily(s scanner) (*store.Family, error) {
	var (
		f                                                     store.Family
		scopes                                                string
		gen                                                   int64
		rotated, graceUntil, created, used, exp, abs, revoked sql.NullInt64
		authTime                                              sql.NullInt64
	)
	if err := s.Scan(&f.ID, &f.ClientID, &f.Subject, &scopes, &f.DPoPJKT, &gen, &f.LiveHash, &f.PrevHash,
		&rotated, &f.GraceSealed, &graceUntil, &created, &used, &exp, &abs, &f.LastIP, &f.LastUserAgent,
		&revoked, &f.RevokeReason, &f.SessionID, &authTime, &f.VerifierHash); err != nil {
		return nil, mapErr(err)
	}
	f.Scopes = listOut(scopes)
	f.Generation = uint64(gen)
	f.LiveHash, f.PrevHash, f.GraceSealed = bytesOut(f.LiveHash), bytesOut(f.PrevHash), bytesOut(f.GraceSealed)
	f.VerifierHash = bytesOut(f.VerifierHash)
	f.RotatedAt, f.GraceUntil, f.CreatedAt = timeOut(rotated), timeOut(graceUntil), timeOut(created)
	f.LastUsedAt, f.ExpiresAt, f.AbsoluteExpiresAt, f.RevokedAt = timeOut(used), timeOut(exp), timeOut(abs), timeOut(revoked)
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
	_, err = q.w.ExecContext(ctx, query, args...)
	return mapErr(err)
}

// GetFamily returns a family; [store.ErrNotFound] if there is none.
func (q *queries) GetFamily(ctx context.Context, id string) (*store.Family, error) {
	return scanFamily(q.r.QueryRowContext(ctx, `SELECT `+familyCols+` FROM families WHERE id = ?`, id))
}

// LockFamily reads a family for update. Inside [DB.Tx] the transaction
// already holds the database write lock (BEGIN IMMEDIATE), so the row
// cannot change until it ends.
func (q *queries) LockFamily(ctx context.Context, id string) (*store.Family, error) {
	return scanFamily(q.w.QueryRowContext(ctx, `SELECT `+familyCols+` FROM families WHERE id = ?`, id))
}

// UpdateFamily overwrites the mutable fields of a family in place.
func (q *queries) UpdateFamily(ctx context.Context, f *store.Family) error {
	cols, err := familyColumns(f)
	if err != nil {
		return err
	}
	query, args := updateSQL("families", "id", familyFixed, cols)
	return oneRow(q.w.ExecContext(ctx, query, args...))
}

// RevokeFamilies revokes every live family of a client, a subject, a
// browser session, or any of them together.
func (q *queries) RevokeFamilies(ctx context.Context, filter store.FamilyFilter, reason string, at time.Time) ([]string, error) {
	if filter.ClientID == "" && filter.Subject == "" && filter.SessionID == "" {
		return nil, errors.New("sqlite: RevokeFamilies needs a client, a subject or a session")
	}
	w := where{}
	w.add("revoked_at IS NULL")
	filterFamilies(&w, filter)
	args := append([]any{timeIn(at), reason}, w.args...)
	return list(ctx, q.w, scanString, `UPDATE families SET revoked_at = ?, revoke_reason = ?,
		grace_sealed = NULL, grace_until = NULL`+w.sql()+` RETURNING id`, args...)
}

// RevokeFamily revokes one family if it is live and reports whether it did.
func (q *queries) RevokeFamily(ctx context.Context, id, reason string, at time.Time) (bool, error) {
	res, err := q.w.ExecContext(ctx, `UPDATE families SET revoked_at = ?, revoke_reason = ?,
		grace_sealed = NULL, grace_until = NULL WHERE id = ? AND revoked_at IS NULL`, timeIn(at), reason, id)
	if err != nil {
		return false, mapErr(err)
	}
	if n, _ := res.RowsAffected(); n == 1 {
		return true, nil
	}
	var one int
	if err := q.w.QueryRowContext(ctx, `SELECT 1 FROM families WHERE id = ?`, id).Scan(&one); err != nil {
		return false, mapErr(err)
	}
	return false, nil
}

// ListFamilies returns matching families, least recently used first.
func (q *queries) ListFamilies(ctx context.Context, filter store.FamilyFilter) ([]store.Family, error) {
	w := where{}
	filterFamilies(&w, filter)
	if filter.LiveOnly {
		now := timeIn(filter.Now)
		w.add("revoked_at IS NULL AND expires_at > ? AND absolute_expires_at > ?", now, now)
	}
	query := `SELECT ` + familyCols + ` FROM families` + w.sql() + ` ORDER BY last_used_at, id`
	if filter.Limit > 0 {
		query += " LIMIT ?"
		w.args = append(w.args, filter.Limit)
	}
	return list(ctx, q.r, scanFamily, query, w.args...)
}

// filterFamilies adds the conditions of filter's ClientID, Subject and
// SessionID to w.
func filterFamilies(w *where, filter store.FamilyFilter) {
	if filter.ClientID != "" {
		w.add("client_id = ?", filter.ClientID)
	}
	if filter.Subject != "" {
		w.add("subject = ?", filter.Subject)
	}
	if filter.SessionID != "" {
		// The first condition names the partial index's own, which SQLite
		// cannot infer from a bound parameter.
		w.add("session_id <> '' AND session_id = ?", filter.SessionID)
	}
}

// CountFamilies returns the number of families.
func (q *queries) CountFamilies(ctx context.Context) (int64, error) {
	var n int64
	err := q.r.QueryRowContext(ctx, `SELECT count(*) FROM families`).Scan(&n)
	return n, mapErr(err)
}

// DeleteExpiredFamilies deletes at most limit families past their absolute expiry.
func (q *queries) DeleteExpiredFamilies(ctx context.Context, now time.Time, limit int) (int, error) {
	return rowCount(q.w.ExecContext(ctx, `DELETE FROM families WHERE rowid IN (
		SELECT rowid FROM families WHERE absolute_expires_at <= ? LIMIT ?)`, timeIn(now), limit))
}

// ClearExpiredGrace wipes sealed successors whose grace period is over.
func (q *queries) ClearExpiredGrace(ctx context.Context, now time.Time, limit int) (int, error) {
	return rowCount(q.w.ExecContext(ctx, `UPDATE families SET grace_sealed = NULL WHERE rowid IN (
		SELECT rowid FROM families WHERE grace_sealed IS NOT NULL AND grace_until <= ? LIMIT ?)`, timeIn(now), limit))
}
