package keys

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync/atomic"
	"time"

	jose "github.com/go-jose/go-jose/v4"

	"github.com/rotor-auth/rotor/internal/secret"
	"github.com/rotor-auth/rotor/internal/store"
)

// Algorithms Rotor can sign with.
const (
	ES256 = "ES256"
	EdDSA = "EdDSA"
	RS256 = "RS256"
)

// Options configure a [Manager]. Zero fields take the defaults.
type Options struct {
	// Algorithm of new keys: ES256 (default), EdDSA or RS256.
	Algorithm string
	// RotationPeriod: EnsureCurrent rotates when the active key is older.
	// Default 30 days.
	RotationPeriod time.Duration
	// Prepublish: a rotated key is in the JWKS this long before it signs,
	// and never less than ReloadInterval, so that every replica (each
	// rereads the key set that often) has the key before it is due and
	// all switch at the time the key says. The configuration's default is
	// 10 minutes. The first key of an empty store signs at once: nobody
	// can have cached a key set yet.
	Prepublish time.Duration
	// MaxTokenTTL is the longest access-token lifetime; a superseded key
	// stays published this long, plus a minute, after its successor
	// became active. Default 24 hours.
	MaxTokenTTL time.Duration
	// ReloadInterval: how often the cached key set is reloaded. Default
	// 30 s. Replicas sharing a store are expected to share it too.
	ReloadInterval time.Duration
	// Now is the clock; time.Now when nil.
	Now func() time.Time
}

// leeway keeps a superseded key published a little past its last token.
const leeway = time.Minute

// Manager manages signing keys. It is safe for concurrent use; Sign, JWKS
// and Verify read an immutable snapshot and hit the database only to
// reload it, one caller at a time. While one caller reloads, the others
// keep using the snapshot they have; after a failed reload (the database
// is down) nobody tries again before a pause that doubles with each
// failure, from 1 s to 30 s, and the cached snapshot serves meanwhile.
type Manager struct {
	st   store.Store
	sk   *secret.Keys
	opts Options

	// lock serialises reloads. It is a channel rather than a mutex so that
	// a caller can wait for it only as long as its context allows, or not
	// at all when it has a snapshot to use meanwhile.
	lock chan struct{}
	snap atomic.Pointer[snapshot]

	// The backoff after failed reloads, guarded by lock.
	failures int
	retryAt  time.Time
	lastErr  error
}

// The pause after a failed reload: reloadBackoffMin after the first
// failure, doubled after each further one, at most reloadBackoffMax.
const (
	reloadBackoffMin = time.Second
	reloadBackoffMax = 30 * time.Second
)

func reloadBackoff(failures int) time.Duration {
	d := reloadBackoffMin
	for i := 1; i < failures && d < reloadBackoffMax; i++ {
		d *= 2
	}
	return min(d, reloadBackoffMax)
}

// Token types (the JWS typ header) Rotor signs: access tokens are
// at+jwt (RFC 9068 §2.1), id_tokens JWT (OpenID Connect Core §2 lets an
// id_token's typ be JWT; RFC 8725 §3.11 asks that each kind of token be
// told apart by it). One key signs both; the typ keeps one from passing
// for the other.
const (
	TypeAccessToken = "at+jwt"
	TypeJWT         = "JWT"
)

// types are the typ values Sign accepts, each with the signer options
// that write it.
var types = []string{TypeAccessToken, TypeJWT}

// key is a decrypted signing key.
type key struct {
	meta store.SigningKey
	// signers holds one signer per entry of types, in the same order.
	signers []jose.Signer
	public  jose.JSONWebKey
}

// snapshot is the key set at one moment: immutable once built.
type snapshot struct {
	loaded time.Time
	keys   []*key // oldest ActiveAt first
}

// unknownKeyReload is the least time between two reloads caused by a
// token with an unknown kid.
const unknownKeyReload = 10 * time.Second

