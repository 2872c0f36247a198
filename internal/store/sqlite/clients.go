package sqlite

import (
	"context"
	"database/sql"

	"github.com/rotor-auth/rotor/internal/store"
)

const clientCols = `id, secret_hash, secret_phc, public, grant_types, scopes, audiences,
	redirect_uris, reuse_grace_ns, access_token_ttl_ns, refresh_idle_ttl_ns,
	refresh_absolute_ttl_ns, disabled, created_at, updated_at, require_dpop, auth_method, jwks, jwks_uri, introspect, tokens_valid_after,
	name, post_logout_redirect_uris, allowed_origins, skip_consent, refresh_requires_verifier`

func scanClient(s scanner) (*store.Client, error) {
	var (
		c                        store.Client
		grants, scopes, auds, ru string
		postLogout               string
		origins                  sql.NullString
		grace, at, idle, abs     sql.NullInt64
		created, updated, valid  sql.NullInt64
	)
	if err := s.Scan(&c.ID, &c.SecretHash, &c.SecretPHC, &c.Public, &grants, &scopes, &auds, &ru,
		&grace, &at, &idle, &abs, &c.Disabled, &created, &updated, &c.RequireDPoP, &c.AuthMethod, &c.JWKS, &c.JWKSURI, &c.Introspect, &valid,
		&c.Name, &postLogout, &origins, &c.SkipConsent, &c.RefreshRequiresVerifier); err != nil {
		return nil, mapErr(err)
	}
	c.SecretHash, c.JWKS = bytesOut(c.SecretHash), bytesOut(c.JWKS)
	c.GrantTypes, c.Scopes, c.Audiences, c.RedirectURIs = listOut(grants), listOut(scopes), listOut(auds), listOut(ru)
	c.ReuseGrace, c.AccessTokenTTL, c.RefreshIdleTTL, c.RefreshAbsoluteTTL = durOut(grace), durOut(at), durOut(idle), durOut(abs)
	c.CreatedAt, c.UpdatedAt, c.TokensValidAfter = timeOut(created), timeOut(updated), timeOut(valid)
	c.PostLogoutRedirectURIs, c.AllowedOrigins = listOut(postLogout), optListOut(origins)
	return &c, nil
}

// clientColumns are the columns of a client's row and their values.
func clientColumns(c *store.Client) []column {
	return []column{
		{"id", c.ID},
		{"secret_hash", c.SecretHash},
		{"secret_phc", c.SecretPHC},
		{"public", c.Public},
		{"grant_types", listIn(c.GrantTypes)},
		{"scopes", listIn(c.Scopes)},
		{"audiences", listIn(c.Audiences)},
		{"redirect_uris", listIn(c.RedirectURIs)},
		{"reuse_grace_ns", durIn(c.ReuseGrace)},
		{"access_token_ttl_ns", durIn(c.AccessTokenTTL)},
		{"refresh_idle_ttl_ns", durIn(c.RefreshIdleTTL)},
		{"refresh_absolute_ttl_ns", durIn(c.RefreshAbsoluteTTL)},
		{"disabled", c.Disabled},
		{"created_at", timeIn(c.CreatedAt)},
		{"updated_at", timeIn(c.UpdatedAt)},
		{"require_dpop", c.RequireDPoP},
		{"auth_method", c.AuthMethod},
		{"jwks", c.JWKS},
		{"jwks_uri", c.JWKSURI},
		{"introspect", c.Introspect},
		{"tokens_valid_after", timeIn(c.TokensValidAfter)},
		{"name", c.Name},
		{"post_logout_redirect_uris", listIn(c.PostLogoutRedirectURIs)},
		{"allowed_origins", optListIn(c.AllowedOrigins)},
		{"skip_consent", c.SkipConsent},
		{"refresh_requires_verifier", c.RefreshRequiresVerifier},
	}
}

// CreateClient inserts a client; [store.ErrConflict] if the id exists.
func (q *queries) CreateClient(ctx context.Context, c *store.Client) error {
	query, args := insertSQL("clients", clientColumns(c))
	_, err := q.w.ExecContext(ctx, query, args...)
	return mapErr(err)
}

// GetClient returns a client; [store.ErrNotFound] if there is none.
func (q *queries) GetClient(ctx context.Context, id string) (*store.Client, error) {
	return scanClient(q.r.QueryRowContext(ctx, `SELECT `+clientCols+` FROM clients WHERE id = ?`, id))
}

// LockClient reads a client; inside a transaction, which holds SQLite's
// write lock, nobody else writes until it ends.
func (q *queries) LockClient(ctx context.Context, id string) (*store.Client, error) {
	return q.GetClient(ctx, id)
}

// ShareClient is LockClient: SQLite has one writer at a time.
func (q *queries) ShareClient(ctx context.Context, id string) (*store.Client, error) {
	return q.GetClient(ctx, id)
}

// ListClients returns all clients ordered by id.
func (q *queries) ListClients(ctx context.Context) ([]store.Client, error) {
	return list(ctx, q.r, scanClient, `SELECT `+clientCols+` FROM clients ORDER BY id`)
}

// UpdateClient overwrites every field of a client but its ID and CreatedAt.
func (q *queries) UpdateClient(ctx context.Context, c *store.Client) error {
	query, args := updateSQL("clients", "id", []string{"created_at"}, clientColumns(c))
	return oneRow(q.w.ExecContext(ctx, query, args...))
}

// DeleteClient deletes a client; [store.ErrNotFound] if there is none.
func (q *queries) DeleteClient(ctx context.Context, id string) error {
	return oneRow(q.w.ExecContext(ctx, `DELETE FROM clients WHERE id = ?`, id))
}
