package resource_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"math/big"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/rotor-auth/rotor/resource"
)

// FuzzVerify feeds arbitrary tokens to Verify. Whatever the input, it must
// not panic, and it may pass only if its signature really verifies with
// the issuer's key over its own signing input: no parsing trick may make
// an unsigned or re-signed token pass.
func FuzzVerify(f *testing.F) {
	is := newTestIssuer(f)
	v := is.verifier(f, resource.Config{})
	now := time.Now()
	good := is.mint(is.claims(now))
	f.Add(good)
	f.Add(good + "x")
	f.Add(strings.Replace(good, ".", "..", 1))
	f.Add(signHS256([]byte("k"), map[string]any{"alg": "HS256", "typ": "at+jwt", "kid": is.kid}, is.claims(now)))
	f.Add(b64json(map[string]any{"alg": "none", "typ": "at+jwt"}) + "." + b64json(is.claims(now)) + ".")
	f.Add("")
	f.Add("...")
	f.Add(`{"protected":"e30","payload":"e30","signature":""}`)
	pub := &is.key(is.kid).PublicKey
	f.Fuzz(func(t *testing.T, tok string) {
		c, err := v.Verify(context.Background(), tok)
		if err != nil {
			return
		}
		if !signedBy(pub, tok) {
			t.Fatalf("accepted a token that the issuer's key did not sign: %q", tok)
		}
		if c.Issuer != is.URL || c.ClientID == "" {
			t.Fatalf("accepted claims %+v", c)
		}
	})
}

// signedBy checks a compact ES256 JWS independently of the package.
func signedBy(pub *ecdsa.PublicKey, tok string) bool {
	dot := strings.LastIndexByte(tok, '.')
	if dot < 0 {
		return false
	}
	sig, err := base64.RawURLEncoding.DecodeString(tok[dot+1:])
	if err != nil || len(sig) != 64 {
		return false
	}
	h := sha256.Sum256([]byte(tok[:dot]))
	return ecdsa.Verify(pub, h[:], new(big.Int).SetBytes(sig[:32]), new(big.Int).SetBytes(sig[32:]))
}

// FuzzDPoPRequest feeds arbitrary Authorization and DPoP headers, method
// and path to the middleware with a valid DPoP-bound token at hand. It
// must not panic, must answer 200 or one of the RFC 6750 / RFC 9449
// statuses, and may let a request through only if its proof carries a
// jti never accepted before: a proof works once.
func FuzzDPoPRequest(f *testing.F) {
	is := newTestIssuer(f)
	clk := newClock()
	v := is.verifier(f, resource.Config{BaseURL: "https://api.example.test", Clock: clk.Now})
	key := is.key(is.kid) // any P-256 key will do as the client's
	c := is.claims(clk.Now())
	c["cnf"] = map[string]any{"jkt": thumbprint(f, key)}
	c["exp"] = clk.Now().Add(24 * time.Hour).Unix()
	tok := is.mint(c)
	p := proof(f, key, "GET", apiURL, tok, clk.Now(), nil)
	f.Add("DPoP "+tok, p, "GET", "/things")
	f.Add("Bearer "+tok, p, "GET", "/things")
	f.Add("DPoP "+tok, tok, "POST", "/things")
	f.Add("DPoP  "+tok+" ", p+"x", "GET", "/things/")
	f.Add("dpop "+tok, "", "GET", "/")
	seen := map[string]bool{}
	h := v.Middleware(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusOK)
	}))
	f.Fuzz(func(t *testing.T, authz, dpop, method, path string) {
		req, err := http.NewRequest(method, "https://api.example.test"+path, nil)
		if err != nil || !strings.HasPrefix(path, "/") {
			return
		}
		req.RequestURI = path
		req.Header.Set("Authorization", authz)
		req.Header.Set("DPoP", dpop)
		w := &statusWriter{h: http.Header{}}
		h.ServeHTTP(w, req)
		switch w.status {
		case http.StatusOK:
			jti := proofJTI(dpop)
			if jti == "" || seen[jti] {
				t.Fatalf("a proof passed twice or without a jti: %q", dpop)
			}
			seen[jti] = true
		case http.StatusBadRequest, http.StatusUnauthorized, http.StatusForbidden:
			if len(w.h.Values("WWW-Authenticate")) == 0 {
				t.Fatalf("%d without a challenge", w.status)
			}
		default:
			t.Fatalf("status %d", w.status)
		}
	})
}

type statusWriter struct {
	h      http.Header
	status int
}

func (w *statusWriter) Header() http.Header         { return w.h }
func (w *statusWriter) Write(p []byte) (int, error) { return len(p), nil }
func (w *statusWriter) WriteHeader(s int)           { w.status = s }

// proofJTI extracts a proof's jti without verifying anything.
func proofJTI(p string) string {
	parts := strings.Split(p, ".")
	if len(parts) != 3 {
		return ""
	}
	raw, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		return ""
	}
	var c struct {
		JTI string `json:"jti"`
	}
	if json.Unmarshal(raw, &c) != nil {
		return ""
	}
	return c.JTI
}
