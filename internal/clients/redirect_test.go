package clients_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/rotor-auth/rotor/internal/clients"
	"github.com/rotor-auth/rotor/internal/store"
)

// TestRedirectAllowed: exact string match, except that a loopback IP
// redirect URI matches with any port (RFC 8252 §7.3), and only that.
func TestRedirectAllowed(t *testing.T) {
	c := &store.Client{RedirectURIs: []string{
		"https://app.example.com/cb",
		"http://127.0.0.1/native?x=1",
		"http://[::1]:8080/cb",
		"http://localhost:3000/cb",
		"com.example.app:/cb",
	}}
	for uri, want := range map[string]bool{
		"https://app.example.com/cb":               true,
		"https://app.example.com/cb/":              false,
		"https://app.example.com/cb?x=1":           false,
		"https://APP.example.com/cb":               false,
		"https://app.example.com:443/cb":           false, // no normalisation: strings
		"https://app.example.com/cb#frag":          false,
		"https://app.example.com:8443/cb":          false, // no leeway off loopback
		"http://app.example.com/cb":                false,
		"http://127.0.0.1/native?x=1":              true,
		"http://127.0.0.1:53123/native?x=1":        true,
		"http://127.0.0.1:1/native?x=1":            true,
		"http://127.0.0.1:65535/native?x=1":        true,
		"http://127.0.0.1:65536/native?x=1":        false,
		"http://127.0.0.1:0/native?x=1":            false,
		"http://127.0.0.1:/native?x=1":             false,
		"http://127.0.0.1:53123/native?x=2":        false,
		"http://127.0.0.1:53123/native":            false,
		"http://127.0.0.1:53123/other?x=1":         false,
		"http://127.0.0.1:53123/native?x=1#f":      false,
		"http://127.0.0.2:53123/native?x=1":        false,
		"http://127.0.0.1.evil.example/native?x=1": false,
		"http://127.0.0.1@evil.example/native?x=1": false,
		"https://127.0.0.1:53123/native?x=1":       false,
		"http://[::1]:8080/cb":                     true,
		"http://[::1]:9999/cb":                     true,
		"http://[::1]/cb":                          true,
		"http://[::1]:9999/cb2":                    false,
		"http://localhost:3000/cb":                 true,
		"http://localhost:3001/cb":                 false, // RFC 8252 §8.3: no leeway for names
		"com.example.app:/cb":                      true,
		"com.example.app:/cb2":                     false,
		"":                                         false,
	} {
		if got := clients.RedirectAllowed(c, uri); got != want {
			t.Errorf("RedirectAllowed(%q) = %t, want %t", uri, got, want)
		}
	}
	long := "https://app.example.com/" + strings.Repeat("a", clients.MaxURILen)
	if clients.RedirectAllowed(&store.Client{RedirectURIs: []string{long}}, long) {
		t.Error("a URI longer than MaxURILen matched")
	}
	if clients.RedirectAllowed(nil, "https://app.example.com/cb") {
		t.Error("a nil client allowed a redirect")
	}
}

// TestPostLogoutAllowed: exact match, no loopback port leeway.
func TestPostLogoutAllowed(t *testing.T) {
	c := &store.Client{RedirectURIs: []string{"https://app.example.com/cb"},
		PostLogoutRedirectURIs: []string{"https://app.example.com/bye", "http://127.0.0.1:8081/"}}
	for uri, want := range map[string]bool{
		"https://app.example.com/bye":  true,
		"https://app.example.com/bye/": false,
		"https://app.example.com/cb":   false, // a redirect URI is not a post-logout one
		"http://127.0.0.1:8081/":       true,
		"http://127.0.0.1:8082/":       false,
		"":                             false,
	} {
		if got := clients.PostLogoutAllowed(c, uri); got != want {
			t.Errorf("PostLogoutAllowed(%q) = %t, want %t", uri, got, want)
		}
	}
}

func TestCheckRedirectURI(t *testing.T) {
	for uri, want := range map[string]string{
		"https://app.example.com/cb":                          "",
		"https://app.example.com/cb?x=1":                      "",
		"http://127.0.0.1:8081/callback":                      "",
		"http://[::1]/cb":                                     "",
		"http://localhost:3000/cb":                            "",
		"com.example.app:/oauth2redirect":                     "",
		"/relative":                                           "absolute URI",
		"https://app.example.com/cb#x":                        "fragment",
		"https://app.example.com/cb#":                         "fragment",
		"http://app.example.com/cb":                           "not loopback",
		"http://127.0.0.1.nip.io/cb":                          "not loopback",
		"https:///cb":                                         "host",
		"https://user:pw@app.example.com/":                    "user name",
		"javascript:alert(1)":                                 "private-use scheme",
		"data:text/html,hi":                                   "private-use scheme",
		"file:///etc/passwd":                                  "private-use scheme",
		"HTTPS://app.example.com/cb":                          "lower case",
		"https://a/" + strings.Repeat("a", clients.MaxURILen): "longer than",
	} {
		err := clients.CheckRedirectURI(uri)
		switch {
		case want == "" && err != nil:
			t.Errorf("CheckRedirectURI(%q) = %v, want nil", uri, err)
		case want != "" && (err == nil || !strings.Contains(err.Error(), want)):
			t.Errorf("CheckRedirectURI(%q) = %v, want an error saying %q", uri, err, want)
		}
	}
}

