package authz

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/rotor-auth/rotor/internal/audit"
	"github.com/rotor-auth/rotor/internal/family"
	"github.com/rotor-auth/rotor/internal/secret"
	"github.com/rotor-auth/rotor/internal/store"
)

// CodeTTL is the lifetime of an authorization code (RFC 6749 §4.1.2
// recommends at most 10 minutes; SPEC §2 sets 60 s).
const CodeTTL = 60 * time.Second

// PrefixCode starts every authorization code, for secret scanners.
const PrefixCode = "ac_"

// MaxCodeLen caps a presented code before it is hashed.
const MaxCodeLen = 128

// Service issues and redeems authorization codes and remembers consent.
// It is safe for concurrent use; two redemptions of one code are settled
// by the code's row lock.
type Service struct {
	st       store.Store
	keys     *secret.Keys
	families *family.Service
	now      func() time.Time
	log      *slog.Logger
	device   DeviceConfig
}

// New returns a Service; now is the clock.
func New(st store.Store, keys *secret.Keys, families *family.Service, now func() time.Time, log *slog.Logger, opts ...Option) *Service {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	s := &Service{st: st, keys: keys, families: families, now: now, log: log, device: DefaultDeviceConfig()}
	for _, o := range opts {
		o(s)
	}
	return s
}

// IssueCode mints a code for r, granted scopes by user in browser session
// sess, and stores its keyed hash. scopes are what the person agreed to
// (r.Scopes, unless narrowed).
func (s *Service) IssueCode(ctx context.Context, r *Request, scopes []string, sess *store.Session) (string, error) {
	b := make([]byte, 32)
	rand.Read(b)
	code := PrefixCode + base64.RawURLEncoding.EncodeToString(b)
	now := s.now()
	c := &store.AuthCode{
		Hash:          s.keys.Hash(code),
		ClientID:      r.ClientID,
		RedirectURI:   r.codeRedirect(),
		Scopes:        scopes,
		Audiences:     r.Resources,
		Nonce:         r.Nonce,
		CodeChallenge: r.CodeChallenge,
		DPoPJKT:       r.DPoPJKT,
		Subject:       sess.Subject,
		SessionID:     sess.ID,
		AuthTime:      sess.AuthTime,
		CreatedAt:     now,
		ExpiresAt:     now.Add(CodeTTL),
	}
	if err := s.st.CreateAuthCode(ctx, c); err != nil {
		return "", fmt.Errorf("authz: issue code: %w", err)
	}
	return code, nil
}

// codeRedirect is the redirect_uri the token request must repeat: the
// one the authorization request named, or "" when it named none.
func (r *Request) codeRedirect() string {
	if r.RedirectGiven {
		return r.RedirectURI
	}
	return ""
}

// RedeemParams describe a token request with grant_type
// authorization_code (RFC 6749 §4.1.3).
type RedeemParams struct {
	// Client is the authenticated client.
	Client      *store.Client
	Code        string
	RedirectURI string
	// Verifier is the PKCE code_verifier (RFC 7636 §4.5).
	Verifier string
	// DPoPJKT is the thumbprint of the request's DPoP proof, or "".
	DPoPJKT string
	// AccessTokenID is the jti of the access token to issue.
	AccessTokenID string
	// Refresh says whether a refresh token (and so a family) is issued
	// for these granted scopes.
	Refresh func(scopes []string) bool
	audit.Meta
}

// Redeemed is a code's successful redemption.
type Redeemed struct {
	Code store.AuthCode
	User *store.User
	// Grant is the new family and its refresh token, or nil when no
	// refresh token is issued.
	Grant *family.Grant
}

// Refusal is a redemption refused with invalid_grant; Reason says why,
// for the audit and the error description (never a value from the
// request).
type Refusal struct{ Reason string }

func (r *Refusal) Error() string { return "authz: " + r.Reason }

