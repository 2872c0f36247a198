package main

import (
	"errors"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/rotor-auth/rotor/internal/audit"
	"github.com/rotor-auth/rotor/internal/store"
)

func (a *app) revokeCmd() *cobra.Command {
	var (
		familyID, username, clientID string
		asJSON                       bool
	)
	cmd := &cobra.Command{
		Use:   "revoke (--family ID | --user USERNAME | --client ID)",
		Short: "Revoke refresh-token families",
		Long: `Revoke one family, every live family of a user, or every live family of a
client. Revoking a family costs one row update however long its chain, and
its access tokens are deny-listed until they expire. Each revocation is an
audit event with the reason "admin".`,
		Example: `  rotor revoke --family Qm9vZ2xlIGlzIGEgZmFtaWx5
  rotor revoke --user alice
  rotor revoke --client web --json`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			how, err := exactlyOne(cmd, "family", "user", "client")
			if err != nil {
				return err
			}
			e, err := a.open(cmd)
			if err != nil {
				return err
			}
			defer e.close()
			fams, err := a.families(e)
			if err != nil {
				return err
			}
			ctx := cmd.Context()
			var ids []string
			switch how {
			case "family":
				ok, err := fams.RevokeFamily(ctx, familyID, audit.ReasonAdmin, cliMeta)
				if errors.Is(err, store.ErrNotFound) {
					return fmt.Errorf("no family with id %q", familyID)
				}
				if err != nil {
					return err
				}
				if ok {
					ids = []string{familyID}
				}
			case "user":
				us, err := a.users(e)
				if err != nil {
					return err
				}
				u, err := getUser(cmd, us, username)
				if err != nil {
					return err
				}
				if ids, err = fams.RevokeWhere(ctx, store.FamilyFilter{Subject: u.ID}, audit.ReasonAdmin, cliMeta); err != nil {
					return err
				}
			case "client":
				// A deleted client's families may still need revoking, so
				// the client need not exist.
				if ids, err = fams.RevokeWhere(ctx, store.FamilyFilter{ClientID: clientID}, audit.ReasonAdmin, cliMeta); err != nil {
					return err
				}
			}
			if ids == nil {
				ids = []string{}
			}
			a.wrote(e)
			if asJSON {
				return a.printJSON(struct {
					Revoked  int      `json:"revoked"`
					Families []string `json:"families"`
				}{len(ids), ids})
			}
			fmt.Fprintf(a.stdout, "Revoked %s.\n", plural(len(ids), "family", "families"))
			if how == "family" && len(ids) == 0 {
				fmt.Fprintf(a.stdout, "Family %q was already revoked.\n", familyID)
			}
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&familyID, "family", "", "revoke this family")
	f.StringVar(&username, "user", "", "revoke every live family of this user (by user name)")
	f.StringVar(&clientID, "client", "", "revoke every live family of this client")
	f.BoolVar(&asJSON, "json", false, `print {"revoked": N, "families": [ids]}`)
	return cmd
}
