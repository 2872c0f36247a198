package sqlite

import (
	"context"
	"database/sql"
	"strings"
	"time"

	"github.com/rotor-auth/rotor/internal/store"
)

// Deny adds or extends a deny-list entry, never shortening it.
func (q *queries) Deny(ctx context.Context, d store.Denial) error {
	_, err := q.w.ExecContext(ctx, `INSERT INTO denylist (key, expires_at) VALUES (?, ?)
		ON CONFLICT (key) DO UPDATE SET expires_at = max(expires_at, excluded.expires_at)`, d.Key, timeIn(d.ExpiresAt))
	return mapErr(err)
}

// DenyOnce adds d unless a live entry with its key exists; an expired one
// is replaced.
func (q *queries) DenyOnce(ctx context.Context, d store.Denial, now time.Time) (bool, error) {
	n, err := rowCount(q.w.ExecContext(ctx, `INSERT INTO denylist (key, expires_at) VALUES (?, ?)
		ON CONFLICT (key) DO UPDATE SET expires_at = excluded.expires_at WHERE denylist.expires_at <= ?`,
		d.Key, timeIn(d.ExpiresAt), timeIn(now)))
	return n == 1, err
}

// Denied reports whether any of keys has an entry expiring after now.
func (q *queries) Denied(ctx context.Context, keys []string, now time.Time) (bool, error) {
	if len(keys) == 0 {
		return false, nil
	}
	args := []any{timeIn(now)}
	for _, k := range keys {
		args = append(args, k)
	}
	var n int
	err := q.r.QueryRowContext(ctx, `SELECT count(*) FROM denylist WHERE expires_at > ? AND key IN (`+
		placeholders(len(keys))+`)`, args...).Scan(&n)
	return n > 0, mapErr(err)
}

// ListDenials returns a page of the entries that hold after now.
func (q *queries) ListDenials(ctx context.Context, now time.Time, prefixes []string, afterKey string, limit int) ([]store.Denial, error) {
	if len(prefixes) == 0 {
		return nil, nil
	}
	match := make([]string, len(prefixes))
	args := []any{timeIn(now), afterKey}
	for i, p := range prefixes {
		match[i] = "substr(key, 1, ?) = ?"
		args = append(args, len(p), p)
	}
	rows, err := q.r.QueryContext(ctx, `SELECT key, expires_at FROM denylist
		WHERE expires_at > ? AND key > ? AND (`+strings.Join(match, " OR ")+`) ORDER BY key LIMIT ?`,
		append(args, limit)...)
	if err != nil {
		return nil, mapErr(err)
	}
	defer rows.Close()
	var out []store.Denial
	for rows.Next() {
		var (
			d   store.Denial
			exp sql.NullInt64
		)
		if err := rows.Scan(&d.Key, &exp); err != nil {
			return nil, mapErr(err)
		}
		d.ExpiresAt = timeOut(exp)
		out = append(out, d)
	}
	return out, mapErr(rows.Err())
}

// DeleteExpiredDenials deletes at most limit expired entries.
func (q *queries) DeleteExpiredDenials(ctx context.Context, now time.Time, limit int) (int, error) {
	return rowCount(q.w.ExecContext(ctx, `DELETE FROM denylist WHERE key IN (
		SELECT key FROM denylist WHERE expires_at <= ? OR expires_at IS NULL LIMIT ?)`, timeIn(now), limit))
}
