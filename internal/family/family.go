package family

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"time"

	"github.com/rotor-auth/rotor/internal/audit"
	"github.com/rotor-auth/rotor/internal/secret"
	"github.com/rotor-auth/rotor/internal/store"
)

// MaxAccessTokenTTL caps every access-token lifetime, server-wide or per
// client. A revoked family's sid stays on the deny-list this long (plus
// a minute of clock skew), so its access tokens stay refused whatever
// lifetime they were issued with, by whichever process revokes it.
const MaxAccessTokenTTL = 24 * time.Hour

// Config holds the server-wide defaults; a client's own settings override
// them.
type Config struct {
	// AccessTokenTTL is the default access-token lifetime.
	AccessTokenTTL     time.Duration
	RefreshIdleTTL     time.Duration
	RefreshAbsoluteTTL time.Duration
	// ReuseGrace is the default reuse grace period; zero disables it.
	ReuseGrace time.Duration
	// MaxFamilies caps live families per (user, client); the least
	// recently used ones are revoked to make room.
	MaxFamilies int
}

// DefaultConfig returns the defaults: 10 min access tokens, refresh
// tokens idle 30 d and absolute 90 d, 15 s reuse grace, 100 families per
// (user, client).
func DefaultConfig() Config {
	return Config{
		AccessTokenTTL:     10 * time.Minute,
		RefreshIdleTTL:     30 * 24 * time.Hour,
		RefreshAbsoluteTTL: 90 * 24 * time.Hour,
		ReuseGrace:         15 * time.Second,
		MaxFamilies:        100,
	}
}

// Validate reports a configuration the service cannot run with, by the
// same rules as every setting of lifetimes ([Lifetimes.Problems]). It does
// not fill in defaults: a zero setting is an error, never a silent switch
// to other values.
func (c Config) Validate() error {
	if p := c.Problems(); len(p) > 0 {
		return errors.New(strings.Join(p, "; "))
	}
	return nil
}

// Problems returns, in words and by configuration key, every rule the
// settings break.
func (c Config) Problems() []string {
	p := c.Lifetimes().Problems(func(key string) string { return key })
	if c.MaxFamilies < 1 {
		p = append(p, fmt.Sprintf("max_families must be at least 1, got %d", c.MaxFamilies))
	}
	return p
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
	// refusals records the refusals that changed nothing.
	refusals audit.Recorder
}

// Option adjusts a Service.
type Option func(*Service)

// WithRefusals records the refusals that change nothing (refresh_failed)
// through rec, an [audit.Aggregator] in the server; by default they are
// written at once.
func WithRefusals(rec audit.Recorder) Option { return func(s *Service) { s.refusals = rec } }

