package main

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/rotor-auth/rotor/internal/janitor"
)

func (a *app) gcCmd() *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "gc",
		Short: "Delete expired data now (one janitor pass)",
		Long: `Run one pass of the janitor that "rotor serve" runs every minute: delete
families past their absolute expiry, wipe sealed grace successors whose
period is over, delete expired deny-list entries, audit events older than
audit_retention, authorization codes an hour past their expiry and ended or
expired browser sessions, and retire signing keys no token can need. Each kind is
deleted in small batches, so it is safe while the server runs.`,
		Example: "  rotor gc\n  rotor gc --json",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			e, err := a.open(cmd)
			if err != nil {
				return err
			}
			defer e.close()
			sk, err := a.secrets(e)
			if err != nil {
				return err
			}
			km := a.keyManager(e.cfg, e.st, sk)
			j := janitor.New(e.st, janitor.Options{AuditRetention: e.cfg.AuditRetention, Keys: km, Now: a.now, Log: e.log})
			s, err := j.Once(cmd.Context())
			if err != nil {
				return err
			}
			a.wrote(e)
			if asJSON {
				return a.printJSON(s)
			}
			fmt.Fprintf(a.stdout, "Deleted %s, %s, %s, %s, %s, %s and %s; cleared %s.\n",
				plural(s.Families, "expired family", "expired families"),
				plural(s.Denials, "expired deny-list entry", "expired deny-list entries"),
				plural(s.Events, "old audit event", "old audit events"),
				plural(s.Keys, "retired signing key", "retired signing keys"),
				plural(s.Codes, "old authorization code", "old authorization codes"),
				plural(s.DeviceCodes, "old device code", "old device codes"),
				plural(s.Sessions, "ended browser session", "ended browser sessions"),
				plural(s.GraceSeals, "expired grace successor", "expired grace successors"))
			return nil
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print the counts as JSON")
	return cmd
}
