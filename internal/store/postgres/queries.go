package postgres

import (
	"context"
	"errors"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/rotor-auth/rotor/internal/store"
)

// querier is what both *pgxpool.Pool and pgx.Tx offer, so that every query
// is written once and runs in or out of a transaction.
type querier interface {
	Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error)
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
	SendBatch(ctx context.Context, b *pgx.Batch) pgx.BatchResults
}

// queries implements [store.Queries] over a querier.
type queries struct {
	q querier
	// inTx is set inside [DB.Tx], where LockFamily takes a row lock; a
	// lock taken outside would end with its own statement.
	inTx bool
}

// scanner is a pgx.Row or pgx.Rows.
type scanner interface{ Scan(dest ...any) error }

// ---- clients ----

const clientCols = `id, secret_hash, secret_phc, public, grant_types, scopes, audiences,
	redirect_uris, reuse_grace_ns, access_token_ttl_ns, refresh_idle_ttl_ns,
	refresh_absolute_ttl_ns, disabled, created_at, updated_at, require_dpop, auth_method, jwks, jwks_uri`

func scanClient(s scanner) (*store.Client, error) {
	var (
		c                        store.Client
		grace, at, idle, abs     *int64
		createdAt, updatedAt     *time.Time
		grants, scopes, auds, ru []string
	)
	err := s.Scan(&c.ID, &c.SecretHash, &c.SecretPHC, &c.Public, &grants, &scopes, &auds,
		&ru, &grace, &at, &idle, &abs, &c.Disabled, &createdAt, &updatedAt, &c.RequireDPoP, &c.AuthMethod,
		&c.JWKS, &c.JWKSURI)
	if err != nil {
		return nil, mapErr(err)
	}
	c.SecretHash, c.JWKS = bytesOut(c.SecretHash), bytesOut(c.JWKS)
	c.GrantTypes, c.Scopes, c.Audiences, c.RedirectURIs = listOut(grants), listOut(scopes), listOut(auds), listOut(ru)
	c.ReuseGrace, c.AccessTokenTTL, c.RefreshIdleTTL, c.RefreshAbsoluteTTL = durOut(grace), durOut(at), durOut(idle), durOut(abs)
	c.CreatedAt, c.UpdatedAt = timeOut(createdAt), timeOut(updatedAt)
	return &c, nil
}

// CreateClient inserts a client; [store.ErrConflict] if the id exists.
func (q *queries) CreateClient(ctx context.Context, c *store.Client) error {
	// ON CONFLICT DO NOTHING rather than a unique violation, which would
	// abort the surrounding transaction for a caller that handles the
	// conflict and goes on.
	tag, err := q.q.Exec(ctx, `INSERT INTO clients (`+clientCols+`)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19)
		ON CONFLICT DO NOTHING`,
		c.ID, c.SecretHash, c.SecretPHC, c.Public, listIn(c.GrantTypes), listIn(c.Scopes),
		listIn(c.Audiences), listIn(c.RedirectURIs), durIn(c.ReuseGrace), durIn(c.AccessTokenTTL),
		durIn(c.RefreshIdleTTL), durIn(c.RefreshAbsoluteTTL), c.Disabled, timeIn(c.CreatedAt),
		timeIn(c.UpdatedAt), c.RequireDPoP, c.AuthMethod, c.JWKS, c.JWKSURI)
	return insertResult(tag, err)
}

// GetClient returns a client; [store.ErrNotFound] if there is none.
func (q *queries) GetClient(ctx context.Context, id string) (*store.Client, error) {
	return scanClient(q.q.QueryRow(ctx, `SELECT `+clientCols+` FROM clients WHERE id = $1`, id))
}

// ListClients returns all clients ordered by id.
func (q *queries) ListClients(ctx context.Context) ([]store.Client, error) {
	return list(ctx, q.q, scanClient, `SELECT `+clientCols+` FROM clients ORDER BY id`)
}

// UpdateClient overwrites every field of a client but its ID and
// CreatedAt; [store.ErrNotFound] if there is none.
func (q *queries) UpdateClient(ctx context.Context, c *store.Client) error {
	tag, err := q.q.Exec(ctx, `UPDATE clients SET secret_hash = $2, secret_phc = $3,
		public = $4, grant_types = $5, scopes = $6, audiences = $7, redirect_uris = $8,
		reuse_grace_ns = $9, access_token_ttl_ns = $10, refresh_idle_ttl_ns = $11,
		refresh_absolute_ttl_ns = $12, disabled = $13, updated_at = $14, require_dpop = $15,
		auth_method = $16, jwks = $17, jwks_uri = $18
		WHERE id = $1`,
		c.ID, c.SecretHash, c.SecretPHC, c.Public, listIn(c.GrantTypes), listIn(c.Scopes),
		listIn(c.Audiences), listIn(c.RedirectURIs), durIn(c.ReuseGrace), durIn(c.AccessTokenTTL),
		durIn(c.RefreshIdleTTL), durIn(c.RefreshAbsoluteTTL), c.Disabled, timeIn(c.UpdatedAt),
		c.RequireDPoP, c.AuthMethod, c.JWKS, c.JWKSURI)
	return oneRow(tag, err)
}

