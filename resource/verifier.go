package resource

import (
	"context"
	"encoding/json"
	"errors"
	"slices"
	"strings"
	"sync"
	"sync/atomic"

	jose "github.com/go-jose/go-jose/v4"
)

// maxTokenBytes bounds a token (and a DPoP proof) before any parsing.
const maxTokenBytes = 16 << 10

// Verifier checks access tokens of one issuer for one audience. Create it
// with [New]; it is safe for concurrent use.
type Verifier struct {
	cfg Config
	// algs and proofAlgList are the allow-lists in go-jose's terms;
	// proofAlgs is the same list for the DPoP challenge's algs.
	algs         []jose.SignatureAlgorithm
	proofAlgList []jose.SignatureAlgorithm
	proofAlgs    string

	keys       *keyCache
	replay     *replayCache
	introspect *introspector
	deny       *denyPoller

	// bg is the context of background work, canceled by Close; wg counts
	// the goroutines running on it.
	bg        context.Context
	stop      context.CancelFunc
	wg        sync.WaitGroup
	bgMu      sync.Mutex
	closed    atomic.Bool
	closeOnce sync.Once
}

// New returns a verifier for cfg. It reads the issuer's metadata and key
// set, and the deny-list when [Config.DenyList] is set, and fails if it
// cannot: a verifier that starts with no keys could only refuse every
// token. ctx bounds this start-up only; background work (refreshing the
// keys, polling the deny-list) runs until [Verifier.Close].
func New(ctx context.Context, cfg Config) (_ *Verifier, err error) {
	cfg, err = cfg.settings()
	if err != nil {
		return nil, err
	}
	v := &Verifier{cfg: cfg}
	v.bg, v.stop = context.WithCancel(context.Background())
	defer func() {
		if err != nil {
			_ = v.Close()
		}
	}()
	// tokenAlgs nil: the key set says which algorithm each key is for.
	var tokenAlgs map[string]bool
	names := asymmetricNames
	if len(cfg.Algorithms) > 0 {
		names, tokenAlgs = cfg.Algorithms, map[string]bool{}
		for _, a := range cfg.Algorithms {
			tokenAlgs[a] = true
		}
	}
	for _, a := range names {
		v.algs = append(v.algs, asymmetric[a])
	}
	for _, a := range cfg.DPoPAlgorithms {
		v.proofAlgList = append(v.proofAlgList, asymmetric[a])
	}
	v.proofAlgs = strings.Join(cfg.DPoPAlgorithms, " ")
	v.replay = newReplayCache(cfg.DPoPReplayCacheSize, cfg.DPoPWindow)

	md, err := v.discover(ctx)
	if err != nil {
		return nil, err
	}
	v.keys = &keyCache{v: v, uri: md.JWKSURI, algs: tokenAlgs}
	v.keys.lastStart.Store(cfg.Clock().UnixNano())
	if err := v.keys.fetch(ctx); err != nil {
		return nil, err
	}
	if cfg.Introspection != nil {
		if md.IntrospectionEndpoint == "" {
			return nil, errors.New("resource: the issuer advertises no introspection_endpoint")
		}
		v.introspect = newIntrospector(v, md.IntrospectionEndpoint, cfg.Introspection)
	}
	if cfg.DenyList != nil {
		endpoint := md.DenyListEndpoint
		if endpoint == "" {
			endpoint = strings.TrimSuffix(cfg.Issuer, "/") + "/oauth2/denylist"
		}
		v.deny = &denyPoller{v: v, endpoint: endpoint, cfg: cfg.DenyList}
		if err := v.deny.poll(ctx); err != nil {
			return nil, err
		}
		if v.goBackground() {
			go v.deny.run()
		}
	}
	return v, nil
}

// goBackground reserves a place for a goroutine on the background context,
// or reports false once the verifier is closed.
func (v *Verifier) goBackground() bool {
	v.bgMu.Lock()
	defer v.bgMu.Unlock()
	if v.closed.Load() {
		return false
	}
	v.wg.Add(1)
	return true
}

