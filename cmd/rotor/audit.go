package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/rotor-auth/rotor/internal/store"
)

func (a *app) auditCmd() *cobra.Command {
	c := &cobra.Command{
		Use:   "audit",
		Short: "Read the audit trail",
	}
	c.AddCommand(a.auditTailCmd())
	return c
}

// eventView is an audit event as `audit tail --json` prints it, one JSON
// object per line.
type eventView struct {
	ID         int64  `json:"id"`
	Time       string `json:"time"`
	Type       string `json:"type"`
	ClientID   string `json:"client_id,omitempty"`
	Subject    string `json:"subject,omitempty"`
	FamilyID   string `json:"family_id,omitempty"`
	TokenID    string `json:"token_id,omitempty"`
	Generation uint64 `json:"generation,omitempty"`
	IP         string `json:"ip,omitempty"`
	UserAgent  string `json:"user_agent,omitempty"`
	Reason     string `json:"reason,omitempty"`
	Detail     string `json:"detail,omitempty"`
	Actor      string `json:"actor,omitempty"`
	// Count is how many occurrences the event stands for (repeated
	// refusals are counted into one event); always at least 1.
	Count int64 `json:"count"`
}

func viewEvent(e *store.Event) eventView {
	return eventView{
		ID: e.ID, Time: e.Time.UTC().Format(time.RFC3339Nano), Type: e.Type,
		ClientID: e.ClientID, Subject: e.Subject, FamilyID: e.FamilyID, TokenID: e.TokenID,
		Generation: e.Generation, IP: e.IP, UserAgent: e.UserAgent, Reason: e.Reason, Detail: e.Detail,
		Actor: e.Actor, Count: max(1, e.Count),
	}
}

// eventLine formats an event on one line for people: the time, the type,
// then the facts it has, as key=value.
func eventLine(e *store.Event) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s  %-28s", e.Time.UTC().Format("2006-01-02T15:04:05.000Z"), e.Type)
	kv := func(k, v string) {
		if v != "" {
			fmt.Fprintf(&b, " %s=%s", k, quoteIfNeeded(v))
		}
	}
	kv("client", e.ClientID)
	kv("subject", e.Subject)
	kv("family", e.FamilyID)
	kv("token", e.TokenID)
	if e.Generation > 0 {
		kv("gen", fmt.Sprint(e.Generation))
	}
	kv("ip", e.IP)
	kv("reason", e.Reason)
	kv("actor", e.Actor)
	if e.Count > 1 {
		kv("count", fmt.Sprint(e.Count))
	}
	kv("detail", e.Detail)
	return strings.TrimRight(b.String(), " ")
}

func quoteIfNeeded(s string) string {
	if strings.ContainsAny(s, " \t\"=") || strings.ContainsFunc(s, func(r rune) bool { return r < ' ' || r == 0x7f }) {
		return fmt.Sprintf("%q", s)
	}
	return s
}