// DeleteClient deletes a client; [store.ErrNotFound] if there is none.
func (q *queries) DeleteClient(ctx context.Context, id string) error {
	return oneRow(q.q.Exec(ctx, `DELETE FROM clients WHERE id = $1`, id))
}

// ---- users ----

const userCols = `id, username, password_phc, disabled, tokens_valid_after, created_at, updated_at`

func scanUser(s scanner) (*store.User, error) {
	var (
		u                           store.User
		validAfter, created, update *time.Time
	)
	if err := s.Scan(&u.ID, &u.Username, &u.PasswordPHC, &u.Disabled, &validAfter, &created, &update); err != nil {
		return nil, mapErr(err)
	}
	u.TokensValidAfter, u.CreatedAt, u.UpdatedAt = timeOut(validAfter), timeOut(created), timeOut(update)
	return &u, nil
}

// CreateUser inserts a user; [store.ErrConflict] if the id or the username
// exists.
func (q *queries) CreateUser(ctx context.Context, u *store.User) error {
	// No conflict target: DO NOTHING covers both unique keys.
	tag, err := q.q.Exec(ctx, `INSERT INTO users (`+userCols+`)
		VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT DO NOTHING`,
		u.ID, u.Username, u.PasswordPHC, u.Disabled, timeIn(u.TokensValidAfter),
		timeIn(u.CreatedAt), timeIn(u.UpdatedAt))
	return insertResult(tag, err)
}

// GetUser returns a user by id; [store.ErrNotFound] if there is none.
func (q *queries) GetUser(ctx context.Context, id string) (*store.User, error) {
	return scanUser(q.q.QueryRow(ctx, `SELECT `+userCols+` FROM users WHERE id = $1`, id))
}

// LockUser reads a user and, in a transaction, locks its row.
func (q *queries) LockUser(ctx context.Context, id string) (*store.User, error) {
	if !q.inTx {
		return q.GetUser(ctx, id)
	}
	return scanUser(q.q.QueryRow(ctx, `SELECT `+userCols+` FROM users WHERE id = $1 FOR UPDATE`, id))
}

// GetUserByUsername returns a user by username; [store.ErrNotFound] if
// there is none.
func (q *queries) GetUserByUsername(ctx context.Context, username string) (*store.User, error) {
	return scanUser(q.q.QueryRow(ctx, `SELECT `+userCols+` FROM users WHERE username = $1`, username))
}

// ListUsers returns all users ordered by username.
func (q *queries) ListUsers(ctx context.Context) ([]store.User, error) {
	return list(ctx, q.q, scanUser, `SELECT `+userCols+` FROM users ORDER BY username`)
}

// UpdateUser overwrites every field of a user but its ID and CreatedAt;
// [store.ErrNotFound] if there is none, [store.ErrConflict] if the new
// username is taken.
func (q *queries) UpdateUser(ctx context.Context, u *store.User) error {
	tag, err := q.q.Exec(ctx, `UPDATE users SET username = $2, password_phc = $3,
		disabled = $4, tokens_valid_after = $5, updated_at = $6 WHERE id = $1`,
		u.ID, u.Username, u.PasswordPHC, u.Disabled, timeIn(u.TokensValidAfter), timeIn(u.UpdatedAt))
	return oneRow(tag, err)
}

// ---- families ----

const familyCols = `id, client_id, subject, scopes, dpop_jkt, generation, live_hash,
	prev_hash, rotated_at, grace_sealed, grace_until, created_at, last_used_at,
	expires_at, absolute_expires_at, last_ip, last_user_agent, revoked_at, revoke_reason`

