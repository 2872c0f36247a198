package resource

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"

	jose "github.com/go-jose/go-jose/v4"
)

// Config says which tokens a [Verifier] accepts. Issuer and Audience are
// required; every other field has a safe default.
type Config struct {
	// Issuer is the authorization server's issuer URL, as it appears in
	// the tokens' iss claim and in its metadata (compared exactly). The
	// metadata is read from Issuer + "/.well-known/oauth-authorization-server"
	// (or, failing that, "/.well-known/openid-configuration"). It must be
	// https, or http on a loopback host, unless InsecureHTTP is set.
	Issuer string
	// Audience is this API's identifier; a token's aud must contain it.
	// Without it, a token minted for any other API of the same issuer
	// would pass, so it is required.
	Audience string
	// Algorithms is the allow-list of JWS algorithms for access tokens.
	// Only asymmetric algorithms may be listed (ES256, ES384, ES512, EdDSA,
	// RS256, RS384, RS512, PS256, PS384, PS512); "none" and HMAC are
	// refused by New.
	//
	// Empty (the default) accepts what the issuer publishes: each key of
	// its key set verifies only tokens signed with that key's own alg
	// (RFC 7517 §4.4), when the alg is an asymmetric one and fits the
	// key's type, so a Rotor rotated to EdDSA or RS256 keeps working. A
	// key that names no alg is used with the one algorithm its curve
	// implies (ES256, ES384, ES512 for P-256, P-384, P-521; EdDSA for
	// Ed25519); an RSA key without alg is used only when Algorithms is
	// set. Either way a token's alg must be its key's.
	Algorithms []string
	// RequiredScopes must all be in every token's scope claim. Routes that
	// need more add them with [Verifier.Require].
	RequiredScopes []string
	// Leeway absorbs clock skew in the exp, nbf and iat checks, and in the
	// future side of a DPoP proof's iat. Default 30s; at most 5m.
	Leeway time.Duration

	// RequireDPoP refuses bearer tokens: every token must be bound to a
	// key (cnf.jkt) and come with a DPoP proof.
	RequireDPoP bool
	// DPoPAlgorithms is the allow-list of JWS algorithms for DPoP proofs,
	// asymmetric only. Default: ES256, ES384, EdDSA, RS256, PS256.
	DPoPAlgorithms []string
	// DPoPWindow is how old a DPoP proof may be (by its iat); the replay
	// cache remembers a proof's jti that long. Default 60s.
	DPoPWindow time.Duration
	// DPoPReplayCacheSize bounds the replay cache (entries). A proof is
	// remembered for DPoPWindow from its iat, or from when it was first
	// seen if it is dated ahead. When the cache is full, the proof key
	// holding the most entries gives up its oldest, and that key's proofs
	// no newer than it are refused from then on, so a dropped entry never
	// lets a replay through and one client flooding proofs, with one key
	// or several, pushes out only its own. Only as many distinct proof
	// keys in one window as the cache has entries make a proof by yet
	// another key wait. Default 100,000 (a few MB). The cache lives in
	// this process: replicas of an API do not share it.
	DPoPReplayCacheSize int
	// BaseURL is the externally visible URL of this API, such as
	// "https://api.example.com" (a path prefix is allowed, for an API
	// mounted under one by a proxy). [Verifier.Middleware] checks a DPoP
	// proof's htu against BaseURL followed by the request's path as the
	// client sent it. Empty derives the scheme from the connection (TLS or
	// not) and the host from the Host header: right for an API served
	// directly, wrong behind a proxy that terminates TLS or rewrites
	// paths. Set it in production: the Host header is the client's to
	// choose, so without BaseURL a proof captured at another API that
	// accepts the same tokens could be replayed here with that API's Host.
	BaseURL string

	// Introspection, when set, asks the issuer about every token (see the
	// package documentation for the trade-off).
	Introspection *Introspection
	// DenyList, when set, polls Rotor's deny-list of revoked families and
	// tokens (see the package documentation for the trade-off).
	DenyList *DenyList

	// Realm, when set, is sent in WWW-Authenticate challenges.
	Realm string
	// HTTPClient fetches metadata and keys and calls introspection and the
	// deny-list. Default: a client with a 10 s timeout that does not
	// follow redirects.
	HTTPClient *http.Client
	// JWKSMinInterval is the least time between two fetches of the key
	// set: an unknown kid triggers at most one fetch per interval, however
	// many requests carry it. Default 30s.
	JWKSMinInterval time.Duration
	// JWKSRefresh is how old the cached key set may grow before a
	// verification triggers a background refresh, so that a key the
	// issuer withdraws stops being accepted. Default 5m.
	JWKSRefresh time.Duration
	// InsecureHTTP allows an http:// issuer on a host other than loopback.
	// Whoever sits on the path can then substitute the keys.
	InsecureHTTP bool
	// Logger receives failures of background work (key refresh,
	// deny-list polls). It never receives a token. Default: discard.
	Logger *slog.Logger
	// Clock returns the current time; nil means [time.Now]. For tests.
	Clock func() time.Time
}