// New returns a Service. now is the clock (time.Now in production). It
// panics on a configuration that [Config.Validate] refuses: callers build
// it from validated settings.
func New(st store.Store, keys *secret.Keys, cfg Config, now func() time.Time, log *slog.Logger, opts ...Option) *Service {
	if err := cfg.Validate(); err != nil {
		panic("family: " + err.Error())
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	s := &Service{st: st, keys: keys, cfg: cfg, now: now, log: log}
	for _, o := range opts {
		o(s)
	}
	if s.refusals == nil {
		s.refusals = audit.Direct{St: st, Log: log}
	}
	return s
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
	// User is the user as their credentials were verified: a family is
	// refused if the user's password or tokens_valid_after changed since.
	User   *store.User
	Scopes []string
	// DPoPJKT binds the family to a key thumbprint, or "".
	DPoPJKT string
	// AccessTokenID is the jti of the access token issued with the grant,
	// recorded in the same transaction.
	AccessTokenID string
	// Grant is the grant type that created the family, for the audit.
	Grant string
	// SessionID is the browser session the grant was made in, or "";
	// ending that session revokes the family.
	SessionID string
	// AuthTime is when the user authenticated for this grant (the OpenID
	// Connect auth_time, kept for id_tokens on refresh); zero means now.
	AuthTime time.Time
	// Verifier is the PKCE code_verifier of the code that made the grant,
	// or "": a client with RefreshRequiresVerifier binds the family to it.
	Verifier string
	audit.Meta
}

// Create creates a family and its first refresh token in a transaction of
// its own; see [Service.CreateIn].
func (s *Service) Create(ctx context.Context, p CreateParams) (*Grant, error) {
	g, err := store.Do(ctx, s.st, func(tx store.Tx) (*Grant, error) {
		g, refusal, err := s.CreateIn(ctx, tx, p)
		if refusal != nil {
			return nil, refusal // nothing of this transaction is kept
		}
		return g, err
	})
	var refusal *Error
	if errors.As(err, &refusal) {
		return nil, refusal
	}
	if err != nil {
		return nil, fmt.Errorf("family: create: %w", err)
	}
	return g, nil
}

// CreateIn creates a family and its first refresh token inside the
// caller's transaction, so that redeeming a code or a device grant and
// creating the family are one unit. Under the user's row lock it refuses a
// deleted or disabled user, and a user whose credentials changed since
// p.User was read, and it revokes the least recently used families of the
// same (user, client) beyond the cap. A refusal is returned as an *Error
// (the caller should roll back); err is a storage failure.
func (s *Service) CreateIn(ctx context.Context, tx store.Tx, p CreateParams) (*Grant, *Error, error) {
	// The user's row lock serialises the sessions decided for one user:
	// two grants at the cap cannot both fit, and a grant racing "user
	// disable" or a password change cannot outlive it.
	u, err := tx.LockUser(ctx, p.User.ID)
	switch {
	case errors.Is(err, store.ErrNotFound):
		return nil, ErrUserDeleted, nil
	case err != nil:
		return nil, nil, err
	case u.Disabled:
		return nil, ErrUserDisabled, nil
	case u.PasswordPHC != p.User.PasswordPHC || !u.TokensValidAfter.Equal(p.User.TokensValidAfter):
		return nil, ErrUserChanged, nil
	}
	// The client as it stays until the family commits: a grant racing a
	// disable or a delete of its client cannot leave a live family behind.
	switch c, err := tx.ShareClient(ctx, p.Client.ID); {
	case errors.Is(err, store.ErrNotFound):
		return nil, ErrClientInvalid, nil
	case err != nil:
		return nil, nil, err
	case c.Disabled || !sameMicro(c.CreatedAt, p.Client.CreatedAt):
		return nil, ErrClientInvalid, nil
	}
	now := s.now()
	m := p.Meta.At(now)
	id := secret.NewFamilyID()
	tok, err := s.keys.MintRefresh(id, 1)
	if err != nil {
		return nil, nil, err
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
		SessionID:         p.SessionID,
		AuthTime:          p.AuthTime,
	}
	if f.AuthTime.IsZero() {
		f.AuthTime = now
	}
	if p.Client.RefreshRequiresVerifier && p.Verifier != "" {
		f.VerifierHash = s.verifierHash(p.Verifier)
	}
	live, err := tx.ListFamilies(ctx, store.FamilyFilter{
		ClientID: p.Client.ID, Subject: p.User.ID, LiveOnly: true, Now: now,
	})
	if err != nil {
		return nil, nil, err
	}
	var events []*store.Event
	// ListFamilies is least recently used first.
	for i := 0; i <= len(live)-s.cfg.MaxFamilies; i++ {
		old := live[i]
		ok, err := tx.RevokeFamily(ctx, old.ID, audit.ReasonFamilyCap, now)
		if err != nil {
			return nil, nil, err
		}
		if ok {
			if err := s.denySID(ctx, tx, &old, now); err != nil {
				return nil, nil, err
			}
			events = append(events, audit.NewFamilyRevoked(m, &old, audit.ReasonFamilyCap, audit.Token{}))
		}
	}
	if err := tx.CreateFamily(ctx, &f); err != nil {
		return nil, nil, err
	}
	events = append(events,
		audit.NewFamilyCreated(m, &f, secret.TokenIDFromHash(f.LiveHash)),
		audit.NewAccessTokenIssued(m, issued(&f, p.AccessTokenID, p.Grant)),
	)
	if err := tx.AppendEvents(ctx, events...); err != nil {
		return nil, nil, err
	}
	return &Grant{Family: f, RefreshToken: tok, Scopes: p.Scopes}, nil, nil
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
	// Verifier is the request's code_verifier, which a verifier-bound
	// family must be sent again on every refresh; "" when absent.
	Verifier string
	audit.Meta
}

// Refresh runs [Service.RefreshIn] in a transaction of its own and
// records the refusals that changed nothing (refresh_failed) once the
// transaction is over. Every refusal is an *[Error].
func (s *Service) Refresh(ctx context.Context, p RefreshParams) (*Grant, error) {
	type outcome struct {
		g       *Grant
		refusal *Error
	}
	out, err := store.Do(ctx, s.st, func(tx store.Tx) (outcome, error) {
		g, refusal, err := s.RefreshIn(ctx, tx, p)
		return outcome{g, refusal}, err
	})
	g, refusal := out.g, out.refusal
	if errors.Is(err, store.ErrCommitUnknown) && refusal == nil && g != nil {
		// The database stopped answering while the COMMIT was in flight.
		// Answering 503 for a rotation that did commit would turn the
		// client's retry of its old token into a replay: find out first.
		err = s.resolve(ctx, g)
	}
	if err != nil {
		return nil, fmt.Errorf("family: refresh: %w", err)
	}
	if refusal != nil {
		s.Record(ctx, refusal)
		return nil, refusal
	}
	return g, nil
}

// resolveFor bounds how long a refresh whose commit outcome is unknown
// waits for the database to tell; past it the refresh answers 503 and the
// error log names the family.
var resolveFor = 2 * time.Minute

// resolve finds out whether the rotation of g committed, by reading the
// family back once the database answers (with the caller's values but
// not its deadline, which has passed): it did if the live hash is g's. A
// grace retry wrote nothing that its answer depends on, so it stands
// either way. It returns nil when g may be answered.
func (s *Service) resolve(ctx context.Context, g *Grant) error {
	if g.Retry {
		return nil
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), resolveFor)
	defer cancel()
	wait := 100 * time.Millisecond
	for {
		try, done := context.WithTimeout(ctx, 2*time.Second)
		f, err := s.st.GetFamily(try, g.Family.ID)
		done()
		switch {
		case err == nil && (f.Generation == g.Family.Generation && secret.Equal(f.LiveHash, g.Family.LiveHash) ||
			f.Generation == g.Family.Generation+1 && secret.Equal(f.PrevHash, g.Family.LiveHash)):
			s.log.WarnContext(ctx, "a rotation's commit outcome was unknown; it committed, answering it", "family", g.Family.ID)
			return nil
		case err == nil || errors.Is(err, store.ErrNotFound):
			return fmt.Errorf("%w: the rotation of %s did not commit", store.ErrUnavailable, g.Family.ID)
		}
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			s.log.ErrorContext(ctx, "a rotation's commit outcome stayed unknown; its client may have to sign in again", "family", g.Family.ID)
			return fmt.Errorf("%w: the outcome of the rotation of %s is unknown", store.ErrUnavailable, g.Family.ID)
		case <-t.C:
		}
		wait = min(2*wait, 2*time.Second)
	}
}

