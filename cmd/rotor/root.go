package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"runtime/debug"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/rotor-auth/rotor/internal/audit"
	"github.com/rotor-auth/rotor/internal/clients"
	"github.com/rotor-auth/rotor/internal/config"
	"github.com/rotor-auth/rotor/internal/family"
	"github.com/rotor-auth/rotor/internal/secret"
	"github.com/rotor-auth/rotor/internal/server"
	"github.com/rotor-auth/rotor/internal/store"
	"github.com/rotor-auth/rotor/internal/store/backend"
	"github.com/rotor-auth/rotor/internal/users"
)

// app holds what every command shares: its input and outputs, the
// environment, the clock, and the global flags.
type app struct {
	stdin     io.Reader
	stdout    io.Writer
	stderr    io.Writer
	lookupEnv func(string) (string, bool)
	now       func() time.Time

	// configFile is --config.
	configFile string
	// serveReady, when set, is called with the issuer once serve is
	// listening; tests use it to find a server started on port 0.
	serveReady func(issuer string)
	// followInterval is how often audit tail --follow polls.
	followInterval time.Duration
	// buildInfo reads the binary's build information for rotor version;
	// nil means [debug.ReadBuildInfo].
	buildInfo func() (*debug.BuildInfo, bool)
}

// run executes the command line args and returns the process exit code:
// 0 on success, 1 when the command failed, 2 when it was misused.
func run(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer, lookupEnv func(string) (string, bool)) int {
	a := &app{stdin: stdin, stdout: stdout, stderr: stderr, lookupEnv: lookupEnv, now: time.Now, followInterval: 500 * time.Millisecond}
	return a.execute(ctx, args)
}

func (a *app) execute(ctx context.Context, args []string) int {
	root := a.rootCmd()
	root.SetArgs(args)
	cmd, err := root.ExecuteContextC(ctx)
	if err == nil {
		return 0
	}
	fmt.Fprintln(a.stderr, "rotor: "+err.Error())
	var ue usageError
	if errors.As(err, &ue) || isCobraUsageError(err) {
		fmt.Fprintf(a.stderr, "Run '%s --help' for usage.\n", cmd.CommandPath())
		return 2
	}
	return 1
}

// usageError is a command line that cannot be right, as opposed to a
// command that failed.
type usageError struct{ msg string }

func (e usageError) Error() string { return e.msg }

func usagef(format string, args ...any) error { return usageError{fmt.Sprintf(format, args...)} }

// isCobraUsageError recognises cobra's complaints about commands and
// arguments, which it returns as plain errors (flag errors arrive as
// usageError through the flag error hook).
func isCobraUsageError(err error) bool {
	msg := err.Error()
	for _, s := range []string{"unknown command ", "accepts ", "requires at least "} {
		if strings.HasPrefix(msg, s) {
			return true
		}
	}
	return false
}

