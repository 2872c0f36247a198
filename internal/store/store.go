package store

import (
	"context"
	"errors"
	"time"
)

// Sentinel errors. Backends wrap driver errors and return these for the
// conditions callers must distinguish.
var (
	// ErrNotFound: no row with that key.
	ErrNotFound = errors.New("store: not found")
	// ErrConflict: a row with that unique key already exists.
	ErrConflict = errors.New("store: already exists")
	// ErrUnavailable: the database did not serve the call. It is stopped
	// or unreachable (connection refused), it is shutting down or
	// restarting (PostgreSQL's 57P01, 57P02, 57P03), the connection to it
	// was lost, or the caller's context deadline passed while waiting for
	// it (or, on SQLite, for the committer). It is temporary: the edge
	// answers 503 with Retry-After. The driver's error stays in the chain,
	// so errors.Is(err, context.DeadlineExceeded) still holds for a
	// deadline. A write that fails with it was not committed, unless the
	// connection was lost while its commit was in flight, when its outcome
	// is unknown.
	ErrUnavailable = errors.New("store: database unavailable")
	// ErrCommitUnknown: a transaction's COMMIT was sent and no answer
	// came (the connection was lost or the deadline passed): it may have
	// committed or not. Errors matching it match ErrUnavailable too. A
	// caller that must not answer wrongly reads back what the
	// transaction wrote, once the database answers again.
	ErrCommitUnknown = errors.New("store: commit outcome unknown")
)

// Store is a storage backend. All methods are safe for concurrent use.
// Methods of the embedded [Queries] run outside any transaction, each as
// its own atomic statement.
type Store interface {
	Queries
	// Tx runs fn in a read-write transaction and commits if fn returns
	// nil; otherwise it rolls back and returns fn's error. Rows read with
	// [FamilyQueries.LockFamily] stay locked against other transactions, on
	// every replica, until Tx returns. Backends retry fn on serialization
	// failures and busy errors, so fn must not have effects outside tx.
	Tx(ctx context.Context, fn func(tx Tx) error) error
	// CreateFamilies inserts many families at once, all or none, far
	// faster than one CreateFamily each (multi-row INSERTs in one
	// transaction, or COPY); it is for provisioning and imports, such as
	// `rotor bench`, not for the request path. ErrConflict if any id
	// exists already or appears twice.
	CreateFamilies(ctx context.Context, families []*Family) error
	// CreateSigningKeyIfNoneAfter inserts k unless a stored key has an
	// ActiveAt after the given time (with a zero time, unless any key is
	// stored), and reports whether it inserted k. The check and the insert
	// are one step on every replica: of replicas that find no current key
	// at the same moment (on an empty database, or when the active key is
	// due for rotation) exactly one creates the next. ErrConflict if k's
	// id exists.
	CreateSigningKeyIfNoneAfter(ctx context.Context, k *SigningKey, after time.Time) (bool, error)
	// Migrate applies the embedded schema migrations that are missing.
	Migrate(ctx context.Context) error
	// Ping checks that the database is reachable.
	Ping(ctx context.Context) error
	// Close releases the backend's resources.
	Close() error
}

// Do runs fn in a transaction of st, as [Store.Tx] does, and returns the
// value of its last run: the one that committed (or failed), since a
// backend may run fn more than once. No caller keeps results of an
// earlier, rolled-back run in variables of its own.
func Do[T any](ctx context.Context, st Store, fn func(tx Tx) (T, error)) (T, error) {
	var v T
	err := st.Tx(ctx, func(tx Tx) error {
		var err error
		v, err = fn(tx)
		return err
	})
	return v, err
}

// Tx is a transaction in progress: the same queries, applied atomically.
// A Tx must not be used after the function it was passed to returns.
type Tx interface {
	Queries
}

// FamilyFilter selects families. Zero fields do not filter.
type FamilyFilter struct {
	ClientID string
	Subject  string
	// SessionID selects the families created in a browser session.
	SessionID string
	// LiveOnly keeps families that are not revoked and whose idle and
	// absolute expiries are after Now.
	LiveOnly bool
	Now      time.Time
	// Limit caps the result; 0 means no limit.
	Limit int
}

