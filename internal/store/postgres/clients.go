package postgres

import (
	"context"
	"time"

	"github.com/rotor-auth/rotor/internal/store"
)

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
