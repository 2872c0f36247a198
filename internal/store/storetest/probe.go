package storetest

import (
	"context"
	"reflect"
	"slices"
	"sync"
	"time"

	"github.com/rotor-auth/rotor/internal/store"
)

// probe is the store the conformance tests are given. It forwards every
// call to the backend under test in one of two ways:
//
//   - direct: each query method is called on the store itself, outside
//     any transaction, and the probe notes its name, so that [Run] can
//     check that every method of [store.Queries] ran that way (on SQLite
//     a write outside a transaction must go through the committer; one
//     that reaches the writer connection by another path fails);
//   - in a transaction: each query method runs inside a [store.Store.Tx]
//     of its own, so that the same tests cover the methods of a Tx.
//
// It implements every method of store.Queries itself rather than
// embedding the backend, so that a method added to the contract does not
// compile here until it is probed too.
type probe struct {
	st   store.Store
	inTx bool
	seen *seen // direct calls; nil in a transaction
}

var _ store.Store = (*probe)(nil)

// seen is the set of query methods called directly on a store.
type seen struct {
	mu    sync.Mutex
	names map[string]bool
}

func (s *seen) note(name string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.names[name] = true
}

// missing returns the methods of store.Queries never called directly,
// and the names noted that are not methods of it (a misspelt note).
func (s *seen) missing() (never, unknown []string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	methods := map[string]bool{}
	q := reflect.TypeFor[store.Queries]()
	for i := range q.NumMethod() {
		name := q.Method(i).Name
		methods[name] = true
		if !s.names[name] {
			never = append(never, name)
		}
	}
	for name := range s.names {
		if !methods[name] {
			unknown = append(unknown, name)
		}
	}
	slices.Sort(unknown)
	return never, unknown
}

// run calls fn directly on the store or in a transaction of its own.
func (p *probe) run(ctx context.Context, name string, fn func(store.Queries) error) error {
	if p.inTx {
		return p.st.Tx(ctx, func(tx store.Tx) error { return fn(tx) })
	}
	p.seen.note(name)
	return fn(p.st)
}

// get is run for a method that returns a value.
func get[T any](p *probe, ctx context.Context, name string, fn func(store.Queries) (T, error)) (T, error) {
	var v T
	err := p.run(ctx, name, func(q store.Queries) error {
		var err error
		v, err = fn(q)
		return err
	})
	return v, err
}

// ---- store.Store, forwarded as they are ----

func (p *probe) Tx(ctx context.Context, fn func(tx store.Tx) error) error { return p.st.Tx(ctx, fn) }

func (p *probe) CreateFamilies(ctx context.Context, families []*store.Family) error {
	return p.st.CreateFamilies(ctx, families)
}

// CreateSigningKeyIfNoneAfter is a store method of its own, outside any
// transaction by design.
func (p *probe) CreateSigningKeyIfNoneAfter(ctx context.Context, k *store.SigningKey, after time.Time) (bool, error) {
	return p.st.CreateSigningKeyIfNoneAfter(ctx, k, after)
}

func (p *probe) Migrate(ctx context.Context) error { return p.st.Migrate(ctx) }
func (p *probe) Ping(ctx context.Context) error    { return p.st.Ping(ctx) }
func (p *probe) Close() error                      { return p.st.Close() }

// ---- store.ClientQueries ----

func (p *probe) CreateClient(ctx context.Context, c *store.Client) error {
	return p.run(ctx, "CreateClient", func(q store.Queries) error { return q.CreateClient(ctx, c) })
}

func (p *probe) GetClient(ctx context.Context, id string) (*store.Client, error) {
	return get(p, ctx, "GetClient", func(q store.Queries) (*store.Client, error) { return q.GetClient(ctx, id) })
}

func (p *probe) LockClient(ctx context.Context, id string) (*store.Client, error) {
	return get(p, ctx, "LockClient", func(q store.Queries) (*store.Client, error) { return q.LockClient(ctx, id) })
}

func (p *probe) ShareClient(ctx context.Context, id string) (*store.Client, error) {
	return get(p, ctx, "ShareClient", func(q store.Queries) (*store.Client, error) { return q.ShareClient(ctx, id) })
}

