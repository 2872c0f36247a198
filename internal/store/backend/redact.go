package backend

import (
	"errors"
	"net/url"
	"slices"
	"strconv"
	"strings"

	"github.com/jackc/pgx/v5/pgconn"
)

// redacted replaces a password in what Redact returns.
const redacted = "xxxxx"

// secretKey reports whether a DSN parameter holds a secret: the password,
// or the one that unlocks an encrypted client key (sslpassword). Keys are
// compared without regard to case, on the safe side of what pgx accepts.
func secretKey(k string) bool {
	k = strings.ToLower(k)
	return k == "password" || k == "sslpassword"
}

// Redact returns dsn with every password replaced by "xxxxx", fit for logs
// and error messages. It knows the forms pgx reads: a URL (the password
// after the user name, and password or sslpassword parameters in the
// query) and the keyword/value form (password=..., quoted or not). A DSN
// whose passwords it cannot tell apart with certainty is not shown.
func Redact(dsn string) string {
	switch {
	case strings.HasPrefix(dsn, sqlitePrefix):
		return dsn // a file path
	case strings.Contains(dsn, "://"):
		return redactURL(dsn)
	case strings.Contains(dsn, "="):
		return redactKeywords(dsn)
	case strings.Contains(dsn, "@") || strings.Contains(strings.ToLower(dsn), "password"):
		return "(redacted)"
	default:
		return dsn
	}
}

func redactURL(dsn string) string {
	scheme, _, _ := strings.Cut(dsn, "://")
	hidden := scheme + "://(redacted)"
	u, err := url.Parse(dsn)
	if err != nil {
		if !strings.Contains(dsn, "@") && !strings.Contains(strings.ToLower(dsn), "password") {
			return dsn
		}
		return hidden
	}
	// An '@' that did not end a user part is a password holding '/', '?'
	// or '#' unescaped, which cut the URL short: not shown.
	if u.User == nil && strings.Contains(dsn, "@") {
		return hidden
	}
	if u.User != nil {
		if _, has := u.User.Password(); has {
			u.User = url.UserPassword(u.User.Username(), redacted)
		}
	}
	u.RawQuery = redactQuery(u.RawQuery)
	return u.String()
}

// redactQuery replaces the value of every secret parameter in a raw
// query, in place, keeping the others as written. Pairs are split at '&'
// and ';', and a key is compared both as written and unescaped, so that no
// spelling pgx might read as "password" slips through.
func redactQuery(raw string) string {
	if raw == "" {
		return raw
	}
	var b strings.Builder
	for raw != "" {
		i := strings.IndexAny(raw, "&;")
		pair, sep := raw, ""
		if i >= 0 {
			pair, sep, raw = raw[:i], raw[i:i+1], raw[i+1:]
		} else {
			raw = ""
		}
		k, _, hasValue := strings.Cut(pair, "=")
		uk, err := url.QueryUnescape(k)
		if err != nil {
			uk = k
		}
		if hasValue && (secretKey(k) || secretKey(uk)) {
			pair = k + "=" + redacted
		}
		b.WriteString(pair)
		b.WriteString(sep)
	}
	return b.String()
}

// kv is one keyword=value pair of a keyword/value DSN, the value unquoted.
type kv struct{ key, value string }

// Errors of parseKeywords. They never quote the DSN: a malformed one may
// have a password where a keyword is expected.
var (
	errNoKeyword    = errors.New(`a setting has no keyword before its "="`)
	errNoEquals     = errors.New(`a keyword is not followed by "="`)
	errUnterminated = errors.New("a quoted value has no closing quote")
)

// parseKeywords splits a keyword/value DSN as libpq does: keyword = value
// pairs separated by white space, blanks allowed around "=", a value
// either single-quoted or running to the next blank, a backslash escaping
// the character after it (see the PostgreSQL documentation, "Connection
// Strings", section 32.1.1).
func parseKeywords(s string) ([]kv, error) {
	var out []kv
	for {
		s = strings.TrimLeft(s, " \t\n\r\v\f")
		if s == "" {
			return out, nil
		}
		end := strings.IndexAny(s, "= \t\n\r\v\f")
		if end == 0 {
			return nil, errNoKeyword
		}
		if end < 0 {
			return nil, errNoEquals
		}
		key := s[:end]
		s = strings.TrimLeft(s[end:], " \t\n\r\v\f")
		if !strings.HasPrefix(s, "=") {
			return nil, errNoEquals
		}
		s = strings.TrimLeft(s[1:], " \t\n\r\v\f")
		var v strings.Builder
		quoted := strings.HasPrefix(s, "'")
		if quoted {
			s = s[1:]
		}
		closed := false
		for s != "" {
			c := s[0]
			if c == '\\' && len(s) > 1 {
				v.WriteByte(s[1])
				s = s[2:]
				continue
			}
			if quoted && c == '\'' {
				s, closed = s[1:], true
				break
			}
			if !quoted && strings.IndexByte(" \t\n\r\v\f", c) >= 0 {
				break
			}
			v.WriteByte(c)
			s = s[1:]
		}
		if quoted && !closed {
			return nil, errUnterminated
		}
		out = append(out, kv{key, v.String()})
	}
}

