package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"runtime/pprof"
	"time"

	"github.com/spf13/cobra"

	"github.com/rotor-auth/rotor/internal/bench"
	"github.com/rotor-auth/rotor/internal/secret"
	"github.com/rotor-auth/rotor/internal/store/backend"
)

func (a *app) benchCmd() *cobra.Command {
	var (
		cfg           bench.Config
		floor, scale  bool
		asJSON        bool
		cpuProfile    string
		scaleFamilies int
	)
	cmd := &cobra.Command{
		Use:   "bench",
		Short: "Measure Rotor's speed over HTTP on loopback, against a floor",
		Long: `Measure Rotor's speed: provision a client, users and refresh-token families
straight through the store, then drive the server over HTTP on loopback with
each grant (refresh_token, client_credentials, introspect, revoke) at each
concurrency level for a bounded time, and print requests/s, latency
percentiles, errors, and the server's CPU seconds per 1,000 requests.

Without --target, bench starts "rotor serve" itself, as a child process (so
that its CPU time and memory are measured apart from the load generator's),
on --db, which must be new: a SQLite file that does not exist yet, or a
PostgreSQL database in which bench creates a schema of its own. Bench deletes
it afterwards (unless --keep). Durability settings are Rotor's own: SQLite
in WAL mode with synchronous=FULL, PostgreSQL with synchronous_commit as the
server has it.

The floor (on by default) is the same HTTP server stack with a handler that
only parses the form and signs one access token, with no database: each row
shows its requests/s as a share of the floor's at the same concurrency.

With --target, bench measures a running server whose database is --db and
whose master key it reads as the other commands do; it removes its client
and revokes its families afterwards. The server's CPU and memory are then
not measured.

--scale grows the families table to --scale-families (1,000,000) after the
run and measures refresh again, side by side, and compares a chain refreshed
--age (10,000) times with a new one.`,
		Example: `  rotor bench --db sqlite:/tmp/bench.db
  rotor bench --db 'postgres://postgres@127.0.0.1:5432/test?sslmode=disable'
  rotor bench --db sqlite:/tmp/bench.db --grants refresh_token --concurrency 32 --duration 10s --scale
  rotor bench --db sqlite:rotor.db --target http://127.0.0.1:8080 --json`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := a.config(cmd)
			if err != nil {
				return err
			}
			cfg.DSN = c.DB
			if scale {
				cfg.ScaleFamilies = scaleFamilies
				if !cmd.Flags().Changed("age") {
					cfg.Age = 10_000
				}
			}
			env := []string{}
			if a.configFile != "" {
				env = append(env, "ROTOR_CONFIG="+a.configFile)
			}
			if cfg.Target != "" {
				if cpuProfile != "" {
					return usagef("--cpuprofile profiles a server bench starts; it cannot with --target")
				}
				mk, err := c.MasterKey(a.lookupEnv, c.NewLogger(a.stderr))
				if err != nil {
					return err
				}
				if cfg.Secrets, err = secret.Derive(mk); err != nil {
					return err
				}
			} else {
				if cfg.Binary, err = os.Executable(); err != nil {
					return fmt.Errorf("find the rotor executable: %w", err)
				}
				cfg.ServeArgs = []string{"serve", "--addr", "{addr}", "--admin-addr", "127.0.0.1:0"}
				if cpuProfile != "" {
					cfg.ServeArgs = []string{"bench", "serve-profiled", cpuProfile, "--addr", "{addr}", "--admin-addr", "127.0.0.1:0"}
				}
			}
			if floor {
				if cfg.Binary == "" {
					if cfg.Binary, err = os.Executable(); err != nil {
						return fmt.Errorf("find the rotor executable: %w", err)
					}
				}
				cfg.FloorArgs = []string{"bench", "floor-server", "--addr", "{addr}"}
			}
			cfg.ChildEnv = env
			cfg.Progress = a.stderr
			cfg.TTY = isTerminal(a.stderr)
			if err := cfg.Validate(); err != nil {
				return usageError{err.Error()}
			}
			rep, err := bench.Run(cmd.Context(), cfg)
			if err != nil {
				return fmt.Errorf("bench on %s: %w", backend.Redact(cfg.DSN), err)
			}
			if asJSON {
				return a.printJSON(rep)
			}
			return rep.WriteTable(a.stdout)
		},
	}
	f := cmd.Flags()
	f.StringVar(&cfg.Target, "target", "", "base URL of a running Rotor whose database is --db (default: start one)")
	f.StringSliceVar(&cfg.Grants, "grants", bench.AllGrants, "grants to measure")
	f.IntSliceVar(&cfg.Concurrency, "concurrency", []int{1, 8, 32}, "concurrency levels (requests in flight)")
	f.DurationVar(&cfg.Duration, "duration", 5*time.Second, "measured time of each cell (at most 5m)")
	f.DurationVar(&cfg.Warmup, "warmup", time.Second, "warm-up before each cell, not counted")
	f.IntVar(&cfg.Families, "families", 10_000, "refresh-token families to provision before the run")
	f.BoolVar(&floor, "floor", true, "also measure the floor (form parsing and signing, no database) and show each row against it")
	f.BoolVar(&scale, "scale", false, "after the run, grow the families table to --scale-families and measure refresh again; and compare an aged chain (--age)")
	f.IntVar(&scaleFamilies, "scale-families", 1_000_000, "families in the table for the --scale measurement")
	f.IntVar(&cfg.Age, "age", 0, "refresh one chain this many times, then compare its refreshes with a new family's (default 10000 with --scale)")
	f.BoolVar(&cfg.Keep, "keep", false, "keep the bench database instead of deleting it")
	f.BoolVar(&asJSON, "json", false, "print the report as JSON")
	f.StringVar(&cpuProfile, "cpuprofile", "", "write the server's CPU profile to this file (read it with go tool pprof -top)")
	cmd.AddCommand(a.floorServerCmd(), a.serveProfiledCmd())
	return cmd
}

