package main

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rotor-auth/rotor/internal/config"
	"github.com/rotor-auth/rotor/internal/keys"
)

func TestKeysRotateAndList(t *testing.T) {
	h := newHarness(t)
	if out := h.ok("keys", "list"); !strings.Contains(out, "No signing keys yet") {
		t.Fatalf("keys list on a new database:\n%s", out)
	}
	out := h.ok("keys", "rotate", "--key-algorithm", "EdDSA")
	if !strings.Contains(out, "Created a new EdDSA signing key") || !strings.Contains(out, "KID") {
		t.Fatalf("keys rotate said:\n%s", out)
	}
	h.ok("keys", "rotate")
	views := decode[[]keys.KeyInfo](t, h.ok("keys", "list", "--json"))
	if len(views) < 2 {
		t.Fatalf("keys list --json after two rotations: %+v", views)
	}
	algs := map[string]bool{}
	for _, v := range views {
		algs[v.Algorithm] = true
		if v.ID == "" || v.State == "" {
			t.Fatalf("incomplete key %+v", v)
		}
	}
	if !algs["EdDSA"] || !algs["ES256"] {
		t.Fatalf("algorithms %v, want EdDSA and ES256", algs)
	}
}

func TestGC(t *testing.T) {
	h := newHarness(t)
	out := h.ok("gc")
	if !strings.Contains(out, "Deleted 0 expired families") {
		t.Fatalf("gc said %q", out)
	}
	if s := decode[map[string]int](t, h.ok("gc", "--json")); len(s) != 8 {
		t.Fatalf("gc --json = %v", s)
	}
}

// TestRetiredKeysOutliveAnyAccessToken: whatever lifetime the server or a
// client sets today, a superseded key stays published for the hard cap on
// access-token lifetimes, since a token it signed may have been issued
// under a longer setting than the one the CLI sees now.
func TestRetiredKeysOutliveAnyAccessToken(t *testing.T) {
	h := newHarness(t)
	clk := &testClock{t: time.Date(2026, 3, 1, 18, 0, 0, 0, time.UTC)}
	h.now = clk.Now
	h.env["ROTOR_ACCESS_TOKEN_TTL"] = "1m"
	h.ok("keys", "rotate", "--key-prepublish", "0s")
	h.ok("keys", "rotate", "--key-prepublish", "0s")
	clk.Set(clk.Now().Add(2 * time.Minute)) // the second key signs
	views := decode[[]keys.KeyInfo](t, h.ok("keys", "list", "--json"))
	var newest time.Time
	for _, v := range views {
		if v.ActiveAt.After(newest) {
			newest = v.ActiveAt
		}
	}
	retiring := 0
	for _, v := range views {
		if v.State == "retiring" {
			retiring++
			if got := v.RetiresAt.Sub(newest); got < config.MaxAccessTokenTTL {
				t.Fatalf("a superseded key retires %s after its successor, want at least %s", got, config.MaxAccessTokenTTL)
			}
		}
	}
	if retiring != 1 {
		t.Fatalf("keys %+v, want one retiring", views)
	}
}

// testClock is a clock the test moves by hand.
type testClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *testClock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *testClock) Set(t time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = t
}

// signsFrom reads the time from keys rotate's "it signs from T." line.
func signsFrom(t *testing.T, out string) time.Time {
	t.Helper()
	_, rest, ok := strings.Cut(out, "signs from ")
	if !ok {
		t.Fatalf("keys rotate does not say when the key signs:\n%s", out)
	}
	end := strings.IndexAny(rest, " .\n")
	at, err := time.Parse(time.RFC3339, strings.TrimSuffix(rest[:end], "."))
	if err != nil {
		t.Fatalf("keys rotate said %q: %v", out, err)
	}
	return at
}

// TestKeysRotateSaysWhenServeSwitches: the time keys rotate prints is the
// time a running server starts signing with the new key, whatever the
// prepublication delay given to the command: before it, the server still
// signs with the old key; from it, with the new one.
func TestKeysRotateSaysWhenServeSwitches(t *testing.T) {
	for _, prepublish := range []string{"0s", "30s", "10m"} {
		t.Run(prepublish, func(t *testing.T) {
			ctx := context.Background()
			clk := &testClock{t: time.Date(2026, 3, 1, 18, 0, 0, 0, time.UTC)}
			h := newHarness(t)
			h.now = clk.Now
			h.ok("migrate")

			// The server's key manager, built as serve builds it, with
			// its first key and its key set read at 18:00:00.
			cfg := config.Default()
			cfg.DB = h.env["ROTOR_DATABASE_URL"]
			served := (&app{now: clk.Now}).keyManager(cfg, h.store(), h.secrets())
			if err := served.EnsureCurrent(ctx); err != nil {
				t.Fatal(err)
			}
			_, oldKid, err := served.Sign(ctx, keys.TypeAccessToken, keys.Claims(map[string]any{"sub": "alice"}))
			if err != nil {
				t.Fatal(err)
			}

			clk.Set(clk.Now().Add(10 * time.Second))
			from := signsFrom(t, h.ok("keys", "rotate", "--key-prepublish", prepublish))
			views := decode[[]keys.KeyInfo](t, h.ok("keys", "list", "--json"))
			newKid := views[len(views)-1].ID

			for _, c := range []struct {
				at   time.Time
				want string
			}{
				{from.Add(-time.Second), oldKid},
				{from, newKid},
				{from.Add(time.Minute), newKid},
			} {
				clk.Set(c.at)
				_, kid, err := served.Sign(ctx, keys.TypeAccessToken, keys.Claims(map[string]any{"sub": "alice"}))
				if err != nil {
					t.Fatal(err)
				}
				if kid != c.want {
					t.Fatalf("keys rotate said the new key signs from %s; at %s the server signs with %s, want %s (old %s, new %s)",
						timeText(from), timeText(c.at), kid, c.want, oldKid, newKid)
				}
			}
		})
	}
}

// TestKeysRotateOnEmptyDatabase: the first key, made by keys rotate
// before any server ran, signs at once; a server starting on it does not
// wait for a pending key with nothing to sign with.
func TestKeysRotateOnEmptyDatabase(t *testing.T) {
	clk := &testClock{t: time.Date(2026, 3, 1, 18, 0, 0, 0, time.UTC)}
	h := newHarness(t)
	h.now = clk.Now
	out := h.ok("keys", "rotate")
	if from := signsFrom(t, out); !from.Equal(clk.Now()) {
		t.Fatalf("the first key signs from %s, want now (%s):\n%s", timeText(from), timeText(clk.Now()), out)
	}
	views := decode[[]keys.KeyInfo](t, h.ok("keys", "list", "--json"))
	if len(views) != 1 || views[0].State != "active" {
		t.Fatalf("keys after the first rotate: %+v, want one active", views)
	}
}
