package users_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/rotor-auth/rotor/internal/audit"
	"github.com/rotor-auth/rotor/internal/family"
	"github.com/rotor-auth/rotor/internal/secret"
	"github.com/rotor-auth/rotor/internal/store"
	"github.com/rotor-auth/rotor/internal/store/testdb"
	"github.com/rotor-auth/rotor/internal/users"
)

var cli = audit.Meta{UserAgent: "rotor-cli", Actor: audit.ActorCLI}

type fixture struct {
	st   store.Store
	fams *family.Service
	us   *users.Service
}

func newFixture(t *testing.T, st store.Store) *fixture {
	t.Helper()
	keys, err := secret.Derive(secret.NewMasterKey())
	if err != nil {
		t.Fatal(err)
	}
	fams := family.New(st, keys, family.DefaultConfig(), time.Now, nil)
	return &fixture{st: st, fams: fams, us: users.New(st, fams, secret.NewVerifier(0), time.Now)}
}

// session creates a family for u with a client it registers, as a
// password grant does after verifying u.
func (fx *fixture) session(t *testing.T, u *store.User) (*family.Grant, error) {
	t.Helper()
	c := &store.Client{ID: "app-" + u.ID, Public: true, GrantTypes: []string{"password", "refresh_token"}, CreatedAt: time.Now(), UpdatedAt: time.Now()}
	if err := fx.st.CreateClient(context.Background(), c); err != nil && !errors.Is(err, store.ErrConflict) {
		t.Fatal(err)
	}
	c, err := fx.st.GetClient(context.Background(), c.ID) // as the token endpoint reads it
	if err != nil {
		t.Fatal(err)
	}
	return fx.fams.Create(context.Background(), family.CreateParams{Client: c, User: u, AccessTokenID: secret.NewID(), Grant: "password"})
}

// TestUsernamesArePRECIS: usernames are compared in their PRECIS
// UsernameCaseMapped form (RFC 8265 §3.3): "alice", "Alice" and full-width
// "ａlice" are one user.
func TestUsernamesArePRECIS(t *testing.T) {
	testdb.Each(t, func(t *testing.T, st store.Store) {
		fx := newFixture(t, st)
		ctx := context.Background()
		u, err := fx.us.Create(ctx, "Alice", "correct horse", cli)
		if err != nil {
			t.Fatal(err)
		}
		if u.Username != "alice" {
			t.Fatalf("stored username %q, want its canonical form alice", u.Username)
		}
		for _, name := range []string{"alice", "ALICE", "\uff41lice"} {
			if _, err := fx.us.Create(ctx, name, "correct horse", cli); !errors.Is(err, users.ErrExists) {
				t.Fatalf("create %q: %v, want ErrExists", name, err)
			}
			got, err := fx.us.Lookup(ctx, name)
			if err != nil || got.ID != u.ID {
				t.Fatalf("lookup %q: %+v %v", name, got, err)
			}
			if got, reason, err := fx.us.Authenticate(ctx, name, "correct horse", "192.0.2.1"); err != nil || reason != "" || got.ID != u.ID {
				t.Fatalf("authenticate %q: %v %q %v", name, got, reason, err)
			}
		}
		var ve *users.ValidationError
		if _, err := fx.us.Create(ctx, "bad\x00name", "correct horse", cli); !errors.As(err, &ve) {
			t.Fatalf("a name with NUL: %v", err)
		}
	})
}

// TestCreateWithEmail: an email address given at creation is stored (its
// domain in lower case) with the verified flag the caller gave, and
// read back; a malformed one creates no user.
func TestCreateWithEmail(t *testing.T) {
	testdb.Each(t, func(t *testing.T, st store.Store) {
		fx := newFixture(t, st)
		ctx := context.Background()
		u, err := fx.us.Create(ctx, "grace", "correct horse", cli, users.WithEmail("Grace.H@Example.COM", true))
		if err != nil {
			t.Fatal(err)
		}
		got, err := fx.us.Lookup(ctx, "grace")
		if err != nil || got.ID != u.ID || got.Email != "Grace.H@example.com" || !got.EmailVerified {
			t.Fatalf("stored %+v, %v; want Grace.H@example.com, verified", got, err)
		}
		v, err := fx.us.Create(ctx, "heidi", "correct horse", cli, users.WithEmail("heidi@example.com", false))
		if err != nil || v.EmailVerified {
			t.Fatalf("unverified: %+v %v", v, err)
		}
		if got, _ := fx.us.Lookup(ctx, "heidi"); got.EmailVerified || got.Email != "heidi@example.com" {
			t.Fatalf("stored %+v", got)
		}
		var ve *users.ValidationError
		if _, err := fx.us.Create(ctx, "ivan", "correct horse", cli, users.WithEmail("ivan at example.com", true)); !errors.As(err, &ve) {
			t.Fatalf("a malformed address: %v", err)
		}
		if _, err := fx.us.Lookup(ctx, "ivan"); !errors.Is(err, users.ErrNotFound) {
			t.Fatalf("a user was created with a malformed address: %v", err)
		}
		if u, _ := fx.us.Create(ctx, "judy", "correct horse", cli); u.Email != "" || u.EmailVerified {
			t.Fatalf("no address given: %+v", u)
		}
	})
}

