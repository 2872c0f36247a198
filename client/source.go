package client

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"sync"
	"time"

	"golang.org/x/oauth2"
)

// Defaults of [Config].
const (
	DefaultRefreshBefore  = time.Minute
	DefaultRetries        = 3
	DefaultRetryWindow    = 10 * time.Second
	DefaultRequestTimeout = 5 * time.Second
)

// lockWait bounds the wait for a [Locker]: its holder does at most one
// refresh, itself bounded by the retry window and request timeout, so a
// longer wait means a stuck process.
const lockWait = time.Minute

// Config configures a [Source].
type Config struct {
	// OAuth2 names the client and the token endpoint: ClientID,
	// ClientSecret ("" for a public client), Endpoint.TokenURL and
	// Endpoint.AuthStyle. A confidential client authenticates with HTTP
	// Basic unless AuthStyle is oauth2.AuthStyleInParams; a public client
	// sends its client_id in the form. Scopes are not sent on refresh: a
	// refresh keeps the scopes of the grant.
	OAuth2 *oauth2.Config
	// DPoP, when set, puts a DPoP proof made with its key on every token
	// request, which keeps the session bound to the key (RFC 9449).
	DPoP *DPoP
	// RefreshBefore is how long before the access token expires it is
	// refreshed, so that a token handed out is still good when it reaches
	// the API. Zero means [DefaultRefreshBefore]. For a token this Source
	// fetched, it is capped at half the token's lifetime, so that short-lived
	// tokens are not refreshed on every call.
	RefreshBefore time.Duration
	// HTTPClient sends token requests. Nil means the client stored in the
	// context under oauth2.HTTPClient, else http.DefaultClient. With DPoP,
	// its Transport is wrapped (never modified) to add the proofs.
	HTTPClient *http.Client
	// Retries is how many times a refresh that got no usable answer (a
	// network error, a cut-off body, a 5xx or 429) is sent again with the
	// same refresh token. Zero means [DefaultRetries]; negative, none.
	Retries int
	// RetryWindow: no retry starts later than this after the first attempt.
	// Zero means [DefaultRetryWindow]. Keep it below the server's reuse
	// grace period (Rotor's default: 15 s): inside it, a retry of a token
	// the server already rotated gets the same successor; after it, the
	// retry is taken for a replay and the session is revoked.
	RetryWindow time.Duration
	// RequestTimeout bounds each attempt. Zero means
	// [DefaultRequestTimeout].
	RequestTimeout time.Duration
}

// Source is an oauth2.TokenSource that refreshes through a [Store]. See the
// package documentation for its guarantees. It is safe for concurrent use.
type Source struct {
	ctx  context.Context
	cfg  Config
	st   Store
	hc   *http.Client
	err  error // a configuration error, returned by every call
	now  func() time.Time
	wait func(ctx context.Context, d time.Duration) error

	mu sync.Mutex
	// tok is the token handed out; obtained is when this Source fetched it
	// (zero if it was loaded), to cap RefreshBefore.
	tok      *oauth2.Token
	obtained time.Time
	// pending is a rotated token the store refused, saved again first,
	// but only over the token it succeeded (pendingOver, a refresh
	// token): another process may have saved a newer one since.
	pending     *oauth2.Token
	pendingAt   time.Time
	pendingOver string
	// rejected is a refresh token the server answered invalid_grant to; it
	// is never sent again.
	rejected string
	flight   *flight
}

var _ oauth2.TokenSource = (*Source)(nil)

// flight is one refresh in progress; callers that arrive meanwhile wait for
// its result instead of starting another.
type flight struct {
	done chan struct{}
	tok  *oauth2.Token
	err  error
}

