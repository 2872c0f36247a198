package config

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net"
	"net/netip"
	"net/url"
	"os"
	"reflect"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/rotor-auth/rotor/internal/family"
	"github.com/rotor-auth/rotor/internal/oauth"
	"github.com/rotor-auth/rotor/internal/store/backend"
)

// Config is Rotor's configuration. The yaml tag of each field is its key in
// the YAML file; the same key, upper-cased and prefixed with ROTOR_, is its
// environment variable (unless an env tag says otherwise), and with dashes
// for underscores, its command-line flag.
type Config struct {
	Addr string `yaml:"addr" help:"address to listen on, HOST:PORT"`
	// AdminAddr is the admin listener's address: /metrics, kept off the
	// public listener so that it can stay on a private network.
	AdminAddr string `yaml:"admin_addr" help:"address of the admin listener (GET /metrics), HOST:PORT; keep it on a private network"`
	Issuer    string `yaml:"issuer" help:"issuer URL that clients and resource servers see (default: derived from addr)"`
	DB        string `yaml:"db" env:"ROTOR_DATABASE_URL" help:"database: sqlite:PATH, or PostgreSQL as postgres://USER:PASSWORD@HOST:PORT/DB or host=HOST dbname=DB user=USER"`
	// MasterKeyFile holds the master key (base64 or hex). ROTOR_MASTER_KEY
	// takes precedence; see [Config.MasterKey].
	MasterKeyFile string `yaml:"master_key_file" help:"file holding the master key, mode 0600 (ROTOR_MASTER_KEY wins over it)"`

	AccessTokenTTL     time.Duration `yaml:"access_token_ttl" help:"default access-token lifetime"`
	RefreshIdleTTL     time.Duration `yaml:"refresh_idle_ttl" help:"default refresh-token idle lifetime (sliding)"`
	RefreshAbsoluteTTL time.Duration `yaml:"refresh_absolute_ttl" help:"default refresh-token absolute lifetime, fixed when a family is created"`
	ReuseGrace         time.Duration `yaml:"reuse_grace" help:"default reuse grace period for retries of the previous refresh token; 0s disables it"`
	MaxFamilies        int           `yaml:"max_families" help:"live families per (user, client); the least recently used is revoked beyond it"`

	KeyAlgorithm  string        `yaml:"key_algorithm" help:"signing algorithm of new keys: ES256, EdDSA or RS256"`
	KeyRotation   time.Duration `yaml:"key_rotation" help:"how often a new signing key is rotated in"`
	KeyPrepublish time.Duration `yaml:"key_prepublish" help:"how long a new key is published in the JWKS before it signs (at least 1m, how often servers reread the keys)"`

	AuditRetention time.Duration `yaml:"audit_retention" help:"how long audit events are kept"`

	DeviceCodeTTL      time.Duration `yaml:"device_code_ttl" help:"lifetime of a device code and its user code (RFC 8628)"`
	DevicePollInterval time.Duration `yaml:"device_poll_interval" help:"how often a device may poll the token endpoint at first (RFC 8628 §3.2); slow_down adds 5s"`

	DBTimeout time.Duration `yaml:"db_timeout" help:"deadline of each request's database work; past it the answer is 503 temporarily_unavailable (at most 20s, under the 30s write timeout)"`

	LogLevel  string `yaml:"log_level" help:"log level: debug, info, warn or error"`
	LogFormat string `yaml:"log_format" help:"log format: text or json"`

	DPoPNonce bool `yaml:"dpop_nonce" help:"require DPoP proofs to carry a server-issued nonce (RFC 9449 §8)"`

	InsecureHTTP bool   `yaml:"insecure_http" help:"allow an http:// issuer on a non-loopback host (tokens then cross the network in clear)"`
	TLSCert      string `yaml:"tls_cert" help:"TLS certificate file (PEM); serve HTTPS, reloaded when it changes"`
	TLSKey       string `yaml:"tls_key" help:"TLS private key file (PEM)"`

	TrustedProxies string `yaml:"trusted_proxies" help:"comma-separated CIDRs of the proxies whose X-Forwarded-For names the client (for the audit trail and the sign-in limits)"`

	// IssuerDerived is true when no source set the issuer and it was
	// derived from Addr; serve then derives it again from the address it
	// actually listens on (for a port of 0).
	IssuerDerived bool `yaml:"-"`
}