func (p *probe) ListClients(ctx context.Context) ([]store.Client, error) {
	return get(p, ctx, "ListClients", func(q store.Queries) ([]store.Client, error) { return q.ListClients(ctx) })
}

func (p *probe) UpdateClient(ctx context.Context, c *store.Client) error {
	return p.run(ctx, "UpdateClient", func(q store.Queries) error { return q.UpdateClient(ctx, c) })
}

func (p *probe) DeleteClient(ctx context.Context, id string) error {
	return p.run(ctx, "DeleteClient", func(q store.Queries) error { return q.DeleteClient(ctx, id) })
}

// ---- store.UserQueries ----

func (p *probe) CreateUser(ctx context.Context, u *store.User) error {
	return p.run(ctx, "CreateUser", func(q store.Queries) error { return q.CreateUser(ctx, u) })
}

func (p *probe) GetUser(ctx context.Context, id string) (*store.User, error) {
	return get(p, ctx, "GetUser", func(q store.Queries) (*store.User, error) { return q.GetUser(ctx, id) })
}

func (p *probe) GetUserByUsername(ctx context.Context, username string) (*store.User, error) {
	return get(p, ctx, "GetUserByUsername", func(q store.Queries) (*store.User, error) {
		return q.GetUserByUsername(ctx, username)
	})
}

func (p *probe) LockUser(ctx context.Context, id string) (*store.User, error) {
	return get(p, ctx, "LockUser", func(q store.Queries) (*store.User, error) { return q.LockUser(ctx, id) })
}

func (p *probe) ListUsers(ctx context.Context) ([]store.User, error) {
	return get(p, ctx, "ListUsers", func(q store.Queries) ([]store.User, error) { return q.ListUsers(ctx) })
}

func (p *probe) UpdateUser(ctx context.Context, u *store.User) error {
	return p.run(ctx, "UpdateUser", func(q store.Queries) error { return q.UpdateUser(ctx, u) })
}

// ---- store.FamilyQueries ----

func (p *probe) CreateFamily(ctx context.Context, f *store.Family) error {
	return p.run(ctx, "CreateFamily", func(q store.Queries) error { return q.CreateFamily(ctx, f) })
}

func (p *probe) GetFamily(ctx context.Context, id string) (*store.Family, error) {
	return get(p, ctx, "GetFamily", func(q store.Queries) (*store.Family, error) { return q.GetFamily(ctx, id) })
}

func (p *probe) LockFamily(ctx context.Context, id string) (*store.Family, error) {
	return get(p, ctx, "LockFamily", func(q store.Queries) (*store.Family, error) { return q.LockFamily(ctx, id) })
}

func (p *probe) UpdateFamily(ctx context.Context, f *store.Family) error {
	return p.run(ctx, "UpdateFamily", func(q store.Queries) error { return q.UpdateFamily(ctx, f) })
}

func (p *probe) RevokeFamilies(ctx context.Context, filter store.FamilyFilter, reason string, at time.Time) ([]string, error) {
	return get(p, ctx, "RevokeFamilies", func(q store.Queries) ([]string, error) {
		return q.RevokeFamilies(ctx, filter, reason, at)
	})
}

func (p *probe) RevokeFamily(ctx context.Context, id, reason string, at time.Time) (bool, error) {
	return get(p, ctx, "RevokeFamily", func(q store.Queries) (bool, error) { return q.RevokeFamily(ctx, id, reason, at) })
}

func (p *probe) ListFamilies(ctx context.Context, filter store.FamilyFilter) ([]store.Family, error) {
	return get(p, ctx, "ListFamilies", func(q store.Queries) ([]store.Family, error) { return q.ListFamilies(ctx, filter) })
}

func (p *probe) CountFamilies(ctx context.Context) (int64, error) {
	return get(p, ctx, "CountFamilies", func(q store.Queries) (int64, error) { return q.CountFamilies(ctx) })
}

func (p *probe) DeleteExpiredFamilies(ctx context.Context, now time.Time, limit int) (int, error) {
	return get(p, ctx, "DeleteExpiredFamilies", func(q store.Queries) (int, error) {
		return q.DeleteExpiredFamilies(ctx, now, limit)
	})
}

func (p *probe) ClearExpiredGrace(ctx context.Context, now time.Time, limit int) (int, error) {
	return get(p, ctx, "ClearExpiredGrace", func(q store.Queries) (int, error) { return q.ClearExpiredGrace(ctx, now, limit) })
}