// TokenSource returns a [Source] that hands out the token in st and
// refreshes it through cfg's token endpoint, saving each rotated token in
// st before handing it out. ctx is used for every request and store call;
// when it ends, Token fails. A configuration error is returned by every
// Token call.
func TokenSource(ctx context.Context, cfg *Config, st Store) *Source {
	s := &Source{ctx: ctx, st: st, now: time.Now, wait: sleep}
	if cfg == nil {
		s.err = errors.New("client: nil Config")
		return s
	}
	s.cfg = *cfg
	switch {
	case s.cfg.OAuth2 == nil || s.cfg.OAuth2.Endpoint.TokenURL == "":
		s.err = errors.New("client: Config.OAuth2 must name the token endpoint")
	case s.cfg.OAuth2.ClientID == "":
		s.err = errors.New("client: Config.OAuth2 must name the client")
	case st == nil:
		s.err = errors.New("client: nil Store")
	}
	if s.cfg.RefreshBefore <= 0 {
		s.cfg.RefreshBefore = DefaultRefreshBefore
	}
	if s.cfg.Retries == 0 {
		s.cfg.Retries = DefaultRetries
	}
	if s.cfg.RetryWindow <= 0 {
		s.cfg.RetryWindow = DefaultRetryWindow
	}
	if s.cfg.RequestTimeout <= 0 {
		s.cfg.RequestTimeout = DefaultRequestTimeout
	}
	s.hc = s.cfg.HTTPClient
	if s.hc == nil {
		if c, ok := ctx.Value(oauth2.HTTPClient).(*http.Client); ok && c != nil {
			s.hc = c
		} else {
			s.hc = http.DefaultClient
		}
	}
	if s.cfg.DPoP != nil {
		c := *s.hc
		c.Transport = s.cfg.DPoP.Transport(s.hc.Transport)
		s.hc = &c
	}
	return s
}

// Token returns a valid access token, refreshing it first if it expires
// within RefreshBefore. Concurrent callers share one refresh. The token
// must not be modified.
//
// Errors: one matching [ErrSignInAgain] (a [*ReauthError]) when the session
// is over; one matching [ErrNotSaved] when the server rotated the token but
// the store could not save it; an *oauth2.RetrieveError for other error
// answers; otherwise a network or store error. A refresh that fails for a
// transient reason while the current access token has not yet expired
// returns that token, and the next call tries again.
func (s *Source) Token() (*oauth2.Token, error) {
	if s.err != nil {
		return nil, s.err
	}
	s.mu.Lock()
	if t := s.tok; t != nil && s.pending == nil && !s.due(t, s.obtained) {
		s.mu.Unlock()
		return t, nil
	}
	if f := s.flight; f != nil {
		s.mu.Unlock()
		<-f.done
		return f.tok, f.err
	}
	f := &flight{done: make(chan struct{})}
	s.flight = f
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		s.flight = nil
		s.mu.Unlock()
		close(f.done)
	}()
	f.tok, f.err = s.refresh()
	return f.tok, f.err
}

// Client returns an HTTP client for calling APIs with this Source's tokens,
// DPoP-bound or not; see [Transport]. Its transport is that of
// Config.HTTPClient, else http.DefaultTransport.
func (s *Source) Client() *http.Client {
	var base http.RoundTripper
	if s.cfg.HTTPClient != nil {
		base = s.cfg.HTTPClient.Transport
	}
	return &http.Client{Transport: &Transport{Source: s, DPoP: s.cfg.DPoP, Base: base}}
}

// due reports whether t should be refreshed now.
func (s *Source) due(t *oauth2.Token, obtained time.Time) bool {
	if t.Expiry.IsZero() {
		return t.AccessToken == ""
	}
	margin := s.cfg.RefreshBefore
	if !obtained.IsZero() {
		if half := t.Expiry.Sub(obtained) / 2; half < margin {
			margin = half
		}
	}
	return !s.now().Before(t.Expiry.Add(-margin))
}

