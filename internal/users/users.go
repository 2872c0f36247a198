// Package users owns the rules for users (resource owners): how usernames
// and passwords are written (PRECIS, RFC 8265) and email addresses, how a user is created,
// disabled, enabled and given a new password (one transaction each, which
// also ends the user's sessions where it must, audited with its actor),
// and how a user is authenticated (argon2id through a bounded
// [secret.Verifier]). The CLI, the admin API and the pages are thin
// adapters over it.
//
// It imports internal/family, internal/audit, internal/ratelimit,
// internal/secret and internal/store, nothing higher.
package users

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"golang.org/x/text/secure/precis"

	"github.com/rotor-auth/rotor/internal/audit"
	"github.com/rotor-auth/rotor/internal/family"
	"github.com/rotor-auth/rotor/internal/ratelimit"
	"github.com/rotor-auth/rotor/internal/secret"
	"github.com/rotor-auth/rotor/internal/store"
)

// Limits on what a person types.
const (
	// MaxUsernameLen bounds a username, in bytes after normalisation.
	MaxUsernameLen = 256
	// MinPasswordLen is the shortest password accepted, in characters.
	MinPasswordLen = 8
	// MaxPasswordLen bounds what is hashed, in bytes; argon2id takes any
	// length, but a password of megabytes is a mistake or an attack.
	MaxPasswordLen = 1024
)

// Errors of this package. A *[ValidationError] says what is wrong with a
// value in words an operator or a person understands.
var (
	ErrNotFound = errors.New("users: no such user")
	ErrExists   = errors.New("users: a user with that name exists already")
)

// ValidationError is a username or password that breaks a rule.
type ValidationError struct{ Msg string }

func (e *ValidationError) Error() string { return e.Msg }

func invalid(format string, args ...any) error {
	return &ValidationError{Msg: fmt.Sprintf(format, args...)}
}

// Username returns the canonical form of a username (PRECIS
// UsernameCaseMapped, RFC 8265 §3.3): case-folded and width-mapped, so
// "alice", "Alice" and full-width "ａlice" are one user.
func Username(s string) (string, error) {
	if s == "" {
		return "", invalid("the username is empty")
	}
	if len(s) > 4*MaxUsernameLen {
		return "", invalid("the username is longer than %d bytes", MaxUsernameLen)
	}
	n, err := precis.UsernameCaseMapped.String(s)
	if err != nil {
		return "", invalid("the username %q is not allowed: use letters, digits and punctuation, without spaces or control characters", s)
	}
	if len(n) > MaxUsernameLen {
		return "", invalid("the username is longer than %d bytes", MaxUsernameLen)
	}
	return n, nil
}

// Password returns the canonical form of a password (PRECIS
// OpaqueString, RFC 8265 §4.2: NFC, non-ASCII spaces mapped), so the NFD
// and NFC spellings of one password are the same password. It must be at
// least MinPasswordLen characters.
func Password(s string) (string, error) {
	if s == "" {
		return "", invalid("the password is empty")
	}
	if len(s) > MaxPasswordLen {
		return "", invalid("the password is longer than %d bytes", MaxPasswordLen)
	}
	n, err := precis.OpaqueString.String(s)
	if err != nil {
		return "", invalid("the password holds characters that are not allowed (control characters, for one)")
	}
	if utf8.RuneCountInString(n) < MinPasswordLen {
		return "", invalid("the password is shorter than %d characters", MinPasswordLen)
	}
	if len(n) > MaxPasswordLen {
		return "", invalid("the password is longer than %d bytes", MaxPasswordLen)
	}
	return n, nil
}

// MaxEmailLen bounds an email address, in bytes (RFC 5321 §4.5.3.1.3:
// a path is at most 256 octets, with its angle brackets).
const MaxEmailLen = 254

// Email returns the form of an email address Rotor keeps: the local part
// as written (it may be case-sensitive, RFC 5321 §2.4), the domain in
// lower case. The check is loose on purpose (one @, something on each
// side, no spaces or control characters, a domain without empty labels,
// at most MaxEmailLen bytes): only sending mail proves an address.
func Email(s string) (string, error) {
	if s == "" {
		return "", invalid("the email address is empty")
	}
	if len(s) > MaxEmailLen {
		return "", invalid("the email address is longer than %d bytes", MaxEmailLen)
	}
	if !utf8.ValidString(s) {
		return "", invalid("the email address is not text (UTF-8)")
	}
	for _, r := range s {
		if unicode.IsSpace(r) || !unicode.IsPrint(r) {
			return "", invalid("the email address %q holds a space or a character that is not printable", s)
		}
	}
	local, domain, ok := strings.Cut(s, "@")
	if !ok || local == "" || domain == "" || strings.Contains(domain, "@") {
		return "", invalid("the email address %q is not name@domain, with one @", s)
	}
	for _, label := range strings.Split(domain, ".") {
		if label == "" {
			return "", invalid("the email address %q has a domain with an empty part", s)
		}
	}
	e := local + "@" + strings.ToLower(domain)
	if len(e) > MaxEmailLen { // lower case may be longer, in a few scripts
		return "", invalid("the email address is longer than %d bytes", MaxEmailLen)
	}
	return e, nil
}