// Close stops background work and waits for it to end. Verification after
// Close fails with [ErrUnavailable]: the keys and the deny-list would no
// longer be kept current.
func (v *Verifier) Close() error {
	v.closeOnce.Do(func() {
		v.bgMu.Lock()
		v.closed.Store(true)
		v.bgMu.Unlock()
		v.stop()
		v.wg.Wait()
	})
	return nil
}

// Verify checks a bearer access token and returns its claims. A token
// bound to a key (cnf.jkt) is refused with [ErrDPoPRequired]: it is only
// good with a proof, see [Verifier.VerifyDPoP]. ctx bounds the network
// calls the check may make (an unknown kid, introspection). Every error
// is an [*Error].
func (v *Verifier) Verify(ctx context.Context, token string) (*Claims, error) {
	c := new(Claims)
	if err := v.verifyBearer(ctx, token, c, nil); err != nil {
		return nil, err
	}
	return c, nil
}

// DPoPRequest is what a DPoP proof is checked against: the proof and the
// request it came with.
type DPoPRequest struct {
	// Proof is the value of the request's DPoP header.
	Proof string
	// Method is the request's HTTP method.
	Method string
	// URL is the request's URL as the client addressed it, scheme and
	// host included; query and fragment are ignored.
	URL string
}

// VerifyDPoP checks a DPoP-bound access token (RFC 9449) and the proof of
// possession that came with it: the proof's signature by the key the
// token is bound to, its method, URL, age, access-token hash, and that its
// jti was not seen before. A token not bound to a key is refused with
// [ErrNotBound]: a client that was issued a bearer token must send it as
// one. Use it where [Verifier.Middleware] does not fit.
func (v *Verifier) VerifyDPoP(ctx context.Context, token string, req DPoPRequest) (*Claims, error) {
	c := new(Claims)
	if err := v.verifyDPoP(ctx, token, req, c, nil); err != nil {
		return nil, err
	}
	return c, nil
}

func (v *Verifier) verifyBearer(ctx context.Context, token string, c *Claims, scopes []string) *Error {
	if err := v.checkToken(ctx, token, c); err != nil {
		return err
	}
	// RFC 9449 §7.2: a bound token sent as a bearer token is refused, or
	// a thief could drop the proof and use it as one.
	if c.KeyThumbprint != "" {
		return fail(ErrDPoPRequired, "the token is bound to a key: send it with the DPoP scheme and a proof")
	}
	if v.cfg.RequireDPoP {
		return fail(ErrDPoPRequired, "this API accepts only DPoP-bound tokens")
	}
	return v.finish(ctx, token, c, scopes)
}

func (v *Verifier) verifyDPoP(ctx context.Context, token string, req DPoPRequest, c *Claims, scopes []string) *Error {
	if err := v.checkToken(ctx, token, c); err != nil {
		if err.kind != ErrNoToken {
			err.Scheme = SchemeDPoP
		}
		return err
	}
	if c.KeyThumbprint == "" {
		return fail(ErrNotBound, "the token is not bound to a key: send it with the Bearer scheme")
	}
	if err := v.checkProof(req, token, c.KeyThumbprint); err != nil {
		return err
	}
	if err := v.finish(ctx, token, c, scopes); err != nil {
		if err.Scheme == SchemeBearer {
			err.Scheme = SchemeDPoP
		}
		return err
	}
	return nil
}

// finish runs the checks that come after the token is known to be
// genuine and rightly presented: revocation, then scopes, since
// insufficient_scope is an answer for valid tokens only.
func (v *Verifier) finish(ctx context.Context, token string, c *Claims, scopes []string) *Error {
	if v.introspect != nil {
		if err := v.introspect.check(ctx, token, c); err != nil {
			return err
		}
	}
	if v.deny != nil {
		if err := v.deny.check(c); err != nil {
			return err
		}
	}
	for _, list := range [2][]string{v.cfg.RequiredScopes, scopes} {
		for _, s := range list {
			if !c.HasScope(s) {
				e := fail(ErrInsufficientScope, "the token lacks a scope this request needs")
				e.Scope = joinScopes(v.cfg.RequiredScopes, scopes)
				return e
			}
		}
	}
	return nil
}