// MaxDBTimeout caps db_timeout, well under serve's 30 s write timeout.
const MaxDBTimeout = 20 * time.Second

// MaxAccessTokenTTL caps every access-token lifetime, server-wide or per
// client; signing keys stay published this long after they stop signing.
const MaxAccessTokenTTL = family.MaxAccessTokenTTL

// Default returns the built-in defaults.
func Default() *Config {
	f := family.DefaultConfig()
	return &Config{
		Addr:               "127.0.0.1:8080",
		AdminAddr:          "127.0.0.1:8081",
		DB:                 "sqlite:rotor.db",
		AccessTokenTTL:     f.AccessTokenTTL,
		RefreshIdleTTL:     f.RefreshIdleTTL,
		RefreshAbsoluteTTL: f.RefreshAbsoluteTTL,
		ReuseGrace:         f.ReuseGrace,
		MaxFamilies:        f.MaxFamilies,
		KeyAlgorithm:       "ES256",
		KeyRotation:        30 * 24 * time.Hour,
		KeyPrepublish:      10 * time.Minute,
		AuditRetention:     30 * 24 * time.Hour,
		DBTimeout:          5 * time.Second,
		DeviceCodeTTL:      10 * time.Minute,
		DevicePollInterval: 5 * time.Second,
		LogLevel:           "info",
		LogFormat:          "text",
	}
}

// Key describes one configuration key and the names it goes by.
type Key struct {
	// Name is the YAML key, such as "access_token_ttl".
	Name string
	// Env is the environment variable, such as "ROTOR_ACCESS_TOKEN_TTL".
	Env string
	// Flag is the command-line flag without dashes, such as
	// "access-token-ttl".
	Flag string
	// Help says what the key does.
	Help string
	// Default is the built-in default in the form an operator writes it.
	Default string
	// Bool is true for on/off keys, whose flag takes no value.
	Bool bool
	// Type names the kind of value: "duration", "int", "bool" or
	// "string".
	Type string

	index int
}

// Keys returns every configuration key in the order of [Config]'s fields.
func Keys() []Key {
	t := reflect.TypeFor[Config]()
	def := reflect.ValueOf(Default()).Elem()
	var keys []Key
	for i := range t.NumField() {
		f := t.Field(i)
		name := f.Tag.Get("yaml")
		if name == "" || name == "-" {
			continue
		}
		env := f.Tag.Get("env")
		if env == "" {
			env = "ROTOR_" + strings.ToUpper(name)
		}
		keys = append(keys, Key{
			Name:    name,
			Env:     env,
			Flag:    strings.ReplaceAll(name, "_", "-"),
			Help:    f.Tag.Get("help"),
			Default: format(def.Field(i)),
			Bool:    f.Type.Kind() == reflect.Bool,
			Type:    typeName(f.Type),
			index:   i,
		})
	}
	return keys
}

func typeName(t reflect.Type) string {
	if t == reflect.TypeFor[time.Duration]() {
		return "duration"
	}
	return t.Kind().String()
}

// KeyByFlag returns the key whose flag is name.
func KeyByFlag(name string) (Key, bool) {
	for _, k := range Keys() {
		if k.Flag == name {
			return k, true
		}
	}
	return Key{}, false
}

// Sources are where [Load] reads configuration from, lowest precedence
// first after the defaults.
type Sources struct {
	// File is a YAML file; "" for none.
	File string
	// LookupEnv reads the environment (os.LookupEnv); nil reads none.
	// A variable set to "" counts as unset.
	LookupEnv func(string) (string, bool)
	// Flags holds the flags given on the command line, by key name
	// (Key.Name), as written.
	Flags map[string]string
}

