package sqlite

import (
	"context"
	"database/sql"

	"github.com/rotor-auth/rotor/internal/store"
)

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
