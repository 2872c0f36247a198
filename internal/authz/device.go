package authz

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/rotor-auth/rotor/internal/audit"
	"github.com/rotor-auth/rotor/internal/family"
	"github.com/rotor-auth/rotor/internal/oauth"
	"github.com/rotor-auth/rotor/internal/store"
)

// The device authorization grant (RFC 8628): a device without a browser
// (a TV, a CLI) gets a device code it polls with and a user code a person
// types on the /device page of another device.

// DeviceConfig sets the device flow.
type DeviceConfig struct {
	// TTL is how long a device code lives (RFC 8628 §3.2 expires_in).
	TTL time.Duration
	// Interval is the polling interval a device starts with (§3.2).
	Interval time.Duration
	// MaxPending caps the pending requests of one client, so that the
	// devices of a public client, which anyone can claim to be, cannot
	// fill the table. The count and the insert are not one step:
	// concurrent requests may pass it by as many as run at once.
	MaxPending int
}

// DefaultDeviceConfig is 10 minutes, 5 seconds, and 10,000 pending
// requests per client (the server also limits requests per address, so
// filling it takes hundreds of addresses).
func DefaultDeviceConfig() DeviceConfig {
	return DeviceConfig{TTL: 10 * time.Minute, Interval: 5 * time.Second, MaxPending: 10_000}
}

// Option adjusts a Service.
type Option func(*Service)

// WithDevice sets the device flow's settings.
func WithDevice(cfg DeviceConfig) Option { return func(s *Service) { s.device = cfg } }

// UserCodeAlphabet are the letters of user codes: consonants without
// vowels (no words) and without look-alikes (RFC 8628 §6.1).
const UserCodeAlphabet = "BCDFGHJKLMNPQRSTVWXZ"

// UserCodeLen is the length of a user code without its dash.
const UserCodeLen = 8

// PrefixDeviceCode starts every device code, for secret scanners.
const PrefixDeviceCode = "dc_"

// maxUserCodeInput caps what is read from a person's typing.
const maxUserCodeInput = 64

// slowDownStep is what a slow_down adds to a code's interval (§3.5), up
// to maxInterval.
const (
	slowDownStep = 5 * time.Second
	maxInterval  = time.Minute
)

// NormalizeUserCode reads a user code as a person typed it: any case,
// dashes and spaces ignored. ok is false for anything that cannot be a
// user code.
func NormalizeUserCode(s string) (code string, ok bool) {
	if len(s) > maxUserCodeInput {
		return "", false
	}
	var b strings.Builder
	for _, r := range s {
		switch {
		case r == '-' || r == ' ' || r == '\t':
			continue
		case r >= 'a' && r <= 'z':
			r -= 'a' - 'A'
		}
		if !strings.ContainsRune(UserCodeAlphabet, r) {
			return "", false
		}
		b.WriteRune(r)
	}
	if b.Len() != UserCodeLen {
		return "", false
	}
	return b.String(), true
}

// FormatUserCode writes a normalised user code as people read it,
// XXXX-XXXX.
func FormatUserCode(code string) string {
	if len(code) != UserCodeLen {
		return code
	}
	return code[:4] + "-" + code[4:]
}

// newUserCode draws a user code uniformly from the alphabet: 20^8, about
// 34.6 bits, which the attempt limits of the /device page make enough.
func newUserCode() string {
	var b [UserCodeLen]byte
	buf := make([]byte, 16)
	for i := 0; i < UserCodeLen; {
		rand.Read(buf)
		for _, x := range buf {
			// 240 is the largest multiple of 20 below 256: rejecting the
			// rest keeps every letter equally likely.
			if x < 240 && i < UserCodeLen {
				b[i] = UserCodeAlphabet[int(x)%len(UserCodeAlphabet)]
				i++
			}
		}
	}
	return string(b[:])
}

func (s *Service) userCodeHash(code string) []byte { return s.keys.Hash("rotor user code v1:" + code) }

// DeviceStart is the answer to a device authorization request (RFC 8628
// §3.2).
type DeviceStart struct {
	DeviceCode string
	// UserCode is formatted, XXXX-XXXX.
	UserCode  string
	ExpiresIn time.Duration
	Interval  time.Duration
}

// ErrTooManyPending: the client has MaxPending requests waiting already.
var ErrTooManyPending = errors.New("authz: too many pending device requests for this client")

