package audit

import (
	"fmt"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/rotor-auth/rotor/internal/store"
)

// Meta describes who caused an event, and when: the time of the change,
// the caller's address and user agent, and the actor.
type Meta struct {
	Time      time.Time
	IP        string
	UserAgent string
	// Actor names who made a change: ActorCLI, an admin API key
	// (Admin(id)) or a user acting on their own account (User(id)).
	// Empty for the token endpoint, where the client is the actor.
	Actor string
}

// At returns m with its time set to t: the family service stamps events
// with the time it read after locking the row.
func (m Meta) At(t time.Time) Meta { m.Time = t; return m }

// ActorCLI marks changes made with the rotor command.
const ActorCLI = "cli"

// Admin is the actor of a change made with the admin API key id.
func Admin(keyID string) string { return "admin:" + keyID }

// User is the actor of a change a signed-in user made to their own
// account.
func User(userID string) string { return "user:" + userID }

// maxClientIDLen bounds a client id an unauthenticated caller chose.
const maxClientIDLen = 128

func base(m Meta, typ string) *store.Event {
	return &store.Event{Time: m.Time, Type: typ, IP: m.IP, UserAgent: m.UserAgent, Actor: m.Actor}
}

func ofFamily(m Meta, typ string, f *store.Family, tokenID string, gen uint64) *store.Event {
	e := base(m, typ)
	e.ClientID, e.Subject, e.FamilyID, e.TokenID, e.Generation = f.ClientID, f.Subject, f.ID, tokenID, gen
	return e
}

// NewFamilyCreated records a new family and its first refresh token.
func NewFamilyCreated(m Meta, f *store.Family, tokenID string) *store.Event {
	return ofFamily(m, FamilyCreated, f, tokenID, f.Generation)
}

// NewTokenRotated records a rotation: f is the family after it, usedID
// the token id of the refresh token spent, newID that of its successor.
func NewTokenRotated(m Meta, f *store.Family, usedID, newID string) *store.Event {
	e := ofFamily(m, TokenRotated, f, usedID, f.Generation)
	e.Detail = "new_token_id=" + newID
	return e
}

// NewGraceRetry records a retry of the previous refresh token inside the
// grace period, answered with the same successor.
func NewGraceRetry(m Meta, f *store.Family, tokenID string) *store.Event {
	return ofFamily(m, GraceRetry, f, tokenID, f.Generation-1)
}

// NewReuseDetected records the replay of an older generation.
func NewReuseDetected(m Meta, f *store.Family, tokenID string, presented uint64) *store.Event {
	e := ofFamily(m, ReuseDetected, f, tokenID, presented)
	e.Detail = fmt.Sprintf("presented generation %d, live generation %d", presented, f.Generation)
	return e
}

// Token names a refresh token presented with a request: its token id and
// generation.
type Token struct {
	ID         string
	Generation uint64
}

// NewFamilyRevoked records the revocation of a family for reason. by is
// the token that caused it, when one did (the revocation endpoint, a
// proof with the wrong key); otherwise the event names the live
// generation.
func NewFamilyRevoked(m Meta, f *store.Family, reason Reason, by Token) *store.Event {
	e := ofFamily(m, FamilyRevoked, f, by.ID, by.Generation)
	if by.ID == "" {
		e.Generation = f.Generation
	}
	e.Reason = string(reason)
	if reason == ReasonDPoPMismatch {
		e.Detail = "the live refresh token was proven with another DPoP key"
	}
	return e
}

// Refresh identifies a refused refresh: as much of the family as the
// refusal knows.
type Refresh struct {
	ClientID, Subject, FamilyID string
	Token
}

// NewRefreshFailed records a refused refresh that changed nothing.
func NewRefreshFailed(m Meta, r Refresh, reason Reason) *store.Event {
	e := base(m, RefreshFailed)
	e.ClientID, e.Subject, e.FamilyID, e.TokenID, e.Generation = clip(r.ClientID), r.Subject, r.FamilyID, r.ID, r.Generation
	e.Reason = string(reason)
	return e
}

