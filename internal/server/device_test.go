package server_test

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/rotor-auth/rotor/internal/audit"
	"github.com/rotor-auth/rotor/internal/authz"
	"github.com/rotor-auth/rotor/internal/server"
	"github.com/rotor-auth/rotor/internal/store"
	"github.com/rotor-auth/rotor/internal/store/testdb"
)

const deviceGrant = "urn:ietf:params:oauth:grant-type:device_code"

func deviceClients(t *testing.T, r *rig) {
	r.addClient(t, store.Client{ID: "tv", GrantTypes: []string{deviceGrant, "refresh_token"}, Scopes: []string{"read"}}, "")
	r.addClient(t, store.Client{ID: "tv-once", GrantTypes: []string{deviceGrant}, Scopes: []string{"read"}}, "")
}

func startDevice(t *testing.T, r *rig, client string, extra ...string) response {
	t.Helper()
	f := url.Values{"client_id": {client}, "scope": {"read"}}
	for i := 0; i+1 < len(extra); i += 2 {
		f.Set(extra[i], extra[i+1])
	}
	return r.post(t, "/oauth2/device_authorization", f)
}

func poll(t *testing.T, r *rig, client, deviceCode string) response {
	t.Helper()
	return r.post(t, "/oauth2/token", url.Values{"grant_type": {deviceGrant}, "client_id": {client}, "device_code": {deviceCode}})
}