// Service changes and authenticates users. It is safe for concurrent use.
type Service struct {
	st    store.Store
	fams  *family.Service
	pw    *secret.Verifier
	now   func() time.Time
	limit *ratelimit.Memory
	log   *slog.Logger
	// known remembers, by keyed hash, the (username, address) pairs that
	// signed in lately: they pass a username's limit (not an address's),
	// so a flood of wrong passwords for a name does not lock its owner
	// out of the devices they use.
	known *ratelimit.Memory
	mac   []byte
}

// Limits on failed sign-ins, checked before the slow hash: per address
// (generous, for offices behind one NAT) and per username (against
// guessing one account from many addresses).
var (
	AddressLimit  = ratelimit.Limit{Burst: 50, Every: time.Second}
	UsernameLimit = ratelimit.Limit{Burst: 10, Every: 30 * time.Second}
	// knownFor is how long a successful (username, address) pair passes
	// the username limit.
	knownFor  = ratelimit.Limit{Burst: 1, Every: 30 * 24 * time.Hour}
	warnEvery = ratelimit.Limit{Burst: 1, Every: time.Minute}
	// KnownLimit is the failure budget of a known (username, address)
	// pair, in place of the username's: a guesser behind the owner's
	// shared address does not get the address limit alone.
	KnownLimit = ratelimit.Limit{Burst: 10, Every: time.Minute}
)

// Option adjusts a Service.
type Option func(*Service)

// WithLimiter shares a rate limiter (the same one the login page uses);
// by default the Service has one of its own, in memory.
func WithLimiter(m *ratelimit.Memory) Option { return func(s *Service) { s.limit = m } }

// WithLog sends the warnings of accounts under attack to log.
func WithLog(log *slog.Logger) Option { return func(s *Service) { s.log = log } }

// New returns a Service. fams ends the sessions of a user who is
// disabled or changes their password; pw bounds the argon2id
// verifications of Authenticate.
func New(st store.Store, fams *family.Service, pw *secret.Verifier, now func() time.Time, opts ...Option) *Service {
	s := &Service{st: st, fams: fams, pw: pw, now: now, log: slog.New(slog.DiscardHandler),
		known: ratelimit.NewMemory(now, 0), mac: []byte(secret.NewID())}
	for _, o := range opts {
		o(s)
	}
	if s.limit == nil {
		s.limit = ratelimit.NewMemory(now, 0)
	}
	return s
}

// Throttled is a sign-in refused, before any password was checked,
// because its address or username failed too often.
type Throttled struct{ RetryAfter time.Duration }

func (e *Throttled) Error() string {
	return fmt.Sprintf("users: too many failed sign-ins; retry in %s", e.RetryAfter.Round(time.Second))
}

// CreateOption sets something more on a new user.
type CreateOption func(*store.User) error

// WithEmail gives a new user an email address (checked by [Email]), for
// the OpenID Connect email scope; verified is what the email_verified
// claim says: that someone checked the address belongs to the user
// (OIDC Core §5.1), which relying parties may take as proof of it.
func WithEmail(addr string, verified bool) CreateOption {
	return func(u *store.User) error {
		e, err := Email(addr)
		if err != nil {
			return err
		}
		u.Email, u.EmailVerified = e, verified
		return nil
	}
}

// Create creates a user with a password, recorded as user_created.
func (s *Service) Create(ctx context.Context, username, password string, m audit.Meta, opts ...CreateOption) (*store.User, error) {
	name, err := Username(username)
	if err != nil {
		return nil, err
	}
	pw, err := Password(password)
	if err != nil {
		return nil, err
	}
	now := s.now().UTC()
	u := &store.User{ID: secret.NewID(), Username: name, CreatedAt: now, UpdatedAt: now}
	for _, o := range opts {
		if err := o(u); err != nil {
			return nil, err
		}
	}
	u.PasswordPHC = secret.HashPassword(pw) // slow: once every rule passed
	err = s.st.Tx(ctx, func(tx store.Tx) error {
		// A user's subject never equals a client id (RFC 9068 §5: a
		// client_credentials token's sub is the client id).
		for {
			_, err := tx.GetClient(ctx, u.ID)
			if errors.Is(err, store.ErrNotFound) {
				break
			}
			if err != nil {
				return err
			}
			u.ID = secret.NewID()
		}
		if err := tx.CreateUser(ctx, u); err != nil {
			return err
		}
		return tx.AppendEvents(ctx, audit.NewUserCreated(m.At(now), u))
	})
	if errors.Is(err, store.ErrConflict) {
		return nil, ErrExists
	}
	if err != nil {
		return nil, fmt.Errorf("users: create %q: %w", name, err)
	}
	return u, nil
}