// ---- store.DenialQueries ----

func (p *probe) Deny(ctx context.Context, d store.Denial) error {
	return p.run(ctx, "Deny", func(q store.Queries) error { return q.Deny(ctx, d) })
}

func (p *probe) DenyOnce(ctx context.Context, d store.Denial, now time.Time) (bool, error) {
	return get(p, ctx, "DenyOnce", func(q store.Queries) (bool, error) { return q.DenyOnce(ctx, d, now) })
}

func (p *probe) Denied(ctx context.Context, keys []string, now time.Time) (bool, error) {
	return get(p, ctx, "Denied", func(q store.Queries) (bool, error) { return q.Denied(ctx, keys, now) })
}

func (p *probe) ListDenials(ctx context.Context, now time.Time, prefixes []string, afterKey string, limit int) ([]store.Denial, error) {
	return get(p, ctx, "ListDenials", func(q store.Queries) ([]store.Denial, error) {
		return q.ListDenials(ctx, now, prefixes, afterKey, limit)
	})
}

func (p *probe) DeleteExpiredDenials(ctx context.Context, now time.Time, limit int) (int, error) {
	return get(p, ctx, "DeleteExpiredDenials", func(q store.Queries) (int, error) {
		return q.DeleteExpiredDenials(ctx, now, limit)
	})
}

// ---- store.EventQueries ----

func (p *probe) AppendEvents(ctx context.Context, events ...*store.Event) error {
	return p.run(ctx, "AppendEvents", func(q store.Queries) error { return q.AppendEvents(ctx, events...) })
}

func (p *probe) ListEvents(ctx context.Context, filter store.EventFilter) ([]store.Event, error) {
	return get(p, ctx, "ListEvents", func(q store.Queries) ([]store.Event, error) { return q.ListEvents(ctx, filter) })
}

func (p *probe) DeleteEventsBefore(ctx context.Context, before time.Time, limit int) (int, error) {
	return get(p, ctx, "DeleteEventsBefore", func(q store.Queries) (int, error) {
		return q.DeleteEventsBefore(ctx, before, limit)
	})
}

// ---- store.SigningKeyQueries ----

func (p *probe) CreateSigningKey(ctx context.Context, k *store.SigningKey) error {
	return p.run(ctx, "CreateSigningKey", func(q store.Queries) error { return q.CreateSigningKey(ctx, k) })
}

func (p *probe) ListSigningKeys(ctx context.Context) ([]store.SigningKey, error) {
	return get(p, ctx, "ListSigningKeys", func(q store.Queries) ([]store.SigningKey, error) { return q.ListSigningKeys(ctx) })
}

func (p *probe) DeleteSigningKey(ctx context.Context, id string) error {
	return p.run(ctx, "DeleteSigningKey", func(q store.Queries) error { return q.DeleteSigningKey(ctx, id) })
}

// ---- store.AuthCodeQueries ----

func (p *probe) CreateAuthCode(ctx context.Context, c *store.AuthCode) error {
	return p.run(ctx, "CreateAuthCode", func(q store.Queries) error { return q.CreateAuthCode(ctx, c) })
}

func (p *probe) LockAuthCode(ctx context.Context, hash []byte) (*store.AuthCode, error) {
	return get(p, ctx, "LockAuthCode", func(q store.Queries) (*store.AuthCode, error) { return q.LockAuthCode(ctx, hash) })
}

func (p *probe) UpdateAuthCode(ctx context.Context, c *store.AuthCode) error {
	return p.run(ctx, "UpdateAuthCode", func(q store.Queries) error { return q.UpdateAuthCode(ctx, c) })
}

func (p *probe) DeleteExpiredAuthCodes(ctx context.Context, before time.Time, limit int) (int, error) {
	return get(p, ctx, "DeleteExpiredAuthCodes", func(q store.Queries) (int, error) {
		return q.DeleteExpiredAuthCodes(ctx, before, limit)
	})
}

// ---- store.SessionQueries ----

func (p *probe) CreateSession(ctx context.Context, s *store.Session) error {
	return p.run(ctx, "CreateSession", func(q store.Queries) error { return q.CreateSession(ctx, s) })
}

