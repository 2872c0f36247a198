package main

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/spf13/cobra"

	"github.com/rotor-auth/rotor/internal/store"
	"github.com/rotor-auth/rotor/internal/users"
)

func (a *app) userCmd() *cobra.Command {
	c := &cobra.Command{
		Use:   "user",
		Short: "Manage users (resource owners)",
	}
	c.AddCommand(a.userCreateCmd(), a.userListCmd(), a.userPasswdCmd(),
		a.userSetDisabledCmd(true), a.userSetDisabledCmd(false))
	return c
}

// userView is a user as `user list --json` shows it: never the password
// hash.
type userView struct {
	ID               string `json:"id"`
	Username         string `json:"username"`
	Email            string `json:"email,omitempty"`
	EmailVerified    bool   `json:"email_verified"`
	Disabled         bool   `json:"disabled"`
	TokensValidAfter string `json:"tokens_valid_after,omitempty"`
	CreatedAt        string `json:"created_at"`
	UpdatedAt        string `json:"updated_at"`
}

func viewUser(u *store.User) userView {
	v := userView{ID: u.ID, Username: u.Username, Email: u.Email, EmailVerified: u.EmailVerified, Disabled: u.Disabled,
		CreatedAt: timeText(u.CreatedAt), UpdatedAt: timeText(u.UpdatedAt)}
	if !u.TokensValidAfter.IsZero() {
		v.TokensValidAfter = timeText(u.TokensValidAfter)
	}
	return v
}

// password returns the password from --password or, with
// --password-stdin, the first line of standard input.
func (a *app) password(cmd *cobra.Command, flagValue string) (string, error) {
	how, err := exactlyOne(cmd, "password", "password-stdin")
	if err != nil {
		return "", err
	}
	pw := flagValue
	if how == "password-stdin" {
		line, err := bufio.NewReader(io.LimitReader(a.stdin, users.MaxPasswordLen+2)).ReadString('\n')
		if err != nil && !errors.Is(err, io.EOF) {
			return "", fmt.Errorf("read the password from standard input: %w", err)
		}
		pw = strings.TrimSuffix(strings.TrimSuffix(line, "\n"), "\r")
	}
	if _, err := users.Password(pw); err != nil {
		return "", userUsage(err)
	}
	return pw, nil
}

// userUsage turns the users package's refusal of a value into a usage
// error in its words.
func userUsage(err error) error {
	var ve *users.ValidationError
	if errors.As(err, &ve) {
		return usageError{ve.Msg}
	}
	return err
}

func getUser(cmd *cobra.Command, us *users.Service, username string) (*store.User, error) {
	u, err := us.Lookup(cmd.Context(), username)
	if errors.Is(err, users.ErrNotFound) {
		return nil, fmt.Errorf("no user named %q", username)
	}
	if err != nil {
		return nil, fmt.Errorf("read user %q: %w", username, err)
	}
	return u, nil
}

func (a *app) userCreateCmd() *cobra.Command {
	var (
		username, pw, email string
		emailVerified       bool
	)
	cmd := &cobra.Command{
		Use:   "create --username U (--password P | --password-stdin) [--email A]",
		Short: "Create a user",
		Long: `Create a user who can sign in (today: with the password grant, for clients
that allow it). The password is stored as an argon2id hash. Prefer
--password-stdin: a password on the command line lands in shell history and
in the process list.

--email gives the address that OpenID Connect clients receive with the
email scope. An address given by the operator is marked verified
(email_verified: true), since relying parties may trust it as the user's:
pass --email-verified=false for an address nobody has checked.`,
		Example: `  rotor user create --username alice --password-stdin
  rotor user create --username alice --email alice@example.com --password-stdin
  printf '%s\n' "$PASSWORD" | rotor user create --username alice --password-stdin`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := required(cmd, "username"); err != nil {
				return err
			}
			if _, err := users.Username(username); err != nil {
				return userUsage(err)
			}
			var opts []users.CreateOption
			if cmd.Flags().Changed("email") {
				if _, err := users.Email(email); err != nil {
					return userUsage(err)
				}
				opts = append(opts, users.WithEmail(email, emailVerified))
			} else if cmd.Flags().Changed("email-verified") {
				return usagef("--email-verified says whether --email is checked; give --email too")
			}
			pw, err := a.password(cmd, pw)
			if err != nil {
				return err
			}
			e, us, err := openService(a, cmd, a.users)
			if err != nil {
				return err
			}
			defer e.close()
			u, err := us.Create(cmd.Context(), username, pw, cliMeta, opts...)
			switch {
			case errors.Is(err, users.ErrExists):
				return fmt.Errorf("a user named %q already exists", username)
			case err != nil:
				return userUsage(err)
			}
			a.wrote(e)
			if u.Email != "" {
				verified := "verified"
				if !u.EmailVerified {
					verified = "not verified"
				}
				fmt.Fprintf(a.stdout, "Created user %q (id %s, email %s, %s).\n", u.Username, u.ID, u.Email, verified)
			} else {
				fmt.Fprintf(a.stdout, "Created user %q (id %s).\n", u.Username, u.ID)
			}
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&username, "username", "", "user name (required)")
	f.StringVar(&pw, "password", "", "the password (visible to other local users; prefer --password-stdin)")
	f.Bool("password-stdin", false, "read the password from the first line of standard input")
	f.StringVar(&email, "email", "", "the user's email address, for the OpenID Connect email scope")
	f.BoolVar(&emailVerified, "email-verified", true, "whether the --email address is known to be the user's (the email_verified claim)")
	return cmd
}