// approve answers for the user on the /device page, as the page does.
func approve(t *testing.T, r *rig, u *store.User, userCode string, allow bool) {
	t.Helper()
	_, sess, err := r.Sessions.Start(context.Background(), u, nil, "", audit.Meta{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := r.Authz.DecideDevice(context.Background(), userCode, sess, allow, audit.Meta{}); err != nil {
		t.Fatal(err)
	}
}

func TestDeviceAuthorizationAnswer(t *testing.T) {
	r := newRig(t, testdb.SQLite(t), nil)
	deviceClients(t, r)
	resp := startDevice(t, r, "tv")
	expectOK(t, resp)
	uc := resp.str("user_code")
	if len(uc) != 9 || uc[4] != '-' || strings.Trim(uc, authz.UserCodeAlphabet+"-") != "" {
		t.Fatalf("user_code %q: want XXXX-XXXX from %s", uc, authz.UserCodeAlphabet)
	}
	if !strings.HasPrefix(resp.str("device_code"), authz.PrefixDeviceCode) || resp.str("verification_uri") != r.URL+server.DevicePath ||
		resp.str("verification_uri_complete") != r.URL+server.DevicePath+"?user_code="+uc ||
		resp.Body["expires_in"] != float64(600) || resp.Body["interval"] != float64(5) {
		t.Fatalf("answer %s", resp.Raw)
	}
	if resp.Header.Get("Cache-Control") != "no-store" {
		t.Fatal("no Cache-Control: no-store")
	}
	r.addClient(t, store.Client{ID: "web-only", GrantTypes: []string{"authorization_code"}, RedirectURIs: []string{"https://a.example/cb"}}, "")
	expectError(t, startDevice(t, r, "web-only"), http.StatusBadRequest, "unauthorized_client")
	expectError(t, startDevice(t, r, "tv", "scope", "admin"), http.StatusBadRequest, "invalid_scope")
	expectError(t, startDevice(t, r, "nobody"), http.StatusUnauthorized, "invalid_client")
}

func TestDeviceFlow(t *testing.T) {
	testdb.Each(t, func(t *testing.T, st store.Store) {
		now := time.Now()
		clock := func() time.Time { return now }
		r := newRig(t, st, nil, func(o *server.Options) { o.Now = clock })
		deviceClients(t, r)
		u := r.addUser(t, "alice", "correct horse battery")

		t.Run("pending, then tokens once", func(t *testing.T) {
			start := startDevice(t, r, "tv")
			dc := start.str("device_code")
			expectError(t, poll(t, r, "tv", dc), http.StatusBadRequest, "authorization_pending")
			now = now.Add(5 * time.Second)
			expectError(t, poll(t, r, "tv", dc), http.StatusBadRequest, "authorization_pending")
			approve(t, r, u, strings.ToLower(start.str("user_code")), true) // typed in lower case
			now = now.Add(5 * time.Second)
			got := poll(t, r, "tv", dc)
			expectOK(t, got)
			if got.str("access_token") == "" || got.str("refresh_token") == "" {
				t.Fatalf("tokens %s", got.Raw)
			}
			now = now.Add(5 * time.Second)
			expectError(t, poll(t, r, "tv", dc), http.StatusBadRequest, "invalid_grant")
			// The refresh token works like any other.
			expectOK(t, r.post(t, "/oauth2/token", url.Values{"grant_type": {"refresh_token"}, "client_id": {"tv"}, "refresh_token": {got.str("refresh_token")}}))
		})

		t.Run("slow_down when polling too fast, and the interval grows", func(t *testing.T) {
			dc := startDevice(t, r, "tv").str("device_code")
			expectError(t, poll(t, r, "tv", dc), http.StatusBadRequest, "authorization_pending")
			now = now.Add(time.Second)
			expectError(t, poll(t, r, "tv", dc), http.StatusBadRequest, "slow_down")
			now = now.Add(6 * time.Second) // 5 s would do before; now 10 s are needed
			expectError(t, poll(t, r, "tv", dc), http.StatusBadRequest, "slow_down")
			now = now.Add(15 * time.Second)
			expectError(t, poll(t, r, "tv", dc), http.StatusBadRequest, "authorization_pending")
		})

		t.Run("denied", func(t *testing.T) {
			start := startDevice(t, r, "tv")
			approve(t, r, u, start.str("user_code"), false)
			now = now.Add(time.Minute)
			expectError(t, poll(t, r, "tv", start.str("device_code")), http.StatusBadRequest, "access_denied")
		})

		t.Run("expired", func(t *testing.T) {
			start := startDevice(t, r, "tv")
			now = now.Add(10*time.Minute + time.Second)
			expectError(t, poll(t, r, "tv", start.str("device_code")), http.StatusBadRequest, "expired_token")
			if _, err := r.Authz.PendingDevice(context.Background(), start.str("user_code")); err != authz.ErrUserCodeUnknown {
				t.Fatalf("an expired user code is still pending: %v", err)
			}
		})

		t.Run("another client cannot poll the code", func(t *testing.T) {
			start := startDevice(t, r, "tv")
			approve(t, r, u, start.str("user_code"), true)
			now = now.Add(time.Minute)
			expectError(t, poll(t, r, "tv-once", start.str("device_code")), http.StatusBadRequest, "invalid_grant")
		})

		t.Run("no refresh token for a client without the refresh grant", func(t *testing.T) {
			start := startDevice(t, r, "tv-once")
			approve(t, r, u, start.str("user_code"), true)
			now = now.Add(time.Minute)
			got := poll(t, r, "tv-once", start.str("device_code"))
			expectOK(t, got)
			if got.str("refresh_token") != "" {
				t.Fatalf("a refresh token for a client without the grant: %s", got.Raw)
			}
		})

		t.Run("an unknown device code", func(t *testing.T) {
			expectError(t, poll(t, r, "tv", "dc_nothing"), http.StatusBadRequest, "invalid_grant")
		})
	})
}

// TestDeviceAuthorizationIsLimitedPerAddress: a public client's device
// requests need no secret, so one address cannot fill the client's
// pending cap: past a burst it gets 429 with Retry-After.
func TestDeviceAuthorizationIsLimitedPerAddress(t *testing.T) {
	r := newRig(t, testdb.SQLite(t), nil)
	deviceClients(t, r)
	for i := range 5 {
		if resp := startDevice(t, r, "tv"); resp.Status != http.StatusOK {
			t.Fatalf("request %d: %d %s", i+1, resp.Status, resp.Raw)
		}
	}
	resp := startDevice(t, r, "tv")
	if resp.Status != http.StatusTooManyRequests || resp.Header.Get("Retry-After") == "" {
		t.Fatalf("6th request: %d %s, want 429 with Retry-After", resp.Status, resp.Raw)
	}
}
