package server

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/rotor-auth/rotor/internal/oauth"
)

// FuzzUserInfoToken: reading the access token of a userinfo request
// never panics; what it returns is a non-empty token without separators,
// with the scheme Bearer or DPoP, and a refusal always has a status.
func FuzzUserInfoToken(f *testing.F) {
	f.Add("GET", "Bearer abc.def.ghi", "", "")
	f.Add("GET", "DPoP abc", "", "")
	f.Add("POST", "", "access_token=abc", "")
	f.Add("POST", "Bearer x", "access_token=abc", "")
	f.Add("GET", "Basic eDp5", "", "")
	f.Add("GET", "", "", "access_token=abc")
	f.Add("POST", "bearer  a b", "access_token=", "")
	f.Fuzz(func(t *testing.T, method, authz, body, query string) {
		if method != http.MethodGet {
			method = http.MethodPost
		}
		r := httptest.NewRequest(method, "/userinfo", strings.NewReader(body))
		r.URL.RawQuery = query
		if authz != "" {
			r.Header.Set("Authorization", authz)
		}
		if method == http.MethodPost {
			r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		}
		tok, scheme, uerr := userInfoToken(r, oauth.MaxFormBytes)
		if uerr != nil {
			if uerr.status == 0 || tok != "" {
				t.Fatalf("refusal %+v with token %q", uerr, tok)
			}
			return
		}
		if tok == "" || (scheme != schemeBearer && scheme != schemeDPoP) {
			t.Fatalf("token %q, scheme %q", tok, scheme)
		}
		if authz != "" && strings.ContainsAny(tok, " \t,\"") {
			t.Fatalf("token %q from a header holds a separator", tok)
		}
	})
}