// Load builds the configuration from the defaults and src, derives the
// issuer when none is set, and validates the result. The error, if any,
// is an *[Error] listing every problem found.
func Load(src Sources) (*Config, error) {
	c := Default()
	var problems []string
	if src.File != "" {
		problems = append(problems, c.loadFile(src.File)...)
	}
	keys := Keys()
	if src.LookupEnv != nil {
		for _, k := range keys {
			if v, ok := src.LookupEnv(k.Env); ok && v != "" {
				if err := c.set(k, v); err != nil {
					problems = append(problems, k.Env+": "+err.Error())
				}
			}
		}
	}
	for _, k := range keys {
		if v, ok := src.Flags[k.Name]; ok {
			if err := c.set(k, v); err != nil {
				problems = append(problems, "--"+k.Flag+": "+err.Error())
			}
		}
	}
	for name := range src.Flags {
		if !slicesContainsKey(keys, name) {
			problems = append(problems, fmt.Sprintf("internal: flag for unknown configuration key %q", name))
		}
	}
	if c.Issuer == "" {
		c.Issuer = c.DeriveIssuer(c.Addr)
		c.IssuerDerived = true
	}
	if err := c.Validate(); err != nil {
		var ve *Error
		if errors.As(err, &ve) {
			problems = append(problems, ve.Problems...)
		}
	}
	if len(problems) > 0 {
		return nil, &Error{Problems: problems}
	}
	return c, nil
}

func slicesContainsKey(keys []Key, name string) bool {
	return slices.ContainsFunc(keys, func(k Key) bool { return k.Name == name })
}

// DeriveIssuer returns the issuer implied by a listening address: http, or
// https when TLS is configured, and the address's host and port. It
// returns "" when the address listens on every interface, since the URL
// that clients use cannot be guessed then.
func (c *Config) DeriveIssuer(addr string) string {
	host, port, err := net.SplitHostPort(addr)
	if err != nil || port == "" {
		return ""
	}
	if ip := net.ParseIP(host); host == "" || (ip != nil && ip.IsUnspecified()) {
		return ""
	}
	scheme := "http"
	if c.TLSCert != "" {
		scheme = "https"
	}
	return scheme + "://" + net.JoinHostPort(host, port)
}

// set parses a value written as text (environment, flag) into key k.
func (c *Config) set(k Key, v string) error {
	f := reflect.ValueOf(c).Elem().Field(k.index)
	switch {
	case f.Type() == reflect.TypeFor[time.Duration]():
		d, err := ParseDuration(v)
		if err != nil {
			return err
		}
		f.SetInt(int64(d))
	case f.Kind() == reflect.Int:
		n, err := strconv.Atoi(strings.TrimSpace(v))
		if err != nil {
			return fmt.Errorf("%q is not a whole number", v)
		}
		f.SetInt(int64(n))
	case f.Kind() == reflect.Bool:
		b, err := strconv.ParseBool(strings.TrimSpace(v))
		if err != nil {
			return fmt.Errorf("%q is not true or false", v)
		}
		f.SetBool(b)
	default:
		f.SetString(v)
	}
	return nil
}

// ParseDuration reads a duration as an operator writes it (15s, 10m,
// 720h), with an error that says how to write one.
func ParseDuration(v string) (time.Duration, error) {
	d, err := time.ParseDuration(strings.TrimSpace(v))
	if err != nil {
		return 0, fmt.Errorf("%q %s", v, notADuration)
	}
	return d, nil
}

const notADuration = "is not a duration: write a number with a unit, like 15s, 10m or 720h"

// loadFile decodes a YAML file strictly onto c and returns its problems.
func (c *Config) loadFile(path string) []string {
	data, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return []string{fmt.Sprintf("config file %s does not exist", path)}
	}
	if err != nil {
		return []string{fmt.Sprintf("cannot read config file: %v", err)}
	}
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		return []string{fmt.Sprintf("%s is not valid YAML: %s", path, strings.TrimPrefix(err.Error(), "yaml: "))}
	}
	if len(doc.Content) == 0 {
		return nil // an empty file sets nothing
	}
	if doc.Content[0].Kind != yaml.MappingNode {
		return []string{fmt.Sprintf("%s must be a mapping of keys to values, such as \"addr: 127.0.0.1:8080\"", path)}
	}
	// The decoder's messages name lines, not keys; remember which key
	// sits on each line so the problems can name it.
	keyAt := map[int]string{}
	m := doc.Content[0]
	for i := 0; i+1 < len(m.Content); i += 2 {
		keyAt[m.Content[i].Line] = m.Content[i].Value
		keyAt[m.Content[i+1].Line] = m.Content[i].Value
	}
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	err = dec.Decode(c)
	if err == nil || errors.Is(err, io.EOF) {
		return nil
	}
	var te *yaml.TypeError
	if !errors.As(err, &te) {
		return []string{fmt.Sprintf("%s: %v", path, err)}
	}
	problems := make([]string, 0, len(te.Errors))
	for _, msg := range te.Errors {
		problems = append(problems, path+" "+explainYAML(msg, keyAt))
	}
	return problems
}

