package postgres

import (
	"context"
	"time"

	"github.com/rotor-auth/rotor/internal/store"
)

// Deny adds a deny-list entry, or extends an existing one to the later of
// the two expiries.
func (q *queries) Deny(ctx context.Context, d store.Denial) error {
	// GREATEST ignores NULLs, so a zero expiry never shortens an entry.
	_, err := q.q.Exec(ctx, `INSERT INTO denylist (key, expires_at) VALUES ($1, $2)
		ON CONFLICT (key) DO UPDATE SET expires_at = GREATEST(denylist.expires_at, EXCLUDED.expires_at)`,
		d.Key, timeIn(d.ExpiresAt))
	return mapErr(err)
}

// DenyOnce adds d unless a live entry with its key exists; an expired one
// is replaced. Concurrent callers with one key serialize on the key's
// unique index, so exactly one of them adds it.
func (q *queries) DenyOnce(ctx context.Context, d store.Denial, now time.Time) (bool, error) {
	n, err := rowCount(q.q.Exec(ctx, `INSERT INTO denylist (key, expires_at) VALUES ($1, $2)
		ON CONFLICT (key) DO UPDATE SET expires_at = EXCLUDED.expires_at WHERE denylist.expires_at <= $3`,
		d.Key, timeIn(d.ExpiresAt), now))
	return n == 1, err
}

// Denied reports whether any of keys has an entry expiring after now.
func (q *queries) Denied(ctx context.Context, keys []string, now time.Time) (bool, error) {
	if len(keys) == 0 {
		return false, nil
	}
	var denied bool
	err := q.q.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM denylist
		WHERE key = ANY ($1) AND expires_at > $2)`, keys, now).Scan(&denied)
	if err != nil {
		return false, mapErr(err)
	}
	return denied, nil
}

// ListDenials returns a page of the entries that hold after now.
func (q *queries) ListDenials(ctx context.Context, now time.Time, prefixes []string, afterKey string, limit int) ([]store.Denial, error) {
	if err := checkLimit(limit); err != nil {
		return nil, err
	}
	rows, err := q.q.Query(ctx, `SELECT key, expires_at FROM denylist
		WHERE expires_at > $1 AND key > $2
		AND EXISTS (SELECT 1 FROM unnest($3::text[]) AS p WHERE starts_with(key, p))
		ORDER BY key LIMIT $4`, now, afterKey, prefixes, limit)
	if err != nil {
		return nil, mapErr(err)
	}
	defer rows.Close()
	var out []store.Denial
	for rows.Next() {
		var (
			d   store.Denial
			exp *time.Time
		)
		if err := rows.Scan(&d.Key, &exp); err != nil {
			return nil, mapErr(err)
		}
		d.ExpiresAt = timeOut(exp)
		out = append(out, d)
	}
	return out, mapErr(rows.Err())
}

// DeleteExpiredDenials deletes at most limit entries expired at now (whose
// expiry is at or before it), and returns how many it deleted.
func (q *queries) DeleteExpiredDenials(ctx context.Context, now time.Time, limit int) (int, error) {
	if err := checkLimit(limit); err != nil {
		return 0, err
	}
	return rowCount(q.q.Exec(ctx, `DELETE FROM denylist WHERE key IN (
		SELECT key FROM denylist WHERE expires_at <= $1 OR expires_at IS NULL
		LIMIT $2 FOR UPDATE SKIP LOCKED)`, now, limit))
}
