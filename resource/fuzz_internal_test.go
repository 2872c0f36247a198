package resource

import (
	"encoding/json"
	"testing"
)

// Fuzz targets for the parsers that the outside cannot reach without a
// valid signature (claims) or without being the issuer (key set,
// deny-list), and for URL normalization.

// FuzzClaimsJSON: claims decoding never panics, and a decoded audience
// contains exactly what was decoded.
func FuzzClaimsJSON(f *testing.F) {
	f.Add([]byte(`{"iss":"https://i","sub":"s","aud":["a","b"],"exp":1e9,"iat":1.5,"nbf":0,"jti":"j","client_id":"c","scope":"a b","cnf":{"jkt":"x"}}`))
	f.Add([]byte(`{"aud":"a","exp":"1"}`))
	f.Add([]byte(`{"exp":1e400}`))
	f.Add([]byte(`{"exp":-1,"cnf":null}`))
	f.Add([]byte(`{"exp":null}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		var w wireClaims
		if err := json.Unmarshal(b, &w); err != nil {
			return
		}
		for _, a := range w.Audience {
			if !w.Audience.contains(a) {
				t.Fatalf("audience %q does not contain its own %q", w.Audience, a)
			}
		}
		_ = w.Expiry.time()
	})
}

// FuzzNormalizeHTU: normalization is idempotent and a URL matches itself.
func FuzzNormalizeHTU(f *testing.F) {
	for _, s := range []string{"https://api.example.com/a", "HTTPS://API.example.com:443/%61?q#f", "http://[::1]:80", "http://[fe80::1%25eth0]/x", "https://h/a%2Fb", "//x", "mailto:a@b", "https://u@h/", "http://:"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		n, ok := normalizeHTU(s)
		if !ok {
			return
		}
		n2, ok := normalizeHTU(n)
		if !ok || n2 != n {
			t.Fatalf("normalize(%q) = %q, normalize of that = %q, %v", s, n, n2, ok)
		}
		if !sameHTU(s, s) {
			t.Fatalf("%q does not match itself", s)
		}
	})
}

// FuzzParseJWKS: a key set never panics the parser, and every key it keeps
// fits an allowed algorithm.
func FuzzParseJWKS(f *testing.F) {
	f.Add([]byte(`{"keys":[{"kty":"EC","crv":"P-256","kid":"k","x":"f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU","y":"x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0","alg":"ES256","use":"sig"}]}`))
	f.Add([]byte(`{"keys":[{"kty":"oct","k":"c2VjcmV0","kid":"h","alg":"HS256"}]}`))
	f.Add([]byte(`{"keys":[{"kty":"EC","crv":"P-256","kid":"k","x":"f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU","y":"x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0","d":"jpsQnnGQmL-YBIffH1136cspYG6-0iY7X1fCE9-E9LI"}]}`))
	f.Add([]byte(`{"keys":[{"kty":"RSA","kid":"r","n":"AQAB","e":"AQAB"}]}`))
	f.Add([]byte(`{"keys":null}`))
	allowed := map[string]bool{"ES256": true, "EdDSA": true, "RS256": true}
	f.Fuzz(func(t *testing.T, b []byte) {
		keys, err := parseJWKS(b, allowed)
		if err != nil {
			return
		}
		for kid, k := range keys {
			ok := false
			for alg := range allowed {
				ok = ok || (k.fits(alg) && keyFits(k.key, alg))
			}
			if !ok || kid == "" {
				t.Fatalf("kept key %q that fits no allowed algorithm", kid)
			}
		}
	})
}

// FuzzDenyListPage: a deny-list page never panics the parser.
func FuzzDenyListPage(f *testing.F) {
	f.Add([]byte(`{"sid":{"a":1},"jti":{"b":2},"next":"jti:b"}`))
	f.Add([]byte(`{"sid":{"a":1e99}}`))
	f.Add([]byte(`{"sid":[]}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		_, _ = parseDenyListPage(b)
	})
}