var (
	reUnknown = regexp.MustCompile(`^line (\d+): field (.+) not found in type`)
	reType    = regexp.MustCompile(`^line (\d+): cannot unmarshal !!(\w+)(?: ` + "`" + `(.*)` + "`" + `)? into (.+)$`)
)

// explainYAML rewrites one of the YAML decoder's type errors in an
// operator's words.
func explainYAML(msg string, keyAt map[int]string) string {
	if m := reUnknown.FindStringSubmatch(msg); m != nil {
		s := fmt.Sprintf("line %s: unknown key %q", m[1], m[2])
		if near := nearestKey(m[2]); near != "" {
			s += fmt.Sprintf(" (did you mean %q?)", near)
		}
		return s
	}
	if m := reType.FindStringSubmatch(msg); m != nil {
		line, _ := strconv.Atoi(m[1])
		key := keyAt[line]
		val := m[3]
		switch m[4] {
		case "time.Duration":
			return fmt.Sprintf("line %d: %s: %q %s", line, key, val, notADuration)
		case "int":
			return fmt.Sprintf("line %d: %s: %q is not a whole number", line, key, val)
		case "bool":
			return fmt.Sprintf("line %d: %s: %q is not true or false", line, key, val)
		default:
			return fmt.Sprintf("line %d: %s: expected a single value, not a %s", line, key, kindWord(m[2]))
		}
	}
	return msg
}

func kindWord(tag string) string {
	switch tag {
	case "seq":
		return "list"
	case "map":
		return "mapping"
	}
	return tag
}

// nearestKey returns the known key closest to a misspelt one, if any is
// close.
func nearestKey(s string) string {
	best, bestD := "", 3
	for _, k := range Keys() {
		if d := editDistance(s, k.Name); d < bestD {
			best, bestD = k.Name, d
		}
	}
	return best
}

func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}

// Error lists every problem found in a configuration.
type Error struct {
	Problems []string
}

func (e *Error) Error() string {
	if len(e.Problems) == 1 {
		return "invalid configuration: " + e.Problems[0]
	}
	return "invalid configuration:\n  - " + strings.Join(e.Problems, "\n  - ")
}

// Algorithms are the signing algorithms Rotor offers.
var Algorithms = []string{"ES256", "EdDSA", "RS256"}

func validPort(p string) bool {
	n, err := strconv.Atoi(p)
	return err == nil && n >= 0 && n <= 65535
}

