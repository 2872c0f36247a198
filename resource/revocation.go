package resource

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Size limits of revocation answers.
const (
	maxIntrospectionBytes = 64 << 10
	maxDenyListPageBytes  = 8 << 20
	// maxDenyListPages bounds one poll: Rotor pages 10,000 entries at a
	// time, so this is a million revoked, unexpired tokens or families.
	maxDenyListPages = 100
)

// basicAuth sets client_secret_basic credentials: each part form-encoded
// before base64 (RFC 6749 §2.3.1).
func basicAuth(req *http.Request, id, secret string) {
	req.SetBasicAuth(url.QueryEscape(id), url.QueryEscape(secret))
}

// introspector is the RFC 7662 mode.
type introspector struct {
	v        *Verifier
	endpoint string
	cfg      *Introspection

	mu    sync.Mutex
	cache map[string]introspected
}

// introspected is a cached answer, keyed by the token's jti: the jti is
// read from a token whose signature has been checked, so it names that
// token and no other.
type introspected struct {
	active bool
	until  time.Time
}

func newIntrospector(v *Verifier, endpoint string, cfg *Introspection) *introspector {
	return &introspector{v: v, endpoint: endpoint, cfg: cfg, cache: map[string]introspected{}}
}

// check asks whether the token is still active.
func (in *introspector) check(ctx context.Context, token string, c *Claims) *Error {
	now := in.v.cfg.Clock()
	if in.cfg.CacheTTL > 0 {
		in.mu.Lock()
		e, ok := in.cache[c.ID]
		in.mu.Unlock()
		if ok && now.Before(e.until) {
			return in.verdict(e.active)
		}
	}
	active, err := in.ask(ctx, token)
	if err != nil {
		if in.cfg.FailOpen {
			in.v.cfg.Logger.Warn("resource: introspection failed; accepting the token on its offline checks (FailOpen)", "jti", c.ID, "err", err)
			return nil
		}
		return failCause(ErrUnavailable, "the token cannot be checked with the issuer now", err)
	}
	if in.cfg.CacheTTL > 0 {
		until := now.Add(in.cfg.CacheTTL)
		if c.ExpiresAt.Before(until) {
			until = c.ExpiresAt
		}
		in.remember(c.ID, active, until, now)
	}
	return in.verdict(active)
}

func (in *introspector) verdict(active bool) *Error {
	if !active {
		return fail(ErrRevoked, "the token has been revoked")
	}
	return nil
}

// remember caches an answer; when the cache is full of live entries the
// answer is simply not cached.
func (in *introspector) remember(jti string, active bool, until, now time.Time) {
	in.mu.Lock()
	defer in.mu.Unlock()
	if len(in.cache) >= in.cfg.CacheSize {
		for k, e := range in.cache {
			if !now.Before(e.until) {
				delete(in.cache, k)
			}
		}
		if len(in.cache) >= in.cfg.CacheSize {
			return
		}
	}
	in.cache[jti] = introspected{active: active, until: until}
}

// ask calls the introspection endpoint.
func (in *introspector) ask(ctx context.Context, token string) (bool, error) {
	form := url.Values{"token": {token}, "token_type_hint": {"access_token"}}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, in.endpoint, strings.NewReader(form.Encode()))
	if err != nil {
		return false, err
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Accept", "application/json")
	basicAuth(req, in.cfg.ClientID, in.cfg.ClientSecret)
	body, err := in.v.do(req, maxIntrospectionBytes)
	if err != nil {
		return false, err
	}
	var ans struct {
		Active *bool `json:"active"`
	}
	if err := json.Unmarshal(body, &ans); err != nil {
		return false, fmt.Errorf("introspection: %w", err)
	}
	if ans.Active == nil {
		return false, errors.New("introspection: answer has no active member")
	}
	return *ans.Active, nil
}