// Lookup returns the user a username names, in its canonical form (or,
// for a user created before usernames were normalised, as stored).
func (s *Service) Lookup(ctx context.Context, username string) (*store.User, error) {
	return lookup(ctx, s.st, username)
}

func lookup(ctx context.Context, q store.Queries, username string) (*store.User, error) {
	name, err := Username(username)
	if err != nil {
		return nil, ErrNotFound // no user can have an invalid name
	}
	u, err := q.GetUserByUsername(ctx, name)
	if errors.Is(err, store.ErrNotFound) && name != username {
		u, err = q.GetUserByUsername(ctx, username)
	}
	if errors.Is(err, store.ErrNotFound) {
		return nil, ErrNotFound
	}
	return u, err
}

// SetPassword gives the user id a new password and signs them out
// everywhere: tokens_valid_after moves to now and every live family is
// revoked (its access tokens deny-listed), all in one transaction.
func (s *Service) SetPassword(ctx context.Context, id, password string, m audit.Meta) (*store.User, []string, error) {
	pw, err := Password(password)
	if err != nil {
		return nil, nil, err
	}
	phc := secret.HashPassword(pw) // slow: before the transaction, not under its lock
	return s.change(ctx, id, m, func(u *store.User, now time.Time) {
		u.PasswordPHC, u.TokensValidAfter = phc, now
	}, audit.ReasonPasswordChanged, audit.NewUserPasswordChanged)
}

// Disable stops the user from signing in and revokes every live family,
// in one transaction: re-enabling the user does not bring them back.
func (s *Service) Disable(ctx context.Context, id string, m audit.Meta) (*store.User, []string, error) {
	// tokens_valid_after moves too, so that access tokens without a
	// family stay refused once the user is enabled again.
	return s.change(ctx, id, m, func(u *store.User, now time.Time) { u.Disabled, u.TokensValidAfter = true, now },
		audit.ReasonUserDisabled, audit.NewUserDisabled)
}

// Enable lets a disabled user sign in again. The row is read under its
// lock inside the transaction, so it cannot undo a concurrent change.
func (s *Service) Enable(ctx context.Context, id string, m audit.Meta) (*store.User, error) {
	u, _, err := s.change(ctx, id, m, func(u *store.User, _ time.Time) { u.Disabled = false }, "",
		func(m audit.Meta, u *store.User, _ int) *store.Event { return audit.NewUserEnabled(m, u) })
	return u, err
}

// SignOutEverywhere ends, in one transaction, every grant and browser
// session of user id: tokens_valid_after is set (so nothing issued before
// counts again), every family is revoked with its access tokens
// deny-listed, every browser session ends, and one event says how many.
// It returns the families revoked and the sessions ended.
func (s *Service) SignOutEverywhere(ctx context.Context, id string, m audit.Meta) (families []string, sessions []string, err error) {
	err = s.st.Tx(ctx, func(tx store.Tx) error {
		u, err := tx.LockUser(ctx, id)
		if err != nil {
			return err
		}
		now := s.now().UTC()
		u.TokensValidAfter, u.UpdatedAt = now, now
		if err := tx.UpdateUser(ctx, u); err != nil {
			return err
		}
		if families, err = s.fams.RevokeWhereIn(ctx, tx, store.FamilyFilter{Subject: id}, audit.ReasonSignOutEverywhere, m); err != nil {
			return err
		}
		if sessions, err = tx.EndSessions(ctx, id, audit.ReasonSignOutEverywhere, now); err != nil {
			return err
		}
		return tx.AppendEvents(ctx, audit.NewSignedOutEverywhere(m.At(now), id, len(families), len(sessions)))
	})
	if errors.Is(err, store.ErrNotFound) {
		return nil, nil, ErrNotFound
	}
	if err != nil {
		return nil, nil, fmt.Errorf("users: sign out everywhere %s: %w", id, err)
	}
	return families, sessions, nil
}

