package bench

import (
	"context"
	"crypto/rand"
	"fmt"
	"strings"
	"time"

	"github.com/rotor-auth/rotor/internal/audit"
	"github.com/rotor-auth/rotor/internal/secret"
	"github.com/rotor-auth/rotor/internal/store"
)

const (
	// familiesPerUser spreads families over users so that no (user,
	// client) pair holds more live families than the default cap of 100,
	// as on a real server.
	familiesPerUser = 100
	// provisionBatch is how many families go to the store per
	// CreateFamilies call: one transaction or COPY each, big enough to be
	// fast and small enough to report progress.
	provisionBatch = 50_000
	// familyTTL is both the idle and the absolute lifetime of provisioned
	// families: long enough for any run, short enough that the janitor of
	// a shared database collects what --target runs leave.
	familyTTL = 24 * time.Hour
	// benchScope is the one scope the bench client has.
	benchScope = "read"
)

// provisioner creates the bench's client, users and families straight
// through the store: minting refresh tokens as the family service does
// (the row holds only keyed hashes) but without a password grant per
// family.
type provisioner struct {
	st  store.Store
	sk  *secret.Keys
	now func() time.Time

	clientID string
	secret   string
	prefix   string   // of user names
	users    []string // ids; user i owns families i*familiesPerUser...
	families int      // created so far
}

// newProvisioner registers a confidential client with a generated secret
// (stored as a keyed hash, as `rotor client create --generate-secret`
// does) allowed to refresh and to use client_credentials.
func newProvisioner(ctx context.Context, st store.Store, sk *secret.Keys, now func() time.Time) (*provisioner, error) {
	tag := strings.ToLower(rand.Text()[:8])
	p := &provisioner{st: st, sk: sk, now: now, clientID: "rotor-bench-" + tag, secret: secret.NewClientSecret(), prefix: "rotor-bench-" + tag + "-"}
	t := now()
	c := &store.Client{
		ID: p.clientID, SecretHash: sk.Hash(p.secret),
		GrantTypes: []string{"refresh_token", "client_credentials"},
		Scopes:     []string{benchScope},
		// It introspects its own client_credentials tokens, as a
		// resource server does.
		Introspect: true,
		CreatedAt:  t, UpdatedAt: t,
	}
	if err := st.CreateClient(ctx, c); err != nil {
		return nil, fmt.Errorf("bench: create client: %w", err)
	}
	return p, nil
}

// ensureUsers creates the users that n families need.
func (p *provisioner) ensureUsers(ctx context.Context, n int) error {
	need := (n + familiesPerUser - 1) / familiesPerUser
	if need <= len(p.users) {
		return nil
	}
	t := p.now().Add(-time.Hour)
	var ids []string
	err := p.st.Tx(ctx, func(tx store.Tx) error {
		ids = ids[:0]
		for i := len(p.users); i < need; i++ {
			u := &store.User{ID: secret.NewID(), Username: fmt.Sprintf("%s%d", p.prefix, i), CreatedAt: t, UpdatedAt: t}
			if err := tx.CreateUser(ctx, u); err != nil {
				return err
			}
			ids = append(ids, u.ID)
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("bench: create users: %w", err)
	}
	p.users = append(p.users, ids...)
	return nil
}

// create adds n families at generation 1 and returns the refresh tokens
// of those keep selects (by index among the n; nil keeps all), so that a
// million families do not need a million tokens in memory. progress, if
// not nil, is called after each batch with the number created so far.
func (p *provisioner) create(ctx context.Context, n int, keep func(i int) bool, progress func(done int)) ([]string, error) {
	if err := p.ensureUsers(ctx, p.families+n); err != nil {
		return nil, err
	}
	var tokens []string
	for done := 0; done < n; {
		k := min(provisionBatch, n-done)
		t := p.now()
		batch := make([]*store.Family, k)
		for j := range batch {
			id := secret.NewFamilyID()
			tok, err := p.sk.MintRefresh(id, 1)
			if err != nil {
				return nil, err
			}
			batch[j] = &store.Family{
				ID: id, ClientID: p.clientID, Subject: p.users[(p.families+done+j)/familiesPerUser],
				Scopes: []string{benchScope}, Generation: 1, LiveHash: p.sk.Hash(tok),
				CreatedAt: t, LastUsedAt: t, ExpiresAt: t.Add(familyTTL), AbsoluteExpiresAt: t.Add(familyTTL),
				LastUserAgent: "rotor-bench",
			}
			if keep == nil || keep(done+j) {
				tokens = append(tokens, tok)
			}
		}
		if err := p.st.CreateFamilies(ctx, batch); err != nil {
			return nil, fmt.Errorf("bench: create families: %w", err)
		}
		done += k
		if progress != nil {
			progress(done)
		}
	}
	p.families += n
	return tokens, nil
}

// cleanup revokes the bench client's families, deletes the client and
// disables its users, for a run against a database the bench does not
// own (--target). What remains is collected by the janitor after a day.
func (p *provisioner) cleanup(ctx context.Context) error {
	t := p.now()
	if _, err := p.st.RevokeFamilies(ctx, store.FamilyFilter{ClientID: p.clientID}, string(audit.ReasonAdmin), t); err != nil {
		return fmt.Errorf("bench: revoke families: %w", err)
	}
	if err := p.st.DeleteClient(ctx, p.clientID); err != nil {
		return fmt.Errorf("bench: delete client: %w", err)
	}
	return p.st.Tx(ctx, func(tx store.Tx) error {
		for _, id := range p.users {
			u, err := tx.GetUser(ctx, id)
			if err != nil {
				return err
			}
			u.Disabled, u.UpdatedAt = true, t
			if err := tx.UpdateUser(ctx, u); err != nil {
				return err
			}
		}
		return nil
	})
}