// denyPoller is the deny-list mode: it polls the issuer's deny-list and
// keeps the last list it read.
type denyPoller struct {
	v        *Verifier
	endpoint string
	cfg      *DenyList
	list     atomic.Pointer[denyListSnapshot]
}

// denyListSnapshot is one complete read of the deny-list: Unix seconds
// until which each sid and jti is denied.
type denyListSnapshot struct {
	sid, jti map[string]int64
	fetched  time.Time
}

// check refuses a token whose family or id is listed.
func (d *denyPoller) check(c *Claims) *Error {
	l := d.list.Load()
	now := d.v.cfg.Clock()
	if d.cfg.MaxStale > 0 && now.Sub(l.fetched) > d.cfg.MaxStale {
		return fail(ErrUnavailable, "the revocation list is out of date")
	}
	sec := now.Unix()
	if until, ok := l.jti[c.ID]; ok && sec <= until {
		return fail(ErrRevoked, "the token has been revoked")
	}
	if c.SessionID != "" {
		if until, ok := l.sid[c.SessionID]; ok && sec <= until {
			return fail(ErrRevoked, "the token's session has been revoked")
		}
	}
	return nil
}

// run polls every Interval until the verifier is closed. A failed poll
// keeps the last list.
func (d *denyPoller) run() {
	defer d.v.wg.Done()
	t := time.NewTicker(d.cfg.Interval)
	defer t.Stop()
	for {
		select {
		case <-d.v.bg.Done():
			return
		case <-t.C:
		}
		ctx, cancel := context.WithTimeout(d.v.bg, defaultHTTPTimeout)
		err := d.poll(ctx)
		cancel()
		if err != nil && d.v.bg.Err() == nil {
			age := d.v.cfg.Clock().Sub(d.list.Load().fetched).Round(time.Second)
			d.v.cfg.Logger.Warn("resource: cannot read the deny-list; keeping the last one", "age", age.String(), "err", err)
		}
	}
}

// poll reads the whole deny-list, page by page, and replaces the last one
// only if every page was read.
func (d *denyPoller) poll(ctx context.Context) error {
	now := d.v.cfg.Clock()
	next := &denyListSnapshot{sid: map[string]int64{}, jti: map[string]int64{}, fetched: now}
	after := ""
	for page := 0; ; page++ {
		if page == maxDenyListPages {
			return fmt.Errorf("resource: deny-list: more than %d pages", maxDenyListPages)
		}
		doc, err := d.page(ctx, after)
		if err != nil {
			return fmt.Errorf("resource: deny-list: %w", err)
		}
		for _, m := range [2]struct {
			from map[string]int64
			to   map[string]int64
		}{{doc.SID, next.sid}, {doc.JTI, next.jti}} {
			for id, until := range m.from {
				if until >= now.Unix() {
					m.to[id] = until
				}
			}
		}
		if doc.Next == "" {
			break
		}
		if doc.Next == after {
			return errors.New("resource: deny-list: a page points back to itself")
		}
		after = doc.Next
	}
	d.list.Store(next)
	return nil
}

// denyListPage is one page of Rotor's deny-list document.
type denyListPage struct {
	SID  map[string]int64 `json:"sid"`
	JTI  map[string]int64 `json:"jti"`
	Next string           `json:"next"`
}

func (d *denyPoller) page(ctx context.Context, after string) (*denyListPage, error) {
	u, err := url.Parse(d.endpoint)
	if err != nil {
		return nil, err
	}
	if after != "" {
		q := u.Query()
		q.Set("after", after)
		u.RawQuery = q.Encode()
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Accept", "application/json")
	basicAuth(req, d.cfg.ClientID, d.cfg.ClientSecret)
	body, err := d.v.do(req, maxDenyListPageBytes)
	if err != nil {
		return nil, err
	}
	return parseDenyListPage(body)
}

func parseDenyListPage(body []byte) (*denyListPage, error) {
	var doc denyListPage
	if err := json.Unmarshal(body, &doc); err != nil {
		return nil, err
	}
	return &doc, nil
}