// Introspection configures the RFC 7662 mode: after a token passes the
// offline checks, the issuer's introspection endpoint is asked whether it
// is still active. The resource server authenticates as a confidential
// client with HTTP Basic (client_secret_basic); a client registered for
// private_key_jwt cannot be used here. Rotor answers active only to a
// client registered as a resource server (rotor client create
// --introspect) or named in the token's audience.
type Introspection struct {
	ClientID     string
	ClientSecret string
	// CacheTTL, when positive, remembers an answer for that long (never
	// past the token's exp): revocation then takes up to CacheTTL to be
	// seen, for fewer calls. Zero asks every time.
	CacheTTL time.Duration
	// CacheSize bounds the cache (entries). Default 10,000.
	CacheSize int
	// FailOpen accepts tokens that pass the offline checks when the
	// introspection endpoint cannot answer. The default, fail closed,
	// answers 503: a revoked token is never accepted, and an outage of
	// the issuer is an outage of the API.
	FailOpen bool
}

// DenyList configures the deny-list mode: Rotor's GET /oauth2/denylist
// (rotor_denylist_endpoint in its metadata), polled in the background
// with HTTP Basic credentials of a confidential client (a secret-based one:
// the endpoint is a GET and takes no client assertion). A token whose sid
// (refresh-token family) or jti is listed is refused.
type DenyList struct {
	ClientID     string
	ClientSecret string
	// Interval between polls. Default 10s: a revocation takes up to that
	// long to be seen.
	Interval time.Duration
	// MaxStale, when positive, makes verification fail with 503 once the
	// last successful poll is older than this; zero keeps accepting
	// tokens with the last list known, however old.
	MaxStale time.Duration
}

// Defaults.
const (
	defaultLeeway          = 30 * time.Second
	maxLeeway              = 5 * time.Minute
	defaultDPoPWindow      = 60 * time.Second
	defaultReplayCacheSize = 100_000
	defaultIntrospectCache = 10_000
	defaultDenyInterval    = 10 * time.Second
	defaultJWKSMinInterval = 30 * time.Second
	defaultJWKSRefresh     = 5 * time.Minute
	defaultHTTPTimeout     = 10 * time.Second
)

// asymmetricNames are the algorithms that may ever be accepted, in the
// order they are listed; asymmetric maps them to go-jose's names.
var asymmetricNames = []string{"ES256", "ES384", "ES512", "EdDSA", "RS256", "RS384", "RS512", "PS256", "PS384", "PS512"}

// asymmetric is every algorithm that may ever be listed: public-key
// signatures only.
var asymmetric = map[string]jose.SignatureAlgorithm{
	"ES256": jose.ES256, "ES384": jose.ES384, "ES512": jose.ES512,
	"EdDSA": jose.EdDSA,
	"RS256": jose.RS256, "RS384": jose.RS384, "RS512": jose.RS512,
	"PS256": jose.PS256, "PS384": jose.PS384, "PS512": jose.PS512,
}

