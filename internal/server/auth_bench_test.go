package server_test

import (
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/rotor-auth/rotor/internal/secret"
	"github.com/rotor-auth/rotor/internal/store"
	"github.com/rotor-auth/rotor/internal/store/testdb"
)

// BenchmarkClientCredentials measures a whole token request in process
// (form parsing, client authentication, signing) for each way a secret is
// stored: a generated one (keyed hash), and an operator-chosen one
// (argon2id) with its verification cached, as on the hot path.
func BenchmarkClientCredentials(b *testing.B) {
	r := newRig(b, testdb.SQLite(b), nil)
	r.addClient(b, store.Client{ID: "generated", GrantTypes: []string{"client_credentials"}}, "gen-secret")
	chosen := store.Client{ID: "chosen", GrantTypes: []string{"client_credentials"}, SecretPHC: secret.HashPassword("chosen-secret")}
	r.addClient(b, chosen, "")
	// addClient made it public for lack of a keyed-hash secret; make it
	// confidential with its argon2id hash.
	chosen.Public = false
	if err := r.Store.UpdateClient(b.Context(), &chosen); err != nil {
		b.Fatal(err)
	}
	body := url.Values{"grant_type": {"client_credentials"}}.Encode()
	for _, c := range []struct{ id, secret string }{{"generated", "gen-secret"}, {"chosen", "chosen-secret"}} {
		b.Run(c.id, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				req := httptest.NewRequest(http.MethodPost, "/oauth2/token", strings.NewReader(body))
				req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
				req.SetBasicAuth(c.id, c.secret)
				w := httptest.NewRecorder()
				r.Server.ServeHTTP(w, req)
				if w.Code != http.StatusOK {
					b.Fatalf("%d %s", w.Code, w.Body)
				}
			}
		})
	}
}
