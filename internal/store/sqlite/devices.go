package sqlite

import (
	"context"
	"database/sql"
	"time"

	"github.com/rotor-auth/rotor/internal/store"
)

const deviceCodeCols = `hash, user_code_hash, client_id, scopes, audiences, created_at, expires_at, interval_ns,
	last_polled_at, status, subject, session_id, auth_time, ip, user_agent, used_at, family_id, access_token_id`

func scanDeviceCode(s scanner) (*store.DeviceCode, error) {
	var (
		d                                        store.DeviceCode
		scopes, auds                             string
		interval                                 int64
		created, expires, polled, authTime, used sql.NullInt64
	)
	if err := s.Scan(&d.Hash, &d.UserCodeHash, &d.ClientID, &scopes, &auds, &created, &expires, &interval,
		&polled, &d.Status, &d.Subject, &d.SessionID, &authTime, &d.IP, &d.UserAgent, &used, &d.FamilyID, &d.AccessTokenID); err != nil {
		return nil, mapErr(err)
	}
	d.Hash, d.UserCodeHash = bytesOut(d.Hash), bytesOut(d.UserCodeHash)
	d.Scopes, d.Audiences = listOut(scopes), listOut(auds)
	d.Interval = time.Duration(interval)
	d.CreatedAt, d.ExpiresAt, d.LastPolledAt = timeOut(created), timeOut(expires), timeOut(polled)
	d.AuthTime, d.UsedAt = timeOut(authTime), timeOut(used)
	return &d, nil
}

// deviceCodeColumns are the columns of a request's row and their values.
func deviceCodeColumns(d *store.DeviceCode) []column {
	return []column{
		{"hash", d.Hash},
		{"user_code_hash", d.UserCodeHash},
		{"client_id", d.ClientID},
		{"scopes", listIn(d.Scopes)},
		{"audiences", listIn(d.Audiences)},
		{"created_at", timeIn(d.CreatedAt)},
		{"expires_at", timeIn(d.ExpiresAt)},
		{"interval_ns", int64(d.Interval)},
		{"last_polled_at", timeIn(d.LastPolledAt)},
		{"status", d.Status},
		{"subject", d.Subject},
		{"session_id", d.SessionID},
		{"auth_time", timeIn(d.AuthTime)},
		{"ip", d.IP},
		{"user_agent", d.UserAgent},
		{"used_at", timeIn(d.UsedAt)},
		{"family_id", d.FamilyID},
		{"access_token_id", d.AccessTokenID},
	}
}

// deviceCodeFixed are the columns of a request that never change after
// it is created: all but those [store.DeviceCodeQueries.UpdateDeviceCode]
// lists.
var deviceCodeFixed = []string{"user_code_hash", "client_id", "scopes", "audiences", "created_at", "expires_at",
	"ip", "user_agent"}

// CreateDeviceCode inserts a request; [store.ErrConflict] if its hash or
// its user code's hash exists (the constraint error names the column,
// not the value).
func (q *queries) CreateDeviceCode(ctx context.Context, d *store.DeviceCode) error {
	query, args := insertSQL("device_codes", deviceCodeColumns(d))
	_, err := q.w.ExecContext(ctx, query, args...)
	return mapErr(err)
}

// LockDeviceCode reads a request on the writer connection: inside [DB.Tx]
// the transaction already holds the database write lock (BEGIN
// IMMEDIATE), so of two polls, or a poll and the approval, the second
// runs after the first has committed.
func (q *queries) LockDeviceCode(ctx context.Context, hash []byte) (*store.DeviceCode, error) {
	return scanDeviceCode(q.w.QueryRowContext(ctx, `SELECT `+deviceCodeCols+` FROM device_codes WHERE hash = ?`, hash))
}

// LockDeviceCodeByUserCode is LockDeviceCode by the user code's hash.
func (q *queries) LockDeviceCodeByUserCode(ctx context.Context, userCodeHash []byte) (*store.DeviceCode, error) {
	return scanDeviceCode(q.w.QueryRowContext(ctx, `SELECT `+deviceCodeCols+` FROM device_codes WHERE user_code_hash = ?`, userCodeHash))
}

// UpdateDeviceCode writes a request's Interval, LastPolledAt, Status,
// Subject, SessionID, AuthTime, UsedAt, FamilyID and AccessTokenID.
func (q *queries) UpdateDeviceCode(ctx context.Context, d *store.DeviceCode) error {
	query, args := updateSQL("device_codes", "hash", deviceCodeFixed, deviceCodeColumns(d))
	return oneRow(q.w.ExecContext(ctx, query, args...))
}

// CountPendingDeviceCodes returns how many requests of client are pending
// and expire after now.
func (q *queries) CountPendingDeviceCodes(ctx context.Context, clientID string, now time.Time) (int, error) {
	var n int
	err := q.r.QueryRowContext(ctx, `SELECT count(*) FROM device_codes
		WHERE client_id = ? AND expires_at > ? AND status = ?`, clientID, timeIn(now), store.DevicePending).Scan(&n)
	return n, mapErr(err)
}

// DeleteExpiredDeviceCodes deletes at most limit requests expired at or
// before before (one without an expiry counts as expired).
func (q *queries) DeleteExpiredDeviceCodes(ctx context.Context, before time.Time, limit int) (int, error) {
	return rowCount(q.w.ExecContext(ctx, `DELETE FROM device_codes WHERE hash IN (
		SELECT hash FROM device_codes WHERE expires_at <= ? OR expires_at IS NULL LIMIT ?)`, timeIn(before), limit))
}