func TestParseOrigin(t *testing.T) {
	for in, want := range map[string]string{
		"https://app.example.com":       "https://app.example.com",
		"HTTPS://App.Example.com":       "https://app.example.com",
		"https://app.example.com:443":   "https://app.example.com",
		"https://app.example.com:8443":  "https://app.example.com:8443",
		"http://127.0.0.1:8082":         "http://127.0.0.1:8082",
		"http://127.0.0.1:80":           "http://127.0.0.1",
		"http://[::1]:8082":             "http://[::1]:8082",
		"http://localhost:5173":         "http://localhost:5173",
		"https://[2001:db8::1]":         "https://[2001:db8::1]",
		"https://app.example.com/":      "",
		"https://app.example.com/x":     "",
		"https://app.example.com?x":     "",
		"https://app.example.com#x":     "",
		"https://u@app.example.com":     "",
		"https://app.example.com:":      "",
		"https://app.example.com:0":     "",
		"https://app.example.com:99999": "",
		"http://app.example.com":        "",
		"ftp://app.example.com":         "",
		"app.example.com":               "",
		"null":                          "",
		"*":                             "",
		"https://*.example.com":         "",
		"https://ex\u00e4mple.com":      "",
		"":                              "",
	} {
		got, err := clients.ParseOrigin(in)
		if want == "" {
			if err == nil {
				t.Errorf("ParseOrigin(%q) = %q, want an error", in, got)
			}
			continue
		}
		if err != nil || got != want {
			t.Errorf("ParseOrigin(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
}

// TestValidateSignInSettings: the rules of the settings the code flow
// adds, every problem reported at once, the lists normalised.
func TestValidateSignInSettings(t *testing.T) {
	cs := clients.New(nil, nil, nil, clients.Options{GrantTypes: []string{"authorization_code", "refresh_token"}}, nil)
	bad := &store.Client{ID: "spa", Public: true, GrantTypes: []string{"authorization_code"},
		PostLogoutRedirectURIs: []string{"http://example.com/bye"},
		AllowedOrigins:         []string{"https://app.example.com/path"},
		Name:                   "Evil\u202eppa", SkipConsent: true}
	err := cs.Validate(bad)
	var ve *clients.ValidationError
	if !errors.As(err, &ve) {
		t.Fatalf("got %v, want a ValidationError", err)
	}
	for _, want := range []string{"needs at least one redirect URI", `post_logout_redirect_uris: "http://example.com/bye" uses http`,
		"allowed_origins", "not printable", "may skip consent only"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("problems do not say %q: %v", want, ve.Problems)
		}
	}
	if long := (&store.Client{ID: "x", Public: true, GrantTypes: []string{"refresh_token"}, Name: strings.Repeat("é", clients.MaxNameLen+1)}); cs.Validate(long) == nil {
		t.Error("a name of 101 characters passed")
	}

	ok := &store.Client{ID: "spa", Public: true, GrantTypes: []string{"authorization_code", "refresh_token"},
		RedirectURIs:           []string{" http://127.0.0.1:8082/callback", "http://127.0.0.1:8082/callback"},
		PostLogoutRedirectURIs: []string{"http://127.0.0.1:8082/"},
		AllowedOrigins:         []string{"HTTP://127.0.0.1:8082", "http://127.0.0.1:8082"},
		Name:                   " Demo SPA "}
	if err := cs.Validate(ok); err != nil {
		t.Fatal(err)
	}
	if len(ok.RedirectURIs) != 1 || ok.RedirectURIs[0] != "http://127.0.0.1:8082/callback" ||
		len(ok.AllowedOrigins) != 1 || ok.AllowedOrigins[0] != "http://127.0.0.1:8082" || ok.Name != "Demo SPA" {
		t.Fatalf("normalised to %+v", ok)
	}

	// Skipping consent: a confidential client may; a public one only
	// with https redirect URIs, which no other app can receive.
	for _, c := range []*store.Client{
		{ID: "web", SecretPHC: "x", GrantTypes: []string{"authorization_code"}, RedirectURIs: []string{"http://127.0.0.1:8081/callback"}, SkipConsent: true},
		{ID: "spa", Public: true, GrantTypes: []string{"authorization_code"}, RedirectURIs: []string{"https://app.example.com/cb"}, SkipConsent: true},
	} {
		if err := cs.Validate(c); err != nil {
			t.Errorf("%s: %v", c.ID, err)
		}
	}
	native := &store.Client{ID: "app", Public: true, GrantTypes: []string{"authorization_code"},
		RedirectURIs: []string{"https://app.example.com/cb", "com.example.app:/cb"}, SkipConsent: true}
	if err := cs.Validate(native); err == nil {
		t.Error("a public client with a private-use scheme redirect may skip consent")
	}

	// The verifier binding needs the code flow and refresh, and goes with
	// no grant that has no verifier.
	for _, tc := range []struct {
		grants []string
		ok     bool
	}{
		{[]string{"authorization_code", "refresh_token"}, true},
		{[]string{"authorization_code"}, false},
		{[]string{"authorization_code", "refresh_token", "urn:ietf:params:oauth:grant-type:device_code"}, false},
		{[]string{"authorization_code", "refresh_token", "password"}, false},
	} {
		c := &store.Client{ID: "bound", SecretPHC: "x", GrantTypes: tc.grants, RedirectURIs: []string{"https://app.example.com/cb"}, RefreshRequiresVerifier: true}
		if err := cs.Validate(c); (err == nil) != tc.ok {
			t.Errorf("refresh_requires_verifier with %v: %v, want ok=%v", tc.grants, err, tc.ok)
		}
	}

	// An empty list of origins stays empty (none), unlike nil (the
	// default: the origins of the redirect URIs).
	none := &store.Client{ID: "spa", Public: true, GrantTypes: []string{"refresh_token"}, AllowedOrigins: []string{}}
	if err := cs.Validate(none); err != nil || none.AllowedOrigins == nil {
		t.Fatalf("empty origins: %v, %#v", err, none.AllowedOrigins)
	}
}