// Validate checks the configuration as a whole and returns an *[Error]
// listing every problem, or nil.
func (c *Config) Validate() error {
	var p []string
	add := func(format string, args ...any) { p = append(p, fmt.Sprintf(format, args...)) }

	_, port, err := net.SplitHostPort(c.Addr)
	if err != nil {
		add("addr %q is not HOST:PORT (for example 127.0.0.1:8080 or :8080)", c.Addr)
	} else if n, err := strconv.Atoi(port); err != nil || n < 0 || n > 65535 {
		add("addr %q has no valid port", c.Addr)
	}
	switch _, aport, err := net.SplitHostPort(c.AdminAddr); {
	case err != nil:
		add("admin_addr %q is not HOST:PORT (for example 127.0.0.1:8081)", c.AdminAddr)
	case !validPort(aport):
		add("admin_addr %q has no valid port", c.AdminAddr)
	case c.AdminAddr == c.Addr && aport != "0":
		add("admin_addr %q is the same as addr: the admin listener needs an address of its own", c.AdminAddr)
	}

	switch {
	case c.Issuer == "" && c.IssuerDerived:
		add("issuer is not set, and addr %q listens on every interface, so Rotor cannot guess the URL clients use: set issuer (for example https://auth.example.com)", c.Addr)
	case c.Issuer == "":
		add("issuer is empty: set it to the URL clients use, for example https://auth.example.com")
	default:
		p = append(p, c.checkIssuer()...)
	}

	if _, _, err := backend.Parse(c.DB); err != nil {
		add("db: %v", err)
	}

	p = append(p, c.Family().Problems()...)
	positive := func(name string, d time.Duration) {
		if d <= 0 {
			add("%s must be longer than zero, got %s", name, FormatDuration(d))
		}
	}

	if !slices.Contains(Algorithms, c.KeyAlgorithm) {
		add("key_algorithm %q is not one Rotor offers: use %s", c.KeyAlgorithm, strings.Join(Algorithms, ", "))
	}
	positive("key_rotation", c.KeyRotation)
	if c.KeyPrepublish < 0 {
		add("key_prepublish must not be negative, got %s", FormatDuration(c.KeyPrepublish))
	} else if c.KeyRotation > 0 && c.KeyPrepublish >= c.KeyRotation {
		add("key_prepublish (%s) must be shorter than key_rotation (%s)", FormatDuration(c.KeyPrepublish), FormatDuration(c.KeyRotation))
	}
	positive("audit_retention", c.AuditRetention)
	positive("db_timeout", c.DBTimeout)
	positive("device_code_ttl", c.DeviceCodeTTL)
	if c.DeviceCodeTTL > time.Hour {
		add("device_code_ttl of %s is longer than 1h: a user code is short, so it must not live long (RFC 8628 §5.1)", FormatDuration(c.DeviceCodeTTL))
	}
	switch d := c.DevicePollInterval; {
	case d < time.Second || d%time.Second != 0:
		// RFC 8628 §3.2 sends the interval in whole seconds.
		add("device_poll_interval must be a whole number of seconds, at least 1s, got %s", FormatDuration(d))
	case d > time.Minute:
		add("device_poll_interval of %s is longer than 1m", FormatDuration(d))
	}
	if c.DBTimeout > MaxDBTimeout {
		add("db_timeout of %s is longer than %s: an answer must leave before the HTTP write timeout (30s), or a committed rotation could go unanswered", FormatDuration(c.DBTimeout), FormatDuration(MaxDBTimeout))
	}

	if !slices.Contains([]string{"debug", "info", "warn", "error"}, strings.ToLower(c.LogLevel)) {
		add("log_level %q is not one of debug, info, warn, error", c.LogLevel)
	}
	if !slices.Contains([]string{"text", "json"}, strings.ToLower(c.LogFormat)) {
		add("log_format %q is not text or json", c.LogFormat)
	}
	if _, err := c.TrustedPrefixes(); err != nil {
		add("trusted_proxies: %v", err)
	}
	if (c.TLSCert == "") != (c.TLSKey == "") {
		add("tls_cert and tls_key go together: set both or neither")
	}
	if len(p) == 0 {
		return nil
	}
	return &Error{Problems: p}
}

func (c *Config) checkIssuer() []string {
	u, err := url.Parse(c.Issuer)
	if err != nil || !u.IsAbs() || u.Host == "" || u.Opaque != "" {
		return []string{fmt.Sprintf("issuer %q is not an absolute URL such as https://auth.example.com", c.Issuer)}
	}
	var p []string
	switch u.Scheme {
	case "https":
	case "http":
		if !IsLoopback(u.Hostname()) && !c.InsecureHTTP {
			p = append(p, fmt.Sprintf("issuer %q uses http:// on a host that is not loopback: refresh tokens would cross the network in clear; use https (--tls-cert/--tls-key, or a TLS proxy), or set insecure_http to accept the risk", c.Issuer))
		}
	default:
		p = append(p, fmt.Sprintf("issuer %q must use https (or http on a loopback address)", c.Issuer))
	}
	if u.RawQuery != "" || u.Fragment != "" || u.User != nil {
		p = append(p, fmt.Sprintf("issuer %q must not have a query, a fragment or credentials", c.Issuer))
	}
	if strings.Trim(u.Path, "/") != "" {
		p = append(p, fmt.Sprintf("issuer %q must not have a path: Rotor serves its endpoints and metadata at the root of its host", c.Issuer))
	}
	return p
}