// floorServerCmd runs the bench's floor: the serve HTTP stack and signing
// key type with a handler that parses the form and signs, nothing more.
// Bench starts it as a child process.
func (a *app) floorServerCmd() *cobra.Command {
	var addr string
	cmd := &cobra.Command{
		Use:    "floor-server",
		Short:  "Serve the bench's floor (form parsing and signing only)",
		Hidden: true,
		Args:   cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx := cmd.Context()
			c, err := a.config(cmd)
			if err != nil {
				return err
			}
			log := c.NewLogger(a.stderr)
			signer, closeSigner, err := bench.NewFloorSigner(ctx, c.KeyAlgorithm)
			if err != nil {
				return err
			}
			defer closeSigner()
			ln, err := net.Listen("tcp", addr)
			if err != nil {
				return err
			}
			srv := newHTTPServer(bench.NewFloorHandler("http://"+ln.Addr().String(), signer), nil, log)
			served := make(chan error, 1)
			go func() { served <- srv.Serve(ln) }()
			select {
			case <-ctx.Done():
			case err := <-served:
				return err
			}
			sctx, cancel := context.WithTimeout(context.Background(), shutdownTimeout)
			defer cancel()
			if err := srv.Shutdown(sctx); err != nil && !errors.Is(err, http.ErrServerClosed) {
				return err
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&addr, "addr", "127.0.0.1:0", "address to listen on")
	return cmd
}

// serveProfiledCmd runs serve, with the arguments that follow the profile
// file, under the CPU profiler, for bench --cpuprofile.
func (a *app) serveProfiledCmd() *cobra.Command {
	return &cobra.Command{
		Use:                "serve-profiled PROFILE [serve flags]",
		Short:              "Run serve under the CPU profiler",
		Hidden:             true,
		DisableFlagParsing: true,
		Args:               cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			f, err := os.Create(args[0])
			if err != nil {
				return err
			}
			defer f.Close()
			if err := pprof.StartCPUProfile(f); err != nil {
				return err
			}
			defer pprof.StopCPUProfile()
			serve := a.serveCmd()
			serve.SetArgs(args[1:])
			serve.SilenceErrors, serve.SilenceUsage = true, true
			return serve.ExecuteContext(cmd.Context())
		},
	}
}

// isTerminal reports whether w is a terminal, where progress may rewrite
// its line.
func isTerminal(w any) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	st, err := f.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0
}
