package oauth

import (
	"errors"
	"io"
	"mime"
	"net/http"
	"net/url"
	"strings"
	"unicode/utf8"
)

// MaxFormBytes is the default cap on a form-encoded request body. Token
// requests are a few hundred bytes; 64 KiB leaves room for long assertions.
const MaxFormBytes = 64 << 10

// Form is a parsed form-encoded request body. Every parameter occurs at
// most once (RFC 6749 §3.1, §3.2), except those in [Repeatable].
type Form map[string][]string

// Repeatable names the parameters that may be sent more than once: RFC 8707
// §2 lets a client name several resources, and "audience" is its common
// alias.
var Repeatable = map[string]bool{"resource": true, "audience": true}

// Get returns the value of the named parameter, or "" when absent.
func (f Form) Get(name string) string {
	if v := f[name]; len(v) > 0 {
		return v[0]
	}
	return ""
}

// All returns every value of a repeatable parameter.
func (f Form) All(name string) []string { return f[name] }

// Has reports whether the parameter was sent with a value.
func (f Form) Has(name string) bool {
	_, ok := f[name]
	return ok
}

// ParseForm reads a POST body of type application/x-www-form-urlencoded,
// at most maxBytes long, and returns its parameters. It refuses, with an
// *Error: another method, another content type, a body over the cap, a
// malformed encoding, and a parameter sent twice. Query-string parameters
// are ignored: credentials must not travel in URLs.
func ParseForm(r *http.Request, maxBytes int64) (Form, error) {
	if r.Method != http.MethodPost {
		e := InvalidRequest("the request must use POST")
		e.Status = http.StatusMethodNotAllowed
		return nil, e
	}
	ct := r.Header.Get("Content-Type")
	mt, params, err := mime.ParseMediaType(ct)
	if err != nil || mt != "application/x-www-form-urlencoded" {
		return nil, InvalidRequest("the request body must be application/x-www-form-urlencoded")
	}
	if cs, ok := params["charset"]; ok && !strings.EqualFold(cs, "utf-8") {
		return nil, InvalidRequest("the request body must be UTF-8")
	}
	if r.ContentLength > maxBytes {
		return nil, RequestTooLarge("the request body is too large")
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, maxBytes+1))
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return nil, RequestTooLarge("the request body is too large")
		}
		return nil, InvalidRequest("the request body could not be read")
	}
	if int64(len(body)) > maxBytes {
		return nil, RequestTooLarge("the request body is too large")
	}
	return ParseFormBody(string(body))
}

// ParseFormBody parses a form-encoded string, refusing repeated parameters
// (but those in [Repeatable]), malformed escapes, empty names, and text
// that is not UTF-8 or holds a NUL (no field of OAuth needs either, and a
// database would refuse them later). A parameter with an empty value is
// dropped, as if omitted (RFC 6749 §3.1).
func ParseFormBody(body string) (Form, error) {
	f := Form{}
	for body != "" {
		var pair string
		pair, body, _ = strings.Cut(body, "&")
		if pair == "" {
			continue
		}
		if strings.Contains(pair, ";") {
			return nil, InvalidRequest("the request body is not valid form encoding")
		}
		rawName, rawValue, _ := strings.Cut(pair, "=")
		name, err1 := url.QueryUnescape(rawName)
		value, err2 := url.QueryUnescape(rawValue)
		if err1 != nil || err2 != nil || name == "" {
			return nil, InvalidRequest("the request body is not valid form encoding")
		}
		if !CleanText(name) || !CleanText(value) {
			return nil, InvalidRequest("the request body must be UTF-8 text without NUL characters")
		}
		if value == "" {
			continue
		}
		if _, dup := f[name]; dup && !Repeatable[name] {
			return nil, InvalidRequest("parameter " + quoteName(name) + " was sent more than once")
		}
		f[name] = append(f[name], value)
	}
	return f, nil
}

// CleanText reports whether s is valid UTF-8 without NUL characters, as
// every string Rotor stores must be.
func CleanText(s string) bool { return utf8.ValidString(s) && !strings.ContainsRune(s, 0) }

// quoteName makes a hostile parameter name safe to echo in an error
// description: printable ASCII only, bounded length.
func quoteName(name string) string {
	const max = 40
	var b strings.Builder
	b.WriteByte('"')
	for i, r := range name {
		if i >= max {
			b.WriteString("…")
			break
		}
		if r < 0x20 || r > 0x7e || r == '"' || r == '\\' {
			b.WriteByte('?')
			continue
		}
		b.WriteRune(r)
	}
	b.WriteByte('"')
	return b.String()
}

// ParseScope splits a space-delimited scope string (RFC 6749 §3.3) into its
// tokens, dropping duplicates and keeping their first order. Each token must
// be made of the characters %x21 / %x23-5B / %x5D-7E.
func ParseScope(s string) ([]string, error) {
	if s == "" {
		return nil, nil
	}
	var out []string
	seen := map[string]bool{}
	for _, tok := range strings.Split(s, " ") {
		if tok == "" {
			continue
		}
		for i := 0; i < len(tok); i++ {
			c := tok[i]
			if c < 0x21 || c == 0x22 || c == 0x5c || c > 0x7e {
				return nil, InvalidScope("scope contains an invalid character")
			}
		}
		if !seen[tok] {
			seen[tok] = true
			out = append(out, tok)
		}
	}
	return out, nil
}

// JoinScope joins scope tokens with single spaces.
func JoinScope(scopes []string) string { return strings.Join(scopes, " ") }