// Record writes a refusal's pending audit event, if it has one, through
// the service's recorder of refusals. The event is lost, with an error
// log, if the store refuses it: the refusal stands either way.
func (s *Service) Record(ctx context.Context, refusal *Error) {
	if refusal == nil || refusal.Event == nil {
		return
	}
	s.refusals.Record(ctx, refusal.Event)
}

// RefreshIn rotates a family inside the caller's transaction: the live
// token gets a successor; the previous token inside the grace period gets
// the same successor again; any other token of the family with a valid
// MAC is a replay, which revokes the family and deny-lists its access
// tokens in the same transaction (docs/design.md, "The family model").
//
// The time of the rotation, which starts the grace period, is read after
// the family's row is locked, so a lock wait or a stalled database does
// not eat into the grace period of the rotation's caller.
//
// A refusal is an *Error, and the transaction should still commit: a
// replay's revocation and its events are written in it. A refusal that
// changed nothing carries its refresh_failed event for the caller to
// record ([Service.Record]). err is a storage failure.
func (s *Service) RefreshIn(ctx context.Context, tx store.Tx, p RefreshParams) (*Grant, *Error, error) {
	hash := s.keys.Hash(p.Token)
	tid := secret.TokenIDFromHash(hash)
	failed := audit.Refresh{ClientID: p.Client.ID, Token: audit.Token{ID: tid}}
	refuse := func(e *Error) (*Grant, *Error, error) {
		return nil, e.with(audit.NewRefreshFailed(p.Meta.At(s.now()), failed, e.Reason)), nil
	}
	rt, err := s.keys.ParseRefresh(p.Token)
	if err != nil {
		// A forged or garbled string revokes nothing: without a valid MAC
		// it says nothing about any family.
		return refuse(ErrMalformed)
	}
	failed.FamilyID, failed.Generation = rt.FamilyID, rt.Generation

	f, err := tx.LockFamily(ctx, rt.FamilyID)
	if errors.Is(err, store.ErrNotFound) {
		return refuse(ErrUnknown)
	}
	if err != nil {
		return nil, nil, err
	}
	now := s.now()
	m := p.Meta.At(now)
	failed.Subject = f.Subject
	switch {
	case f.ClientID != p.Client.ID:
		return refuse(ErrWrongClient)
	case f.CreatedAt.Before(p.Client.CreatedAt.Truncate(time.Microsecond)):
		// A family of an earlier client with the same id, deleted since.
		return refuse(ErrClientInvalid)
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
			// The live token proven with another key has left the device
			// it was bound to: treat it as stolen.
			return s.revokeStolen(ctx, tx, f, p, m, audit.Token{ID: tid, Generation: rt.Generation}, ErrDPoPMismatch)
		}
		switch s.verifier(f, p) {
		case verifierMissing:
			return refuse(ErrVerifierMissing)
		case verifierWrong:
			// The live token with another verifier: the token travelled
			// without the secret the client keeps beside it. Stolen.
			return s.revokeStolen(ctx, tx, f, p, m, audit.Token{ID: tid, Generation: rt.Generation}, ErrVerifierMismatch)
		}
		scopes, refusal, err := s.check(ctx, tx, f, p.Scopes)
		if refusal != nil || err != nil {
			if refusal != nil {
				return refuse(refusal)
			}
			return nil, nil, err
		}
		g, err := s.rotate(ctx, tx, f, p, m, hash, scopes)
		return g, nil, err

	case rt.Generation >= f.Generation:
		// A valid MAC on a generation the family never stored (or a live
		// generation with other random bits) cannot come from this
		// database's history, for example after a restore from backup.
		// Refuse without revoking: it proves no theft.
		return refuse(ErrUnknown)

	case rt.Generation == f.Generation-1 && secret.Equal(hash, f.PrevHash) &&
		f.GraceSealed != nil && now.Before(f.GraceUntil) && (f.DPoPJKT == "" || p.DPoPJKT == f.DPoPJKT) &&
		s.verifier(f, p) == verifierMissing:
		// A retry that forgot the verifier proves nothing either way.
		return refuse(ErrVerifierMissing)

	case rt.Generation == f.Generation-1 && secret.Equal(hash, f.PrevHash) &&
		f.GraceSealed != nil && now.Before(f.GraceUntil) && (f.DPoPJKT == "" || p.DPoPJKT == f.DPoPJKT) &&
		s.verifier(f, p) == verifierWrong:
		// The previous token with another verifier: stolen, as the live
		// one would be.
		return s.revokeStolen(ctx, tx, f, p, m, audit.Token{ID: tid, Generation: rt.Generation}, ErrVerifierMismatch)

	case rt.Generation == f.Generation-1 && secret.Equal(hash, f.PrevHash) &&
		f.GraceSealed != nil && now.Before(f.GraceUntil) && (f.DPoPJKT == "" || p.DPoPJKT == f.DPoPJKT):
		scopes, refusal, err := s.check(ctx, tx, f, p.Scopes)
		if refusal != nil {
			return refuse(refusal)
		}
		if err != nil {
			return nil, nil, err
		}
		g, err := s.graceRetry(ctx, tx, f, p, m, tid, scopes)
		return g, nil, err

	default:
		// An older generation with a valid MAC: the token was used before.
		// Someone holds a copy; revoke the whole family.
		return s.revokeStolen(ctx, tx, f, p, m, audit.Token{ID: tid, Generation: rt.Generation}, ErrReplayed)
	}
}