func (p *probe) GetSession(ctx context.Context, id string) (*store.Session, error) {
	return get(p, ctx, "GetSession", func(q store.Queries) (*store.Session, error) { return q.GetSession(ctx, id) })
}

func (p *probe) GetSessionByHash(ctx context.Context, hash []byte) (*store.Session, error) {
	return get(p, ctx, "GetSessionByHash", func(q store.Queries) (*store.Session, error) { return q.GetSessionByHash(ctx, hash) })
}

func (p *probe) LockSession(ctx context.Context, id string) (*store.Session, error) {
	return get(p, ctx, "LockSession", func(q store.Queries) (*store.Session, error) { return q.LockSession(ctx, id) })
}

func (p *probe) UpdateSession(ctx context.Context, s *store.Session) error {
	return p.run(ctx, "UpdateSession", func(q store.Queries) error { return q.UpdateSession(ctx, s) })
}

func (p *probe) ListSessions(ctx context.Context, subject string, now time.Time) ([]store.Session, error) {
	return get(p, ctx, "ListSessions", func(q store.Queries) ([]store.Session, error) { return q.ListSessions(ctx, subject, now) })
}

func (p *probe) EndSessions(ctx context.Context, subject, reason string, at time.Time) ([]string, error) {
	return get(p, ctx, "EndSessions", func(q store.Queries) ([]string, error) { return q.EndSessions(ctx, subject, reason, at) })
}

func (p *probe) DeleteExpiredSessions(ctx context.Context, before time.Time, limit int) (int, error) {
	return get(p, ctx, "DeleteExpiredSessions", func(q store.Queries) (int, error) {
		return q.DeleteExpiredSessions(ctx, before, limit)
	})
}

// ---- store.ConsentQueries ----

func (p *probe) GetConsent(ctx context.Context, subject, clientID string) (*store.Consent, error) {
	return get(p, ctx, "GetConsent", func(q store.Queries) (*store.Consent, error) { return q.GetConsent(ctx, subject, clientID) })
}

func (p *probe) PutConsent(ctx context.Context, c *store.Consent) error {
	return p.run(ctx, "PutConsent", func(q store.Queries) error { return q.PutConsent(ctx, c) })
}

func (p *probe) DeleteConsents(ctx context.Context, subject, clientID string) (int, error) {
	return get(p, ctx, "DeleteConsents", func(q store.Queries) (int, error) { return q.DeleteConsents(ctx, subject, clientID) })
}

// ---- store.DeviceCodeQueries ----

func (p *probe) CreateDeviceCode(ctx context.Context, d *store.DeviceCode) error {
	return p.run(ctx, "CreateDeviceCode", func(q store.Queries) error { return q.CreateDeviceCode(ctx, d) })
}

func (p *probe) LockDeviceCode(ctx context.Context, hash []byte) (*store.DeviceCode, error) {
	return get(p, ctx, "LockDeviceCode", func(q store.Queries) (*store.DeviceCode, error) { return q.LockDeviceCode(ctx, hash) })
}

func (p *probe) LockDeviceCodeByUserCode(ctx context.Context, userCodeHash []byte) (*store.DeviceCode, error) {
	return get(p, ctx, "LockDeviceCodeByUserCode", func(q store.Queries) (*store.DeviceCode, error) {
		return q.LockDeviceCodeByUserCode(ctx, userCodeHash)
	})
}

func (p *probe) UpdateDeviceCode(ctx context.Context, d *store.DeviceCode) error {
	return p.run(ctx, "UpdateDeviceCode", func(q store.Queries) error { return q.UpdateDeviceCode(ctx, d) })
}

func (p *probe) CountPendingDeviceCodes(ctx context.Context, clientID string, now time.Time) (int, error) {
	return get(p, ctx, "CountPendingDeviceCodes", func(q store.Queries) (int, error) {
		return q.CountPendingDeviceCodes(ctx, clientID, now)
	})
}

func (p *probe) DeleteExpiredDeviceCodes(ctx context.Context, before time.Time, limit int) (int, error) {
	return get(p, ctx, "DeleteExpiredDeviceCodes", func(q store.Queries) (int, error) {
		return q.DeleteExpiredDeviceCodes(ctx, before, limit)
	})
}
