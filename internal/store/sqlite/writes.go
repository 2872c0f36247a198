package sqlite

import (
	"context"
	"time"

	"github.com/rotor-auth/rotor/internal/store"
)

// The writes a caller makes outside a transaction go through the
// committer too, each as a transaction of its own, so that they share
// commits (and fsyncs) with everything else instead of waiting for the
// writer connection one by one: the audit event of every
// client_credentials token, for one, is written this way.

// Every method of queries that writes has an override here; the writer
// of the queries embedded in DB fails any statement ([committerOnly]), so
// a missing override fails loudly rather than bypassing the committer.

// LockUser, outside a transaction, reads the user: there is no
// transaction to hold a lock until, as on PostgreSQL.
func (db *DB) LockUser(ctx context.Context, id string) (*store.User, error) {
	return db.GetUser(ctx, id)
}

// LockFamily, outside a transaction, reads the family, as LockUser does.
func (db *DB) LockFamily(ctx context.Context, id string) (*store.Family, error) {
	return db.GetFamily(ctx, id)
}

// CreateClient inserts a client; [store.ErrConflict] if the id exists.
func (db *DB) CreateClient(ctx context.Context, c *store.Client) error {
	return db.Tx(ctx, func(tx store.Tx) error { return tx.CreateClient(ctx, c) })
}

// UpdateClient overwrites a client's mutable fields.
func (db *DB) UpdateClient(ctx context.Context, c *store.Client) error {
	return db.Tx(ctx, func(tx store.Tx) error { return tx.UpdateClient(ctx, c) })
}

// DeleteClient deletes a client; [store.ErrNotFound] if there is none.
func (db *DB) DeleteClient(ctx context.Context, id string) error {
	return db.Tx(ctx, func(tx store.Tx) error { return tx.DeleteClient(ctx, id) })
}

// CreateUser inserts a user; [store.ErrConflict] if the id or username
// exists.
func (db *DB) CreateUser(ctx context.Context, u *store.User) error {
	return db.Tx(ctx, func(tx store.Tx) error { return tx.CreateUser(ctx, u) })
}

// UpdateUser overwrites a user's mutable fields.
func (db *DB) UpdateUser(ctx context.Context, u *store.User) error {
	return db.Tx(ctx, func(tx store.Tx) error { return tx.UpdateUser(ctx, u) })
}

// CreateFamily inserts a family; [store.ErrConflict] if the id exists.
func (db *DB) CreateFamily(ctx context.Context, f *store.Family) error {
	return db.Tx(ctx, func(tx store.Tx) error { return tx.CreateFamily(ctx, f) })
}

// UpdateFamily overwrites a family's mutable fields in place.
func (db *DB) UpdateFamily(ctx context.Context, f *store.Family) error {
	return db.Tx(ctx, func(tx store.Tx) error { return tx.UpdateFamily(ctx, f) })
}

// RevokeFamilies revokes every live family of a client, a subject or
// both, and returns their ids.
func (db *DB) RevokeFamilies(ctx context.Context, filter store.FamilyFilter, reason string, at time.Time) ([]string, error) {
	var ids []string
	err := db.Tx(ctx, func(tx store.Tx) error {
		var err error
		ids, err = tx.RevokeFamilies(ctx, filter, reason, at)
		return err
	})
	return ids, err
}

// RevokeFamily revokes one family if it is live and reports whether it
// did.
func (db *DB) RevokeFamily(ctx context.Context, id, reason string, at time.Time) (bool, error) {
	var ok bool
	err := db.Tx(ctx, func(tx store.Tx) error {
		var err error
		ok, err = tx.RevokeFamily(ctx, id, reason, at)
		return err
	})
	return ok, err
}

// DeleteExpiredFamilies deletes at most limit families past their
// absolute expiry.
func (db *DB) DeleteExpiredFamilies(ctx context.Context, now time.Time, limit int) (int, error) {
	return count(ctx, db, func(tx store.Tx) (int, error) { return tx.DeleteExpiredFamilies(ctx, now, limit) })
}