// settings is a Config with defaults applied and values checked.
func (c Config) settings() (Config, error) {
	var errs []error
	bad := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }
	if c.Issuer == "" {
		bad("Issuer is required")
	} else if err := checkURL(c.Issuer, c.InsecureHTTP); err != nil {
		bad("Issuer: %v", err)
	}
	if c.Audience == "" {
		bad("Audience is required: without it a token minted for any API of the issuer would pass")
	}
	if len(c.DPoPAlgorithms) == 0 {
		c.DPoPAlgorithms = []string{"ES256", "ES384", "EdDSA", "RS256", "PS256"}
	}
	for _, list := range [][]string{c.Algorithms, c.DPoPAlgorithms} {
		for _, a := range list {
			if _, ok := asymmetric[a]; !ok {
				bad("algorithm %q is not allowed: only asymmetric signatures (ES256, EdDSA, RS256, ...) can be verified with a public key", a)
			}
		}
	}
	for _, s := range c.RequiredScopes {
		if !validScope(s) {
			bad("RequiredScopes: %q is not a scope", s)
		}
	}
	switch {
	case c.Leeway == 0:
		c.Leeway = defaultLeeway
	case c.Leeway < 0 || c.Leeway > maxLeeway:
		bad("Leeway must be between 0 and %v", maxLeeway)
	}
	if c.DPoPWindow == 0 {
		c.DPoPWindow = defaultDPoPWindow
	} else if c.DPoPWindow < time.Second || c.DPoPWindow > maxLeeway {
		bad("DPoPWindow must be between 1s and %v", maxLeeway)
	}
	if c.DPoPReplayCacheSize == 0 {
		c.DPoPReplayCacheSize = defaultReplayCacheSize
	} else if c.DPoPReplayCacheSize < 0 {
		bad("DPoPReplayCacheSize must be positive")
	}
	if c.BaseURL != "" {
		if u, err := url.Parse(c.BaseURL); err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" || u.RawQuery != "" || u.Fragment != "" {
			bad("BaseURL must be an absolute http(s) URL without query or fragment")
		}
		c.BaseURL = strings.TrimSuffix(c.BaseURL, "/")
	}
	if c.Introspection != nil && c.DenyList != nil {
		bad("Introspection and DenyList are alternatives; set one")
	}
	if in := c.Introspection; in != nil {
		cp := *in
		if cp.ClientID == "" || cp.ClientSecret == "" {
			bad("Introspection needs the ClientID and ClientSecret of a confidential client")
		}
		if cp.CacheTTL < 0 {
			bad("Introspection.CacheTTL must not be negative")
		}
		if cp.CacheSize == 0 {
			cp.CacheSize = defaultIntrospectCache
		}
		c.Introspection = &cp
	}
	if dl := c.DenyList; dl != nil {
		cp := *dl
		if cp.ClientID == "" || cp.ClientSecret == "" {
			bad("DenyList needs the ClientID and ClientSecret of a confidential client")
		}
		if cp.Interval == 0 {
			cp.Interval = defaultDenyInterval
		} else if cp.Interval < 10*time.Millisecond {
			bad("DenyList.Interval is too short")
		}
		if cp.MaxStale < 0 {
			bad("DenyList.MaxStale must not be negative")
		}
		c.DenyList = &cp
	}
	if strings.ContainsAny(c.Realm, "\"\\\r\n") {
		bad("Realm must not contain quotes, backslashes or line breaks")
	}
	if c.HTTPClient == nil {
		c.HTTPClient = &http.Client{
			Timeout: defaultHTTPTimeout,
			// A redirect could lead a key fetch off the issuer's host.
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		}
	}
	if c.JWKSMinInterval <= 0 {
		c.JWKSMinInterval = defaultJWKSMinInterval
	}
	if c.JWKSRefresh <= 0 {
		c.JWKSRefresh = defaultJWKSRefresh
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	if c.Clock == nil {
		c.Clock = time.Now
	}
	if len(errs) > 0 {
		return c, fmt.Errorf("resource: invalid config: %w", errors.Join(errs...))
	}
	return c, nil
}

// checkURL accepts https URLs, and http ones on loopback or when insecure
// is set: keys fetched in clear over a network can be substituted.
func checkURL(raw string, insecure bool) error {
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" || u.RawQuery != "" || u.Fragment != "" || u.User != nil {
		return errors.New("must be an absolute URL without query, fragment or user info")
	}
	switch u.Scheme {
	case "https":
		return nil
	case "http":
		if insecure || isLoopback(u.Hostname()) {
			return nil
		}
		return errors.New("http is allowed only on a loopback host (set InsecureHTTP to override)")
	}
	return errors.New("scheme must be https")
}

func isLoopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// validScope reports whether s is a scope token (RFC 6749 §3.3).
func validScope(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < 0x21 || c == 0x22 || c == 0x5c || c > 0x7e {
			return false
		}
	}
	return true
}
