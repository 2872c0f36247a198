package postgres

import (
	"context"
	"time"

	"github.com/rotor-auth/rotor/internal/store"
)

const authCodeCols = `hash, client_id, redirect_uri, scopes, audiences, nonce, code_challenge, dpop_jkt,
	subject, session_id, auth_time, created_at, expires_at, used_at, family_id, access_token_id`

func scanAuthCode(s scanner) (*store.AuthCode, error) {
	var (
		c                                store.AuthCode
		scopes, auds                     []string
		authTime, created, expires, used *time.Time
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
// ON CONFLICT DO NOTHING keeps the transaction usable and puts no
// unique-violation detail, which would quote the hash, in any error.
func (q *queries) CreateAuthCode(ctx context.Context, c *store.AuthCode) error {
	query, args := insertSQL("auth_codes", authCodeColumns(c))
	return insertResult(q.q.Exec(ctx, query+" ON CONFLICT DO NOTHING", args...))
}

// LockAuthCode returns a code and, inside [DB.Tx], holds its row lock
// until the transaction ends, so that of two redemptions one waits for
// the other; outside a transaction it only reads.
func (q *queries) LockAuthCode(ctx context.Context, hash []byte) (*store.AuthCode, error) {
	query := `SELECT ` + authCodeCols + ` FROM auth_codes WHERE hash = $1`
	if q.inTx {
		query += ` FOR UPDATE`
	}
	return scanAuthCode(q.q.QueryRow(ctx, query, hash))
}

// UpdateAuthCode writes a code's UsedAt, FamilyID and AccessTokenID;
// [store.ErrNotFound] if there is none.
func (q *queries) UpdateAuthCode(ctx context.Context, c *store.AuthCode) error {
	return oneRow(q.q.Exec(ctx, `UPDATE auth_codes SET used_at = $1, family_id = $2, access_token_id = $3
		WHERE hash = $4`, timeIn(c.UsedAt), c.FamilyID, c.AccessTokenID, c.Hash))
}

// DeleteExpiredAuthCodes deletes at most limit codes whose expiry is at or
// before before (one without an expiry counts as expired).
func (q *queries) DeleteExpiredAuthCodes(ctx context.Context, before time.Time, limit int) (int, error) {
	if err := checkLimit(limit); err != nil {
		return 0, err
	}
	// SKIP LOCKED: a code being redeemed waits for the next sweep.
	return rowCount(q.q.Exec(ctx, `DELETE FROM auth_codes WHERE hash IN (
		SELECT hash FROM auth_codes WHERE expires_at <= $1 OR expires_at IS NULL
		LIMIT $2 FOR UPDATE SKIP LOCKED)`, before, limit))
}