// Outcomes of the verifier check of a verifier-bound family.
const (
	verifierOK = iota
	verifierMissing
	verifierWrong
)

// verifierContext separates the keyed hash of a code_verifier from every
// other keyed hash Rotor stores.
const verifierContext = "rotor refresh verifier v1:"

func (s *Service) verifierHash(v string) []byte { return s.keys.Hash(verifierContext + v) }

// verifier checks a refresh of a verifier-bound family (the client sent
// the PKCE code_verifier of the code that created it again; see
// docs/design.md, "Verifier-bound refresh"). Unbound families pass.
func (s *Service) verifier(f *store.Family, p RefreshParams) int {
	switch {
	case f.VerifierHash == nil:
		return verifierOK
	case p.Verifier == "":
		return verifierMissing
	case secret.Equal(s.verifierHash(p.Verifier), f.VerifierHash):
		return verifierOK
	}
	return verifierWrong
}

// check applies the consistency rules of a refresh (the user still exists,
// is enabled and has not signed out everywhere since the family began;
// the scopes asked for are the family's) and returns the scopes of the
// access token.
func (s *Service) check(ctx context.Context, q store.Queries, f *store.Family, requested []string) ([]string, *Error, error) {
	u, err := q.GetUser(ctx, f.Subject)
	if errors.Is(err, store.ErrNotFound) {
		return nil, ErrUserDeleted, nil
	}
	if err != nil {
		return nil, nil, err
	}
	if u.Disabled {
		return nil, ErrUserDisabled, nil
	}
	if !u.TokensValidAfter.IsZero() && !f.CreatedAt.After(u.TokensValidAfter) {
		return nil, ErrTokensInvalidated, nil
	}
	if requested == nil {
		return f.Scopes, nil, nil
	}
	for _, sc := range requested {
		if !slices.Contains(f.Scopes, sc) {
			return nil, ErrInvalidScope, nil
		}
	}
	return requested, nil, nil
}

