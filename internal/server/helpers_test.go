package server_test

import (
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/rotor-auth/rotor/internal/secret"
	"github.com/rotor-auth/rotor/internal/store"
	"github.com/rotor-auth/rotor/internal/testrig"
)

// rig is a real Rotor on loopback over a real store.
type rig struct{ *testrig.Rig }

type rigOption = testrig.Option

// newRig starts a server over st. Several rigs may share one store and
// master key, as replicas share one PostgreSQL.
func newRig(t testing.TB, st store.Store, secrets *secret.Keys, opts ...rigOption) *rig {
	t.Helper()
	return &rig{testrig.Start(t, st, secrets, opts...)}
}

var dur = testrig.Dur

// addClient registers a client; secret "" makes it public.
func (r *rig) addClient(t testing.TB, c store.Client, sec string) { r.AddClient(t, c, sec) }

func (r *rig) addUser(t testing.TB, username, password string) *store.User {
	return r.AddUser(t, username, password)
}

// response is a decoded token-endpoint answer.
type response struct {
	Status int
	Header http.Header
	Body   map[string]any
	Raw    string
}

func (r response) str(k string) string { s, _ := r.Body[k].(string); return s }

func (r *rig) post(t testing.TB, path string, form url.Values, auth ...string) response {
	t.Helper()
	return r.postRaw(t, path, "application/x-www-form-urlencoded", form.Encode(), auth...)
}

func (r *rig) postRaw(t testing.TB, path, contentType, body string, auth ...string) response {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, r.URL+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", contentType)
	if len(auth) == 2 {
		req.SetBasicAuth(url.QueryEscape(auth[0]), url.QueryEscape(auth[1]))
	}
	resp, err := r.HTTP.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	out := response{Status: resp.StatusCode, Header: resp.Header, Raw: string(raw)}
	if len(raw) > 0 && strings.HasPrefix(resp.Header.Get("Content-Type"), "application/json") {
		if err := json.Unmarshal(raw, &out.Body); err != nil {
			t.Fatalf("response is not JSON: %q", raw)
		}
	}
	return out
}

func expectError(t testing.TB, r response, status int, code string) {
	t.Helper()
	if r.Status != status || r.str("error") != code {
		t.Fatalf("got %d %s, want %d with error %q", r.Status, r.Raw, status, code)
	}
	if r.Header.Get("Cache-Control") != "no-store" {
		t.Fatalf("error response lacks Cache-Control: no-store")
	}
}

func expectOK(t testing.TB, r response) {
	t.Helper()
	if r.Status != http.StatusOK {
		t.Fatalf("got %d %s, want 200", r.Status, r.Raw)
	}
}
