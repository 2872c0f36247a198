package authz

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/rotor-auth/rotor/internal/secret"
)

// RequestTTL is how long a person has, from the authorization request, to
// sign in and consent. A page opened later offers to start again.
const RequestTTL = 10 * time.Minute

// Request is an authorization request whose client and redirect URI have
// been validated (RFC 6749 §4.1.1). It is not stored: it travels sealed
// (AES-GCM under a server key) in the URLs and forms of the login and
// consent pages, so that an unauthenticated caller costs Rotor no storage.
type Request struct {
	ClientID    string `json:"c"`
	RedirectURI string `json:"r"`
	// RedirectGiven is false when the request left redirect_uri out
	// (allowed with one registered URI, RFC 6749 §3.1.2.3); the token
	// request must then leave it out too (§4.1.3).
	RedirectGiven bool     `json:"rg,omitempty"`
	Scopes        []string `json:"s,omitempty"`
	State         string   `json:"st,omitempty"`
	Nonce         string   `json:"n,omitempty"`
	// CodeChallenge is the PKCE S256 challenge (RFC 7636 §4.2).
	CodeChallenge string `json:"cc"`
	// Resources are the RFC 8707 resource indicators.
	Resources []string `json:"res,omitempty"`
	// Prompt holds "none", "login" and "consent" (OIDC Core §3.1.2.1).
	Prompt []string `json:"p,omitempty"`
	// MaxAge is the OIDC max_age in seconds, or -1 when absent.
	MaxAge    int64  `json:"ma"`
	LoginHint string `json:"lh,omitempty"`
	// DPoPJKT binds the code to a DPoP key (RFC 9449 §10), or "".
	DPoPJKT string `json:"jkt,omitempty"`
	// IssuedAt is when the authorization endpoint accepted the request.
	IssuedAt time.Time `json:"iat"`
}

// Has reports whether prompt p (none, login, consent) was asked for.
func (r *Request) Has(p string) bool { return slices.Contains(r.Prompt, p) }

// OpenID reports whether the request is an OpenID Connect one.
func (r *Request) OpenID() bool { return slices.Contains(r.Scopes, "openid") }

// ErrExpired is returned by [Open] for a request older than [RequestTTL];
// the request is returned with it, so that the page can offer to start
// again. ErrInvalid is returned for anything that does not open.
var (
	ErrExpired = errors.New("authz: the sign-in request has expired")
	ErrInvalid = errors.New("authz: not a sign-in request of this server")
)

// sealContext binds sealed requests to their purpose, so that no other
// sealed value of Rotor opens as one.
var sealContext = []byte("rotor authz request v1")

// MaxSealedLen caps the sealed form accepted from a browser.
const MaxSealedLen = 16 << 10

// Seal returns r sealed, in base64url, for a URL or a hidden field. The
// result may be longer than MaxSealedLen for a request of very long
// values, which the caller refuses.
func Seal(keys *secret.Keys, r *Request) string {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false) // the sealed form is opaque: no need to grow it
	if err := enc.Encode(r); err != nil {
		panic(err) // plain strings and numbers always marshal
	}
	return base64.RawURLEncoding.EncodeToString(keys.Seal(buf.Bytes(), sealContext))
}

// Open reverses [Seal] and checks the request's age at now.
func Open(keys *secret.Keys, sealed string, now time.Time) (*Request, error) {
	if sealed == "" || len(sealed) > MaxSealedLen {
		return nil, ErrInvalid
	}
	raw, err := base64.RawURLEncoding.DecodeString(sealed)
	if err != nil {
		return nil, ErrInvalid
	}
	b, err := keys.Open(raw, sealContext)
	if err != nil {
		return nil, ErrInvalid
	}
	var r Request
	if err := json.Unmarshal(b, &r); err != nil || r.ClientID == "" || r.RedirectURI == "" {
		return nil, ErrInvalid
	}
	if now.Sub(r.IssuedAt) > RequestTTL || r.IssuedAt.After(now.Add(time.Minute)) {
		return &r, ErrExpired
	}
	return &r, nil
}

// Redirect returns the URL that sends the browser back to the client with
// params, state and iss (RFC 6749 §4.1.2, RFC 9207), in the query.
func (r *Request) Redirect(issuer string, params url.Values) string {
	u, err := url.Parse(r.RedirectURI)
	if err != nil {
		panic("authz: redirect URI was validated: " + err.Error())
	}
	q := u.Query()
	for k, vs := range params {
		q[k] = vs
	}
	if r.State != "" {
		q.Set("state", r.State)
	}
	q.Set("iss", issuer)
	u.RawQuery = q.Encode()
	return u.String()
}

// ErrorRedirect returns the URL that sends an error back to the client
// (RFC 6749 §4.1.2.1).
func (r *Request) ErrorRedirect(issuer, code, description string) string {
	v := url.Values{"error": {code}}
	if description != "" {
		v.Set("error_description", description)
	}
	return r.Redirect(issuer, v)
}

// Restart returns the authorization endpoint's URL for the same request,
// to begin again after it expired: the same client, redirect URI, state,
// PKCE challenge and the rest, so the client's own records still match.
func (r *Request) Restart(authorizeURL string) string {
	q := url.Values{"response_type": {"code"}, "client_id": {r.ClientID}}
	if r.RedirectGiven {
		q.Set("redirect_uri", r.RedirectURI)
	}
	set := func(k, v string) {
		if v != "" {
			q.Set(k, v)
		}
	}
	set("scope", strings.Join(r.Scopes, " "))
	set("state", r.State)
	set("nonce", r.Nonce)
	set("login_hint", r.LoginHint)
	set("dpop_jkt", r.DPoPJKT)
	set("prompt", strings.Join(r.Prompt, " "))
	if r.CodeChallenge != "" {
		q.Set("code_challenge", r.CodeChallenge)
		q.Set("code_challenge_method", "S256")
	}
	if r.MaxAge >= 0 {
		q.Set("max_age", strconv.FormatInt(r.MaxAge, 10))
	}
	for _, res := range r.Resources {
		q.Add("resource", res)
	}
	return authorizeURL + "?" + q.Encode()
}
