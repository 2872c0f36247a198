package resource_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/sha256"
	"encoding/base64"
	"math/big"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/rotor-auth/rotor/resource"
)

// The numbers to compare: BenchmarkVerifyES256 (everything Verify does
// with the key set cached) against BenchmarkES256SignatureOnly (the bare
// ECDSA check of the same token's signature), and BenchmarkMiddleware
// against BenchmarkVerifyES256 for what the middleware adds per request.

func benchToken(b *testing.B) (*testIssuer, *resource.Verifier, string) {
	is := newTestIssuer(b)
	v := is.verifier(b, resource.Config{RequiredScopes: []string{"read"}})
	c := is.claims(time.Now())
	c["exp"] = time.Now().Add(time.Hour).Unix()
	return is, v, is.mint(c)
}

func BenchmarkVerifyES256(b *testing.B) {
	_, v, tok := benchToken(b)
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := v.Verify(ctx, tok); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkES256SignatureOnly is the floor: SHA-256 of the signing input
// and ECDSA P-256 verification of r||s, nothing else.
func BenchmarkES256SignatureOnly(b *testing.B) {
	is, _, tok := benchToken(b)
	pub := &is.key(is.kid).PublicKey
	dot := strings.LastIndexByte(tok, '.')
	input := []byte(tok[:dot])
	sig, err := base64.RawURLEncoding.DecodeString(tok[dot+1:])
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		h := sha256.Sum256(input)
		r, s := new(big.Int).SetBytes(sig[:32]), new(big.Int).SetBytes(sig[32:])
		if !ecdsa.Verify(pub, h[:], r, s) {
			b.Fatal("bad signature")
		}
	}
}

// nopWriter is a ResponseWriter that allocates nothing, so that the
// benchmark counts the middleware's allocations only.
type nopWriter struct{ h http.Header }

func (w nopWriter) Header() http.Header         { return w.h }
func (w nopWriter) Write(p []byte) (int, error) { return len(p), nil }
func (w nopWriter) WriteHeader(int)             {}

func BenchmarkMiddleware(b *testing.B) {
	_, v, tok := benchToken(b)
	h := v.Middleware(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if c, ok := resource.ClaimsFrom(r.Context()); !ok || c.Subject == "" {
			b.Fatal("no claims")
		}
	}))
	req := bearer(tok)
	w := nopWriter{h: http.Header{}}
	b.ReportAllocs()
	for b.Loop() {
		h.ServeHTTP(w, req)
	}
}
