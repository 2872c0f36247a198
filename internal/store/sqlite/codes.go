package sqlite

import (
	"context"
	"database/sql"
	"time"

	"github.com/rotor-auth/rotor/internal/store"
)

const authCodeCols = `hash, client_id, redirect_uri, scopes, audiences, nonce, code_challenge, dpop_jkt,
	subject, session_id, auth_time, created_at, expires_at, used_at, family_id, access_token_id`

func scanAuthCode(s scanner) (*store.AuthCode, error) {
	var (
		c                                store.AuthCode
		scopes, auds                     string
		authTime, created, expires, used sql.NullInt64
	)
	if err := s.Scan(&c.Hash, &c.ClientID, &c.RedirectURI, &scopes, &auds, &c.Nonce, &c.CodeChallenge, &c.DPoPJKT,
		&c.Subject, &c.SessionID, &authTime, &created, &expires, &used, &c.FamilyID, &c.AccessTokenID); err != nil {
		return nil, mapErr(err)
	}
	c.Hash = bytesOut(c.Hash)
	c.Scopes, c.Audiences = listOut(scopes), listOut(auds)
	c.AuthTime, c.CreatedAt, c.ExpiresAt, c.UsedAt = timeOut(authTime), timeOut(created), timeOut(expires), timeOut(used)
	return &c, nil
}

// authCodeColumns are the columns of a code's row and their values.
func authCodeColumns(c *store.AuthCode) []column {
	return []column{
		{"hash", c.Hash},
		{"client_id", c.ClientID},
		{"redirect_uri", c.RedirectURI},
		{"scopes", listIn(c.Scopes)},
		{"audiences", listIn(c.Audiences)},
		{"nonce", c.Nonce},
		{"code_challenge", c.CodeChallenge},
		{"dpop_jkt", c.DPoPJKT},
		{"subject", c.Subject},
		{"session_id", c.SessionID},
		{"auth_time", timeIn(c.AuthTime)},
		{"created_at", timeIn(c.CreatedAt)},
		{"expires_at", timeIn(c.ExpiresAt)},
		{"used_at", timeIn(c.UsedAt)},
		{"family_id", c.FamilyID},
		{"access_token_id", c.AccessTokenID},
	}
}

// CreateAuthCode inserts a code; [store.ErrConflict] if its hash exists.
// SQLite's constraint error names the column, never the value, so the
// hash stays out of the error.
func (q *queries) CreateAuthCode(ctx context.Context, c *store.AuthCode) error {
	query, args := insertSQL("auth_codes", authCodeColumns(c))
	_, err := q.w.ExecContext(ctx, query, args...)
	return mapErr(err)
}

// LockAuthCode reads a code on the writer connection: inside [DB.Tx] the
// transaction already holds the database write lock (BEGIN IMMEDIATE),
// so of two redemptions the second runs after the first has committed.
func (q *queries) LockAuthCode(ctx context.Context, hash []byte) (*store.AuthCode, error) {
	return scanAuthCode(q.w.QueryRowContext(ctx, `SELECT `+authCodeCols+` FROM auth_codes WHERE hash = ?`, hash))
}

// UpdateAuthCode writes a code's UsedAt, FamilyID and AccessTokenID.
func (q *queries) UpdateAuthCode(ctx context.Context, c *store.AuthCode) error {
	return oneRow(q.w.ExecContext(ctx, `UPDATE auth_codes SET used_at = ?, family_id = ?, access_token_id = ?
		WHERE hash = ?`, timeIn(c.UsedAt), c.FamilyID, c.AccessTokenID, c.Hash))
}

// DeleteExpiredAuthCodes deletes at most limit codes expired at or before
// before (a code without an expiry counts as expired).
func (q *queries) DeleteExpiredAuthCodes(ctx context.Context, before time.Time, limit int) (int, error) {
	return rowCount(q.w.ExecContext(ctx, `DELETE FROM auth_codes WHERE hash IN (
		SELECT hash FROM auth_codes WHERE expires_at <= ? OR expires_at IS NULL LIMIT ?)`, timeIn(before), limit))
}