// ClearExpiredGrace wipes sealed successors whose grace period is over.
func (db *DB) ClearExpiredGrace(ctx context.Context, now time.Time, limit int) (int, error) {
	return count(ctx, db, func(tx store.Tx) (int, error) { return tx.ClearExpiredGrace(ctx, now, limit) })
}

// Deny adds or extends a deny-list entry, never shortening it.
func (db *DB) Deny(ctx context.Context, d store.Denial) error {
	return db.Tx(ctx, func(tx store.Tx) error { return tx.Deny(ctx, d) })
}

// DenyOnce adds d unless a live entry with its key exists.
func (db *DB) DenyOnce(ctx context.Context, d store.Denial, now time.Time) (bool, error) {
	var added bool
	err := db.Tx(ctx, func(tx store.Tx) error {
		var err error
		added, err = tx.DenyOnce(ctx, d, now)
		return err
	})
	return added, err
}

// DeleteExpiredDenials deletes at most limit expired entries.
func (db *DB) DeleteExpiredDenials(ctx context.Context, now time.Time, limit int) (int, error) {
	return count(ctx, db, func(tx store.Tx) (int, error) { return tx.DeleteExpiredDenials(ctx, now, limit) })
}

// AppendEvents inserts events and sets their IDs.
func (db *DB) AppendEvents(ctx context.Context, events ...*store.Event) error {
	return db.Tx(ctx, func(tx store.Tx) error { return tx.AppendEvents(ctx, events...) })
}

// DeleteEventsBefore deletes at most limit events older than before.
func (db *DB) DeleteEventsBefore(ctx context.Context, before time.Time, limit int) (int, error) {
	return count(ctx, db, func(tx store.Tx) (int, error) { return tx.DeleteEventsBefore(ctx, before, limit) })
}

// CreateSigningKey inserts a key; [store.ErrConflict] if the id exists.
func (db *DB) CreateSigningKey(ctx context.Context, k *store.SigningKey) error {
	return db.Tx(ctx, func(tx store.Tx) error { return tx.CreateSigningKey(ctx, k) })
}

// DeleteSigningKey deletes a key; [store.ErrNotFound] if there is none.
func (db *DB) DeleteSigningKey(ctx context.Context, id string) error {
	return db.Tx(ctx, func(tx store.Tx) error { return tx.DeleteSigningKey(ctx, id) })
}

// count runs a counting write as a transaction of its own.
func count(ctx context.Context, db *DB, fn func(store.Tx) (int, error)) (int, error) {
	var n int
	err := db.Tx(ctx, func(tx store.Tx) error {
		var err error
		n, err = fn(tx)
		return err
	})
	return n, err
}

// CreateAuthCode inserts a code; [store.ErrConflict] if its hash exists.
func (db *DB) CreateAuthCode(ctx context.Context, c *store.AuthCode) error {
	return db.Tx(ctx, func(tx store.Tx) error { return tx.CreateAuthCode(ctx, c) })
}

// LockAuthCode, outside a transaction, reads the code, as LockFamily does.
func (db *DB) LockAuthCode(ctx context.Context, hash []byte) (*store.AuthCode, error) {
	return scanAuthCode(db.r.QueryRowContext(ctx, `SELECT `+authCodeCols+` FROM auth_codes WHERE hash = ?`, hash))
}

// LockSession, outside a transaction, reads the session, as LockFamily
// does.
func (db *DB) LockSession(ctx context.Context, id string) (*store.Session, error) {
	return scanSession(db.r.QueryRowContext(ctx, `SELECT `+sessionCols+` FROM sessions WHERE id = ?`, id))
}

// UpdateAuthCode writes a code's UsedAt, FamilyID and AccessTokenID.
func (db *DB) UpdateAuthCode(ctx context.Context, c *store.AuthCode) error {
	return db.Tx(ctx, func(tx store.Tx) error { return tx.UpdateAuthCode(ctx, c) })
}