// StartDevice records a device authorization request of client c for
// scopes and audiences, made from the device m describes.
func (s *Service) StartDevice(ctx context.Context, c *store.Client, scopes, audiences []string, m audit.Meta) (*DeviceStart, error) {
	now := s.now()
	n, err := s.st.CountPendingDeviceCodes(ctx, c.ID, now)
	if err != nil {
		return nil, fmt.Errorf("authz: device: %w", err)
	}
	if n >= s.device.MaxPending {
		return nil, ErrTooManyPending
	}
	b := make([]byte, 32)
	for range 3 {
		rand.Read(b)
		dc := PrefixDeviceCode + base64.RawURLEncoding.EncodeToString(b)
		uc := newUserCode()
		d := &store.DeviceCode{
			Hash: s.keys.Hash(dc), UserCodeHash: s.userCodeHash(uc), ClientID: c.ID, Scopes: scopes, Audiences: audiences,
			CreatedAt: now, ExpiresAt: now.Add(s.device.TTL), Interval: s.device.Interval, Status: store.DevicePending,
			IP: m.IP, UserAgent: m.UserAgent,
		}
		err := s.st.CreateDeviceCode(ctx, d)
		if errors.Is(err, store.ErrConflict) {
			continue // a user code that is taken: draw another
		}
		if err != nil {
			return nil, fmt.Errorf("authz: device: %w", err)
		}
		return &DeviceStart{DeviceCode: dc, UserCode: FormatUserCode(uc), ExpiresIn: s.device.TTL, Interval: s.device.Interval}, nil
	}
	return nil, fmt.Errorf("authz: device: %w", store.ErrConflict)
}

// ErrUserCodeUnknown: no pending request has this user code (mistyped,
// expired, or decided already).
var ErrUserCodeUnknown = errors.New("authz: unknown or expired user code")

// PendingDevice returns the pending, unexpired request of a user code, as
// the person typed it, for the confirmation page.
func (s *Service) PendingDevice(ctx context.Context, userCode string) (*store.DeviceCode, error) {
	code, ok := NormalizeUserCode(userCode)
	if !ok {
		return nil, ErrUserCodeUnknown
	}
	d, err := s.st.LockDeviceCodeByUserCode(ctx, s.userCodeHash(code))
	if errors.Is(err, store.ErrNotFound) {
		return nil, ErrUserCodeUnknown
	}
	if err != nil {
		return nil, fmt.Errorf("authz: device: %w", err)
	}
	if d.Status != store.DevicePending || !s.now().Before(d.ExpiresAt) {
		return nil, ErrUserCodeUnknown
	}
	return d, nil
}

// DecideDevice records the person's answer for a user code: allow
// approves the request for the user of sess, otherwise it is denied.
func (s *Service) DecideDevice(ctx context.Context, userCode string, sess *store.Session, allow bool, m audit.Meta) (*store.DeviceCode, error) {
	code, ok := NormalizeUserCode(userCode)
	if !ok {
		return nil, ErrUserCodeUnknown
	}
	d, err := store.Do(ctx, s.st, func(tx store.Tx) (*store.DeviceCode, error) {
		d, err := tx.LockDeviceCodeByUserCode(ctx, s.userCodeHash(code))
		if errors.Is(err, store.ErrNotFound) {
			return nil, ErrUserCodeUnknown
		}
		if err != nil {
			return nil, err
		}
		now := s.now()
		if d.Status != store.DevicePending || !now.Before(d.ExpiresAt) {
			return nil, ErrUserCodeUnknown
		}
		d.Status = store.DeviceDenied
		if allow {
			d.Status = store.DeviceApproved
		}
		d.Subject, d.SessionID, d.AuthTime = sess.Subject, sess.ID, sess.AuthTime
		if err := tx.UpdateDeviceCode(ctx, d); err != nil {
			return nil, err
		}
		return d, tx.AppendEvents(ctx, audit.NewDeviceDecided(m.At(now), d, allow))
	})
	if errors.Is(err, ErrUserCodeUnknown) {
		return nil, err
	}
	if err != nil {
		return nil, fmt.Errorf("authz: device: %w", err)
	}
	return d, nil
}

// DevicePoll is a token request with the device_code grant (RFC 8628
// §3.4).
type DevicePoll struct {
	// Client is the authenticated client.
	Client     *store.Client
	DeviceCode string
	DPoPJKT    string
	// AccessTokenID is the jti of the access token to issue.
	AccessTokenID string
	// Refresh says whether a refresh token (a family) is issued.
	Refresh bool
	audit.Meta
}

// DeviceRefusal is a poll answered with an error of RFC 8628 §3.5 (or
// invalid_grant); the poll's effect (a longer interval) is committed.
type DeviceRefusal struct {
	Code        string
	Description string
}

func (r *DeviceRefusal) Error() string { return "authz: device: " + r.Code }

