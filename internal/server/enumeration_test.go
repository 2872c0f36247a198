package server_test

import (
	"fmt"
	"net/url"
	"slices"
	"testing"
	"time"

	"github.com/rotor-auth/rotor/internal/secret"
	"github.com/rotor-auth/rotor/internal/store"
	"github.com/rotor-auth/rotor/internal/store/testdb"
)

// TestClientIDsCannotBeEnumerated: an unknown client id, a wrong secret
// (operator-chosen, so checked with argon2id, or generated), and a secret
// sent for a public client get the same answer, in the same time within
// noise (issue 9 item 13: an unknown id answered in 1.3 ms where a wrong
// chosen secret took 46 ms, and the texts differed).
func TestClientIDsCannotBeEnumerated(t *testing.T) {
	r := newRig(t, testdb.SQLite(t), nil)
	standard(t, r, 0)
	chosen := &store.Client{ID: "chosen", SecretPHC: secret.HashPassword("the operator's secret"), GrantTypes: []string{"client_credentials"},
		CreatedAt: time.Now(), UpdatedAt: time.Now()}
	if err := r.Store.CreateClient(t.Context(), chosen); err != nil {
		t.Fatal(err)
	}
	cases := []struct{ name, id, secret string }{
		{"unknown id", "nobody", "x"},
		{"wrong chosen secret", "chosen", "x"},
		{"wrong generated secret", "svc", "x"},
		{"public client with a secret", "spa", "x"},
	}
	// Warm the verifier's idea of an argon2id verification.
	for range 3 {
		r.post(t, "/oauth2/token", url.Values{"grant_type": {"client_credentials"}}, "chosen", "warm")
	}
	// The cases take turns, so that a change of the machine's load (other
	// packages' tests, Chromium among them, run beside this one) weighs
	// on all of them alike; a burst of load can still land on one case,
	// so the measurement is taken up to three times. An answer that tells
	// the cases apart fails every time.
	var body string
	measure := func() map[string]time.Duration {
		took := map[string][]time.Duration{}
		for i := range 9 {
			for _, c := range cases {
				start := time.Now()
				resp := r.post(t, "/oauth2/token", url.Values{"grant_type": {"client_credentials"}}, c.id, fmt.Sprint(c.secret, i))
				took[c.name] = append(took[c.name], time.Since(start))
				expectError(t, resp, 401, "invalid_client")
				if body == "" {
					body = resp.Raw
				} else if resp.Raw != body {
					t.Errorf("%s answers %s, another case %s", c.name, resp.Raw, body)
				}
			}
		}
		medians := map[string]time.Duration{}
		for name, d := range took {
			slices.Sort(d)
			medians[name] = d[len(d)/2]
		}
		return medians
	}
	var tries []map[string]time.Duration
	for range 3 {
		medians := measure()
		tries = append(tries, medians)
		lo, hi := time.Hour, time.Duration(0)
		for _, d := range medians {
			lo, hi = min(lo, d), max(hi, d)
		}
		t.Logf("median answer times: %v", medians)
		if float64(hi) <= 1.5*float64(lo) {
			return
		}
	}
	t.Fatalf("answer times tell the cases apart, three times: %v", tries)
}