// refresh runs one flight: under the store's lock, it saves a pending token,
// else loads the stored token and, if it is due, rotates it and saves the
// successor.
func (s *Source) refresh() (*oauth2.Token, error) {
	ctx := s.ctx
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if l, ok := s.st.(Locker); ok {
		lctx, cancel := context.WithTimeout(ctx, lockWait)
		unlock, err := l.Lock(lctx)
		cancel()
		if err != nil {
			return nil, fmt.Errorf("client: lock the token store: %w", err)
		}
		defer func() { _ = unlock() }()
	}

	s.mu.Lock()
	pending, pendingAt, pendingOver := s.pending, s.pendingAt, s.pendingOver
	s.mu.Unlock()
	cur, err := s.st.Load(ctx)
	if pending != nil && err == nil && cur != nil {
		switch cur.RefreshToken {
		case pendingOver:
			// The store still holds the predecessor: save the successor.
			if err := s.st.Save(ctx, pending); err != nil {
				return nil, notSaved(err)
			}
			s.adopt(pending, pendingAt)
			if !s.due(pending, pendingAt) {
				return pending, nil
			}
			cur = pending
		default:
			// Someone else saved a token since (the same successor, got
			// by a grace retry, or a newer one): the store wins, and
			// writing the kept one over it would go back in time.
			s.mu.Lock()
			s.pending, s.pendingAt, s.pendingOver = nil, time.Time{}, ""
			s.mu.Unlock()
		}
	}
	switch {
	case errors.Is(err, ErrNoToken):
		return nil, &ReauthError{Reason: "no token is stored", Err: err}
	case err != nil:
		return nil, fmt.Errorf("client: load the token: %w", err)
	case cur == nil:
		return nil, &ReauthError{Reason: "no token is stored", Err: ErrNoToken}
	}
	s.mu.Lock()
	if s.tok == nil || s.tok.RefreshToken != cur.RefreshToken || s.tok.AccessToken != cur.AccessToken {
		// Another Source or process rotated it, or this is the first load.
		s.tok, s.obtained = cur, time.Time{}
	}
	obtained, rejected := s.obtained, s.rejected
	s.mu.Unlock()
	if !s.due(cur, obtained) {
		return cur, nil
	}
	if cur.RefreshToken == "" {
		if s.valid(cur) {
			return cur, nil
		}
		return nil, &ReauthError{Reason: "the stored token has no refresh token"}
	}
	if cur.RefreshToken == rejected {
		return nil, &ReauthError{Reason: "the server refused the stored refresh token"}
	}

	sent := s.now()
	next, err := s.exchange(ctx, cur.RefreshToken)
	var re *ReauthError
	switch {
	case errors.As(err, &re):
		s.mu.Lock()
		s.tok, s.rejected = nil, cur.RefreshToken
		s.mu.Unlock()
		if c, ok := s.st.(Clearer); ok {
			if cerr := c.Clear(ctx); cerr != nil {
				return nil, errors.Join(re, fmt.Errorf("client: clear the token store: %w", cerr))
			}
		}
		return nil, re
	case err != nil:
		if s.valid(cur) {
			return cur, nil
		}
		return nil, err
	}
	if next.RefreshToken == "" {
		// RFC 6749 §6: a server that does not rotate keeps the old one.
		next.RefreshToken = cur.RefreshToken
	}
	if err := s.st.Save(ctx, next); err != nil {
		s.mu.Lock()
		s.pending, s.pendingAt, s.pendingOver = next, sent, cur.RefreshToken
		s.mu.Unlock()
		return nil, notSaved(err)
	}
	s.adopt(next, sent)
	return next, nil
}

// adopt makes t, fetched at obtained, the token handed out.
func (s *Source) adopt(t *oauth2.Token, obtained time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.tok, s.obtained = t, obtained
	s.pending, s.pendingAt, s.pendingOver = nil, time.Time{}, ""
}

// valid reports whether t's access token has not expired yet.
func (s *Source) valid(t *oauth2.Token) bool {
	return t.AccessToken != "" && (t.Expiry.IsZero() || s.now().Before(t.Expiry))
}

func notSaved(err error) error {
	return fmt.Errorf("%w: %w", ErrNotSaved, err)
}

// sleep waits d or until ctx ends.
func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