// NewManager returns a Manager over st. Call [Manager.EnsureCurrent] before
// the first Sign.
func NewManager(st store.Store, sk *secret.Keys, opts Options) *Manager {
	if opts.Algorithm == "" {
		opts.Algorithm = ES256
	}
	if opts.RotationPeriod <= 0 {
		opts.RotationPeriod = 30 * 24 * time.Hour
	}
	if opts.Prepublish < 0 {
		opts.Prepublish = 0
	}
	if opts.MaxTokenTTL <= 0 {
		opts.MaxTokenTTL = 24 * time.Hour
	}
	if opts.ReloadInterval <= 0 {
		opts.ReloadInterval = 30 * time.Second
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	return &Manager{st: st, sk: sk, opts: opts, lock: make(chan struct{}, 1)}
}

// ValidAlgorithm reports whether alg is one Rotor signs with.
func ValidAlgorithm(alg string) bool { return alg == ES256 || alg == EdDSA || alg == RS256 }

// EnsureCurrent makes sure a key can sign: with no key at all it creates
// one that is active at once (no verifier can have cached anything yet);
// when the newest active key is older than the rotation period and no
// successor is pending, it rotates. Replicas may call it at the same
// moment: between them they create one key, never one each.
func (m *Manager) EnsureCurrent(ctx context.Context) error {
	all, err := m.st.ListSigningKeys(ctx)
	if err != nil {
		return fmt.Errorf("keys: list: %w", err)
	}
	now := m.opts.Now()
	activeAt := now
	if len(all) > 0 {
		newest := all[len(all)-1]
		if newest.ActiveAt.After(now) || now.Sub(newest.ActiveAt) < m.opts.RotationPeriod {
			return m.reload(ctx) // a successor is pending, or the key is young enough
		}
		activeAt = m.rotatedActiveAt(now)
	}
	k, err := m.newKey(now, activeAt)
	if err != nil {
		return err
	}
	// Only if no other replica has just done the same: a key active after
	// now minus the rotation period is one this call would not have made.
	if _, err := m.st.CreateSigningKeyIfNoneAfter(ctx, &k, now.Add(-m.opts.RotationPeriod)); err != nil {
		return fmt.Errorf("keys: store: %w", err)
	}
	return m.reload(ctx)
}

// Rotate creates a new key, published at once and signing from the
// returned key's ActiveAt: now plus the prepublication delay, or at once
// when the store has no key yet.
func (m *Manager) Rotate(ctx context.Context) (store.SigningKey, error) {
	all, err := m.st.ListSigningKeys(ctx)
	if err != nil {
		return store.SigningKey{}, fmt.Errorf("keys: list: %w", err)
	}
	now := m.opts.Now()
	if len(all) == 0 {
		k, err := m.newKey(now, now)
		if err != nil {
			return store.SigningKey{}, err
		}
		created, err := m.st.CreateSigningKeyIfNoneAfter(ctx, &k, time.Time{})
		if err != nil {
			return store.SigningKey{}, fmt.Errorf("keys: store: %w", err)
		}
		if created {
			return k, m.reload(ctx)
		}
		// A replica created the first key meanwhile: rotate after it.
	}
	k, err := m.newKey(now, m.rotatedActiveAt(now))
	if err != nil {
		return store.SigningKey{}, err
	}
	if err := m.st.CreateSigningKey(ctx, &k); err != nil {
		return store.SigningKey{}, fmt.Errorf("keys: store: %w", err)
	}
	return k, m.reload(ctx)
}

// rotatedActiveAt is when a key created at now to succeed another starts
// signing: after the prepublication delay, and not before every replica
// has reread the key set (each does within ReloadInterval), so that no
// replica goes on signing with the old key past that time because it has
// not seen the new one yet.
func (m *Manager) rotatedActiveAt(now time.Time) time.Time {
	return now.Add(max(m.opts.Prepublish, m.opts.ReloadInterval))
}

// newKey generates a key and seals its private part.
func (m *Manager) newKey(now, activeAt time.Time) (store.SigningKey, error) {
	priv, err := generate(m.opts.Algorithm)
	if err != nil {
		return store.SigningKey{}, err
	}
	der, err := x509.MarshalPKCS8PrivateKey(priv)
	if err != nil {
		return store.SigningKey{}, fmt.Errorf("keys: encode: %w", err)
	}
	kid := secret.NewID()
	pub := jose.JSONWebKey{Key: priv.(crypto.Signer).Public(), KeyID: kid, Algorithm: m.opts.Algorithm, Use: "sig"}
	pubJSON, err := pub.MarshalJSON()
	if err != nil {
		return store.SigningKey{}, fmt.Errorf("keys: encode public key: %w", err)
	}
	return store.SigningKey{
		ID: kid, Algorithm: m.opts.Algorithm, Sealed: m.sk.SealKey(der, []byte(kid)),
		PublicJWK: pubJSON, CreatedAt: now, ActiveAt: activeAt,
	}, nil
}

func generate(alg string) (crypto.PrivateKey, error) {
	switch alg {
	case ES256:
		return ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	case EdDSA:
		_, priv, err := ed25519.GenerateKey(rand.Reader)
		return priv, err
	case RS256:
		return rsa.GenerateKey(rand.Reader, 3072)
	default:
		return nil, fmt.Errorf("keys: unsupported algorithm %q (use ES256, EdDSA or RS256)", alg)
	}
}

// acquire takes the reload lock, waiting for it if wait is set (as long
// as ctx allows), and reports whether it got it.
func (m *Manager) acquire(ctx context.Context, wait bool) bool {
	select {
	case m.lock <- struct{}{}:
		return true
	default:
	}
	if !wait {
		return false
	}
	select {
	case m.lock <- struct{}{}:
		return true
	case <-ctx.Done():
		return false
	}
}

func (m *Manager) release() { <-m.lock }

// reload reloads the key set now, whatever its age and the backoff: after
// a change this Manager made, or on EnsureCurrent.
func (m *Manager) reload(ctx context.Context) error {
	if !m.acquire(ctx, true) {
		return fmt.Errorf("keys: reload: %w", ctx.Err())
	}
	defer m.release()
	return m.load(ctx)
}

// refresh returns the snapshot to use, reloading it first if it is older
// than maxAge. A caller that has a snapshot does not wait for another's
// reload unless wait is set, and after a failed reload no caller tries
// again before the backoff has passed: the cached snapshot serves (or,
// with none, the last error).
func (m *Manager) refresh(ctx context.Context, maxAge time.Duration, wait bool) (*snapshot, error) {
	s := m.snap.Load()
	if s != nil && m.opts.Now().Sub(s.loaded) < maxAge {
		return s, nil
	}
	if !m.acquire(ctx, wait || s == nil) {
		if s != nil {
			return s, nil
		}
		return nil, fmt.Errorf("keys: load the key set: %w", ctx.Err())
	}
	defer m.release()
	// Another caller may have reloaded, or failed to, while this one
	// waited.
	s = m.snap.Load()
	now := m.opts.Now()
	if s != nil && now.Sub(s.loaded) < maxAge {
		return s, nil
	}
	if now.Before(m.retryAt) {
		if s != nil {
			return s, nil
		}
		return nil, fmt.Errorf("%w (next attempt in %s)", m.lastErr, m.retryAt.Sub(now))
	}
	if err := m.load(ctx); err != nil {
		if s != nil {
			return s, nil // keep signing with what we have; the database may be back soon
		}
		return nil, err
	}
	return m.snap.Load(), nil
}

// load reads every key from the store, decrypts the published ones and
// records the outcome for the backoff. The caller holds the lock.
func (m *Manager) load(ctx context.Context) error {
	snap, err := m.read(ctx)
	if err != nil {
		m.failures++
		m.lastErr = err
		m.retryAt = m.opts.Now().Add(reloadBackoff(m.failures))
		return err
	}
	m.failures, m.lastErr, m.retryAt = 0, nil, time.Time{}
	m.snap.Store(snap)
	return nil
}

// read builds a snapshot from the store. Its time is taken before the
// read, so that the snapshot never counts as fresher than it is.
func (m *Manager) read(ctx context.Context) (*snapshot, error) {
	now := m.opts.Now()
	all, err := m.st.ListSigningKeys(ctx)
	if err != nil {
		return nil, fmt.Errorf("keys: list: %w", err)
	}
	snap := &snapshot{loaded: now}
	for i, meta := range all {
		if !m.published(all, i, now) {
			continue
		}
		der, err := m.sk.OpenKey(meta.Sealed, []byte(meta.ID))
		if err != nil {
			return nil, fmt.Errorf("keys: key %s does not open with this master key: %w", meta.ID, err)
		}
		priv, err := x509.ParsePKCS8PrivateKey(der)
		if err != nil {
			return nil, fmt.Errorf("keys: key %s: %w", meta.ID, err)
		}
		var pub jose.JSONWebKey
		if err := pub.UnmarshalJSON(meta.PublicJWK); err != nil {
			return nil, fmt.Errorf("keys: key %s public part: %w", meta.ID, err)
		}
		k := &key{meta: meta, public: pub}
		for _, typ := range types {
			signer, err := jose.NewSigner(
				jose.SigningKey{Algorithm: jose.SignatureAlgorithm(meta.Algorithm), Key: jose.JSONWebKey{Key: priv, KeyID: meta.ID}},
				(&jose.SignerOptions{}).WithType(jose.ContentType(typ)))
			if err != nil {
				return nil, fmt.Errorf("keys: key %s signer: %w", meta.ID, err)
			}
			k.signers = append(k.signers, signer)
		}
		snap.keys = append(snap.keys, k)
	}
	return snap, nil
}

// published reports whether all[i] belongs in the JWKS at now: every key
// is, except one whose successor has been active for longer than the
// longest token lifetime (so no token it signed is still valid).
func (m *Manager) published(all []store.SigningKey, i int, now time.Time) bool {
	succ := successorActiveAt(all, i, now)
	return succ.IsZero() || now.Before(succ.Add(m.opts.MaxTokenTTL+leeway))
}

// successorActiveAt returns when the first key after all[i] that is
// active at now became active, or zero if none is.
func successorActiveAt(all []store.SigningKey, i int, now time.Time) time.Time {
	for _, k := range all[i+1:] {
		if !k.ActiveAt.After(now) {
			return k.ActiveAt
		}
	}
	return time.Time{}
}

// current returns the snapshot, reloading it when it is stale.
func (m *Manager) current(ctx context.Context) (*snapshot, error) {
	return m.refresh(ctx, m.opts.ReloadInterval, false)
}

// ErrNoKey is returned by Sign when no key is active.
var ErrNoKey = errors.New("keys: no active signing key; run EnsureCurrent")

// Sign returns a compact JWS with header typ (TypeAccessToken or TypeJWT),
// signed by the newest key that is active now. claims is called with that
// key's alg and returns the claims to sign: an id_token's at_hash depends
// on the alg (OpenID Connect Core §3.1.3.6), and the key is chosen only
// here, so a rotation between choosing and signing cannot make them
// disagree.
func (m *Manager) Sign(ctx context.Context, typ string, claims func(alg string) (any, error)) (string, string, error) {
	t := slices.Index(types, typ)
	if t < 0 {
		return "", "", fmt.Errorf("keys: unknown token type %q", typ)
	}
	s, err := m.current(ctx)
	if err != nil {
		return "", "", err
	}
	now := m.opts.Now()
	var signing *key
	for _, k := range s.keys {
		if !k.meta.ActiveAt.After(now) {
			signing = k
		}
	}
	if signing == nil {
		return "", "", ErrNoKey
	}
	c, err := claims(signing.meta.Algorithm)
	if err != nil {
		return "", "", fmt.Errorf("keys: claims: %w", err)
	}
	payload, err := json.Marshal(c)
	if err != nil {
		return "", "", fmt.Errorf("keys: claims: %w", err)
	}
	jws, err := signing.signers[t].Sign(payload)
	if err != nil {
		return "", "", fmt.Errorf("keys: sign: %w", err)
	}
	tok, err := jws.CompactSerialize()
	if err != nil {
		return "", "", fmt.Errorf("keys: serialize: %w", err)
	}
	return tok, signing.meta.ID, nil
}

// Claims returns a claims function for Sign that ignores the alg.
func Claims(c any) func(alg string) (any, error) {
	return func(string) (any, error) { return c, nil }
}

// Algorithms returns the algs of the published keys, each once, oldest
// key first: what verifiers of Rotor's tokens must accept now (the
// metadata's id_token_signing_alg_values_supported).
func (m *Manager) Algorithms(ctx context.Context) ([]string, error) {
	s, err := m.current(ctx)
	if err != nil {
		return nil, err
	}
	var algs []string
	for _, k := range s.keys {
		if !slices.Contains(algs, k.meta.Algorithm) {
			algs = append(algs, k.meta.Algorithm)
		}
	}
	return algs, nil
}

// JWKS returns the JSON Web Key Set of the published keys, public parts
// only.
func (m *Manager) JWKS(ctx context.Context) ([]byte, error) {
	s, err := m.current(ctx)
	if err != nil {
		return nil, err
	}
	set := jose.JSONWebKeySet{Keys: make([]jose.JSONWebKey, 0, len(s.keys))}
	for _, k := range s.keys {
		set.Keys = append(set.Keys, k.public)
	}
	return json.Marshal(set)
}

// Verify errors.
var (
	ErrInvalid    = errors.New("keys: token is not a valid signed token of the expected type")
	ErrUnknownKey = errors.New("keys: token was signed by an unknown key")
)

// Verify checks a compact JWS against the published keys and returns its
// payload. Only the algorithms of published keys are accepted (never
// "none", never HMAC), the header must say typ (TypeAccessToken, which
// may also be spelt application/at+jwt, or TypeJWT), and the key is
// chosen by kid among the published ones; an unknown kid reloads the key
// set once. Claims are the caller's to check.
func (m *Manager) Verify(ctx context.Context, typ, token string) ([]byte, error) {
	if !slices.Contains(types, typ) {
		return nil, fmt.Errorf("keys: unknown token type %q", typ)
	}
	s, err := m.current(ctx)
	if err != nil {
		return nil, err
	}
	jws, err := jose.ParseSignedCompact(token, []jose.SignatureAlgorithm{jose.ES256, jose.EdDSA, jose.RS256})
	if err != nil || len(jws.Signatures) != 1 {
		return nil, ErrInvalid
	}
	h := jws.Signatures[0].Protected
	if !isType(h, typ) {
		return nil, ErrInvalid
	}
	k := s.find(h.KeyID)
	if k == nil {
		// Reload for a kid another replica may just have rotated in, but
		// not for every made-up kid: a reload reads and decrypts every key.
		// Concurrent callers share that reload.
		s, err := m.refresh(ctx, unknownKeyReload, true)
		if err != nil {
			return nil, ErrUnknownKey
		}
		if k = s.find(h.KeyID); k == nil {
			return nil, ErrUnknownKey
		}
	}
	if h.Algorithm != k.meta.Algorithm {
		return nil, ErrInvalid
	}
	payload, err := jws.Verify(k.public.Key)
	if err != nil {
		return nil, ErrInvalid
	}
	return payload, nil
}

// isType reports whether the header's typ is want, compared without
// regard to case and with an optional "application/" prefix (RFC 7515
// §4.1.9).
func isType(h jose.Header, want string) bool {
	typ, _ := h.ExtraHeaders[jose.HeaderType].(string)
	typ = strings.ToLower(typ)
	typ = strings.TrimPrefix(typ, "application/")
	return typ == strings.ToLower(want)
}

func (s *snapshot) find(kid string) *key {
	if kid == "" {
		return nil
	}
	for _, k := range s.keys {
		if k.meta.ID == kid {
			return k
		}
	}
	return nil
}

// KeyInfo describes a key for operators.
type KeyInfo struct {
	ID        string    `json:"kid"`
	Algorithm string    `json:"alg"`
	CreatedAt time.Time `json:"created_at"`
	ActiveAt  time.Time `json:"active_at"`
	// State is "pending" (published, not signing yet), "active" (signing),
	// "retiring" (published until RetiresAt), or "expired" (unpublished,
	// awaiting Collect).
	State     string    `json:"state"`
	RetiresAt time.Time `json:"retires_at,omitzero"`
}

// Keys lists every stored key with its state.
func (m *Manager) Keys(ctx context.Context) ([]KeyInfo, error) {
	all, err := m.st.ListSigningKeys(ctx)
	if err != nil {
		return nil, fmt.Errorf("keys: list: %w", err)
	}
	now := m.opts.Now()
	out := make([]KeyInfo, 0, len(all))
	for i, k := range all {
		ki := KeyInfo{ID: k.ID, Algorithm: k.Algorithm, CreatedAt: k.CreatedAt, ActiveAt: k.ActiveAt}
		succ := successorActiveAt(all, i, now)
		switch {
		case k.ActiveAt.After(now):
			ki.State = "pending"
		case succ.IsZero():
			ki.State = "active"
		case m.published(all, i, now):
			ki.State = "retiring"
			ki.RetiresAt = succ.Add(m.opts.MaxTokenTTL + leeway)
		default:
			ki.State = "expired"
		}
		out = append(out, ki)
	}
	return out, nil
}

// Collect deletes keys that are no longer published; never the active or
// a pending one. It returns how many it deleted.
func (m *Manager) Collect(ctx context.Context) (int, error) {
	all, err := m.st.ListSigningKeys(ctx)
	if err != nil {
		return 0, fmt.Errorf("keys: list: %w", err)
	}
	now := m.opts.Now()
	n := 0
	for i, k := range all {
		if m.published(all, i, now) {
			continue
		}
		if err := m.st.DeleteSigningKey(ctx, k.ID); err != nil && !errors.Is(err, store.ErrNotFound) {
			return n, fmt.Errorf("keys: delete %s: %w", k.ID, err)
		}
		n++
	}
	if n > 0 {
		return n, m.reload(ctx)
	}
	return 0, nil
}
