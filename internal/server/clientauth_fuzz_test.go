package server

import (
	"encoding/base64"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/rotor-auth/rotor/internal/oauth"
)

// FuzzParseCredentials: client authentication parsing never panics, never
// accepts two methods at once, and bounds what it returns.
func FuzzParseCredentials(f *testing.F) {
	f.Add("Basic "+base64.StdEncoding.EncodeToString([]byte("svc:secret")), "grant_type=client_credentials")
	f.Add("Basic "+base64.StdEncoding.EncodeToString([]byte("a%3Ab:c%25d")), "client_id=a%3Ab")
	f.Add("", "client_id=spa")
	f.Add("", "client_id=svc&client_secret=x")
	f.Add("Bearer abc", "")
	f.Add("Basic !!!", "client_secret=x")
	f.Fuzz(func(t *testing.T, authz, body string) {
		form, err := oauth.ParseFormBody(body)
		if err != nil {
			return
		}
		r := httptest.NewRequest("POST", "/oauth2/token", strings.NewReader(body))
		if authz != "" {
			r.Header.Set("Authorization", authz)
		}
		c, err := parseCredentials(r, form)
		if err != nil {
			return
		}
		if c.ClientID == "" || len(c.ClientID) > maxCredentialLen || len(c.Secret) > maxCredentialLen {
			t.Fatalf("bad credentials accepted: %+v", c)
		}
		if authz != "" && form.Has("client_secret") {
			t.Fatal("two authentication methods accepted")
		}
	})
}