// EventFilter selects audit events, in increasing ID order.
type EventFilter struct {
	// AfterID keeps events with ID > AfterID.
	AfterID  int64
	Type     string
	ClientID string
	Subject  string
	FamilyID string
	// Limit caps the result; 0 means no limit.
	Limit int
	// Newest, with a Limit, keeps the newest matching events rather than
	// the oldest (still returned in increasing ID order), as `tail` does.
	Newest bool
}

// Queries are the operations a backend offers, in or out of a
// transaction: one interface per entity, so that a caller can ask for
// only what it uses (a function that checks a client takes a
// [ClientQueries]) and a new table brings its own interface rather than
// growing one list. Every method takes ctx down to the driver.
type Queries interface {
	ClientQueries
	UserQueries
	FamilyQueries
	DenialQueries
	EventQueries
	SigningKeyQueries
	AuthCodeQueries
	SessionQueries
	ConsentQueries
	DeviceCodeQueries
}

// ClientQueries read and write registered OAuth clients.
type ClientQueries interface {
	// CreateClient inserts a client; ErrConflict if the id exists.
	CreateClient(ctx context.Context, c *Client) error
	// GetClient returns a client; ErrNotFound if there is none.
	GetClient(ctx context.Context, id string) (*Client, error)
	// LockClient returns a client and, inside [Store.Tx], locks its row
	// against every other transaction until this one ends (SELECT ... FOR
	// UPDATE): changes of a client (update, disable, delete) are
	// serialised with each other and with the grants that read it with
	// ShareClient. ErrNotFound if there is none.
	LockClient(ctx context.Context, id string) (*Client, error)
	// ShareClient returns a client and, inside [Store.Tx], keeps it from
	// changing until the transaction ends (SELECT ... FOR SHARE), without
	// keeping other sharers out: a grant creating a family sees the client
	// as it stays until the family is committed. ErrNotFound if none.
	ShareClient(ctx context.Context, id string) (*Client, error)
	// ListClients returns all clients ordered by id.
	ListClients(ctx context.Context) ([]Client, error)
	// UpdateClient overwrites every mutable field of an existing client;
	// ErrNotFound if there is none.
	UpdateClient(ctx context.Context, c *Client) error
	// DeleteClient deletes a client; ErrNotFound if there is none. Its
	// families are not deleted (they fail the consistency check on use and
	// are collected by the janitor); callers revoke them first.
	DeleteClient(ctx context.Context, id string) error
}

// UserQueries read and write users (resource owners).
type UserQueries interface {
	// CreateUser inserts a user; ErrConflict if the id or username exists.
	CreateUser(ctx context.Context, u *User) error
	// GetUser returns a user by id; ErrNotFound if there is none.
	GetUser(ctx context.Context, id string) (*User, error)
	// GetUserByUsername returns a user by username; ErrNotFound if none.
	GetUserByUsername(ctx context.Context, username string) (*User, error)
	// LockUser returns a user and, inside [Store.Tx], locks its row until
	// the transaction ends, as [FamilyQueries.LockFamily] does: what is
	// decided about one user's sessions (the family cap, a password
	// change) is serialised.
	LockUser(ctx context.Context, id string) (*User, error)
	// ListUsers returns all users ordered by username.
	ListUsers(ctx context.Context) ([]User, error)
	// UpdateUser overwrites every mutable field of an existing user;
	// ErrNotFound if there is none.
	UpdateUser(ctx context.Context, u *User) error
}