func (s *Service) rotate(ctx context.Context, tx store.Tx, f *store.Family, p RefreshParams, m audit.Meta, used []byte, scopes []string) (*Grant, error) {
	now := m.Time
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
	if err := tx.AppendEvents(ctx,
		audit.NewTokenRotated(m, f, secret.TokenIDFromHash(used), secret.TokenIDFromHash(f.LiveHash)),
		audit.NewAccessTokenIssued(m, issued(f, p.AccessTokenID, grantRefresh))); err != nil {
		return nil, err
	}
	return &Grant{Family: *f, RefreshToken: tok, Scopes: scopes}, nil
}

func (s *Service) graceRetry(ctx context.Context, tx store.Tx, f *store.Family, p RefreshParams, m audit.Meta, tid string, scopes []string) (*Grant, error) {
	tok, err := s.keys.Open(f.GraceSealed, graceContext(f.ID, f.Generation))
	if err != nil {
		return nil, errGraceUnsealFailure
	}
	if err := tx.AppendEvents(ctx,
		audit.NewGraceRetry(m, f, tid),
		audit.NewAccessTokenIssued(m, issued(f, p.AccessTokenID, grantRefresh))); err != nil {
		return nil, err
	}
	return &Grant{Family: *f, RefreshToken: string(tok), Scopes: scopes, Retry: true}, nil
}

