package main

import (
	"fmt"
	"time"

	"github.com/spf13/cobra"

	"github.com/rotor-auth/rotor/internal/store"
)

func (a *app) keysCmd() *cobra.Command {
	c := &cobra.Command{
		Use:   "keys",
		Short: "Manage the keys that sign access tokens",
		Long: `Signing keys live in the database, sealed with the master key, so every
replica shares them. A new key is published in the JWKS before it signs
(key_prepublish), and an old key stays published until every token it
signed has expired. "rotor serve" rotates on schedule (key_rotation).`,
	}
	c.AddCommand(a.keysRotateCmd(), a.keysListCmd())
	return c
}

// keyView is a signing key as `keys list --json` shows it: its public
// facts only.
type keyView struct {
	ID        string `json:"kid"`
	Algorithm string `json:"algorithm"`
	CreatedAt string `json:"created_at"`
	ActiveAt  string `json:"active_at"`
	// Status is "next" (published, not signing yet), "current" (signing)
	// or "retired" (published for tokens it signed, no longer signing).
	Status string `json:"status"`
}

// viewKeys describes keys (oldest ActiveAt first, as the store lists
// them) at now.
func viewKeys(ks []store.SigningKey, now time.Time) []keyView {
	current := -1
	for i, k := range ks {
		if !k.ActiveAt.After(now) {
			current = i
		}
	}
	views := make([]keyView, len(ks))
	for i, k := range ks {
		st := "retired"
		switch {
		case i == current:
			st = "current"
		case k.ActiveAt.After(now):
			st = "next"
		}
		views[i] = keyView{ID: k.ID, Algorithm: k.Algorithm, CreatedAt: timeText(k.CreatedAt), ActiveAt: timeText(k.ActiveAt), Status: st}
	}
	return views
}

func (a *app) printKeys(views []keyView, asJSON bool) error {
	if asJSON {
		return a.printJSON(views)
	}
	if len(views) == 0 {
		fmt.Fprintln(a.stdout, `No signing keys yet: "rotor serve" or "rotor keys rotate" creates one.`)
		return nil
	}
	w := a.table()
	fmt.Fprintln(w, "KID\tALGORITHM\tSTATUS\tCREATED\tSIGNS FROM")
	for _, v := range views {
		fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\n", v.ID, v.Algorithm, v.Status, v.CreatedAt, v.ActiveAt)
	}
	return w.Flush()
}

func (a *app) keysRotateCmd() *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "rotate",
		Short: "Create a new signing key now",
		Long: `Create a new signing key with the configured algorithm. It is published in
the JWKS at once and starts signing after key_prepublish, so that verifiers
learn it before they meet it; the current key keeps signing until then and
stays published until its last token has expired.`,
		Example: "  rotor keys rotate\n  rotor keys rotate --key-algorithm EdDSA",
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
			km, err := a.keyManager(cmd.Context(), e.cfg, e.st, sk)
			if err != nil {
				return err
			}
			if _, err := km.Rotate(cmd.Context()); err != nil {
				return fmt.Errorf("rotate the signing key: %w", err)
			}
			ks, err := e.st.ListSigningKeys(cmd.Context())
			if err != nil {
				return fmt.Errorf("list signing keys: %w", err)
			}
			views := viewKeys(ks, a.now())
			if !asJSON {
				fmt.Fprintf(a.stdout, "Created a new %s signing key; it signs from %s.\n\n", e.cfg.KeyAlgorithm,
					timeText(a.now().Add(e.cfg.KeyPrepublish)))
			}
			return a.printKeys(views, asJSON)
		},
	}
	a.configFlag(cmd.Flags(), "key-algorithm")
	a.configFlag(cmd.Flags(), "key-prepublish")
	cmd.Flags().BoolVar(&asJSON, "json", false, "print the keys as a JSON array")
	return cmd
}

func (a *app) keysListCmd() *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:     "list",
		Short:   "List the signing keys published in the JWKS",
		Example: "  rotor keys list\n  rotor keys list --json",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			e, err := a.open(cmd)
			if err != nil {
				return err
			}
			defer e.close()
			ks, err := e.st.ListSigningKeys(cmd.Context())
			if err != nil {
				return fmt.Errorf("list signing keys: %w", err)
			}
			return a.printKeys(viewKeys(ks, a.now()), asJSON)
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print the keys as a JSON array")
	return cmd
}
