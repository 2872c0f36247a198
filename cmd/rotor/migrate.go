package main

import (
	"context"
	"fmt"
	"log/slog"
	"slices"
	"strconv"
	"strings"

	"github.com/spf13/cobra"

	"github.com/rotor-auth/rotor/internal/store"
	"github.com/rotor-auth/rotor/internal/store/backend"
)

// migrationLister is what both backends tell about their schema
// migrations besides applying them, so that migrate can say what it did.
type migrationLister interface {
	// MigrationNames lists the embedded migrations ("0001_init"), in
	// order.
	MigrationNames() ([]string, error)
	// AppliedVersions lists the versions the database has, in order.
	AppliedVersions(ctx context.Context) ([]int, error)
}

func (a *app) migrateCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "migrate",
		Short: "Apply the database schema migrations that are missing",
		Long: `Apply the schema migrations embedded in this binary that the database lacks,
and name the ones applied. Run it before starting a new version on
PostgreSQL; concurrent runs are safe. "rotor serve" does it by itself on the
embedded SQLite database.`,
		Example: `  rotor migrate
  ROTOR_DATABASE_URL=postgres://rotor:secret@db:5432/rotor rotor migrate`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx := cmd.Context()
			cfg, err := a.config(cmd)
			if err != nil {
				return err
			}
			log := cfg.NewLogger(a.stderr)
			log.Debug("configuration", "config", cfg)
			where := backend.Redact(cfg.DB)
			st, err := backend.Open(ctx, cfg.DB)
			if err != nil {
				return err
			}
			defer st.Close()
			m, err := migrateStore(ctx, st, where, log)
			if err != nil {
				return err
			}
			switch {
			case !m.listed:
				fmt.Fprintf(a.stdout, "Database %s has every migration applied.\n", where)
			case len(m.applied) == 0:
				fmt.Fprintf(a.stdout, "Database %s is up to date: %s applied, none missing.\n",
					where, plural(m.total, "migration", "migrations"))
			default:
				fmt.Fprintf(a.stdout, "Applied %s to %s: %s.\n",
					plural(len(m.applied), "migration", "migrations"), where, strings.Join(m.applied, ", "))
			}
			return nil
		},
	}
}

// migrated is what one migration run changed.
type migrated struct {
	// listed is false when the backend cannot tell its migrations; the
	// rest is then empty.
	listed bool
	// applied names the migrations applied by this run (or by concurrent
	// runs meanwhile).
	applied []string
	// total is how many migrations the database has afterwards.
	total int
}

// migrateStore applies the missing migrations to st, the database named
// where for people, and tells which it applied. A database migrated by a
// newer binary is warned about; it is not an error, as a replica of the
// previous release may run during an upgrade.
func migrateStore(ctx context.Context, st store.Store, where string, log *slog.Logger) (migrated, error) {
	ml, _ := st.(migrationLister)
	var before []int
	if ml != nil {
		var err error
		if before, err = ml.AppliedVersions(ctx); err != nil {
			return migrated{}, err
		}
	}
	if err := st.Migrate(ctx); err != nil {
		return migrated{}, fmt.Errorf("migrate %s: %w", where, err)
	}
	if ml == nil {
		log.Debug("database migrated", "db", where)
		return migrated{}, nil
	}
	after, err := ml.AppliedVersions(ctx)
	if err != nil {
		return migrated{}, err
	}
	names, err := ml.MigrationNames()
	if err != nil {
		return migrated{}, err
	}
	applied, unknown := migrationReport(names, before, after)
	if len(unknown) > 0 {
		log.Warn("the database has migrations this binary does not know: a newer Rotor migrated it", "db", where, "versions", intList(unknown))
	}
	if len(applied) > 0 {
		log.Debug("migrations applied", "db", where, "applied", strings.Join(applied, ","), "total", len(after))
	} else {
		log.Debug("database schema up to date", "db", where, "total", len(after))
	}
	return migrated{listed: true, applied: applied, total: len(after)}, nil
}

// migrationReport names the migrations in after but not in before, and
// lists the versions in after that no embedded migration has.
func migrationReport(names []string, before, after []int) (applied []string, unknown []int) {
	byVersion := map[int]string{}
	for _, n := range names {
		num, _, _ := strings.Cut(n, "_")
		if v, err := strconv.Atoi(num); err == nil {
			byVersion[v] = n
		}
	}
	for _, v := range after {
		name, known := byVersion[v]
		switch {
		case !known:
			unknown = append(unknown, v)
		case !slices.Contains(before, v):
			applied = append(applied, name)
		}
	}
	return applied, unknown
}

func intList(vs []int) string {
	s := make([]string, len(vs))
	for i, v := range vs {
		s[i] = strconv.Itoa(v)
	}
	return strings.Join(s, ", ")
}
