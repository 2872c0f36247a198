package family

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"time"

	"github.com/rotor-auth/rotor/internal/audit"
	"github.com/rotor-auth/rotor/internal/secret"
	"github.com/rotor-auth/rotor/internal/store"
)

// Config holds the server-wide defaults; a client's own settings override
// them.
type Config struct {
	// AccessTokenTTL is the default access-token lifetime; a replayed
	// family's sid is deny-listed for the longest one that may be live.
	AccessTokenTTL     time.Duration
	RefreshIdleTTL     time.Duration
	RefreshAbsoluteTTL time.Duration
	// ReuseGrace is the default reuse grace period; zero disables it.
	ReuseGrace time.Duration
	// MaxFamilies caps live families per (user, client); the least
	// recently used ones are revoked to make room. Zero means 100.
	MaxFamilies int
}

// DefaultConfig returns the defaults of SPEC §2 and §3.
func DefaultConfig() Config {
	return Config{
		AccessTokenTTL:     10 * time.Minute,
		RefreshIdleTTL:     30 * 24 * time.Hour,
		RefreshAbsoluteTTL: 90 * 24 * time.Hour,
		ReuseGrace:         15 * time.Second,
		MaxFamilies:        100,
	}
}

// Service creates, rotates, inspects and revokes families. It is safe for
// concurrent use; concurrency between callers, and between replicas, is
// settled by the row lock that [store.Queries.LockFamily] takes.
type Service struct {
	st   store.Store
	keys *secret.Keys
	cfg  Config
	now  func() time.Time
	log  *slog.Logger
}