// change applies edit to the user under its row lock, revokes every live
// family of the user for reason (none when reason is empty) and records
// the change, in one transaction.
func (s *Service) change(ctx context.Context, id string, m audit.Meta, edit func(*store.User, time.Time),
	reason audit.Reason, event func(audit.Meta, *store.User, int) *store.Event) (*store.User, []string, error) {
	var (
		u   *store.User
		ids []string
	)
	err := s.st.Tx(ctx, func(tx store.Tx) (err error) {
		if u, err = tx.LockUser(ctx, id); err != nil {
			return err
		}
		now := s.now().UTC()
		edit(u, now)
		u.UpdatedAt = now
		if err := tx.UpdateUser(ctx, u); err != nil {
			return err
		}
		if reason != "" {
			if ids, err = s.fams.RevokeWhereIn(ctx, tx, store.FamilyFilter{Subject: id}, reason, m); err != nil {
				return err
			}
		}
		return tx.AppendEvents(ctx, event(m.At(now), u, len(ids)))
	})
	if errors.Is(err, store.ErrNotFound) {
		return nil, nil, ErrNotFound
	}
	if err != nil {
		return nil, nil, fmt.Errorf("users: change %s: %w", id, err)
	}
	return u, ids, nil
}

// Authenticate checks a username and password presented from the
// address ip. It returns the user and an empty reason on success;
// otherwise a reason (unknown_user, wrong_password, user_disabled) and,
// when the name is known, the user, for the audit trail. Failures are
// limited per address and per username before the slow hash: past its
// limit a sign-in is refused with a *[Throttled] error, whatever the
// password. err is otherwise for the infrastructure ([secret.ErrBusy], a
// database failure). An unknown name costs the same argon2id time as a
// wrong password, so answers do not tell which names exist.
func (s *Service) Authenticate(ctx context.Context, username, password, ip string) (*store.User, audit.Reason, error) {
	if len(username) > 4*MaxUsernameLen || len(password) > MaxPasswordLen {
		return nil, audit.ReasonUnknownUser, nil
	}
	name, err := Username(username)
	if err != nil {
		name = username
	}
	source := Source(ip)
	ipKey, nameKey, pair := "ip:"+source, "user:"+s.keyed(name), s.keyed(name, source)
	if ok, retry := s.limit.Take(ipKey, AddressLimit); !ok {
		return nil, audit.ReasonThrottled, &Throttled{RetryAfter: retry}
	}
	known := s.known.Empty(pair, knownFor)
	nameLimit := UsernameLimit
	if known {
		nameKey, nameLimit = "known:"+pair, KnownLimit
	}
	if ok, retry := s.limit.Take(nameKey, nameLimit); !ok {
		s.limit.Give(ipKey, AddressLimit)
		if ok, _ := s.limit.Take("warn:"+s.keyed(name), warnEvery); ok {
			s.log.WarnContext(ctx, "username under attack: failed sign-ins past the limit; refusing them before the password is checked",
				"username", name, "ip", ip, "retry_after", retry.Round(time.Second))
		}
		return nil, audit.ReasonThrottled, &Throttled{RetryAfter: retry}
	}
	u, err := s.Lookup(ctx, username)
	switch {
	case errors.Is(err, ErrNotFound):
		u = &store.User{} // checked against a dummy hash
	case err != nil:
		return nil, "", err
	}
	if pw, err := precis.OpaqueString.String(password); err == nil {
		password = pw
	}
	ok, err := s.pw.Verify(ctx, source, u.PasswordPHC, password)
	if err != nil || (ok && u.ID != "") {
		// Not a failure of the caller's: the attempt is given back.
		s.limit.Give(ipKey, AddressLimit)
		s.limit.Give(nameKey, nameLimit)
	}
	switch {
	case err != nil:
		return nil, "", err
	case u.ID == "":
		return nil, audit.ReasonUnknownUser, nil
	case !ok:
		return u, audit.ReasonWrongPassword, nil
	case u.Disabled:
		return u, audit.ReasonUserDisabled, nil
	}
	s.known.Take(pair, knownFor) // remembered: the bucket is empty for a month
	return u, "", nil
}

// keyed is a keyed hash of its parts, for the limiter's keys: fixed in
// size whatever a caller sends, and no list of who signs in from where
// in memory.
func (s *Service) keyed(parts ...string) string {
	m := hmac.New(sha256.New, s.mac)
	for _, p := range parts {
		m.Write([]byte(p))
		m.Write([]byte{0})
	}
	return string(m.Sum(nil)[:16])
}

// Source is the address a limit counts: the IPv4 address, or the /64 of
// an IPv6 one (a host commonly holds a whole /64), or the text as given.
func Source(ip string) string {
	a, err := netip.ParseAddr(ip)
	if err != nil {
		return ip
	}
	a = a.Unmap()
	if a.Is4() {
		return a.String()
	}
	p, err := a.Prefix(64)
	if err != nil {
		return ip
	}
	return p.String()
}