// Refusals of a redemption.
var (
	ErrCodeUnknown      = &Refusal{"the authorization code is unknown or expired"}
	ErrCodeUsed         = &Refusal{"the authorization code was used already; the grant it made is revoked"}
	ErrCodeWrongClient  = &Refusal{"the authorization code was issued to another client"}
	ErrRedirectMismatch = &Refusal{"redirect_uri does not match the authorization request"}
	ErrVerifierMissing  = &Refusal{"code_verifier is required (PKCE, RFC 7636)"}
	ErrVerifierWrong    = &Refusal{"code_verifier does not match the code_challenge"}
	ErrDPoPMismatch     = &Refusal{"the DPoP key is not the one the authorization request named"}
	ErrSessionEnded     = &Refusal{"the sign-in that issued the code has ended"}
	ErrUserInvalid      = &Refusal{"the user is disabled, deleted or signed out since the code was issued"}
)

// Redeem redeems a code once. In one transaction it locks the code, checks
// client, redirect URI, PKCE and DPoP binding, creates the family (when
// p.Refresh says so) and marks the code used with the family's id. A code
// that comes back after its use revokes that family, with its access
// tokens deny-listed, in the transaction that refuses it (RFC 6749 §4.1.2,
// RFC 9700 §4.5). A refusal is a *Refusal or a *family.Error; other errors
// are storage failures.
func (s *Service) Redeem(ctx context.Context, p RedeemParams) (*Redeemed, error) {
	if p.Code == "" || len(p.Code) > MaxCodeLen {
		return nil, ErrCodeUnknown
	}
	hash := s.keys.Hash(p.Code)
	type outcome struct {
		ok      *Redeemed
		refusal error
	}
	out, err := store.Do(ctx, s.st, func(tx store.Tx) (outcome, error) {
		now := s.now()
		c, err := tx.LockAuthCode(ctx, hash)
		if errors.Is(err, store.ErrNotFound) {
			return outcome{refusal: ErrCodeUnknown}, nil
		}
		if err != nil {
			return outcome{}, err
		}
		if c.Used() {
			// Replay of a used code: whoever holds it may be an attacker
			// who intercepted it, so the grant it made ends. This is
			// committed although the request is refused.
			if err := s.reused(ctx, tx, c, p.Meta.At(now)); err != nil {
				return outcome{}, err
			}
			return outcome{refusal: ErrCodeUsed}, nil
		}
		if !now.Before(c.ExpiresAt) {
			return outcome{refusal: ErrCodeUnknown}, nil
		}
		if refusal := check(c, p); refusal != nil {
			return outcome{refusal: refusal}, nil
		}
		// Locked, so that a logout of this session either runs before
		// (the code is refused) or after (and revokes the family made
		// here): see session.Service.End.
		sess, err := tx.LockSession(ctx, c.SessionID)
		if errors.Is(err, store.ErrNotFound) || (err == nil && sess.Ended()) {
			return outcome{refusal: ErrSessionEnded}, nil
		}
		if err != nil {
			return outcome{}, err
		}
		u, err := tx.GetUser(ctx, c.Subject)
		if errors.Is(err, store.ErrNotFound) || (err == nil && (u.Disabled || u.TokensValidAfter.After(c.AuthTime))) {
			return outcome{refusal: ErrUserInvalid}, nil
		}
		if err != nil {
			return outcome{}, err
		}
		r := &Redeemed{User: u}
		if p.Refresh(c.Scopes) {
			g, refusal, err := s.families.CreateIn(ctx, tx, family.CreateParams{
				Client: p.Client, User: u, Scopes: c.Scopes, DPoPJKT: p.DPoPJKT,
				AccessTokenID: p.AccessTokenID, Grant: "authorization_code",
				SessionID: c.SessionID, AuthTime: c.AuthTime, Verifier: p.Verifier, Meta: p.Meta,
			})
			if refusal != nil {
				return outcome{refusal: refusal}, errRollback
			}
			if err != nil {
				return outcome{}, err
			}
			r.Grant = g
			c.FamilyID = g.Family.ID
		}
		c.UsedAt, c.AccessTokenID = now, p.AccessTokenID
		if err := tx.UpdateAuthCode(ctx, c); err != nil {
			return outcome{}, err
		}
		r.Code = *c
		return outcome{ok: r}, nil
	})
	if errors.Is(err, errRollback) {
		return nil, out.refusal
	}
	if err != nil {
		return nil, fmt.Errorf("authz: redeem: %w", err)
	}
	if out.refusal != nil {
		return nil, out.refusal
	}
	return out.ok, nil
}