// FamilyQueries read and write refresh-token families.
type FamilyQueries interface {
	// CreateFamily inserts a family; ErrConflict if the id exists.
	CreateFamily(ctx context.Context, f *Family) error
	// GetFamily returns a family without locking it; ErrNotFound if none.
	GetFamily(ctx context.Context, id string) (*Family, error)
	// LockFamily returns a family and, inside [Store.Tx], locks its row
	// until the transaction ends (SELECT ... FOR UPDATE, or the database
	// write lock on SQLite); ErrNotFound if none.
	LockFamily(ctx context.Context, id string) (*Family, error)
	// UpdateFamily overwrites every mutable field of a family in place
	// (everything but ID, ClientID, Subject, CreatedAt, AbsoluteExpiresAt);
	// ErrNotFound if there is none.
	UpdateFamily(ctx context.Context, f *Family) error
	// RevokeFamilies revokes, in one statement, every live (not yet
	// revoked) family matching the filter's ClientID, Subject and
	// SessionID (the
	// filter's other fields are ignored; an empty filter is refused with an
	// error) and returns their ids. It clears GraceSealed.
	RevokeFamilies(ctx context.Context, filter FamilyFilter, reason string, at time.Time) ([]string, error)
	// RevokeFamily revokes one family if it is not revoked yet and reports
	// whether it did; ErrNotFound if there is none. It clears GraceSealed.
	RevokeFamily(ctx context.Context, id, reason string, at time.Time) (bool, error)
	// ListFamilies returns matching families, least recently used first.
	ListFamilies(ctx context.Context, filter FamilyFilter) ([]Family, error)
	// CountFamilies returns the number of families in the store.
	CountFamilies(ctx context.Context) (int64, error)
	// DeleteExpiredFamilies deletes at most limit families whose absolute
	// expiry is at or before now, and returns how many it deleted.
	DeleteExpiredFamilies(ctx context.Context, now time.Time, limit int) (int, error)
	// ClearExpiredGrace wipes GraceSealed from at most limit families whose
	// GraceUntil is at or before now, and returns how many it cleared.
	ClearExpiredGrace(ctx context.Context, now time.Time, limit int) (int, error)
}

// DenialQueries read and write the deny-list.
type DenialQueries interface {
	// Deny adds or extends a deny-list entry; an existing entry keeps the
	// later of the two expiries.
	Deny(ctx context.Context, d Denial) error
	// DenyOnce adds d unless an entry with its key holds after now, and
	// reports whether it added it: a one-time identifier (a client
	// assertion's jti) is accepted once across every replica.
	DenyOnce(ctx context.Context, d Denial, now time.Time) (bool, error)
	// Denied reports whether any of keys has an entry expiring after now.
	Denied(ctx context.Context, keys []string, now time.Time) (bool, error)
	// ListDenials returns at most limit entries that hold after now, whose
	// key starts with one of prefixes and sorts after afterKey, in key
	// order, so a large list is read page by page.
	ListDenials(ctx context.Context, now time.Time, prefixes []string, afterKey string, limit int) ([]Denial, error)
	// DeleteExpiredDenials deletes at most limit entries expired at now.
	DeleteExpiredDenials(ctx context.Context, now time.Time, limit int) (int, error)
}

// EventQueries read and write the audit trail.
type EventQueries interface {
	// AppendEvents inserts audit events and sets their IDs.
	AppendEvents(ctx context.Context, events ...*Event) error
	// ListEvents returns matching events in increasing ID order.
	ListEvents(ctx context.Context, filter EventFilter) ([]Event, error)
	// DeleteEventsBefore deletes at most limit events older than before.
	DeleteEventsBefore(ctx context.Context, before time.Time, limit int) (int, error)
}

// SigningKeyQueries read and write the server's JWS signing keys.
type SigningKeyQueries interface {
	// CreateSigningKey inserts a signing key; ErrConflict if the id exists.
	CreateSigningKey(ctx context.Context, k *SigningKey) error
	// ListSigningKeys returns all signing keys, oldest ActiveAt first.
	ListSigningKeys(ctx context.Context) ([]SigningKey, error)
	// DeleteSigningKey deletes a key; ErrNotFound if there is none.
	DeleteSigningKey(ctx context.Context, id string) error
}

// AuthCodeQueries read and write authorization codes.
type AuthCodeQueries interface {
	// CreateAuthCode inserts a code; ErrConflict if its hash exists.
	CreateAuthCode(ctx context.Context, c *AuthCode) error
	// LockAuthCode returns the code with that hash and, inside
	// [Store.Tx], locks its row until the transaction ends, so that of two
	// redemptions one waits for the other; ErrNotFound if there is none.
	LockAuthCode(ctx context.Context, hash []byte) (*AuthCode, error)
	// UpdateAuthCode writes a code's UsedAt, FamilyID and AccessTokenID;
	// ErrNotFound if there is none.
	UpdateAuthCode(ctx context.Context, c *AuthCode) error
	// DeleteExpiredAuthCodes deletes at most limit codes whose ExpiresAt
	// is at or before before, and returns how many it deleted.
	DeleteExpiredAuthCodes(ctx context.Context, before time.Time, limit int) (int, error)
}