// Issued identifies an access token.
type Issued struct {
	ClientID, Subject string
	// FamilyID is the sid, or "" for a token without a family.
	FamilyID string
	// JTI is the access token's id; Generation that of the refresh token
	// issued with it, if any.
	JTI        string
	Generation uint64
	// Grant is the grant type that issued it.
	Grant string
}

// NewAccessTokenIssued records an access token.
func NewAccessTokenIssued(m Meta, at Issued) *store.Event {
	e := base(m, AccessTokenIssued)
	e.ClientID, e.Subject, e.FamilyID, e.TokenID, e.Generation = at.ClientID, at.Subject, at.FamilyID, at.JTI, at.Generation
	e.Detail = "grant=" + at.Grant
	return e
}

// NewAccessTokenRevoked records an access token put on the deny-list.
func NewAccessTokenRevoked(m Meta, at Issued, reason Reason) *store.Event {
	e := base(m, AccessTokenRevoked)
	e.ClientID, e.Subject, e.FamilyID, e.TokenID = at.ClientID, at.Subject, at.FamilyID, at.JTI
	e.Reason = string(reason)
	return e
}

// NewPasswordGrantFailed records a refused password grant; subject is ""
// when the username is unknown.
func NewPasswordGrantFailed(m Meta, clientID, subject string, reason Reason) *store.Event {
	e := base(m, PasswordGrantFailed)
	e.ClientID, e.Subject, e.Reason = clip(clientID), subject, string(reason)
	return e
}

// NewClientAuthFailed records a failed client authentication. clientID is
// what the caller claimed, cut to a bounded length.
func NewClientAuthFailed(m Meta, clientID string, reason Reason) *store.Event {
	e := base(m, ClientAuthFailed)
	e.ClientID, e.Reason = clip(clientID), string(reason)
	return e
}

// NewTokenRequestFailed records any other refusal of an authenticated
// client's token request: code is the RFC 6749 error code, description
// Rotor's own text (never a value from the request).
func NewTokenRequestFailed(m Meta, clientID, grant, code, description string) *store.Event {
	e := base(m, TokenRequestFailed)
	e.ClientID, e.Reason = clientID, string(ProtocolError(code))
	e.Detail = "grant=" + grant + ": " + description
	return e
}

// NewClientCreated records a new client.
func NewClientCreated(m Meta, c *store.Client) *store.Event {
	e := base(m, ClientCreated)
	e.ClientID = c.ID
	return e
}

// NewClientUpdated records a change of a client's settings; changed names
// the settings, never a secret's value.
func NewClientUpdated(m Meta, c *store.Client, changed string) *store.Event {
	e := base(m, ClientUpdated)
	e.ClientID, e.Detail = c.ID, changed
	return e
}

// NewClientDisabled records a disabled client and how many families it
// lost.
func NewClientDisabled(m Meta, c *store.Client, revoked int) *store.Event {
	e := base(m, ClientDisabled)
	e.ClientID, e.Detail = c.ID, fmt.Sprintf("revoked_families=%d", revoked)
	return e
}

// NewClientEnabled records a client enabled again.
func NewClientEnabled(m Meta, c *store.Client) *store.Event {
	e := base(m, ClientEnabled)
	e.ClientID = c.ID
	return e
}

// NewClientDeleted records a deleted client and how many families it
// lost.
func NewClientDeleted(m Meta, clientID string, revoked int) *store.Event {
	e := base(m, ClientDeleted)
	e.ClientID, e.Detail = clientID, fmt.Sprintf("revoked_families=%d", revoked)
	return e
}

// NewUserCreated records a new user.
func NewUserCreated(m Meta, u *store.User) *store.Event {
	e := base(m, UserCreated)
	e.Subject = u.ID
	return e
}

// NewUserDisabled records a disabled user and how many families they lost.
func NewUserDisabled(m Meta, u *store.User, revoked int) *store.Event {
	e := base(m, UserDisabled)
	e.Subject, e.Detail = u.ID, fmt.Sprintf("revoked_families=%d", revoked)
	return e
}