// DeleteExpiredAuthCodes deletes at most limit expired codes.
func (db *DB) DeleteExpiredAuthCodes(ctx context.Context, before time.Time, limit int) (int, error) {
	return count(ctx, db, func(tx store.Tx) (int, error) { return tx.DeleteExpiredAuthCodes(ctx, before, limit) })
}

// CreateSession inserts a session; [store.ErrConflict] if its id or hash
// exists.
func (db *DB) CreateSession(ctx context.Context, s *store.Session) error {
	return db.Tx(ctx, func(tx store.Tx) error { return tx.CreateSession(ctx, s) })
}

// UpdateSession writes the mutable fields of a session.
func (db *DB) UpdateSession(ctx context.Context, s *store.Session) error {
	return db.Tx(ctx, func(tx store.Tx) error { return tx.UpdateSession(ctx, s) })
}

// DeleteExpiredSessions deletes at most limit ended or expired sessions.
func (db *DB) DeleteExpiredSessions(ctx context.Context, before time.Time, limit int) (int, error) {
	return count(ctx, db, func(tx store.Tx) (int, error) { return tx.DeleteExpiredSessions(ctx, before, limit) })
}

// PutConsent inserts or replaces a consent.
func (db *DB) PutConsent(ctx context.Context, c *store.Consent) error {
	return db.Tx(ctx, func(tx store.Tx) error { return tx.PutConsent(ctx, c) })
}

// DeleteConsents deletes the consents of a subject, a client or both.
func (db *DB) DeleteConsents(ctx context.Context, subject, clientID string) (int, error) {
	return count(ctx, db, func(tx store.Tx) (int, error) { return tx.DeleteConsents(ctx, subject, clientID) })
}

// EndSessions ends every session of subject not yet ended and returns
// their ids.
func (db *DB) EndSessions(ctx context.Context, subject, reason string, at time.Time) ([]string, error) {
	var ids []string
	err := db.Tx(ctx, func(tx store.Tx) error {
		var err error
		ids, err = tx.EndSessions(ctx, subject, reason, at)
		return err
	})
	return ids, err
}

// CreateDeviceCode inserts a request; [store.ErrConflict] if its hash or
// its user code's hash exists.
func (db *DB) CreateDeviceCode(ctx context.Context, d *store.DeviceCode) error {
	return db.Tx(ctx, func(tx store.Tx) error { return tx.CreateDeviceCode(ctx, d) })
}

// LockDeviceCode, outside a transaction, reads the request, as
// LockAuthCode does.
func (db *DB) LockDeviceCode(ctx context.Context, hash []byte) (*store.DeviceCode, error) {
	return scanDeviceCode(db.r.QueryRowContext(ctx, `SELECT `+deviceCodeCols+` FROM device_codes WHERE hash = ?`, hash))
}

// LockDeviceCodeByUserCode, outside a transaction, reads the request by
// its user code's hash.
func (db *DB) LockDeviceCodeByUserCode(ctx context.Context, userCodeHash []byte) (*store.DeviceCode, error) {
	return scanDeviceCode(db.r.QueryRowContext(ctx, `SELECT `+deviceCodeCols+` FROM device_codes WHERE user_code_hash = ?`, userCodeHash))
}

// UpdateDeviceCode writes a request's mutable fields.
func (db *DB) UpdateDeviceCode(ctx context.Context, d *store.DeviceCode) error {
	return db.Tx(ctx, func(tx store.Tx) error { return tx.UpdateDeviceCode(ctx, d) })
}

// DeleteExpiredDeviceCodes deletes at most limit expired requests.
func (db *DB) DeleteExpiredDeviceCodes(ctx context.Context, before time.Time, limit int) (int, error) {
	return count(ctx, db, func(tx store.Tx) (int, error) { return tx.DeleteExpiredDeviceCodes(ctx, before, limit) })
}
