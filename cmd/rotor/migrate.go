package main

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/rotor-auth/rotor/internal/store/backend"
)

func (a *app) migrateCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "migrate",
		Short: "Apply the database schema migrations that are missing",
		Long: `Apply the schema migrations embedded in this binary that the database lacks.
Run it before starting a new version on PostgreSQL; concurrent runs are
safe. "rotor serve" does it by itself on the embedded SQLite database.`,
		Example: `  rotor migrate
  ROTOR_DATABASE_URL=postgres://rotor:secret@db:5432/rotor rotor migrate`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := a.config(cmd)
			if err != nil {
				return err
			}
			st, err := backend.Open(cmd.Context(), cfg.DB)
			if err != nil {
				return err
			}
			defer st.Close()
			if err := st.Migrate(cmd.Context()); err != nil {
				return fmt.Errorf("migrate %s: %w", backend.Redact(cfg.DB), err)
			}
			fmt.Fprintf(a.stdout, "Database %s has every migration applied.\n", backend.Redact(cfg.DB))
			return nil
		},
	}
}