func (a *app) auditTailCmd() *cobra.Command {
	var (
		n                           int
		follow, asJSON              bool
		typ, client, user, familyID string
	)
	cmd := &cobra.Command{
		Use:   "tail [-n 20] [--follow] [--json] [--type T] [--client C] [--user U] [--family F]",
		Short: "Show the newest audit events, and follow new ones",
		Long: `Show the newest audit events, oldest first, one line each: time, type,
client, subject (user id), family, token id, generation, IP, reason. With
--follow, keep printing new events as they are recorded until interrupted.
With --json, print one JSON object per line.

Event types include family_created, token_rotated, grace_retry,
refresh_token_reuse_detected, family_revoked, refresh_failed and
access_token_issued.`,
		Example: `  rotor audit tail
  rotor audit tail -n 100 --type refresh_token_reuse_detected
  rotor audit tail --follow --user alice
  rotor audit tail --json --family Qm9vZ2xlIGlzIGEgZmFtaWx5 | jq .`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if n < 0 {
				return usagef("-n must not be negative")
			}
			e, err := a.open(cmd)
			if err != nil {
				return err
			}
			defer e.close()
			ctx := cmd.Context()
			filter := store.EventFilter{Type: typ, ClientID: client, FamilyID: familyID}
			if user != "" {
				u, err := e.st.GetUserByUsername(ctx, user)
				switch {
				case err == nil:
					filter.Subject = u.ID
				case errors.Is(err, store.ErrNotFound):
					// A deleted user, or a subject given by id.
					filter.Subject = user
				default:
					return fmt.Errorf("read user %q: %w", user, err)
				}
			}
			print := func(evs []store.Event) error {
				for i := range evs {
					if asJSON {
						b, err := json.Marshal(viewEvent(&evs[i]))
						if err != nil {
							return err
						}
						fmt.Fprintf(a.stdout, "%s\n", b)
					} else {
						fmt.Fprintln(a.stdout, eventLine(&evs[i]))
					}
				}
				return nil
			}

			newest := filter
			newest.Newest = true
			newest.Limit = max(n, 1) // with -n 0, only find where to follow from
			evs, err := e.st.ListEvents(ctx, newest)
			if err != nil {
				return fmt.Errorf("read the audit trail: %w", err)
			}
			var last int64
			if len(evs) > 0 {
				last = evs[len(evs)-1].ID
			}
			if n > 0 {
				if err := print(evs); err != nil {
					return err
				}
			}
			if !follow {
				return nil
			}
			return a.followEvents(ctx, e.st, filter, last, print)
		},
	}
	f := cmd.Flags()
	f.IntVarP(&n, "lines", "n", 20, "how many of the newest events to show")
	f.BoolVarP(&follow, "follow", "f", false, "keep printing new events until interrupted")
	f.BoolVar(&asJSON, "json", false, "print one JSON object per event and line")
	f.StringVar(&typ, "type", "", "only events of this type")
	f.StringVar(&client, "client", "", "only events of this client id")
	f.StringVar(&user, "user", "", "only events of this user (user name, or subject id)")
	f.StringVar(&familyID, "family", "", "only events of this family")
	return cmd
}

// followWindow is how many ids behind the newest printed one each poll
// re-reads. Event ids are assigned at insert but become visible at commit,
// so on PostgreSQL a transaction holding id 41 may commit after one holding
// id 42; paging strictly after the last printed id would skip it.
const followWindow = 512

// followEvents polls for events after the given id until ctx is done,
// printing each event once.
func (a *app) followEvents(ctx context.Context, st store.Store, filter store.EventFilter, after int64, print func([]store.Event) error) error {
	// What is visible now in the window was shown by the first listing
	// or deliberately left out (older than -n): mark it seen.
	seen := map[int64]bool{}
	f := filter
	f.AfterID = max(0, after-followWindow)
	evs, err := st.ListEvents(ctx, f)
	if err != nil {
		return fmt.Errorf("read the audit trail: %w", err)
	}
	for _, e := range evs {
		seen[e.ID] = true
	}
	t := time.NewTicker(a.followInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
		cursor := max(0, after-followWindow)
		for {
			f := filter
			f.AfterID, f.Limit = cursor, 1000
			evs, err := st.ListEvents(ctx, f)
			if err != nil {
				if ctx.Err() != nil {
					return nil
				}
				return fmt.Errorf("read the audit trail: %w", err)
			}
			var fresh []store.Event
			for _, e := range evs {
				if !seen[e.ID] {
					fresh = append(fresh, e)
					seen[e.ID] = true
				}
			}
			if err := print(fresh); err != nil {
				return err
			}
			for _, e := range fresh {
				after = max(after, e.ID)
			}
			if len(evs) < f.Limit {
				break
			}
			cursor = evs[len(evs)-1].ID
		}
		for id := range seen {
			if id <= after-followWindow {
				delete(seen, id)
			}
		}
	}
}
