package postgres

import (
	"context"
	"time"

	"github.com/rotor-auth/rotor/internal/store"
)

const deviceCodeCols = `hash, user_code_hash, client_id, scopes, audiences, created_at, expires_at, interval_ns,
	last_polled_at, status, subject, session_id, auth_time, ip, user_agent, used_at, family_id, access_token_id`

func scanDeviceCode(s scanner) (*store.DeviceCode, error) {
	var (
		d                                        store.DeviceCode
		scopes, auds                             []string
		interval                                 int64
		created, expires, polled, authTime, used *time.Time
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
// its user code's hash exists. DO NOTHING without a target covers both
// unique keys, and no unique-violation detail, which would quote a hash,
// reaches an error.
func (q *queries) CreateDeviceCode(ctx context.Context, d *store.DeviceCode) error {
	query, args := insertSQL("device_codes", deviceCodeColumns(d))
	return insertResult(q.q.Exec(ctx, query+" ON CONFLICT DO NOTHING", args...))
}

// LockDeviceCode returns a request and, inside [DB.Tx], holds its row
// lock until the transaction ends, so that polls of one code, and its
// approval, run one after the other on every replica; outside a
// transaction it only reads.
func (q *queries) LockDeviceCode(ctx context.Context, hash []byte) (*store.DeviceCode, error) {
	return q.lockDeviceCode(ctx, "hash", hash)
}

// LockDeviceCodeByUserCode is LockDeviceCode by the user code's hash.
func (q *queries) LockDeviceCodeByUserCode(ctx context.Context, userCodeHash []byte) (*store.DeviceCode, error) {
	return q.lockDeviceCode(ctx, "user_code_hash", userCodeHash)
}

// lockDeviceCode reads the request whose column key (one of the two
// unique hashes, never a caller's string) holds hash.
func (q *queries) lockDeviceCode(ctx context.Context, key string, hash []byte) (*store.DeviceCode, error) {
	query := `SELECT ` + deviceCodeCols + ` FROM device_codes WHERE ` + key + ` = $1`
	if q.inTx {
		query += ` FOR UPDATE`
	}
	return scanDeviceCode(q.q.QueryRow(ctx, query, hash))
}

// UpdateDeviceCode writes a request's Interval, LastPolledAt, Status,
// Subject, SessionID, AuthTime, UsedAt, FamilyID and AccessTokenID;
// [store.ErrNotFound] if there is none.
func (q *queries) UpdateDeviceCode(ctx context.Context, d *store.DeviceCode) error {
	query, args := updateSQL("device_codes", "hash", deviceCodeFixed, deviceCodeColumns(d))
	return oneRow(q.q.Exec(ctx, query, args...))
}

// CountPendingDeviceCodes returns how many requests of client are pending
// and expire after now.
func (q *queries) CountPendingDeviceCodes(ctx context.Context, clientID string, now time.Time) (int, error) {
	var n int
	err := q.q.QueryRow(ctx, `SELECT count(*) FROM device_codes
		WHERE client_id = $1 AND expires_at > $2 AND status = $3`, clientID, now, store.DevicePending).Scan(&n)
	if err != nil {
		return 0, mapErr(err)
	}
	return n, nil
}

// DeleteExpiredDeviceCodes deletes at most limit requests whose expiry is
// at or before before (one without an expiry counts as expired).
func (q *queries) DeleteExpiredDeviceCodes(ctx context.Context, before time.Time, limit int) (int, error) {
	if err := checkLimit(limit); err != nil {
		return 0, err
	}
	// SKIP LOCKED: a code being polled or approved waits for the next
	// sweep.
	return rowCount(q.q.Exec(ctx, `DELETE FROM device_codes WHERE hash IN (
		SELECT hash FROM device_codes WHERE expires_at <= $1 OR expires_at IS NULL
		LIMIT $2 FOR UPDATE SKIP LOCKED)`, before, limit))
}