// Refusals of a poll.
var (
	ErrAuthorizationPending = &DeviceRefusal{"authorization_pending", "the user has not answered yet"}
	ErrSlowDown             = &DeviceRefusal{"slow_down", "polling too fast: wait 5 seconds more between requests"}
	ErrDeviceDenied         = &DeviceRefusal{"access_denied", "the user denied the request"}
	ErrDeviceExpired        = &DeviceRefusal{"expired_token", "the device code has expired; start again"}
	ErrDeviceCodeUnknown    = &DeviceRefusal{"invalid_grant", "the device code is unknown, used, or was issued to another client"}
	ErrDeviceUserInvalid    = &DeviceRefusal{"invalid_grant", "the user who approved is disabled, deleted or signed out since"}
)

// PollDevice answers a device's poll. Of the polls of one code, which its
// row lock serialises, exactly one gets the tokens of an approved request;
// its family is created in the transaction that spends the code. A
// refusal is a *DeviceRefusal or a *family.Error; other errors are
// storage failures.
func (s *Service) PollDevice(ctx context.Context, p DevicePoll) (*Redeemed, error) {
	if p.DeviceCode == "" || len(p.DeviceCode) > MaxCodeLen {
		return nil, ErrDeviceCodeUnknown
	}
	hash := s.keys.Hash(p.DeviceCode)
	type outcome struct {
		ok      *Redeemed
		refusal error
	}
	out, err := store.Do(ctx, s.st, func(tx store.Tx) (outcome, error) {
		d, err := tx.LockDeviceCode(ctx, hash)
		if errors.Is(err, store.ErrNotFound) {
			return outcome{refusal: ErrDeviceCodeUnknown}, nil
		}
		if err != nil {
			return outcome{}, err
		}
		now := s.now()
		switch {
		case d.ClientID != p.Client.ID || !d.UsedAt.IsZero():
			return outcome{refusal: ErrDeviceCodeUnknown}, nil
		case !now.Before(d.ExpiresAt):
			return outcome{refusal: ErrDeviceExpired}, nil
		case d.Status == store.DeviceDenied:
			return outcome{refusal: ErrDeviceDenied}, nil
		case d.Status == store.DevicePending:
			refusal := ErrAuthorizationPending
			if !d.LastPolledAt.IsZero() && now.Sub(d.LastPolledAt) < d.Interval*4/5 {
				// RFC 8628 §3.5: slow_down, and the interval grows for
				// every later poll of this code. A fifth of the interval
				// is slack for a client that sleeps exactly the interval
				// and meets network or lock jitter.
				refusal = ErrSlowDown
				d.Interval = min(d.Interval+slowDownStep, maxInterval)
			}
			d.LastPolledAt = now
			return outcome{refusal: refusal}, tx.UpdateDeviceCode(ctx, d)
		}
		// Under the user's row lock, as family.CreateIn takes it: a poll
		// racing "sign out everywhere" either sees it, or is seen by it.
		u, err := tx.LockUser(ctx, d.Subject)
		if errors.Is(err, store.ErrNotFound) || (err == nil && (u.Disabled || u.TokensValidAfter.After(d.AuthTime))) {
			return outcome{refusal: ErrDeviceUserInvalid}, nil
		}
		if err != nil {
			return outcome{}, err
		}
		r := &Redeemed{User: u, Code: store.AuthCode{ClientID: d.ClientID, Scopes: d.Scopes, Audiences: d.Audiences, Subject: d.Subject, AuthTime: d.AuthTime}}
		if p.Refresh {
			g, refusal, err := s.families.CreateIn(ctx, tx, family.CreateParams{
				Client: p.Client, User: u, Scopes: d.Scopes, DPoPJKT: p.DPoPJKT, AccessTokenID: p.AccessTokenID,
				Grant: oauth.GrantDeviceCode, AuthTime: d.AuthTime, Meta: p.Meta,
			})
			if refusal != nil {
				return outcome{refusal: refusal}, errRollback
			}
			if err != nil {
				return outcome{}, err
			}
			r.Grant, d.FamilyID = g, g.Family.ID
		}
		d.UsedAt, d.LastPolledAt, d.AccessTokenID = now, now, p.AccessTokenID
		if err := tx.UpdateDeviceCode(ctx, d); err != nil {
			return outcome{}, err
		}
		return outcome{ok: r}, nil
	})
	if errors.Is(err, errRollback) {
		return nil, out.refusal
	}
	if err != nil {
		return nil, fmt.Errorf("authz: device: %w", err)
	}
	if out.refusal != nil {
		return nil, out.refusal
	}
	return out.ok, nil
}
