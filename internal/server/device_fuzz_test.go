package server_test

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/rotor-auth/rotor/internal/audit"
	"github.com/rotor-auth/rotor/internal/oauth"
	"github.com/rotor-auth/rotor/internal/store"
	"github.com/rotor-auth/rotor/internal/store/testdb"
)

// FuzzDeviceTokenRequest: whatever a device sends with the device_code
// grant (any form body), the token endpoint answers with a JSON error of
// RFC 8628 §3.5 or RFC 6749 §5.2, never a 5xx, and never tokens for a
// code that is not the approved one.
func FuzzDeviceTokenRequest(f *testing.F) {
	r := newRig(f, testdb.SQLite(f), nil)
	r.addClient(f, store.Client{ID: "tv", GrantTypes: []string{deviceGrant, "refresh_token"}, Scopes: []string{"read"}}, "")
	u := r.addUser(f, "alice", "correct horse battery")
	start := r.post(f, "/oauth2/device_authorization", url.Values{"client_id": {"tv"}, "scope": {"read"}})
	real := start.str("device_code")
	_, sess, err := r.Sessions.Start(context.Background(), u, nil, "", audit.Meta{})
	if err != nil {
		f.Fatal(err)
	}
	if _, err := r.Authz.DecideDevice(context.Background(), start.str("user_code"), sess, true, audit.Meta{}); err != nil {
		f.Fatal(err)
	}
	for _, s := range []string{
		"grant_type=" + url.QueryEscape(deviceGrant) + "&client_id=tv&device_code=dc_x",
		"grant_type=" + url.QueryEscape(deviceGrant) + "&client_id=tv&device_code=" + strings.Repeat("A", 200),
		"grant_type=" + url.QueryEscape(deviceGrant) + "&client_id=tv&device_code=dc_%00%ff",
		"grant_type=" + url.QueryEscape(deviceGrant) + "&client_id=tv&device_code=&device_code=x",
		"grant_type=" + url.QueryEscape(deviceGrant) + "&client_id=tv",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, body string) {
		form, err := oauth.ParseFormBody(body)
		resp := r.postRaw(t, "/oauth2/token", "application/x-www-form-urlencoded", body)
		if resp.Status >= 500 {
			t.Fatalf("%d for %q: %s", resp.Status, body, resp.Raw)
		}
		if resp.Status == http.StatusOK && (err != nil || form.Get("device_code") != real) {
			t.Fatalf("tokens for %q", body)
		}
		if resp.Status != http.StatusOK && resp.str("error") == "" {
			t.Fatalf("%d without an error code for %q: %s", resp.Status, body, resp.Raw)
		}
	})
}