// New returns a Service. now is the clock (time.Now in production).
func New(st store.Store, keys *secret.Keys, cfg Config, now func() time.Time, log *slog.Logger) *Service {
	if cfg.MaxFamilies <= 0 {
		cfg.MaxFamilies = 100
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Service{st: st, keys: keys, cfg: cfg, now: now, log: log}
}

// Meta describes the request, for the family row and the audit trail.
type Meta struct {
	IP        string
	UserAgent string
}

// Grant is the outcome of creating or refreshing a family.
type Grant struct {
	Family store.Family
	// RefreshToken is the family's live refresh token, to send to the
	// client. It exists only here and, sealed, for the grace period.
	RefreshToken string
	// Scopes are the scopes of this access token: the family's, or the
	// subset the request asked for.
	Scopes []string
	// Retry is true when a grace retry answered with an existing successor.
	Retry bool
}

// RefreshExpiresIn is the refresh token's remaining lifetime at now.
func (g *Grant) RefreshExpiresIn(now time.Time) time.Duration {
	return g.Family.ExpiresAt.Sub(now)
}

// CreateParams describe a new grant.
type CreateParams struct {
	Client *store.Client
	User   *store.User
	Scopes []string
	// DPoPJKT binds the family to a key thumbprint, or "".
	DPoPJKT string
	// AccessTokenID is the jti of the access token issued with the grant,
	// recorded in the same transaction.
	AccessTokenID string
	// Grant is the grant type that created the family, for the audit.
	Grant string
	Meta
}

// Create creates a family and its first refresh token, revoking the least
// recently used families of the same (user, client) beyond the cap.
func (s *Service) Create(ctx context.Context, p CreateParams) (*Grant, error) {
	now := s.now()
	id := secret.NewFamilyID()
	tok, err := s.keys.MintRefresh(id, 1)
	if err != nil {
		return nil, err
	}
	abs := now.Add(s.absoluteTTL(p.Client))
	f := store.Family{
		ID:                id,
		ClientID:          p.Client.ID,
		Subject:           p.User.ID,
		Scopes:            p.Scopes,
		DPoPJKT:           p.DPoPJKT,
		Generation:        1,
		LiveHash:          s.keys.Hash(tok),
		CreatedAt:         now,
		LastUsedAt:        now,
		ExpiresAt:         earliest(now.Add(s.idleTTL(p.Client)), abs),
		AbsoluteExpiresAt: abs,
		LastIP:            p.IP,
		LastUserAgent:     p.UserAgent,
	}
	var refusal *Error
	err = s.st.Tx(ctx, func(tx store.Tx) error {
		refusal = nil // Tx may run fn more than once
		// The user's row lock serialises the sessions decided for one
		// user: two grants at the cap cannot both fit, and a grant racing
		// "user disable" or a password change cannot outlive it.
		u, err := tx.LockUser(ctx, p.User.ID)
		switch {
		case errors.Is(err, store.ErrNotFound):
			refusal = ErrUserDeleted
			return refusal
		case err != nil:
			return err
		case u.Disabled:
			refusal = ErrUserDisabled
			return refusal
		}
		live, err := tx.ListFamilies(ctx, store.FamilyFilter{
			ClientID: p.Client.ID, Subject: p.User.ID, LiveOnly: true, Now: now,
		})
		if err != nil {
			return err
		}
		var events []*store.Event
		// ListFamilies is least recently used first.
		for i := 0; i <= len(live)-s.cfg.MaxFamilies; i++ {
			old := live[i]
			ok, err := tx.RevokeFamily(ctx, old.ID, audit.ReasonFamilyCap, now)
			if err != nil {
				return err
			}
			if ok {
				events = append(events, s.event(now, audit.FamilyRevoked, &old, p.Meta, "", old.Generation, audit.ReasonFamilyCap))
			}
		}
		if err := tx.CreateFamily(ctx, &f); err != nil {
			return err
		}
		events = append(events,
			s.event(now, audit.FamilyCreated, &f, p.Meta, secret.TokenIDFromHash(f.LiveHash), 1, ""),
			s.issued(now, &f, p.Meta, p.AccessTokenID, 1, p.Grant),
		)
		return tx.AppendEvents(ctx, events...)
	})
	if refusal != nil {
		return nil, refusal
	}
	if err != nil {
		return nil, fmt.Errorf("family: create: %w", err)
	}
	return &Grant{Family: f, RefreshToken: tok, Scopes: p.Scopes}, nil
}

// RefreshParams describe a refresh request.
type RefreshParams struct {
	// Client is the authenticated client.
	Client *store.Client
	// Token is the presented refresh token.
	Token string
	// Scopes narrows the access token; nil asks for all of the family's.
	Scopes []string
	// DPoPJKT is the thumbprint of the request's DPoP proof key, or "".
	DPoPJKT string
	// AccessTokenID is the jti of the access token to be issued.
	AccessTokenID string
	Meta
}

// Refresh rotates a family in one short transaction (SPEC §3): the live
// token gets a successor; the previous token inside the grace period gets
// the same successor again; any other token of the family with a valid MAC
// is a replay, which revokes the family and deny-lists its access tokens
// in the same transaction. It returns a *[Error] for every refusal.
func (s *Service) Refresh(ctx context.Context, p RefreshParams) (*Grant, error) {
	now := s.now()
	hash := s.keys.Hash(p.Token)
	tid := secret.TokenIDFromHash(hash)
	rt, err := s.keys.ParseRefresh(p.Token)
	if err != nil {
		// A forged or garbled string revokes nothing: without a valid MAC
		// it says nothing about any family.
		s.fail(ctx, now, &store.Event{ClientID: p.Client.ID, TokenID: tid}, p.Meta, ErrMalformed)
		return nil, ErrMalformed
	}

	var (
		grant   *Grant
		refusal *Error
		failed  store.Event // context of a refusal, for the audit
	)
	err = s.st.Tx(ctx, func(tx store.Tx) error {
		grant, refusal = nil, nil // Tx may run fn more than once
		failed = store.Event{ClientID: p.Client.ID, FamilyID: rt.FamilyID, TokenID: tid, Generation: rt.Generation}
		refuse := func(e *Error) error { refusal = e; return e }

		f, err := tx.LockFamily(ctx, rt.FamilyID)
		if errors.Is(err, store.ErrNotFound) {
			return refuse(ErrUnknown)
		}
		if err != nil {
			return err
		}
		failed.Subject = f.Subject
		switch {
		case f.ClientID != p.Client.ID:
			return refuse(ErrWrongClient)
		case f.Revoked():
			return refuse(ErrRevoked)
		case !now.Before(f.AbsoluteExpiresAt):
			return refuse(ErrExpiredAbsolute)
		case !now.Before(f.ExpiresAt):
			return refuse(ErrExpiredIdle)
		}

		switch {
		case rt.Generation == f.Generation && secret.Equal(hash, f.LiveHash):
			switch {
			case f.DPoPJKT == "" || p.DPoPJKT == f.DPoPJKT:
			case p.DPoPJKT == "":
				// Likely a client that forgot the header: refuse, revoke nothing.
				return refuse(ErrDPoPMissing)
			default:
				// The live token proven with another key has left the
				// device it was bound to: treat it as stolen.
				refusal = ErrDPoPMismatch
				return s.revokeStolen(ctx, tx, f, p, rt.Generation, tid, now, audit.ReasonDPoPMismatch)
			}
			scopes, err := s.check(ctx, tx, f, p.Scopes)
			if e, ok := err.(*Error); ok {
				return refuse(e)
			} else if err != nil {
				return err
			}
			grant, err = s.rotate(ctx, tx, f, p, hash, scopes, now)
			return err

		case rt.Generation >= f.Generation:
			// A valid MAC on a generation the family never stored (or a
			// live generation with other random bits) cannot come from
			// this database's history, for example after a restore from
			// backup. Refuse without revoking: it proves no theft.
			return refuse(ErrUnknown)

		case rt.Generation == f.Generation-1 && secret.Equal(hash, f.PrevHash) &&
			f.GraceSealed != nil && now.Before(f.GraceUntil) && (f.DPoPJKT == "" || p.DPoPJKT == f.DPoPJKT):
			scopes, err := s.check(ctx, tx, f, p.Scopes)
			if e, ok := err.(*Error); ok {
				return refuse(e)
			} else if err != nil {
				return err
			}
			grant, err = s.graceRetry(ctx, tx, f, p, tid, scopes, now)
			return err

		default:
			// An older generation with a valid MAC: the token was used
			// before. Someone holds a copy; revoke the whole family.
			refusal = ErrReplayed
			return s.revokeStolen(ctx, tx, f, p, rt.Generation, tid, now, audit.ReasonReuseDetected)
		}
	})
	revoked := refusal == ErrReplayed || refusal == ErrDPoPMismatch
	if refusal != nil && !revoked {
		s.fail(ctx, now, &failed, p.Meta, refusal)
		return nil, refusal
	}
	if err != nil {
		return nil, fmt.Errorf("family: refresh: %w", err)
	}
	if revoked {
		msg := "refresh token reuse detected; family revoked"
		if refusal == ErrDPoPMismatch {
			msg = "live refresh token proven with another DPoP key; family revoked"
		}
		s.log.WarnContext(ctx, msg, "reason", refusal.Reason,
			"family", rt.FamilyID, "client", p.Client.ID, "generation", rt.Generation, "token_id", tid, "ip", p.IP)
		return nil, refusal
	}
	return grant, nil
}

// check applies the consistency rules of SPEC §3 steps 6 and 7 and returns
// the scopes of the access token. A refusal is an *Error; anything else is
// a storage failure.
func (s *Service) check(ctx context.Context, tx store.Tx, f *store.Family, requested []string) ([]string, error) {
	u, err := tx.GetUser(ctx, f.Subject)
	if errors.Is(err, store.ErrNotFound) {
		return nil, ErrUserDeleted
	}
	if err != nil {
		return nil, err
	}
	if u.Disabled {
		return nil, ErrUserDisabled
	}
	if !u.TokensValidAfter.IsZero() && !f.CreatedAt.After(u.TokensValidAfter) {
		return nil, ErrTokensInvalidated
	}
	if requested == nil {
		return f.Scopes, nil
	}
	for _, sc := range requested {
		if !slices.Contains(f.Scopes, sc) {
			return nil, ErrInvalidScope
		}
	}
	return requested, nil
}

func (s *Service) rotate(ctx context.Context, tx store.Tx, f *store.Family, p RefreshParams, used []byte, scopes []string, now time.Time) (*Grant, error) {
	next := f.Generation + 1
	tok, err := s.keys.MintRefresh(f.ID, next)
	if err != nil {
		return nil, err
	}
	f.PrevHash = used
	f.LiveHash = s.keys.Hash(tok)
	f.Generation = next
	f.RotatedAt = now
	f.GraceSealed, f.GraceUntil = nil, time.Time{}
	if g := s.grace(p.Client); g > 0 {
		f.GraceSealed = s.keys.Seal([]byte(tok), graceContext(f.ID, next))
		f.GraceUntil = now.Add(g)
	}
	f.LastUsedAt = now
	f.ExpiresAt = earliest(now.Add(s.idleTTL(p.Client)), f.AbsoluteExpiresAt)
	f.LastIP, f.LastUserAgent = p.IP, p.UserAgent
	if err := tx.UpdateFamily(ctx, f); err != nil {
		return nil, err
	}
	rotated := s.event(now, audit.TokenRotated, f, p.Meta, secret.TokenIDFromHash(used), next, "")
	rotated.Detail = "new_token_id=" + secret.TokenIDFromHash(f.LiveHash)
	if err := tx.AppendEvents(ctx, rotated,
		s.issued(now, f, p.Meta, p.AccessTokenID, next, grantRefresh)); err != nil {
		return nil, err
	}
	return &Grant{Family: *f, RefreshToken: tok, Scopes: scopes}, nil
}

func (s *Service) graceRetry(ctx context.Context, tx store.Tx, f *store.Family, p RefreshParams, tid string, scopes []string, now time.Time) (*Grant, error) {
	tok, err := s.keys.Open(f.GraceSealed, graceContext(f.ID, f.Generation))
	if err != nil {
		return nil, errGraceUnsealFailure
	}
	if err := tx.AppendEvents(ctx,
		s.event(now, audit.GraceRetry, f, p.Meta, tid, f.Generation-1, ""),
		s.issued(now, f, p.Meta, p.AccessTokenID, f.Generation, grantRefresh)); err != nil {
		return nil, err
	}
	return &Grant{Family: *f, RefreshToken: string(tok), Scopes: scopes, Retry: true}, nil
}

// revokeStolen revokes a family whose token someone else holds: a replay of
// a used generation, or the live one proven with another DPoP key. The
// family's access tokens are deny-listed in the same transaction.
func (s *Service) revokeStolen(ctx context.Context, tx store.Tx, f *store.Family, p RefreshParams, gen uint64, tid string, now time.Time, reason string) error {
	if _, err := tx.RevokeFamily(ctx, f.ID, reason, now); err != nil {
		return err
	}
	if err := tx.Deny(ctx, s.sidDenial(f.ID, p.Client, now)); err != nil {
		return err
	}
	revoked := s.event(now, audit.FamilyRevoked, f, p.Meta, "", f.Generation, reason)
	if reason != audit.ReasonReuseDetected {
		revoked.TokenID, revoked.Generation = tid, gen
		revoked.Detail = "the live refresh token was proven with another DPoP key"
		return tx.AppendEvents(ctx, revoked)
	}
	reuse := s.event(now, audit.ReuseDetected, f, p.Meta, tid, gen, "")
	reuse.Detail = fmt.Sprintf("presented generation %d, live generation %d", gen, f.Generation)
	return tx.AppendEvents(ctx, reuse, revoked)
}

// sidDenial deny-lists a family's access tokens for as long as any of them
// may still be valid.
func (s *Service) sidDenial(id string, c *store.Client, now time.Time) store.Denial {
	ttl := s.cfg.AccessTokenTTL
	if c != nil && c.AccessTokenTTL != nil && *c.AccessTokenTTL > ttl {
		ttl = *c.AccessTokenTTL
	}
	return store.Denial{Key: DenySID(id), ExpiresAt: now.Add(ttl + time.Minute)}
}

// DenySID is the deny-list key of a family's access tokens.
func DenySID(familyID string) string { return "sid:" + familyID }

// DenyJTI is the deny-list key of one access token.
func DenyJTI(jti string) string { return "jti:" + jti }

const grantRefresh = "refresh_token"

func graceContext(id string, gen uint64) []byte { return fmt.Appendf(nil, "grace|%s|%d", id, gen) }

func (s *Service) fail(ctx context.Context, now time.Time, e *store.Event, m Meta, why *Error) {
	ev := *e
	ev.Time, ev.Type, ev.Reason = now, audit.RefreshFailed, why.Reason
	ev.IP, ev.UserAgent = m.IP, m.UserAgent
	if err := s.st.AppendEvents(ctx, &ev); err != nil {
		s.log.ErrorContext(ctx, "audit: cannot record refresh failure", "err", err, "reason", why.Reason)
	}
}

func (s *Service) event(now time.Time, typ string, f *store.Family, m Meta, tokenID string, gen uint64, reason string) *store.Event {
	return &store.Event{
		Time: now, Type: typ, ClientID: f.ClientID, Subject: f.Subject, FamilyID: f.ID,
		TokenID: tokenID, Generation: gen, IP: m.IP, UserAgent: m.UserAgent, Reason: reason,
	}
}

// issued records an access token; Detail names the grant that issued it.
func (s *Service) issued(now time.Time, f *store.Family, m Meta, jti string, gen uint64, grant string) *store.Event {
	e := s.event(now, audit.AccessTokenIssued, f, m, jti, gen, "")
	e.Detail = "grant=" + grant
	return e
}

func (s *Service) grace(c *store.Client) time.Duration {
	if c.ReuseGrace != nil {
		return *c.ReuseGrace
	}
	return s.cfg.ReuseGrace
}

func (s *Service) idleTTL(c *store.Client) time.Duration {
	if c.RefreshIdleTTL != nil {
		return *c.RefreshIdleTTL
	}
	return s.cfg.RefreshIdleTTL
}

func (s *Service) absoluteTTL(c *store.Client) time.Duration {
	if c.RefreshAbsoluteTTL != nil {
		return *c.RefreshAbsoluteTTL
	}
	return s.cfg.RefreshAbsoluteTTL
}

func earliest(a, b time.Time) time.Time {
	if a.Before(b) {
		return a
	}
	return b
}