func scanFamily(s scanner) (*store.Family, error) {
	var (
		f                                  store.Family
		scopes                             []string
		generation                         int64
		rotated, graceUntil, created, used *time.Time
		expires, absolute, revoked         *time.Time
	)
	err := s.Scan(&f.ID, &f.ClientID, &f.Subject, &scopes, &f.DPoPJKT, &generation, &f.LiveHash,
		&f.PrevHash, &rotated, &f.GraceSealed, &graceUntil, &created, &used,
		&expires, &absolute, &f.LastIP, &f.LastUserAgent, &revoked, &f.RevokeReason)
	if err != nil {
		return nil, mapErr(err)
	}
	f.Scopes = listOut(scopes)
	f.Generation = uint64(generation) // never negative: written by genIn
	f.LiveHash, f.PrevHash, f.GraceSealed = bytesOut(f.LiveHash), bytesOut(f.PrevHash), bytesOut(f.GraceSealed)
	f.RotatedAt, f.GraceUntil, f.CreatedAt, f.LastUsedAt = timeOut(rotated), timeOut(graceUntil), timeOut(created), timeOut(used)
	f.ExpiresAt, f.AbsoluteExpiresAt, f.RevokedAt = timeOut(expires), timeOut(absolute), timeOut(revoked)
	return &f, nil
}

// CreateFamily inserts a family; [store.ErrConflict] if the id exists.
func (q *queries) CreateFamily(ctx context.Context, f *store.Family) error {
	gen, err := genIn(f.Generation)
	if err != nil {
		return err
	}
	tag, err := q.q.Exec(ctx, `INSERT INTO families (`+familyCols+`)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19)
		ON CONFLICT DO NOTHING`,
		f.ID, f.ClientID, f.Subject, listIn(f.Scopes), f.DPoPJKT, gen, f.LiveHash,
		f.PrevHash, timeIn(f.RotatedAt), f.GraceSealed, timeIn(f.GraceUntil), timeIn(f.CreatedAt),
		timeIn(f.LastUsedAt), timeIn(f.ExpiresAt), timeIn(f.AbsoluteExpiresAt), f.LastIP,
		f.LastUserAgent, timeIn(f.RevokedAt), f.RevokeReason)
	return insertResult(tag, err)
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
	gen, err := genIn(f.Generation)
	if err != nil {
		return err
	}
	return oneRow(q.q.Exec(ctx, `UPDATE families SET scopes = $2, dpop_jkt = $3,
		generation = $4, live_hash = $5, prev_hash = $6, rotated_at = $7,
		grace_sealed = $8, grace_until = $9, last_used_at = $10, expires_at = $11,
		last_ip = $12, last_user_agent = $13, revoked_at = $14, revoke_reason = $15
		WHERE id = $1`,
		f.ID, listIn(f.Scopes), f.DPoPJKT, gen, f.LiveHash, f.PrevHash, timeIn(f.RotatedAt),
		f.GraceSealed, timeIn(f.GraceUntil), timeIn(f.LastUsedAt), timeIn(f.ExpiresAt),
		f.LastIP, f.LastUserAgent, timeIn(f.RevokedAt), f.RevokeReason))
}