func (a *app) userPasswdCmd() *cobra.Command {
	var username, pw string
	cmd := &cobra.Command{
		Use:   "passwd --username U (--password P | --password-stdin)",
		Short: "Change a user's password and sign them out everywhere",
		Long: `Change a user's password and set their tokens_valid_after to now: every
refresh-token family issued before the change stops refreshing, so every
device must sign in again with the new password.`,
		Example: "  rotor user passwd --username alice --password-stdin",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := required(cmd, "username"); err != nil {
				return err
			}
			pw, err := a.password(cmd, pw)
			if err != nil {
				return err
			}
			e, us, err := openService(a, cmd, a.users)
			if err != nil {
				return err
			}
			defer e.close()
			u, err := getUser(cmd, us, username)
			if err != nil {
				return err
			}
			u, ids, err := us.SetPassword(cmd.Context(), u.ID, pw, cliMeta)
			if err != nil {
				return fmt.Errorf("change the password of %q: %w", username, userUsage(err))
			}
			now := u.TokensValidAfter
			a.wrote(e)
			fmt.Fprintf(a.stdout, "Changed the password of %q, set tokens_valid_after to %s and revoked %s: every session started before now must sign in again.\n",
				username, timeText(now), plural(len(ids), "family", "families"))
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&username, "username", "", "user name (required)")
	f.StringVar(&pw, "password", "", "the new password (visible to other local users; prefer --password-stdin)")
	f.Bool("password-stdin", false, "read the new password from the first line of standard input")
	return cmd
}

// userSetDisabledCmd is `user disable` or `user enable`.
func (a *app) userSetDisabledCmd(disable bool) *cobra.Command {
	var username string
	verb, short := "enable", "Let a disabled user sign in again"
	if disable {
		verb, short = "disable", "Stop a user from signing in and revoke their families"
	}
	cmd := &cobra.Command{
		Use:     verb + " --username U",
		Short:   short,
		Example: "  rotor user " + verb + " --username alice",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := required(cmd, "username"); err != nil {
				return err
			}
			e, us, err := openService(a, cmd, a.users)
			if err != nil {
				return err
			}
			defer e.close()
			u, err := getUser(cmd, us, username)
			if err != nil {
				return err
			}
			if !disable {
				if _, err := us.Enable(cmd.Context(), u.ID, cliMeta); err != nil {
					return fmt.Errorf("enable user %q: %w", username, err)
				}
				a.wrote(e)
				fmt.Fprintf(a.stdout, "Enabled user %q.\n", username)
				return nil
			}
			// A disabled user's families would fail their next refresh
			// anyway; revoking them, in the same transaction, also
			// deny-lists their access tokens and records why, and
			// re-enabling the user does not bring them back.
			_, ids, err := us.Disable(cmd.Context(), u.ID, cliMeta)
			if err != nil {
				return fmt.Errorf("disable user %q: %w", username, err)
			}
			a.wrote(e)
			fmt.Fprintf(a.stdout, "Disabled user %q and revoked %s.\n", username, plural(len(ids), "family", "families"))
			return nil
		},
	}
	cmd.Flags().StringVar(&username, "username", "", "user name (required)")
	return cmd
}

func (a *app) userListCmd() *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:     "list",
		Short:   "List users",
		Example: "  rotor user list\n  rotor user list --json",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			e, err := a.open(cmd)
			if err != nil {
				return err
			}
			defer e.close()
			list, err := e.st.ListUsers(cmd.Context())
			if err != nil {
				return fmt.Errorf("list users: %w", err)
			}
			views := make([]userView, len(list))
			for i := range list {
				views[i] = viewUser(&list[i])
			}
			return printList(a, views, asJSON, "No users yet. Create one with: rotor user create --username NAME --password-stdin",
				"USERNAME\tID\tEMAIL\tSTATUS\tTOKENS VALID AFTER\tCREATED", func(v userView) string {
					return strings.Join([]string{v.Username, v.ID, emailText(v), status(v.Disabled), orDash(v.TokensValidAfter), v.CreatedAt}, "\t")
				})
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print the users as a JSON array")
	return cmd
}

// emailText writes a user's address for people, marked when unverified.
func emailText(v userView) string {
	switch {
	case v.Email == "":
		return "-"
	case !v.EmailVerified:
		return v.Email + " (unverified)"
	}
	return v.Email
}