func joinScopes(a, b []string) string {
	all := slices.Clone(a)
	for _, s := range b {
		if !slices.Contains(all, s) {
			all = append(all, s)
		}
	}
	return strings.Join(all, " ")
}

// isType reports whether a JWS header typ names the media type want
// (RFC 8725 §3.11): compared without regard to case, with or without the
// "application/" prefix (RFC 7515 §4.1.9).
func isType(h jose.Header, want string) bool {
	typ, _ := h.ExtraHeaders[jose.HeaderType].(string)
	if len(typ) > len("application/") && strings.EqualFold(typ[:len("application/")], "application/") {
		typ = typ[len("application/"):]
	}
	return strings.EqualFold(typ, want)
}

// checkToken runs the offline checks of an access token (RFC 9068 §4) and
// fills c with its claims.
func (v *Verifier) checkToken(ctx context.Context, token string, c *Claims) *Error {
	if v.closed.Load() {
		return fail(ErrUnavailable, "the verifier is closed")
	}
	if token == "" {
		return fail(ErrNoToken, "")
	}
	if len(token) > maxTokenBytes {
		return fail(ErrMalformedToken, "the token is too long")
	}
	// The allow-list is enforced by the parser: "none", HMAC and anything
	// not listed never reach a key. With no list, every asymmetric
	// algorithm passes here and the key's own alg decides below.
	jws, err := jose.ParseSignedCompact(token, v.algs)
	if err != nil {
		var ua *jose.ErrUnexpectedSignatureAlgorithm
		if errors.As(err, &ua) {
			return fail(ErrAlgorithm, "the token's signing algorithm is not accepted")
		}
		return fail(ErrMalformedToken, "the token is not a signed JWT")
	}
	if len(jws.Signatures) != 1 {
		return fail(ErrMalformedToken, "the token is not a signed JWT")
	}
	h := jws.Signatures[0].Protected
	if !isType(h, "at+jwt") {
		return fail(ErrType, "the token is not an access token (typ at+jwt)")
	}
	if h.KeyID == "" {
		return fail(ErrUnknownKey, "the token names no signing key")
	}
	k, kerr := v.keys.key(ctx, h.KeyID)
	if kerr != nil {
		return kerr
	}
	if !k.fits(h.Algorithm) {
		return fail(ErrAlgorithm, "the token's signing algorithm does not fit its key")
	}
	payload, err := jws.Verify(k.key)
	if err != nil {
		return fail(ErrSignature, "the token's signature is not valid")
	}
	var w wireClaims
	if err := json.Unmarshal(payload, &w); err != nil {
		return fail(ErrMalformedToken, "the token's claims are not valid JSON")
	}
	now := v.cfg.Clock()
	switch {
	case w.Issuer != v.cfg.Issuer:
		return fail(ErrIssuer, "the token was issued by another issuer")
	case !w.Audience.contains(v.cfg.Audience):
		return fail(ErrAudience, "the token is meant for another audience")
	case w.Expiry == 0 || w.IssuedAt == 0 || w.Subject == "" || w.ClientID == "" || w.ID == "":
		return fail(ErrMalformedToken, "the token lacks a required claim (exp, iat, sub, client_id, jti)")
	case !now.Before(w.Expiry.time().Add(v.cfg.Leeway)):
		return fail(ErrExpired, "the token has expired")
	case w.NotBefore != 0 && now.Add(v.cfg.Leeway).Before(w.NotBefore.time()),
		now.Add(v.cfg.Leeway).Before(w.IssuedAt.time()):
		return fail(ErrNotYetValid, "the token is not valid yet")
	case w.Cnf != nil && w.Cnf.JKT == "":
		return fail(ErrMalformedToken, "the token is bound by a confirmation method this API does not support")
	}
	*c = Claims{
		Issuer: w.Issuer, Subject: w.Subject, Audience: w.Audience,
		ExpiresAt: w.Expiry.time(), IssuedAt: w.IssuedAt.time(), NotBefore: w.NotBefore.time(),
		ID: w.ID, ClientID: w.ClientID, Scope: w.Scope, SessionID: w.SID, raw: payload,
	}
	if w.Cnf != nil {
		c.KeyThumbprint = w.Cnf.JKT
	}
	return nil
}
