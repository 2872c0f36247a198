package sqlite

import (
	"context"
	"database/sql"

	"github.com/rotor-auth/rotor/internal/store"
)

const userCols = `id, username, password_phc, disabled, tokens_valid_after, created_at, updated_at, email, email_verified`

func scanUser(s scanner) (*store.User, error) {
	var (
		u                        store.User
		validAfter, created, upd sql.NullInt64
	)
	if err := s.Scan(&u.ID, &u.Username, &u.PasswordPHC, &u.Disabled, &validAfter, &created, &upd, &u.Email, &u.EmailVerified); err != nil {
		return nil, mapErr(err)
	}
	u.TokensValidAfter, u.CreatedAt, u.UpdatedAt = timeOut(validAfter), timeOut(created), timeOut(upd)
	return &u, nil
}

// userColumns are the columns of a user's row and their values.
func userColumns(u *store.User) []column {
	return []column{
		{"id", u.ID},
		{"username", u.Username},
		{"password_phc", u.PasswordPHC},
		{"disabled", u.Disabled},
		{"tokens_valid_after", timeIn(u.TokensValidAfter)},
		{"created_at", timeIn(u.CreatedAt)},
		{"updated_at", timeIn(u.UpdatedAt)},
		{"email", u.Email},
		{"email_verified", u.EmailVerified},
	}
}

// CreateUser inserts a user; [store.ErrConflict] if the id or username exists.
func (q *queries) CreateUser(ctx context.Context, u *store.User) error {
	query, args := insertSQL("users", userColumns(u))
	_, err := q.w.ExecContext(ctx, query, args...)
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
	query, args := updateSQL("users", "id", []string{"created_at"}, userColumns(u))
	return oneRow(q.w.ExecContext(ctx, query, args...))
}
