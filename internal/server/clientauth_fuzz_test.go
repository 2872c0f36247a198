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
	f.Add("", "client_assertion_type="+AssertionType+"&client_assertion=eyJhbGciOiJFUzI1NiJ9.eyJpc3MiOiJhIiwic3ViIjoiYSJ9.c2ln")
	f.Add("", "client_assertion_type=x&client_assertion=a.b.c&client_id=a")
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
		methods := 0
		for _, m := range []bool{authz != "", form.Has("client_secret"), form.Has("client_assertion") || form.Has("client_assertion_type")} {
			if m {
				methods++
			}
		}
		if methods > 1 {
			t.Fatal("two authentication methods accepted")
		}
		if c.Method == oauth.AuthPrivateKeyJWT && (c.Assertion == "" || len(c.Assertion) > maxAssertionLen) {
			t.Fatalf("bad assertion accepted: %d bytes", len(c.Assertion))
		}
	})
}