// redactKeywords writes a keyword/value DSN back with its secrets
// replaced, quoting values as libpq reads them. One that does not parse
// is not shown at all: where its values end is anyone's guess.
func redactKeywords(dsn string) string {
	pairs, err := parseKeywords(dsn)
	if err != nil {
		return "(redacted)"
	}
	parts := make([]string, 0, len(pairs))
	for _, p := range pairs {
		v := p.value
		if secretKey(p.key) {
			v = redacted
		} else if v == "" || strings.ContainsAny(v, " \t\n\r\v\f'\\") {
			v = "'" + strings.NewReplacer(`\`, `\\`, `'`, `\'`).Replace(v) + "'"
		}
		parts = append(parts, p.key+"="+v)
	}
	return strings.Join(parts, " ")
}

// dsnSecrets returns the secret values of dsn in every spelling that a
// message about it might show: as written and decoded.
func dsnSecrets(dsn string) []string {
	var out []string
	add := func(s ...string) {
		for _, v := range s {
			if v != "" {
				out = append(out, v)
			}
		}
	}
	if strings.Contains(dsn, "://") {
		_, rest, _ := strings.Cut(dsn, "://")
		// The user part, found as pgx finds it (up to the last '@' before
		// the path), whether or not the URL parses.
		authority := rest
		if i := strings.LastIndex(rest, "@"); i >= 0 {
			authority = rest[:i]
			if _, pw, ok := strings.Cut(authority, ":"); ok {
				add(pw)
				if d, err := url.PathUnescape(pw); err == nil {
					add(d)
				}
			}
		}
		if _, q, ok := strings.Cut(rest, "?"); ok {
			for pair := range strings.FieldsFuncSeq(q, func(r rune) bool { return r == '&' || r == ';' || r == '#' }) {
				k, v, _ := strings.Cut(pair, "=")
				uk, err := url.QueryUnescape(k)
				if err != nil {
					uk = k
				}
				if secretKey(k) || secretKey(uk) {
					add(v)
					if d, err := url.QueryUnescape(v); err == nil {
						add(d)
					}
				}
			}
		}
		return out
	}
	pairs, err := parseKeywords(dsn)
	if err != nil {
		// Not parseable: every word could be a password.
		add(strings.Fields(dsn)...)
		return out
	}
	for _, p := range pairs {
		if secretKey(p.key) {
			add(p.value, strings.NewReplacer(`\`, `\\`, `'`, `\'`).Replace(p.value))
		}
	}
	return out
}

// scrubbedError is an error whose text has had a DSN's secrets removed;
// it still unwraps to the original, for errors.Is and errors.As.
type scrubbedError struct {
	msg string
	err error
}

func (e *scrubbedError) Error() string { return e.msg }
func (e *scrubbedError) Unwrap() error { return e.err }

// scrub returns err with every secret of dsn removed from its text.
//
// pgx quotes the DSN it cannot parse, redacted by patterns that miss some
// spellings: of password='it\'s secret' it hides only up to the escaped
// quote, and blanks around "=" defeat it. So the DSN it quotes is cut out
// whole, keeping what pgx says is wrong; then every spelling of every
// secret is replaced in what is left, for the errors that quote a value
// (a URL that does not parse, in %q).
func scrub(err error, dsn string) error {
	msg := err.Error()
	clean := msg
	var pce *pgconn.ParseConfigError
	if errors.As(err, &pce) {
		clean = strings.Replace(clean, pce.Error(), parseProblem(pce), 1)
	}
	var secrets []string
	for _, s := range dsnSecrets(dsn) {
		q := strconv.Quote(s)
		secrets = append(secrets, s, q[1:len(q)-1])
	}
	// Longest first, so that a secret that holds another goes whole.
	slices.SortFunc(secrets, func(a, b string) int { return len(b) - len(a) })
	for _, s := range secrets {
		clean = strings.ReplaceAll(clean, s, redacted)
	}
	if clean == msg {
		return err
	}
	return &scrubbedError{msg: clean, err: err}
}

// parseProblem is what a pgx parse error says is wrong, without the DSN it
// quotes: pgx writes "cannot parse `DSN`: problem", then " (cause)" when it
// has one.
func parseProblem(pce *pgconn.ParseConfigError) string {
	text, cause := pce.Error(), ""
	if inner := pce.Unwrap(); inner != nil {
		cause = inner.Error()
		text = strings.TrimSuffix(text, " ("+cause+")")
	}
	i := strings.LastIndex(text, "`: ")
	if i < 0 {
		return "cannot parse the DSN"
	}
	problem := "cannot parse the DSN: " + text[i+len("`: "):]
	if cause != "" {
		problem += " (" + cause + ")"
	}
	return problem
}
