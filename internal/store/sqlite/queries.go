package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"math"
	"strings"
	"time"

	"github.com/rotor-auth/rotor/internal/store"
)

// querier is what *sql.DB and *sql.Tx both offer.
type querier interface {
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

// queries implements [store.Queries]. Outside a transaction reads go to
// the reader pool and writes to the writer; inside one, both are the
// transaction.
type queries struct {
	r, w querier
}

type scanner interface{ Scan(dest ...any) error }

// ---- clients ----

const clientCols = `id, secret_hash, secret_phc, public, grant_types, scopes, audiences,
	redirect_uris, reuse_grace_ns, access_token_ttl_ns, refresh_idle_ttl_ns,
	refresh_absolute_ttl_ns, disabled, created_at, updated_at, require_dpop, auth_method, jwks, jwks_uri`

func scanClient(s scanner) (*store.Client, error) {
	var (
		c                        store.Client
		grants, scopes, auds, ru string
		grace, at, idle, abs     sql.NullInt64
		created, updated         sql.NullInt64
	)
	if err := s.Scan(&c.ID, &c.SecretHash, &c.SecretPHC, &c.Public, &grants, &scopes, &auds, &ru,
		&grace, &at, &idle, &abs, &c.Disabled, &created, &updated, &c.RequireDPoP, &c.AuthMethod, &c.JWKS, &c.JWKSURI); err != nil {
		return nil, mapErr(err)
	}
	c.SecretHash, c.JWKS = bytesOut(c.SecretHash), bytesOut(c.JWKS)
	c.GrantTypes, c.Scopes, c.Audiences, c.RedirectURIs = listOut(grants), listOut(scopes), listOut(auds), listOut(ru)
	c.ReuseGrace, c.AccessTokenTTL, c.RefreshIdleTTL, c.RefreshAbsoluteTTL = durOut(grace), durOut(at), durOut(idle), durOut(abs)
	c.CreatedAt, c.UpdatedAt = timeOut(created), timeOut(updated)
	return &c, nil
}

func clientArgs(c *store.Client) []any {
	return []any{c.ID, c.SecretHash, c.SecretPHC, c.Public, listIn(c.GrantTypes), listIn(c.Scopes),
		listIn(c.Audiences), listIn(c.RedirectURIs), durIn(c.ReuseGrace), durIn(c.AccessTokenTTL),
		durIn(c.RefreshIdleTTL), durIn(c.RefreshAbsoluteTTL), c.Disabled, timeIn(c.CreatedAt), timeIn(c.UpdatedAt),
		c.RequireDPoP, c.AuthMethod, c.JWKS, c.JWKSURI}
}

// CreateClient inserts a client; [store.ErrConflict] if the id exists.
func (q *queries) CreateClient(ctx context.Context, c *store.Client) error {
	_, err := q.w.ExecContext(ctx, `INSERT INTO clients (`+clientCols+`)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`, clientArgs(c)...)
	return mapErr(err)
}

// GetClient returns a client; [store.ErrNotFound] if there is none.
func (q *queries) GetClient(ctx context.Context, id string) (*store.Client, error) {
	return scanClient(q.r.QueryRowContext(ctx, `SELECT `+clientCols+` FROM clients WHERE id = ?`, id))
}

// ListClients returns all clients ordered by id.
func (q *queries) ListClients(ctx context.Context) ([]store.Client, error) {
	return list(ctx, q.r, scanClient, `SELECT `+clientCols+` FROM clients ORDER BY id`)
}

// UpdateClient overwrites every field of a client but its ID and CreatedAt.
func (q *queries) UpdateClient(ctx context.Context, c *store.Client) error {
	a := clientArgs(c)
	return oneRow(q.w.ExecContext(ctx, `UPDATE clients SET secret_hash = ?, secret_phc = ?, public = ?,
		grant_types = ?, scopes = ?, audiences = ?, redirect_uris = ?, reuse_grace_ns = ?,
		access_token_ttl_ns = ?, refresh_idle_ttl_ns = ?, refresh_absolute_ttl_ns = ?, disabled = ?,
		updated_at = ?, require_dpop = ?, auth_method = ?, jwks = ?, jwks_uri = ? WHERE id = ?`,
		append(append(a[1:13:13], a[14:]...), a[0])...))
}

// DeleteClient deletes a client; [store.ErrNotFound] if there is none.
func (q *queries) DeleteClient(ctx context.Context, id string) error {
	return oneRow(q.w.ExecContext(ctx, `DELETE FROM clients WHERE id = ?`, id))
}

// ---- users ----

const userCols = `id, username, password_phc, disabled, tokens_valid_after, created_at, updated_at`

func scanUser(s scanner) (*store.User, error) {
	var (
		u                        store.User
		validAfter, created, upd sql.NullInt64
	)
	if err := s.Scan(&u.ID, &u.Username, &u.PasswordPHC, &u.Disabled, &validAfter, &created, &upd); err != nil {
		return nil, mapErr(err)
	}
	u.TokensValidAfter, u.CreatedAt, u.UpdatedAt = timeOut(validAfter), timeOut(created), timeOut(upd)
	return &u, nil
}

// CreateUser inserts a user; [store.ErrConflict] if the id or username exists.
func (q *queries) CreateUser(ctx context.Context, u *store.User) error {
	_, err := q.w.ExecContext(ctx, `INSERT INTO users (`+userCols+`) VALUES (?, ?, ?, ?, ?, ?, ?)`,
		u.ID, u.Username, u.PasswordPHC, u.Disabled, timeIn(u.TokensValidAfter), timeIn(u.CreatedAt), timeIn(u.UpdatedAt))
	return mapErr(err)
}

// GetUser returns a user by id; [store.ErrNotFound] if there is none.
func (q *queries) GetUser(ctx context.Context, id string) (*store.User, error) {
	return scanUser(q.r.QueryRowContext(ctx, `SELECT `+userCols+` FROM users WHERE id = ?`, id))
}

// LockUser reads a user on the writer connection: inside a transaction,
// which holds SQLite's write lock, nobody else writes until it ends.
func (q *queries) LockUser(ctx context.Context, id string) (*store.User, error) {
	return scanUser(q.w.QueryRowContext(ctx, `SELECT `+userCols+` FROM users WHERE id = ?`, id))
}

// GetUserByUsername returns a user by username; [store.ErrNotFound] if none.
func (q *queries) GetUserByUsername(ctx context.Context, username string) (*store.User, error) {
	return scanUser(q.r.QueryRowContext(ctx, `SELECT `+userCols+` FROM users WHERE username = ?`, username))
}

// ListUsers returns all users ordered by username.
func (q *queries) ListUsers(ctx context.Context) ([]store.User, error) {
	return list(ctx, q.r, scanUser, `SELECT `+userCols+` FROM users ORDER BY username`)
}

// UpdateUser overwrites every field of a user but its ID and CreatedAt.
func (q *queries) UpdateUser(ctx context.Context, u *store.User) error {
	return oneRow(q.w.ExecContext(ctx, `UPDATE users SET username = ?, password_phc = ?, disabled = ?,
		tokens_valid_after = ?, updated_at = ? WHERE id = ?`,
		u.Username, u.PasswordPHC, u.Disabled, timeIn(u.TokensValidAfter), timeIn(u.UpdatedAt), u.ID))
}

// ---- families ----

const familyCols = `id, client_id, subject, scopes, dpop_jkt, generation, live_hash, prev_hash,
	rotated_at, grace_sealed, grace_until, created_at, last_used_at, expires_at,
	absolute_expires_at, last_ip, last_user_agent, revoked_at, revoke_reason`

func scanFamily(s scanner) (*store.Family, error) {
	var (
		f                                                     store.Family
		scopes                                                string
		gen                                                   int64
		rotated, graceUntil, created, used, exp, abs, revoked sql.NullInt64
	)
	if err := s.Scan(&f.ID, &f.ClientID, &f.Subject, &scopes, &f.DPoPJKT, &gen, &f.LiveHash, &f.PrevHash,
		&rotated, &f.GraceSealed, &graceUntil, &created, &used, &exp, &abs, &f.LastIP, &f.LastUserAgent,
		&revoked, &f.RevokeReason); err != nil {
		return nil, mapErr(err)
	}
	f.Scopes = listOut(scopes)
	f.Generation = uint64(gen)
	f.LiveHash, f.PrevHash, f.GraceSealed = bytesOut(f.LiveHash), bytesOut(f.PrevHash), bytesOut(f.GraceSealed)
	f.RotatedAt, f.GraceUntil, f.CreatedAt = timeOut(rotated), timeOut(graceUntil), timeOut(created)
	f.LastUsedAt, f.ExpiresAt, f.AbsoluteExpiresAt, f.RevokedAt = timeOut(used), timeOut(exp), timeOut(abs), timeOut(revoked)
	return &f, nil
}

func genIn(g uint64) (int64, error) {
	if g > math.MaxInt64 {
		return 0, errors.New("sqlite: generation out of range")
	}
	return int64(g), nil
}

// CreateFamily inserts a family; [store.ErrConflict] if the id exists.
func (q *queries) CreateFamily(ctx context.Context, f *store.Family) error {
	gen, err := genIn(f.Generation)
	if err != nil {
		return err
	}
	_, err = q.w.ExecContext(ctx, `INSERT INTO families (`+familyCols+`)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		f.ID, f.ClientID, f.Subject, listIn(f.Scopes), f.DPoPJKT, gen, f.LiveHash, f.PrevHash,
		timeIn(f.RotatedAt), f.GraceSealed, timeIn(f.GraceUntil), timeIn(f.CreatedAt), timeIn(f.LastUsedAt),
		timeIn(f.ExpiresAt), timeIn(f.AbsoluteExpiresAt), f.LastIP, f.LastUserAgent, timeIn(f.RevokedAt), f.RevokeReason)
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
	gen, err := genIn(f.Generation)
	if err != nil {
		return err
	}
	return oneRow(q.w.ExecContext(ctx, `UPDATE families SET scopes = ?, dpop_jkt = ?, generation = ?,
		live_hash = ?, prev_hash = ?, rotated_at = ?, grace_sealed = ?, grace_until = ?, last_used_at = ?,
		expires_at = ?, last_ip = ?, last_user_agent = ?, revoked_at = ?, revoke_reason = ? WHERE id = ?`,
		listIn(f.Scopes), f.DPoPJKT, gen, f.LiveHash, f.PrevHash, timeIn(f.RotatedAt), f.GraceSealed,
		timeIn(f.GraceUntil), timeIn(f.LastUsedAt), timeIn(f.ExpiresAt), f.LastIP, f.LastUserAgent,
		timeIn(f.RevokedAt), f.RevokeReason, f.ID))
}

// RevokeFamilies revokes every live family of a client, a subject or both.
func (q *queries) RevokeFamilies(ctx context.Context, filter store.FamilyFilter, reason string, at time.Time) ([]string, error) {
	if filter.ClientID == "" && filter.Subject == "" {
		return nil, errors.New("sqlite: RevokeFamilies needs a client or a subject")
	}
	w := where{}
	w.add("revoked_at IS NULL")
	if filter.ClientID != "" {
		w.add("client_id = ?", filter.ClientID)
	}
	if filter.Subject != "" {
		w.add("subject = ?", filter.Subject)
	}
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
	if filter.ClientID != "" {
		w.add("client_id = ?", filter.ClientID)
	}
	if filter.Subject != "" {
		w.add("subject = ?", filter.Subject)
	}
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

// ---- deny-list ----

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

// ---- events ----

const eventCols = `id, occurred_at, type, client_id, subject, family_id, token_id, generation,
	ip, user_agent, reason, detail`

func scanEvent(s scanner) (*store.Event, error) {
	var (
		e   store.Event
		at  sql.NullInt64
		gen int64
	)
	if err := s.Scan(&e.ID, &at, &e.Type, &e.ClientID, &e.Subject, &e.FamilyID, &e.TokenID, &gen,
		&e.IP, &e.UserAgent, &e.Reason, &e.Detail); err != nil {
		return nil, mapErr(err)
	}
	e.Time, e.Generation = timeOut(at), uint64(gen)
	return &e, nil
}

// AppendEvents inserts events and sets their IDs.
func (q *queries) AppendEvents(ctx context.Context, events ...*store.Event) error {
	for _, e := range events {
		gen, err := genIn(e.Generation)
		if err != nil {
			return err
		}
		err = q.w.QueryRowContext(ctx, `INSERT INTO events (occurred_at, type, client_id, subject, family_id,
			token_id, generation, ip, user_agent, reason, detail) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id`,
			timeIn(e.Time), e.Type, e.ClientID, e.Subject, e.FamilyID, e.TokenID, gen, e.IP, e.UserAgent,
			e.Reason, e.Detail).Scan(&e.ID)
		if err != nil {
			return mapErr(err)
		}
	}
	return nil
}

// ListEvents returns matching events in increasing ID order.
func (q *queries) ListEvents(ctx context.Context, filter store.EventFilter) ([]store.Event, error) {
	w := where{}
	if filter.AfterID > 0 {
		w.add("id > ?", filter.AfterID)
	}
	// A fixed column order and a bound LIMIT keep one prepared statement
	// per query shape.
	for _, c := range []struct{ col, v string }{{"type", filter.Type}, {"client_id", filter.ClientID},
		{"subject", filter.Subject}, {"family_id", filter.FamilyID}} {
		if c.v != "" {
			w.add(c.col+" = ?", c.v)
		}
	}
	query := `SELECT ` + eventCols + ` FROM events` + w.sql()
	switch {
	case filter.Limit > 0 && filter.Newest:
		query = `SELECT * FROM (` + query + ` ORDER BY id DESC LIMIT ?) ORDER BY id`
		w.args = append(w.args, filter.Limit)
	case filter.Limit > 0:
		query += " ORDER BY id LIMIT ?"
		w.args = append(w.args, filter.Limit)
	default:
		query += " ORDER BY id"
	}
	return list(ctx, q.r, scanEvent, query, w.args...)
}

// DeleteEventsBefore deletes at most limit events older than before.
func (q *queries) DeleteEventsBefore(ctx context.Context, before time.Time, limit int) (int, error) {
	return rowCount(q.w.ExecContext(ctx, `DELETE FROM events WHERE id IN (
		SELECT id FROM events WHERE occurred_at < ? OR occurred_at IS NULL ORDER BY id LIMIT ?)`, timeIn(before), limit))
}

// ---- signing keys ----

const signingKeyCols = `id, algorithm, sealed, public_jwk, created_at, active_at`

func scanSigningKey(s scanner) (*store.SigningKey, error) {
	var (
		k               store.SigningKey
		created, active sql.NullInt64
	)
	if err := s.Scan(&k.ID, &k.Algorithm, &k.Sealed, &k.PublicJWK, &created, &active); err != nil {
		return nil, mapErr(err)
	}
	k.Sealed, k.PublicJWK = bytesOut(k.Sealed), bytesOut(k.PublicJWK)
	k.CreatedAt, k.ActiveAt = timeOut(created), timeOut(active)
	return &k, nil
}

// CreateSigningKey inserts a key; [store.ErrConflict] if the id exists.
func (q *queries) CreateSigningKey(ctx context.Context, k *store.SigningKey) error {
	_, err := q.w.ExecContext(ctx, `INSERT INTO signing_keys (`+signingKeyCols+`) VALUES (?, ?, ?, ?, ?, ?)`,
		k.ID, k.Algorithm, k.Sealed, k.PublicJWK, timeIn(k.CreatedAt), timeIn(k.ActiveAt))
	return mapErr(err)
}

// ListSigningKeys returns all keys, oldest ActiveAt first.
func (q *queries) ListSigningKeys(ctx context.Context) ([]store.SigningKey, error) {
	return list(ctx, q.r, scanSigningKey, `SELECT `+signingKeyCols+` FROM signing_keys ORDER BY active_at, id`)
}

// DeleteSigningKey deletes a key; [store.ErrNotFound] if there is none.
func (q *queries) DeleteSigningKey(ctx context.Context, id string) error {
	return oneRow(q.w.ExecContext(ctx, `DELETE FROM signing_keys WHERE id = ?`, id))
}

// ---- helpers ----

// where builds a WHERE clause from conditions joined by AND.
type where struct {
	conds []string
	args  []any
}

func (w *where) add(cond string, args ...any) {
	w.conds = append(w.conds, cond)
	w.args = append(w.args, args...)
}

func (w *where) sql() string {
	if len(w.conds) == 0 {
		return ""
	}
	return " WHERE " + strings.Join(w.conds, " AND ")
}

func placeholders(n int) string { return strings.TrimSuffix(strings.Repeat("?, ", n), ", ") }

func list[T any](ctx context.Context, q querier, scan func(scanner) (*T, error), query string, args ...any) ([]T, error) {
	rows, err := q.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, mapErr(err)
	}
	defer rows.Close()
	var out []T
	for rows.Next() {
		v, err := scan(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, *v)
	}
	return out, mapErr(rows.Err())
}

func scanString(s scanner) (*string, error) {
	var v string
	if err := s.Scan(&v); err != nil {
		return nil, mapErr(err)
	}
	return &v, nil
}

// oneRow maps a keyed UPDATE or DELETE that touched nothing to ErrNotFound.
func oneRow(res sql.Result, err error) error {
	if err != nil {
		return mapErr(err)
	}
	if n, err := res.RowsAffected(); err != nil {
		return mapErr(err)
	} else if n == 0 {
		return store.ErrNotFound
	}
	return nil
}

func rowCount(res sql.Result, err error) (int, error) {
	if err != nil {
		return 0, mapErr(err)
	}
	n, err := res.RowsAffected()
	return int(n), mapErr(err)
}

// Times are stored as unix microseconds, the precision of the contract.
func timeIn(t time.Time) any {
	if t.IsZero() {
		return nil
	}
	return t.UnixMicro()
}

func timeOut(v sql.NullInt64) time.Time {
	if !v.Valid {
		return time.Time{}
	}
	return time.UnixMicro(v.Int64).UTC()
}

func durIn(d *time.Duration) any {
	if d == nil {
		return nil
	}
	return int64(*d)
}

func durOut(v sql.NullInt64) *time.Duration {
	if !v.Valid {
		return nil
	}
	d := time.Duration(v.Int64)
	return &d
}

func listIn(s []string) string { return strings.Join(s, " ") }

func listOut(s string) []string {
	if s == "" {
		return nil
	}
	return strings.Split(s, " ")
}

func bytesOut(b []byte) []byte {
	if len(b) == 0 {
		return nil
	}
	return b
}