// TrustedPrefixes parses trusted_proxies: CIDRs or single addresses,
// separated by commas.
func (c *Config) TrustedPrefixes() ([]netip.Prefix, error) {
	var out []netip.Prefix
	for f := range strings.SplitSeq(c.TrustedProxies, ",") {
		f = strings.TrimSpace(f)
		if f == "" {
			continue
		}
		if a, err := netip.ParseAddr(f); err == nil {
			out = append(out, netip.PrefixFrom(a.Unmap(), a.Unmap().BitLen()))
			continue
		}
		p, err := netip.ParsePrefix(f)
		if err != nil {
			return nil, fmt.Errorf("%q is not an address or a CIDR such as 10.0.0.0/8", f)
		}
		out = append(out, p.Masked())
	}
	return out, nil
}

// InsecureIssuer reports whether the issuer is plain http on a host that is
// not loopback, allowed only by InsecureHTTP; serve warns about it.
func (c *Config) InsecureIssuer() bool {
	u, err := url.Parse(c.Issuer)
	return err == nil && u.Scheme == "http" && !IsLoopback(u.Hostname())
}

// IsLoopback reports whether host is "localhost" or a loopback address.
func IsLoopback(host string) bool { return oauth.IsLoopback(host) }

// Family returns the token lifetimes and caps for the family service.
func (c *Config) Family() family.Config {
	return family.Config{
		AccessTokenTTL:     c.AccessTokenTTL,
		RefreshIdleTTL:     c.RefreshIdleTTL,
		RefreshAbsoluteTTL: c.RefreshAbsoluteTTL,
		ReuseGrace:         c.ReuseGrace,
		MaxFamilies:        c.MaxFamilies,
	}
}

// NewLogger returns a logger writing to w at the configured level and in
// the configured format. Durations are written as an operator writes them
// (startup=8ms, "startup":"8ms", key_rotation=720h): the JSON handler alone
// would write integers of nanoseconds, and the text one 720h0m0s.
func (c *Config) NewLogger(w io.Writer) *slog.Logger {
	var level slog.Level
	_ = level.UnmarshalText([]byte(c.LogLevel)) // validated; info otherwise
	opts := &slog.HandlerOptions{Level: level, ReplaceAttr: durationText}
	if strings.EqualFold(c.LogFormat, "json") {
		return slog.New(slog.NewJSONHandler(w, opts))
	}
	return slog.New(slog.NewTextHandler(w, opts))
}

// LogValue logs the configuration as every key with its value as an
// operator writes it, the database's password replaced (see
// [backend.Redact]). The configuration holds no other secret: the master
// key is read apart from it.
func (c *Config) LogValue() slog.Value {
	v := reflect.ValueOf(c).Elem()
	var attrs []slog.Attr
	for _, k := range Keys() {
		s := format(v.Field(k.index))
		if k.Name == "db" {
			s = backend.Redact(s)
		}
		attrs = append(attrs, slog.String(k.Name, s))
	}
	return slog.GroupValue(attrs...)
}

// durationText writes a duration attribute as text, such as "8ms" or
// "720h".
func durationText(_ []string, a slog.Attr) slog.Attr {
	if a.Value.Kind() == slog.KindDuration {
		a.Value = slog.StringValue(FormatDuration(a.Value.Duration()))
	}
	return a
}

// FormatDuration writes a duration as an operator would (720h, not
// 720h0m0s); see [family.FormatDuration].
func FormatDuration(d time.Duration) string { return family.FormatDuration(d) }

func format(v reflect.Value) string {
	switch {
	case v.Type() == reflect.TypeFor[time.Duration]():
		return FormatDuration(time.Duration(v.Int()))
	default:
		return fmt.Sprint(v.Interface())
	}
}