func (a *app) rootCmd() *cobra.Command {
	root := &cobra.Command{
		Use:   "rotor",
		Short: "Rotor: an OAuth 2.0 authorization server that gets refresh tokens right",
		Long: `Rotor issues short-lived signed access tokens and long-lived refresh tokens
that rotate on every use, are detected when replayed, and can be revoked.

Configuration comes from, in increasing precedence: built-in defaults, the
YAML file given by --config (or $ROTOR_CONFIG), ROTOR_* environment
variables, and flags. The master key comes from $ROTOR_MASTER_KEY, from
master_key_file, or, for an embedded SQLite database only, from a file
created beside it.`,
		Example: `  rotor serve                                  # zero configuration: ./rotor.db, http://127.0.0.1:8080
  rotor client create --id web --generate-secret --grant-types password,refresh_token --scopes "read write"
  rotor user create --username alice --password-stdin
  rotor audit tail --follow`,
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.CompletionOptions.DisableDefaultCmd = true
	// rotor --version, as well as rotor version.
	root.Version = readVersion(debug.ReadBuildInfo()).Version
	root.SetOut(a.stdout)
	root.SetErr(a.stderr)
	root.SetIn(a.stdin)
	root.SetFlagErrorFunc(func(_ *cobra.Command, err error) error { return usageError{err.Error()} })

	pf := root.PersistentFlags()
	pf.StringVar(&a.configFile, "config", "", "YAML configuration file (default $ROTOR_CONFIG, if set)")
	a.configFlag(pf, "db")

	root.AddCommand(
		a.serveCmd(),
		a.migrateCmd(),
		a.clientCmd(),
		a.userCmd(),
		a.revokeCmd(),
		a.keysCmd(),
		a.gcCmd(),
		a.auditCmd(),
		a.benchCmd(),
		a.versionCmd(),
	)
	return root
}

// configAnnotation marks a flag as setting the configuration key named in
// its value.
const configAnnotation = "rotor_config_key"

// configFlag defines the flag of the configuration key with that flag
// name, so that [app.config] applies it above the file and environment.
func (a *app) configFlag(fs *pflag.FlagSet, flag string) {
	k, ok := config.KeyByFlag(flag)
	if !ok {
		panic("rotor: no configuration key for flag --" + flag) // a programming error, caught by any test
	}
	help := fmt.Sprintf("%s ($%s)", k.Help, k.Env)
	if k.Default != "" && !k.Bool {
		help = fmt.Sprintf("%s (default %s; $%s)", k.Help, k.Default, k.Env)
	}
	if k.Bool {
		fs.Bool(k.Flag, false, help)
	} else {
		// Kept as written: the config package parses every source alike.
		fs.Var(&rawFlag{typ: k.Type}, k.Flag, help)
	}
	_ = fs.SetAnnotation(k.Flag, configAnnotation, []string{k.Name})
}

// rawFlag holds a flag's text for the config package to parse, and names
// its type in the help.
type rawFlag struct{ val, typ string }

func (f *rawFlag) String() string     { return f.val }
func (f *rawFlag) Set(v string) error { f.val = v; return nil }
func (f *rawFlag) Type() string       { return f.typ }

// config loads the configuration for cmd: defaults, the file, the
// environment, then the configuration flags given on its command line.
func (a *app) config(cmd *cobra.Command) (*config.Config, error) {
	src := config.Sources{File: a.configFile, LookupEnv: a.lookupEnv, Flags: map[string]string{}}
	if src.File == "" {
		if v, ok := a.lookupEnv("ROTOR_CONFIG"); ok {
			src.File = v
		}
	}
	cmd.Flags().Visit(func(f *pflag.Flag) {
		if key := f.Annotations[configAnnotation]; len(key) == 1 {
			src.Flags[key[0]] = f.Value.String()
		}
	})
	return config.Load(src)
}

// deps is what most commands need: the configuration, a logger and an open,
// migrated store. close releases the store.
type deps struct {
	cfg *config.Config
	log *slog.Logger
	st  store.Store
	// where names the database for people: the absolute path of an
	// SQLite file, or the redacted PostgreSQL DSN.
	where string
	// created is true when this command created a new SQLite file, and
	// announced once the command has said so.
	created, announced bool
	stderr             io.Writer
}

func (e *deps) close() {
	_ = e.st.Close()
	if e.created && !e.announced && e.stderr != nil {
		// A command that failed (say, "no client" from the wrong folder)
		// still says it made a new database there.
		fmt.Fprintf(e.stderr, "rotor: created a new database %s; run commands in the folder of your server's database, or pass --db\n", e.where)
	}
}

// open loads the configuration and opens the store. The embedded SQLite
// database is migrated on the spot, as serve does, so that any command
// works on a fresh directory; PostgreSQL is migrated only by
// `rotor migrate` (or serve --migrate).
func (a *app) open(cmd *cobra.Command) (*deps, error) {
	cfg, err := a.config(cmd)
	if err != nil {
		return nil, err
	}
	log := cfg.NewLogger(a.stderr)
	log.Debug("configuration", "config", cfg)
	ctx := cmd.Context()
	where, created := backend.Redact(cfg.DB), false
	if _, path, err := backend.Parse(cfg.DB); err == nil && backend.IsEmbedded(cfg.DB) {
		if abs, err := filepath.Abs(path); err == nil {
			where = "sqlite:" + abs
		}
		_, statErr := os.Stat(path)
		created = errors.Is(statErr, fs.ErrNotExist)
	}
	st, err := backend.Open(ctx, cfg.DB)
	if err != nil {
		return nil, err
	}
	log.Debug("database opened", "db", where, "created", created)
	if backend.IsEmbedded(cfg.DB) {
		if _, err := migrateStore(ctx, st, where, log); err != nil {
			_ = st.Close()
			return nil, err
		}
	}
	return &deps{cfg: cfg, log: log, st: st, where: where, created: created, stderr: a.stderr}, nil
}

// wrote tells, on standard error, which database a write command changed,
// so that a command run from the wrong folder does not go unnoticed
// (the embedded database is a file in the current folder unless --db
// says otherwise).
func (a *app) wrote(e *deps) {
	if e.created {
		e.announced = true
		fmt.Fprintf(a.stderr, "rotor: created a new database %s; run commands in the folder of your server's database, or pass --db\n", e.where)
		return
	}
	fmt.Fprintf(a.stderr, "rotor: database %s\n", e.where)
}

// secrets returns the keys derived from the master key.
func (a *app) secrets(e *deps) (*secret.Keys, error) {
	mk, err := e.cfg.MasterKey(a.lookupEnv, e.log)
	if err != nil {
		return nil, err
	}
	return secret.Derive(mk)
}

// families returns the family service, for commands that revoke.
func (a *app) families(e *deps) (*family.Service, error) {
	sk, err := a.secrets(e)
	if err != nil {
		return nil, err
	}
	return family.New(e.st, sk, e.cfg.Family(), a.now, e.log), nil
}

// clients returns the client service, whose rules the client commands
// apply; flag names stand for the settings in its messages.
func (a *app) clients(e *deps) (*clients.Service, error) {
	sk, err := a.secrets(e)
	if err != nil {
		return nil, err
	}
	fams := family.New(e.st, sk, e.cfg.Family(), a.now, e.log)
	return clients.New(e.st, sk, fams, clientRules(), a.now), nil
}

// clientRules are the client rules that depend on the server: its grant
// types and key-set checks, with flags for names.
func clientRules() clients.Options {
	return clients.Options{
		GrantTypes:   server.GrantTypes(),
		CheckJWKS:    func(b []byte) error { _, err := server.ParseClientJWKS(b); return err },
		CheckJWKSURI: server.CheckJWKSURI,
		Name:         func(key string) string { return "--" + strings.ReplaceAll(key, "_", "-") },
	}
}

// openService opens the store and builds a service over it (a.clients,
// a.users): what every command that writes through one starts with. The
// caller closes the store.
func openService[S any](a *app, cmd *cobra.Command, build func(*deps) (S, error)) (*deps, S, error) {
	var none S
	e, err := a.open(cmd)
	if err != nil {
		return nil, none, err
	}
	svc, err := build(e)
	if err != nil {
		e.close()
		return nil, none, err
	}
	return e, svc, nil
}

// users returns the user service.
func (a *app) users(e *deps) (*users.Service, error) {
	fams, err := a.families(e)
	if err != nil {
		return nil, err
	}
	return users.New(e.st, fams, secret.NewVerifier(0), a.now), nil
}

// cliMeta marks audit events recorded by an operator's command.
var cliMeta = audit.Meta{UserAgent: "rotor-cli", Actor: audit.ActorCLI}

// exactlyOne checks that exactly one of the named flags was given.
func exactlyOne(cmd *cobra.Command, names ...string) (string, error) {
	var set []string
	for _, n := range names {
		if cmd.Flags().Changed(n) {
			set = append(set, n)
		}
	}
	if len(set) == 1 {
		return set[0], nil
	}
	return "", usagef("choose exactly one of %s", orList(names))
}

// orList writes flag names as "--a, --b or --c".
func orList(names []string) string {
	flags := make([]string, len(names))
	for i, n := range names {
		flags[i] = "--" + n
	}
	if len(flags) == 1 {
		return flags[0]
	}
	return strings.Join(flags[:len(flags)-1], ", ") + " or " + flags[len(flags)-1]
}

// required checks that every named flag was given.
func required(cmd *cobra.Command, names ...string) error {
	for _, n := range names {
		if !cmd.Flags().Changed(n) {
			return usagef("--%s is required", n)
		}
	}
	return nil
}

// printJSON writes v as indented JSON.
func (a *app) printJSON(v any) error {
	enc := json.NewEncoder(a.stdout)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

// printList prints rows as a JSON array for scripts, or for people as a
// table under header, one line (tab-separated cells) per row, or the empty
// message when there are none.
func printList[V any](a *app, rows []V, asJSON bool, empty, header string, line func(V) string) error {
	if asJSON {
		if rows == nil {
			rows = []V{} // "[]", not "null"
		}
		return a.printJSON(rows)
	}
	if len(rows) == 0 {
		fmt.Fprintln(a.stdout, empty)
		return nil
	}
	w := a.table()
	fmt.Fprintln(w, header)
	for _, row := range rows {
		fmt.Fprintln(w, line(row))
	}
	return w.Flush()
}

// table returns a tab writer for aligned columns; call Flush when done.
func (a *app) table() *tabwriter.Writer {
	return tabwriter.NewWriter(a.stdout, 0, 0, 2, ' ', 0)
}

// timeText formats a time for people; "-" for a zero time.
func timeText(t time.Time) string {
	if t.IsZero() {
		return "-"
	}
	return t.UTC().Format(time.RFC3339)
}

// orDash returns s, or "-" when it is empty.
func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// plural returns "1 family" or "3 families".
func plural(n int, one, many string) string {
	if n == 1 {
		return "1 " + one
	}
	return fmt.Sprintf("%d %s", n, many)
}