// revokeStolen revokes a family whose token someone else holds: a replay of
// a used generation, or the live one proven with another DPoP key. The
// family's access tokens are deny-listed in the same transaction, and the
// refusal (which carries no pending event: its events are in tx) is
// logged as a warning.
func (s *Service) revokeStolen(ctx context.Context, tx store.Tx, f *store.Family, p RefreshParams, m audit.Meta, by audit.Token, why *Error) (*Grant, *Error, error) {
	if _, err := tx.RevokeFamily(ctx, f.ID, string(why.Reason), m.Time); err != nil {
		return nil, nil, err
	}
	if err := s.denySID(ctx, tx, f, m.Time); err != nil {
		return nil, nil, err
	}
	var events []*store.Event
	msg := "live refresh token proven with another DPoP key; family revoked"
	if why == ErrReplayed {
		msg = "refresh token reuse detected; family revoked"
		events = append(events, audit.NewReuseDetected(m, f, by.ID, by.Generation), audit.NewFamilyRevoked(m, f, why.Reason, audit.Token{}))
	} else {
		events = append(events, audit.NewFamilyRevoked(m, f, why.Reason, by))
	}
	if err := tx.AppendEvents(ctx, events...); err != nil {
		return nil, nil, err
	}
	s.log.WarnContext(ctx, msg, "reason", why.Reason,
		"family", f.ID, "client", p.Client.ID, "generation", by.Generation, "token_id", by.ID, "ip", p.IP)
	return nil, why, nil
}

// denySID deny-lists a family's access tokens for as long as any of them
// may still be valid: the hard cap on access-token lifetimes, whatever the
// settings of the process that revokes (a CLI may run with other flags
// than the server that issued the tokens), counted from the family's
// newest access token (its last use, or a grace retry up to the end of
// the grace period). A family idle for longer than the cap has no valid
// access token left, and gets no entry: the list resource servers poll
// stays as small as the revocations that matter.
func (s *Service) denySID(ctx context.Context, tx store.Tx, f *store.Family, now time.Time) error {
	newest := now
	if !f.LastUsedAt.IsZero() {
		newest = f.LastUsedAt
		if f.GraceUntil.After(newest) {
			newest = f.GraceUntil
		}
	}
	until := newest.Add(MaxAccessTokenTTL + time.Minute)
	if !until.After(now) {
		return nil
	}
	return tx.Deny(ctx, store.Denial{Key: DenySID(f.ID), ExpiresAt: until})
}

// DenySID is the deny-list key of a family's access tokens.
func DenySID(familyID string) string { return "sid:" + familyID }

// DenyJTI is the deny-list key of one access token.
func DenyJTI(jti string) string { return "jti:" + jti }

const grantRefresh = "refresh_token"

func graceContext(id string, gen uint64) []byte { return fmt.Appendf(nil, "grace|%s|%d", id, gen) }

// issued describes the access token issued with a family's refresh token.
func issued(f *store.Family, jti, grant string) audit.Issued {
	return audit.Issued{ClientID: f.ClientID, Subject: f.Subject, FamilyID: f.ID, JTI: jti, Generation: f.Generation, Grant: grant}
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

// AccessTTL is the lifetime of the client's access tokens.
func (s *Service) AccessTTL(c *store.Client) time.Duration {
	if c.AccessTokenTTL != nil {
		return *c.AccessTokenTTL
	}
	return s.cfg.AccessTokenTTL
}

// sameMicro compares two times as the stores keep them, to the
// microsecond.
func sameMicro(a, b time.Time) bool {
	return a.Truncate(time.Microsecond).Equal(b.Truncate(time.Microsecond))
}

func earliest(a, b time.Time) time.Time {
	if a.Before(b) {
		return a
	}
	return b
}
