package resource

import (
	"bytes"
	"encoding/json"
	"errors"
	"math"
	"strconv"
	"strings"
	"time"
)

// Claims are the verified claims of an access token (RFC 9068 §2.2).
type Claims struct {
	Issuer   string
	Subject  string
	Audience []string
	// ExpiresAt, IssuedAt and NotBefore are exp, iat and nbf; NotBefore is
	// zero when the token has no nbf.
	ExpiresAt time.Time
	IssuedAt  time.Time
	NotBefore time.Time
	// ID is the token's jti.
	ID       string
	ClientID string
	// Scope is the scope claim as issued: scopes separated by spaces. Use
	// [Claims.HasScope] to test one.
	Scope string
	// SessionID is Rotor's sid: the refresh-token family the token was
	// issued from; empty for client_credentials tokens.
	SessionID string
	// KeyThumbprint is cnf.jkt, the RFC 7638 thumbprint of the key the
	// token is bound to (checked against the DPoP proof); empty for a
	// bearer token.
	KeyThumbprint string

	raw []byte
}

// HasScope reports whether scope is one of the token's scopes.
func (c *Claims) HasScope(scope string) bool { return hasScope(c.Scope, scope) }

// Scopes returns the token's scopes.
func (c *Claims) Scopes() []string { return strings.Fields(c.Scope) }

// Decode unmarshals the token's verified claims into v, for claims this
// type does not carry.
func (c *Claims) Decode(v any) error { return json.Unmarshal(c.raw, v) }

func hasScope(list, scope string) bool {
	for list != "" {
		var s string
		s, list, _ = strings.Cut(list, " ")
		if s == scope {
			return true
		}
	}
	return false
}

// wireClaims is the JSON of an access token's claims.
type wireClaims struct {
	Issuer    string      `json:"iss"`
	Subject   string      `json:"sub"`
	Audience  audience    `json:"aud"`
	Expiry    numericDate `json:"exp"`
	IssuedAt  numericDate `json:"iat"`
	NotBefore numericDate `json:"nbf"`
	ID        string      `json:"jti"`
	ClientID  string      `json:"client_id"`
	Scope     string      `json:"scope"`
	SID       string      `json:"sid"`
	Cnf       *struct {
		JKT string `json:"jkt"`
	} `json:"cnf"`
}

// audience is aud: a JSON array of strings, or one string (RFC 7519 §4.1.3).
type audience []string

func (a *audience) UnmarshalJSON(b []byte) error {
	if len(b) > 0 && b[0] == '"' {
		var s string
		if err := json.Unmarshal(b, &s); err != nil {
			return err
		}
		*a = audience{s}
		return nil
	}
	return json.Unmarshal(b, (*[]string)(a))
}

func (a audience) contains(s string) bool {
	for _, v := range a {
		if v == s {
			return true
		}
	}
	return false
}

// numericDate is a JSON NumericDate (RFC 7519 §2): seconds since the epoch,
// possibly fractional, truncated to whole seconds; 0 when absent.
type numericDate int64

var errDate = errors.New("resource: bad NumericDate")

func (d *numericDate) UnmarshalJSON(b []byte) error {
	if bytes.Equal(b, []byte("null")) {
		return errDate
	}
	if n, err := strconv.ParseInt(string(b), 10, 64); err == nil {
		*d = numericDate(n)
		return nil
	}
	f, err := strconv.ParseFloat(string(b), 64)
	// Beyond ±2^53 a float is no longer an exact second, and far beyond
	// any real token.
	if err != nil || math.IsNaN(f) || math.Abs(f) > 1<<53 {
		return errDate
	}
	*d = numericDate(math.Floor(f))
	return nil
}

func (d numericDate) time() time.Time {
	if d == 0 {
		return time.Time{}
	}
	return time.Unix(int64(d), 0)
}