// RevokeFamilies revokes, in one statement, every family not yet revoked
// of the filter's ClientID and Subject, clears their GraceSealed, and
// returns their ids in increasing order. An empty filter is refused.
func (q *queries) RevokeFamilies(ctx context.Context, filter store.FamilyFilter, reason string, at time.Time) ([]string, error) {
	if filter.ClientID == "" && filter.Subject == "" {
		return nil, errors.New("postgres: RevokeFamilies needs a client or a subject")
	}
	if at.IsZero() {
		// A NULL revoked_at would read back as live.
		return nil, errors.New("postgres: RevokeFamilies needs a revocation time")
	}
	w := where{args: []any{timeIn(at), reason}}
	w.add("revoked_at IS NULL")
	if filter.ClientID != "" {
		w.add("client_id = %s", filter.ClientID)
	}
	if filter.Subject != "" {
		w.add("subject = %s", filter.Subject)
	}
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
	if filter.ClientID != "" {
		w.add("client_id = %s", filter.ClientID)
	}
	if filter.Subject != "" {
		w.add("subject = %s", filter.Subject)
	}
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

// ---- deny-list ----

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

// ---- audit events ----

const eventCols = `id, occurred_at, type, client_id, subject, family_id, token_id,
	generation, ip, user_agent, reason, detail`

const insertEvent = `INSERT INTO events (occurred_at, type, client_id, subject, family_id,
	token_id, generation, ip, user_agent, reason, detail)
	VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11) RETURNING id`

func scanEvent(s scanner) (*store.Event, error) {
	var (
		e          store.Event
		at         *time.Time
		generation int64
	)
	err := s.Scan(&e.ID, &at, &e.Type, &e.ClientID, &e.Subject, &e.FamilyID, &e.TokenID,
		&generation, &e.IP, &e.UserAgent, &e.Reason, &e.Detail)
	if err != nil {
		return nil, mapErr(err)
	}
	e.Time = timeOut(at)
	e.Generation = uint64(generation) // never negative: written by genIn
	return &e, nil
}

func eventArgs(e *store.Event) ([]any, error) {
	if e == nil {
		return nil, errors.New("postgres: AppendEvents: nil event")
	}
	gen, err := genIn(e.Generation)
	if err != nil {
		return nil, err
	}
	return []any{timeIn(e.Time), e.Type, e.ClientID, e.Subject, e.FamilyID, e.TokenID,
		gen, e.IP, e.UserAgent, e.Reason, e.Detail}, nil
}

// AppendEvents inserts audit events, atomically, and sets their IDs.
func (q *queries) AppendEvents(ctx context.Context, events ...*store.Event) error {
	switch len(events) {
	case 0:
		return nil
	case 1:
		args, err := eventArgs(events[0])
		if err != nil {
			return err
		}
		return mapErr(q.q.QueryRow(ctx, insertEvent, args...).Scan(&events[0].ID))
	}
	// Several events go in one round trip. Out of a transaction a batch
	// still runs as one implicit transaction, so it is all or nothing.
	b := &pgx.Batch{}
	ids := make([]int64, len(events))
	for i, e := range events {
		args, err := eventArgs(e)
		if err != nil {
			return err
		}
		b.Queue(insertEvent, args...).QueryRow(func(row pgx.Row) error { return row.Scan(&ids[i]) })
	}
	if err := q.q.SendBatch(ctx, b).Close(); err != nil {
		return mapErr(err)
	}
	// IDs are set only once every insert has succeeded, so a failed call
	// leaves the events as they were.
	for i, e := range events {
		e.ID = ids[i]
	}
	return nil
}

// ListEvents returns the matching events in increasing ID order.
func (q *queries) ListEvents(ctx context.Context, filter store.EventFilter) ([]store.Event, error) {
	var w where
	if filter.AfterID != 0 {
		w.add("id > %s", filter.AfterID)
	}
	if filter.Type != "" {
		w.add("type = %s", filter.Type)
	}
	if filter.ClientID != "" {
		w.add("client_id = %s", filter.ClientID)
	}
	if filter.Subject != "" {
		w.add("subject = %s", filter.Subject)
	}
	if filter.FamilyID != "" {
		w.add("family_id = %s", filter.FamilyID)
	}
	sql := `SELECT ` + eventCols + ` FROM events` + w.sql()
	switch {
	case filter.Limit > 0 && filter.Newest:
		sql = `SELECT * FROM (` + sql + w.arg(" ORDER BY id DESC LIMIT %s", filter.Limit) + `) newest ORDER BY id`
	case filter.Limit > 0:
		sql += w.arg(" ORDER BY id LIMIT %s", filter.Limit)
	default:
		sql += " ORDER BY id"
	}
	return list(ctx, q.q, scanEvent, sql, w.args...)
}

// DeleteEventsBefore deletes at most limit events that happened before
// before, and returns how many it deleted.
func (q *queries) DeleteEventsBefore(ctx context.Context, before time.Time, limit int) (int, error) {
	if err := checkLimit(limit); err != nil {
		return 0, err
	}
	return rowCount(q.q.Exec(ctx, `DELETE FROM events WHERE id IN (
		SELECT id FROM events WHERE occurred_at < $1 OR occurred_at IS NULL
		LIMIT $2)`, before, limit))
}

// ---- signing keys ----

const signingKeyCols = `id, algorithm, sealed, public_jwk, created_at, active_at`

func scanSigningKey(s scanner) (*store.SigningKey, error) {
	var (
		k               store.SigningKey
		created, active *time.Time
	)
	if err := s.Scan(&k.ID, &k.Algorithm, &k.Sealed, &k.PublicJWK, &created, &active); err != nil {
		return nil, mapErr(err)
	}
	k.Sealed, k.PublicJWK = bytesOut(k.Sealed), bytesOut(k.PublicJWK)
	k.CreatedAt, k.ActiveAt = timeOut(created), timeOut(active)
	return &k, nil
}

// CreateSigningKey inserts a signing key; [store.ErrConflict] if the id
// exists.
func (q *queries) CreateSigningKey(ctx context.Context, k *store.SigningKey) error {
	tag, err := q.q.Exec(ctx, `INSERT INTO signing_keys (`+signingKeyCols+`)
		VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT DO NOTHING`,
		k.ID, k.Algorithm, k.Sealed, k.PublicJWK, timeIn(k.CreatedAt), timeIn(k.ActiveAt))
	return insertResult(tag, err)
}

// ListSigningKeys returns all signing keys, oldest ActiveAt first.
func (q *queries) ListSigningKeys(ctx context.Context) ([]store.SigningKey, error) {
	return list(ctx, q.q, scanSigningKey,
		`SELECT `+signingKeyCols+` FROM signing_keys ORDER BY active_at NULLS FIRST, id`)
}

// DeleteSigningKey deletes a key; [store.ErrNotFound] if there is none.
func (q *queries) DeleteSigningKey(ctx context.Context, id string) error {
	return oneRow(q.q.Exec(ctx, `DELETE FROM signing_keys WHERE id = $1`, id))
}

// ---- helpers ----

// where builds a WHERE clause of AND-ed conditions with numbered
// placeholders. Only the conditions in use are written, so that each
// filter shape gets its own cached statement and a plan that uses the
// matching index.
type where struct {
	conds []string
	args  []any
}

// add appends a condition whose %s verbs stand for vals, in order.
func (w *where) add(cond string, vals ...any) {
	w.conds = append(w.conds, w.arg(cond, vals...))
}

// arg formats s with a placeholder for each of vals, added to w.args.
func (w *where) arg(s string, vals ...any) string {
	ph := make([]any, len(vals))
	for i, v := range vals {
		w.args = append(w.args, v)
		ph[i] = "$" + strconv.Itoa(len(w.args))
	}
	return fmt.Sprintf(s, ph...)
}

func (w *where) sql() string {
	if len(w.conds) == 0 {
		return ""
	}
	return " WHERE " + strings.Join(w.conds, " AND ")
}

// list runs a query and scans every row with scan.
func list[T any](ctx context.Context, q querier, scan func(scanner) (*T, error), sql string, args ...any) ([]T, error) {
	rows, err := q.Query(ctx, sql, args...)
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
	if err := rows.Err(); err != nil {
		return nil, mapErr(err)
	}
	return out, nil
}

func scanString(s scanner) (*string, error) {
	var v string
	if err := s.Scan(&v); err != nil {
		return nil, mapErr(err)
	}
	return &v, nil
}

// insertResult maps an INSERT ... ON CONFLICT DO NOTHING that inserted
// nothing to [store.ErrConflict].
func insertResult(tag pgconn.CommandTag, err error) error {
	if err != nil {
		return mapErr(err)
	}
	if tag.RowsAffected() == 0 {
		return store.ErrConflict
	}
	return nil
}

// oneRow maps a keyed UPDATE or DELETE that touched nothing to
// [store.ErrNotFound].
func oneRow(tag pgconn.CommandTag, err error) error {
	if err != nil {
		return mapErr(err)
	}
	if tag.RowsAffected() == 0 {
		return store.ErrNotFound
	}
	return nil
}

func rowCount(tag pgconn.CommandTag, err error) (int, error) {
	if err != nil {
		return 0, mapErr(err)
	}
	return int(tag.RowsAffected()), nil
}

// checkLimit refuses a batch size that would delete nothing, so that a
// misconfigured janitor fails loudly rather than never collecting.
func checkLimit(limit int) error {
	if limit <= 0 {
		return fmt.Errorf("postgres: batch limit must be positive, got %d", limit)
	}
	return nil
}

// timeIn stores the zero time as NULL. Times that are only compared
// against (a filter's now) go to the driver as they are, so that the zero
// time keeps its Go meaning there: before every other time.
func timeIn(t time.Time) any {
	if t.IsZero() {
		return nil
	}
	return t
}

// timeOut reads NULL as the zero time and any other time in UTC, whatever
// the session's time zone.
func timeOut(t *time.Time) time.Time {
	if t == nil {
		return time.Time{}
	}
	return t.UTC()
}

// durIn stores a duration as BIGINT nanoseconds, nil as NULL.
func durIn(d *time.Duration) any {
	if d == nil {
		return nil
	}
	return int64(*d)
}

func durOut(ns *int64) *time.Duration {
	if ns == nil {
		return nil
	}
	d := time.Duration(*ns)
	return &d
}

// listIn stores a nil list as an empty array: the columns are NOT NULL so
// that no query needs to tell NULL from empty.
func listIn(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

// listOut returns nil for an empty list, as Go code usually writes it.
func listOut(s []string) []string {
	if len(s) == 0 {
		return nil
	}
	return s
}

// bytesOut returns nil for empty bytes, which no hash or sealed value is.
func bytesOut(b []byte) []byte {
	if len(b) == 0 {
		return nil
	}
	return b
}

// genIn converts a generation to BIGINT, refusing what it cannot hold.
func genIn(g uint64) (int64, error) {
	if g > math.MaxInt64 {
		return 0, fmt.Errorf("postgres: generation %d out of range", g)
	}
	return int64(g), nil
}