func TestEmail(t *testing.T) {
	for in, want := range map[string]string{
		"alice@example.com":                "alice@example.com",
		"Alice@EXAMPLE.com":                "Alice@example.com",
		"a+tag@sub.example.co.uk":          "a+tag@sub.example.co.uk",
		"j\u00fcrgen@b\u00fccher.de":       "j\u00fcrgen@b\u00fccher.de",
		"":                                 "",
		"alice":                            "",
		"@example.com":                     "",
		"alice@":                           "",
		"a@b@example.com":                  "",
		"alice @example.com":               "",
		"alice@example..com":               "",
		"alice@.example.com":               "",
		"alice@example.com.":               "",
		"alice\x00@example.com":            "",
		"alice@example.com\n":              "",
		strings.Repeat("a", 250) + "@b.co": "",
	} {
		got, err := users.Email(in)
		if want == "" {
			if err == nil {
				t.Errorf("Email(%q) = %q, want an error", in, got)
			}
			continue
		}
		if err != nil || got != want {
			t.Errorf("Email(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
}

// TestPasswordsArePRECIS: passwords are compared in their PRECIS
// OpaqueString form (RFC 8265 §4.2, NFC), so the NFD spelling of a
// password works where the NFC one does; and they have at least 8
// characters.
func TestPasswordsArePRECIS(t *testing.T) {
	testdb.Each(t, func(t *testing.T, st store.Store) {
		fx := newFixture(t, st)
		ctx := context.Background()
		nfc, nfd := "caf\u00e9-au-lait", "cafe\u0301-au-lait"
		u, err := fx.us.Create(ctx, "bob", nfc, cli)
		if err != nil {
			t.Fatal(err)
		}
		for _, pw := range []string{nfc, nfd} {
			if got, reason, err := fx.us.Authenticate(ctx, "bob", pw, "192.0.2.1"); err != nil || reason != "" || got.ID != u.ID {
				t.Fatalf("authenticate with %+q: %q %v", pw, reason, err)
			}
		}
		if _, reason, _ := fx.us.Authenticate(ctx, "bob", "cafe-au-lait", "192.0.2.1"); reason != audit.ReasonWrongPassword {
			t.Fatalf("another password: reason %q", reason)
		}
		if _, reason, _ := fx.us.Authenticate(ctx, "nobody", nfc, "192.0.2.1"); reason != audit.ReasonUnknownUser {
			t.Fatalf("unknown user: reason %q", reason)
		}
		var ve *users.ValidationError
		_, err = fx.us.Create(ctx, "carol", "seven77", cli)
		if !errors.As(err, &ve) || !strings.Contains(ve.Msg, "shorter than 8 characters") {
			t.Fatalf("a 7-character password: %v", err)
		}
		// Eight characters, counted as characters rather than bytes.
		if _, err := fx.us.Create(ctx, "carol", "\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9", cli); err != nil {
			t.Fatalf("an 8-character password: %v", err)
		}
	})
}

// TestChangesEndSessionsAndAreAudited: a password change and a disabled
// user revoke every family in the same transaction; each change is one
// audit event naming the actor.
func TestChangesEndSessionsAndAreAudited(t *testing.T) {
	testdb.Each(t, func(t *testing.T, st store.Store) {
		fx := newFixture(t, st)
		ctx := context.Background()
		u, err := fx.us.Create(ctx, "dave", "correct horse", cli)
		if err != nil {
			t.Fatal(err)
		}
		g, err := fx.session(t, u)
		if err != nil {
			t.Fatal(err)
		}
		u2, ids, err := fx.us.SetPassword(ctx, u.ID, "battery staple", cli)
		if err != nil || len(ids) != 1 || ids[0] != g.Family.ID || u2.TokensValidAfter.IsZero() {
			t.Fatalf("set password: %+v %v %v", u2, ids, err)
		}
		if _, reason, _ := fx.us.Authenticate(ctx, "dave", "correct horse", "192.0.2.1"); reason != audit.ReasonWrongPassword {
			t.Fatal("the old password still works")
		}
		if _, _, err := fx.us.Disable(ctx, u.ID, audit.Meta{Actor: audit.Admin("k1")}); err != nil {
			t.Fatal(err)
		}
		if _, reason, _ := fx.us.Authenticate(ctx, "dave", "battery staple", "192.0.2.1"); reason != audit.ReasonUserDisabled {
			t.Fatalf("a disabled user: reason %q", reason)
		}
		if _, err := fx.us.Enable(ctx, u.ID, cli); err != nil {
			t.Fatal(err)
		}
		want := map[string]string{
			audit.UserCreated: audit.ActorCLI, audit.UserPasswordChanged: audit.ActorCLI,
			audit.UserDisabled: "admin:k1", audit.UserEnabled: audit.ActorCLI,
		}
		for typ, actor := range want {
			evs, err := st.ListEvents(ctx, store.EventFilter{Type: typ, Subject: u.ID})
			if err != nil || len(evs) != 1 || evs[0].Actor != actor {
				t.Fatalf("%s events %+v %v, want one by %s", typ, evs, err, actor)
			}
		}
		if _, _, err := fx.us.SetPassword(ctx, "nobody", "battery staple", cli); !errors.Is(err, users.ErrNotFound) {
			t.Fatalf("unknown user: %v", err)
		}
	})
}

// TestSignInRacingAPasswordChange: a sign-in that verified the old
// password just before a password change does not create a session
// (issue 9 item 6): the family is refused under the user's row lock
// because the password hash changed since the verification.
func TestSignInRacingAPasswordChange(t *testing.T) {
	testdb.Each(t, func(t *testing.T, st store.Store) {
		fx := newFixture(t, st)
		ctx := context.Background()
		if _, err := fx.us.Create(ctx, "erin", "old password", cli); err != nil {
			t.Fatal(err)
		}
		verified, reason, err := fx.us.Authenticate(ctx, "erin", "old password", "192.0.2.1")
		if err != nil || reason != "" {
			t.Fatal(reason, err)
		}
		if _, _, err := fx.us.SetPassword(ctx, verified.ID, "new password", cli); err != nil {
			t.Fatal(err)
		}
		if _, err := fx.session(t, verified); !errors.Is(err, family.ErrUserChanged) {
			t.Fatalf("a sign-in with the old password after the change: %v, want ErrUserChanged", err)
		}
		if fams, _ := st.ListFamilies(ctx, store.FamilyFilter{Subject: verified.ID}); len(fams) != 0 {
			t.Fatalf("families %+v, want none", fams)
		}
		// Signing in again with the new password works.
		now, _, _ := fx.us.Authenticate(ctx, "erin", "new password", "192.0.2.1")
		if _, err := fx.session(t, now); err != nil {
			t.Fatal(err)
		}
	})
}

// TestEnableKeepsAConcurrentPasswordChange: enabling a user rereads the
// row under its lock, so a password change made after the operator's
// command read the user is kept (issue 9 item 10: the CLI used to write
// back the whole row it had read).
func TestEnableKeepsAConcurrentPasswordChange(t *testing.T) {
	testdb.Each(t, func(t *testing.T, st store.Store) {
		fx := newFixture(t, st)
		ctx := context.Background()
		u, err := fx.us.Create(ctx, "frank", "old password", cli)
		if err != nil {
			t.Fatal(err)
		}
		if _, _, err := fx.us.Disable(ctx, u.ID, cli); err != nil {
			t.Fatal(err)
		}
		read, err := fx.us.Lookup(ctx, "frank") // the operator's command reads the user
		if err != nil {
			t.Fatal(err)
		}
		if _, _, err := fx.us.SetPassword(ctx, u.ID, "new password", cli); err != nil { // meanwhile
			t.Fatal(err)
		}
		if _, err := fx.us.Enable(ctx, read.ID, cli); err != nil {
			t.Fatal(err)
		}
		if _, reason, _ := fx.us.Authenticate(ctx, "frank", "new password", "192.0.2.1"); reason != "" {
			t.Fatalf("after enable the new password fails (%s): the change was undone", reason)
		}
	})
}

// TestFailedSignInsAreLimitedBeforeTheHash: past ten wrong passwords for a
// name, the next sign-in is refused before any password is checked, even
// with the right one (issue 9 item 11: 30 wrong passwords in a row used to
// be followed by a successful login); a device that signed in before
// still can; an address that fails too often is refused for every name;
// the account under attack is logged once.
func TestFailedSignInsAreLimitedBeforeTheHash(t *testing.T) {
	st := testdb.SQLite(t)
	keys, _ := secret.Derive(secret.NewMasterKey())
	fams := family.New(st, keys, family.DefaultConfig(), time.Now, nil)
	var logs strings.Builder
	frozen := time.Now() // no bucket refills while the test runs
	us := users.New(st, fams, secret.NewVerifier(0), func() time.Time { return frozen }, users.WithLog(slog.New(slog.NewTextHandler(&logs, nil))))
	ctx := context.Background()
	if _, err := us.Create(ctx, "alice", "correct horse", cli); err != nil {
		t.Fatal(err)
	}
	// Alice's laptop signed in before the attack.
	if _, reason, err := us.Authenticate(ctx, "alice", "correct horse", "198.51.100.7"); reason != "" || err != nil {
		t.Fatal(reason, err)
	}
	for i := range users.UsernameLimit.Burst {
		if _, reason, err := us.Authenticate(ctx, "alice", "guess", fmt.Sprintf("203.0.113.%d", i)); reason != audit.ReasonWrongPassword || err != nil {
			t.Fatalf("guess %d: %q %v", i, reason, err)
		}
	}
	var th *users.Throttled
	_, reason, err := us.Authenticate(ctx, "alice", "correct horse", "203.0.113.200")
	if reason != audit.ReasonThrottled || !errors.As(err, &th) || th.RetryAfter <= 0 {
		t.Fatalf("the right password past the limit, from a new address: %q %v, want throttled", reason, err)
	}
	if _, reason, err := us.Authenticate(ctx, "alice", "correct horse", "198.51.100.7"); reason != "" || err != nil {
		t.Fatalf("alice's known device: %q %v", reason, err)
	}
	if n := strings.Count(logs.String(), "username under attack"); n != 1 {
		t.Fatalf("%d warnings, want 1:\n%s", n, logs.String())
	}
	// One address spraying made-up names is refused for every name.
	for i := range users.AddressLimit.Burst {
		if _, reason, _ := us.Authenticate(ctx, fmt.Sprint("nobody", i), "guess", "192.0.2.66"); reason != audit.ReasonUnknownUser {
			t.Fatalf("spray %d: %q", i, reason)
		}
	}
	if _, _, err := us.Authenticate(ctx, "bob", "guess", "192.0.2.66"); !errors.As(err, &th) {
		t.Fatalf("a spraying address: %v, want throttled", err)
	}
	// The known device's address has a budget of its own, not none: a
	// guesser behind the same shared address is limited there too.
	for i := range users.KnownLimit.Burst {
		if _, reason, err := us.Authenticate(ctx, "alice", "guess", "198.51.100.7"); reason != audit.ReasonWrongPassword || err != nil {
			t.Fatalf("guess %d from the known address: %q %v", i, reason, err)
		}
	}
	if _, _, err := us.Authenticate(ctx, "alice", "correct horse", "198.51.100.7"); !errors.As(err, &th) {
		t.Fatalf("the known address past its own budget: %v, want throttled", err)
	}
	// One IPv6 host is one source: its whole /64.
	for i := range users.AddressLimit.Burst {
		us.Authenticate(ctx, fmt.Sprint("v6-", i), "guess", fmt.Sprintf("2001:db8:1:2::%x", i+1))
	}
	if _, _, err := us.Authenticate(ctx, "bob", "guess", "2001:db8:1:2:ffff::1"); !errors.As(err, &th) {
		t.Fatalf("another address of the same /64: %v, want throttled", err)
	}
}

// TestSource: a limit counts an IPv4 address, or the /64 of an IPv6 one.
func TestSource(t *testing.T) {
	for in, want := range map[string]string{
		"192.0.2.1": "192.0.2.1", "::ffff:192.0.2.1": "192.0.2.1",
		"2001:db8::1": "2001:db8::/64", "2001:db8::ffff:1": "2001:db8::/64", "2001:db8:0:1::1": "2001:db8:0:1::/64",
		"not an address": "not an address",
	} {
		if got := users.Source(in); got != want {
			t.Errorf("Source(%q) = %q, want %q", in, got, want)
		}
	}
}