// NewUserEnabled records a user enabled again.
func NewUserEnabled(m Meta, u *store.User) *store.Event {
	e := base(m, UserEnabled)
	e.Subject = u.ID
	return e
}

// NewUserPasswordChanged records a password change (which signs the user
// out everywhere) and how many families ended with it.
func NewUserPasswordChanged(m Meta, u *store.User, revoked int) *store.Event {
	e := base(m, UserPasswordChanged)
	e.Subject, e.Detail = u.ID, fmt.Sprintf("revoked_families=%d", revoked)
	return e
}

// NewLoginFailed records a refused sign-in on the login page; subject is
// "" when the username is unknown.
func NewLoginFailed(m Meta, subject string, reason Reason) *store.Event {
	e := base(m, LoginFailed)
	e.Subject, e.Reason = subject, string(reason)
	return e
}

// NewSessionStarted records a browser session begun by a sign-in; the
// session's public id is in Detail.
func NewSessionStarted(m Meta, s *store.Session) *store.Event {
	e := base(m, SessionStarted)
	e.Subject, e.Detail = s.Subject, "session="+s.ID
	return e
}

// NewSessionEnded records a browser session ended and how many families
// ended with it.
func NewSessionEnded(m Meta, s *store.Session, reason Reason, revoked int) *store.Event {
	e := base(m, SessionEnded)
	e.Subject, e.Reason = s.Subject, string(reason)
	e.Detail = fmt.Sprintf("session=%s revoked_families=%d", s.ID, revoked)
	return e
}

// NewConsentGranted records what a user agreed a client may have.
func NewConsentGranted(m Meta, subject, clientID string, scopes []string) *store.Event {
	e := base(m, ConsentGranted)
	e.Subject, e.ClientID, e.Detail = subject, clientID, "scopes="+strings.Join(scopes, " ")
	return e
}

// NewAuthCodeReused records a second redemption of an authorization code;
// tokenID is the code's id, never the code.
func NewAuthCodeReused(m Meta, c *store.AuthCode, tokenID string) *store.Event {
	e := base(m, AuthCodeReused)
	e.ClientID, e.Subject, e.FamilyID, e.TokenID = c.ClientID, c.Subject, c.FamilyID, tokenID
	return e
}

// NewDeviceDecided records a person's answer to a device's request: the
// device's address and user agent, which the person was shown, are in
// Detail.
func NewDeviceDecided(m Meta, d *store.DeviceCode, allowed bool) *store.Event {
	typ := DeviceDenied
	if allowed {
		typ = DeviceApproved
	}
	e := base(m, typ)
	e.ClientID, e.Subject = d.ClientID, d.Subject
	e.Detail = "device_ip=" + d.IP + " device_user_agent=" + d.UserAgent
	return e
}

// NewUserCodeFailed records a user code refused on the /device page for
// the signed-in user subject; reason is ReasonUnknown or ReasonThrottled.
// The code itself is not recorded: a wrong code may be a near miss of a
// live one.
func NewUserCodeFailed(m Meta, subject string, reason Reason) *store.Event {
	e := base(m, UserCodeFailed)
	e.Subject, e.Reason = subject, string(reason)
	return e
}

// NewSignedOutEverywhere records a user ending every grant and browser
// session at once, with how many of each.
func NewSignedOutEverywhere(m Meta, subject string, families, sessions int) *store.Event {
	e := base(m, SignedOutEverywhere)
	e.Subject, e.Detail = subject, fmt.Sprintf("revoked_families=%d ended_sessions=%d", families, sessions)
	return e
}

// clip cuts id to maxClientIDLen bytes on a character boundary.
func clip(id string) string {
	if len(id) <= maxClientIDLen {
		return id
	}
	cut := maxClientIDLen
	for cut > 0 && !utf8.RuneStart(id[cut]) {
		cut--
	}
	return id[:cut]
}
