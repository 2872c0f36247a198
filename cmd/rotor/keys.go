package main

import (
	"fmt"
	"strings"

	"github.com/spf13/cobra"

	"github.com/rotor-auth/rotor/internal/config"
	"github.com/rotor-auth/rotor/internal/keys"
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

// printKeys shows keys with the state the key manager gives them.
func (a *app) printKeys(views []keys.KeyInfo, asJSON bool) error {
	return printList(a, views, asJSON, `No signing keys yet: "rotor serve" or "rotor keys rotate" creates one.`,
		"KID\tALGORITHM\tSTATE\tCREATED\tSIGNS FROM\tPUBLISHED UNTIL", func(v keys.KeyInfo) string {
			return strings.Join([]string{v.ID, v.Algorithm, v.State, timeText(v.CreatedAt), timeText(v.ActiveAt), timeText(v.RetiresAt)}, "\t")
		})
}

func (a *app) keysRotateCmd() *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "rotate",
		Short: "Create a new signing key now",
		Long: `Create a new signing key with the configured algorithm. It is published in
the JWKS at once and starts signing after key_prepublish, so that verifiers
learn it before they meet it; the current key keeps signing until then and
stays published until its last token has expired. Servers reread the keys
once a minute, so a new key waits at least that long, whatever
key_prepublish says; the first key of a new database signs at once.`,
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
			km := a.keyManager(e.cfg, e.st, sk)
			k, err := km.Rotate(cmd.Context())
			if err != nil {
				return fmt.Errorf("rotate the signing key: %w", err)
			}
			a.wrote(e)
			views, err := km.Keys(cmd.Context())
			if err != nil {
				return fmt.Errorf("list signing keys: %w", err)
			}
			if !asJSON {
				// The time the stored key says, which every server
				// follows; not the delay asked for, which the key manager
				// lengthens when servers could not all have seen the key.
				fmt.Fprintf(a.stdout, "Created a new %s signing key; it signs from %s.", e.cfg.KeyAlgorithm, timeText(k.ActiveAt))
				if wait := k.ActiveAt.Sub(k.CreatedAt); wait > e.cfg.KeyPrepublish {
					fmt.Fprintf(a.stdout, " That is %s from now, not %s: every server rereads the keys once every %s, and all must have the new one before it signs.",
						config.FormatDuration(wait), config.FormatDuration(e.cfg.KeyPrepublish), config.FormatDuration(keyReloadInterval))
				}
				fmt.Fprint(a.stdout, "\n\n")
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
			// Listing needs no master key: nothing is decrypted.
			km := a.keyManager(e.cfg, e.st, nil)
			views, err := km.Keys(cmd.Context())
			if err != nil {
				return fmt.Errorf("list signing keys: %w", err)
			}
			return a.printKeys(views, asJSON)
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print the keys as a JSON array")
	return cmd
}
