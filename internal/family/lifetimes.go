package family

import (
	"fmt"
	"strings"
	"time"
)

// MaxReuseGrace caps the reuse grace period: during it, a copied refresh
// token goes unnoticed.
const MaxReuseGrace = 5 * time.Minute

// Lifetimes are token lifetimes as an operator sets them, server-wide or
// for one client; nil means "not set here".
type Lifetimes struct {
	AccessTokenTTL     *time.Duration
	RefreshIdleTTL     *time.Duration
	RefreshAbsoluteTTL *time.Duration
	ReuseGrace         *time.Duration
}

// Lifetimes returns the configuration's lifetimes, every one set.
func (c Config) Lifetimes() Lifetimes {
	return Lifetimes{&c.AccessTokenTTL, &c.RefreshIdleTTL, &c.RefreshAbsoluteTTL, &c.ReuseGrace}
}

// Problems returns, in words, every rule the lifetimes break: the one set
// of rules for the configuration file, the flags and each client. name
// turns a setting's key ("access_token_ttl") into the name the operator
// wrote it under (a YAML key, a flag).
func (l Lifetimes) Problems(name func(key string) string) []string {
	var p []string
	add := func(format string, args ...any) { p = append(p, fmt.Sprintf(format, args...)) }
	positive := func(key string, d *time.Duration) bool {
		if d == nil {
			return false
		}
		if *d <= 0 {
			add("%s must be longer than zero, got %s", name(key), FormatDuration(*d))
			return false
		}
		return true
	}
	okAccess := positive("access_token_ttl", l.AccessTokenTTL)
	okIdle := positive("refresh_idle_ttl", l.RefreshIdleTTL)
	okAbs := positive("refresh_absolute_ttl", l.RefreshAbsoluteTTL)
	if okAccess && *l.AccessTokenTTL > MaxAccessTokenTTL {
		add("%s of %s is longer than %s: access tokens cannot be revoked everywhere, keep them short-lived",
			name("access_token_ttl"), FormatDuration(*l.AccessTokenTTL), FormatDuration(MaxAccessTokenTTL))
	}
	if okIdle && okAbs && *l.RefreshIdleTTL > *l.RefreshAbsoluteTTL {
		add("%s (%s) is longer than %s (%s): the idle lifetime must not exceed the absolute one",
			name("refresh_idle_ttl"), FormatDuration(*l.RefreshIdleTTL), name("refresh_absolute_ttl"), FormatDuration(*l.RefreshAbsoluteTTL))
	}
	if g := l.ReuseGrace; g != nil {
		if *g < 0 {
			add("%s must not be negative, got %s (0s disables the grace period)", name("reuse_grace"), FormatDuration(*g))
		} else if *g > MaxReuseGrace {
			add("%s of %s is longer than %s: during the grace period a copied refresh token goes unnoticed",
				name("reuse_grace"), FormatDuration(*g), FormatDuration(MaxReuseGrace))
		}
	}
	return p
}

// FormatDuration writes a duration as an operator would: 720h, 10m, 15s,
// 1h30m, rather than 720h0m0s.
func FormatDuration(d time.Duration) string {
	s := d.String()
	if strings.HasSuffix(s, "m0s") {
		s = strings.TrimSuffix(s, "0s")
	}
	if strings.HasSuffix(s, "h0m") {
		s = strings.TrimSuffix(s, "0m")
	}
	return s
}