// SessionQueries read and write browser sessions.
type SessionQueries interface {
	// CreateSession inserts a session; ErrConflict if its id or hash
	// exists.
	CreateSession(ctx context.Context, s *Session) error
	// GetSession returns a session by id; ErrNotFound if there is none.
	GetSession(ctx context.Context, id string) (*Session, error)
	// GetSessionByHash returns the session whose cookie hashes to hash;
	// ErrNotFound if there is none.
	GetSessionByHash(ctx context.Context, hash []byte) (*Session, error)
	// LockSession returns a session by id and, inside [Store.Tx], locks
	// its row until the transaction ends: a code redeemed in a session and
	// the session's end are serialised, so no family created in it
	// outlives its logout. ErrNotFound if there is none.
	LockSession(ctx context.Context, id string) (*Session, error)
	// UpdateSession writes a session's AuthTime, LastSeenAt, ExpiresAt,
	// IP, UserAgent, EndedAt and EndReason; ErrNotFound if there is none.
	// An ended session stays ended: EndedAt and EndReason are written
	// only while the stored session has not ended, so a stale copy (a
	// touch that read the session before a logout committed) cannot
	// bring it back.
	UpdateSession(ctx context.Context, s *Session) error
	// ListSessions returns a user's sessions that have not ended and
	// whose expiries are after now, most recently seen first.
	ListSessions(ctx context.Context, subject string, now time.Time) ([]Session, error)
	// EndSessions ends, in one statement, every session of subject that
	// has not ended, with reason at, and returns their ids.
	EndSessions(ctx context.Context, subject, reason string, at time.Time) ([]string, error)
	// DeleteExpiredSessions deletes at most limit sessions that ended or
	// expired (idle or absolute) at or before before, and returns how
	// many it deleted.
	DeleteExpiredSessions(ctx context.Context, before time.Time, limit int) (int, error)
}

// ConsentQueries read and write remembered consent.
type ConsentQueries interface {
	// GetConsent returns what subject consented to for client;
	// ErrNotFound if nothing.
	GetConsent(ctx context.Context, subject, clientID string) (*Consent, error)
	// PutConsent inserts or replaces the consent of (Subject, ClientID).
	PutConsent(ctx context.Context, c *Consent) error
	// DeleteConsents deletes the consents matching subject and clientID
	// (an empty one matches any; both empty is refused with an error) and
	// returns how many it deleted.
	DeleteConsents(ctx context.Context, subject, clientID string) (int, error)
}

// DeviceCodeQueries read and write device authorization requests.
type DeviceCodeQueries interface {
	// CreateDeviceCode inserts a request; ErrConflict if its hash or its
	// user code's hash exists.
	CreateDeviceCode(ctx context.Context, d *DeviceCode) error
	// LockDeviceCode returns the request with that device code hash and,
	// inside [Store.Tx], locks its row until the transaction ends (polls
	// of one code, and its approval, are serialised); ErrNotFound if none.
	LockDeviceCode(ctx context.Context, hash []byte) (*DeviceCode, error)
	// LockDeviceCodeByUserCode is LockDeviceCode by the user code's hash.
	LockDeviceCodeByUserCode(ctx context.Context, userCodeHash []byte) (*DeviceCode, error)
	// UpdateDeviceCode writes a request's Interval, LastPolledAt, Status,
	// Subject, SessionID, AuthTime, UsedAt, FamilyID and AccessTokenID;
	// ErrNotFound if there is none.
	UpdateDeviceCode(ctx context.Context, d *DeviceCode) error
	// CountPendingDeviceCodes returns how many requests of client are
	// pending and unexpired at now: unauthenticated devices of a public
	// client cannot fill the table.
	CountPendingDeviceCodes(ctx context.Context, clientID string, now time.Time) (int, error)
	// DeleteExpiredDeviceCodes deletes at most limit requests whose
	// ExpiresAt is at or before before, and returns how many it deleted.
	DeleteExpiredDeviceCodes(ctx context.Context, before time.Time, limit int) (int, error)
}
