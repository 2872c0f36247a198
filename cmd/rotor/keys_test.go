package main

import (
	"strings"
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
	if s := decode[map[string]int](t, h.ok("gc", "--json")); len(s) != 5 {
		t.Fatalf("gc --json = %v", s)
	}
}

// TestRetiredKeysOutliveAnyAccessToken: whatever lifetime the server or a
// client sets today, a superseded key stays published for the hard cap on
// access-token lifetimes, since a token it signed may have been issued
// under a longer setting than the one the CLI sees now.
func TestRetiredKeysOutliveAnyAccessToken(t *testing.T) {
	h := newHarness(t)
	h.env["ROTOR_ACCESS_TOKEN_TTL"] = "1m"
	h.ok("keys", "rotate", "--key-prepublish", "0s")
	h.ok("keys", "rotate", "--key-prepublish", "0s")
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