// errRollback rolls back a redemption that family.CreateIn refused after
// writing (it may have revoked families beyond the cap).
var errRollback = errors.New("authz: refused")

// check compares the redemption with what the code was issued for. The
// order does not leak: every refusal is invalid_grant.
func check(c *store.AuthCode, p RedeemParams) *Refusal {
	switch {
	case c.ClientID != p.Client.ID:
		return ErrCodeWrongClient
	case p.RedirectURI != c.RedirectURI && !(c.RedirectURI == "" && len(p.Client.RedirectURIs) == 1 && p.RedirectURI == p.Client.RedirectURIs[0]):
		// RFC 6749 §4.1.3: required and identical when the request had
		// one. When it had none (one registered URI), the token request
		// may leave it out or name that one URI.
		return ErrRedirectMismatch
	case p.Verifier == "":
		return ErrVerifierMissing
	case !VerifierMatches(p.Verifier, c.CodeChallenge):
		return ErrVerifierWrong
	case c.DPoPJKT != "" && c.DPoPJKT != p.DPoPJKT:
		return ErrDPoPMismatch
	}
	return nil
}

// VerifierMatches reports whether a code_verifier is well formed (RFC 7636
// §4.1: 43 to 128 unreserved characters) and its S256 transform is the
// challenge, compared in constant time.
func VerifierMatches(verifier, challenge string) bool {
	if !ValidVerifier(verifier) || challenge == "" {
		return false
	}
	sum := sha256.Sum256([]byte(verifier))
	want := base64.RawURLEncoding.EncodeToString(sum[:])
	return secret.Equal([]byte(want), []byte(challenge))
}

// ValidVerifier reports whether s has the form of a code_verifier.
func ValidVerifier(s string) bool {
	if len(s) < 43 || len(s) > 128 {
		return false
	}
	return unreserved(s)
}

// ValidChallenge reports whether s has the form of an S256 challenge: the
// base64url of 32 bytes.
func ValidChallenge(s string) bool {
	b, err := base64.RawURLEncoding.DecodeString(s)
	return err == nil && len(b) == sha256.Size && len(s) == 43
}

func unreserved(s string) bool {
	for i := 0; i < len(s); i++ {
		ch := s[i]
		if !('A' <= ch && ch <= 'Z' || 'a' <= ch && ch <= 'z' || '0' <= ch && ch <= '9' || ch == '-' || ch == '.' || ch == '_' || ch == '~') {
			return false
		}
	}
	return true
}

// reused revokes what a used code made: its family, and its access token
// when it made no family.
func (s *Service) reused(ctx context.Context, tx store.Tx, c *store.AuthCode, m audit.Meta) error {
	if c.FamilyID != "" {
		if _, err := s.families.RevokeIn(ctx, tx, c.FamilyID, audit.ReasonCodeReused, m); err != nil {
			return err
		}
	}
	if c.AccessTokenID != "" {
		until := c.UsedAt.Add(family.MaxAccessTokenTTL + time.Minute)
		if until.After(m.Time) {
			if err := tx.Deny(ctx, store.Denial{Key: family.DenyJTI(c.AccessTokenID), ExpiresAt: until}); err != nil {
				return err
			}
		}
	}
	return tx.AppendEvents(ctx, audit.NewAuthCodeReused(m, c, secret.TokenIDFromHash(c.Hash)))
}
