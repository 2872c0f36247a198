package resource_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"log"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"time"

	jose "github.com/go-jose/go-jose/v4"

	"github.com/rotor-auth/rotor/resource"
)

// Example protects two routes of an API: reading needs any valid token
// for the API, writing needs the orders:write scope too.
func Example() {
	issuer, mint := exampleIssuer() // Rotor's URL in real life, such as https://auth.example.com

	v, err := resource.New(context.Background(), resource.Config{
		Issuer:   issuer,
		Audience: "https://orders.example.com",
	})
	if err != nil {
		log.Fatal(err)
	}
	defer v.Close()

	mux := http.NewServeMux()
	mux.Handle("GET /orders", v.Middleware(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		claims, _ := resource.ClaimsFrom(r.Context())
		fmt.Fprintf(w, "orders of %s", claims.Subject)
	})))
	mux.Handle("POST /orders", v.Middleware(v.Require("orders:write")(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusCreated)
	}))))

	call := func(method, token string) {
		req := httptest.NewRequest(method, "https://orders.example.com/orders", nil)
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		rec := httptest.NewRecorder()
		mux.ServeHTTP(rec, req)
		out := []string{strconv.Itoa(rec.Code)}
		if ch := rec.Header().Values("WWW-Authenticate"); len(ch) > 0 {
			out = append(out, strings.Join(ch, "; "))
		}
		if body := strings.TrimSpace(rec.Body.String()); body != "" {
			out = append(out, body)
		}
		fmt.Println(strings.Join(out, " | "))
	}
	call("GET", mint("orders:read", time.Hour))
	call("POST", mint("orders:read", time.Hour))
	call("POST", mint("orders:read orders:write", time.Hour))
	call("GET", "")
	// Output:
	// 200 | orders of alice
	// 403 | Bearer error="insufficient_scope", error_description="the token lacks a scope this request needs", scope="orders:write" | {"error":"insufficient_scope","error_description":"the token lacks a scope this request needs"}
	// 201
	// 401 | Bearer; DPoP algs="ES256 ES384 EdDSA RS256 PS256"
}

// ExampleVerifier_Verify checks a token outside HTTP (a message queue, a
// WebSocket handshake) and tells failures apart with errors.Is.
func ExampleVerifier_Verify() {
	issuer, mint := exampleIssuer()
	v, err := resource.New(context.Background(), resource.Config{Issuer: issuer, Audience: "https://orders.example.com"})
	if err != nil {
		log.Fatal(err)
	}
	defer v.Close()

	claims, err := v.Verify(context.Background(), mint("orders:read", time.Hour))
	fmt.Println(claims.Subject, claims.ClientID, claims.Scopes(), err)

	_, err = v.Verify(context.Background(), mint("orders:read", -time.Hour))
	var e *resource.Error
	fmt.Println(errors.Is(err, resource.ErrExpired), errors.As(err, &e) && e.Code == resource.CodeInvalidToken, e.Status)
	// Output:
	// alice orders-app [orders:read] <nil>
	// true true 401
}

// ExampleVerifier_WriteError answers a failed verification in a handler
// that does not use the middleware, with the status and challenge RFC
// 6750 asks for.
func ExampleVerifier_WriteError() {
	issuer, _ := exampleIssuer()
	v, err := resource.New(context.Background(), resource.Config{Issuer: issuer, Audience: "https://orders.example.com", Realm: "orders"})
	if err != nil {
		log.Fatal(err)
	}
	defer v.Close()

	rec := httptest.NewRecorder()
	if _, err := v.Verify(context.Background(), "not-a-token"); err != nil {
		v.WriteError(rec, err)
	}
	fmt.Println(rec.Code, rec.Header().Get("WWW-Authenticate"))
	// Output:
	// 401 Bearer realm="orders", error="invalid_token", error_description="the token is not a signed JWT"
}

// ExampleConfig_denyList refuses tokens of revoked sessions within ten
// seconds, without a call to Rotor per request: the verifier polls Rotor's
// deny-list in the background, as the confidential client orders-api.
func ExampleConfig_denyList() {
	v, err := resource.New(context.Background(), resource.Config{
		Issuer:   "https://auth.example.com",
		Audience: "https://orders.example.com",
		DenyList: &resource.DenyList{
			ClientID:     "orders-api",
			ClientSecret: "from your secret store",
			Interval:     10 * time.Second,
			// Past a minute without a successful poll, answer 503 rather
			// than accept tokens that might have been revoked.
			MaxStale: time.Minute,
		},
	})
	if err != nil {
		log.Fatal(err)
	}
	defer v.Close()
}

// ExampleConfig_dPoP accepts only DPoP-bound tokens, on an API that a
// proxy publishes as https://api.example.com/orders.
func ExampleConfig_requireDPoP() {
	v, err := resource.New(context.Background(), resource.Config{
		Issuer:      "https://auth.example.com",
		Audience:    "https://orders.example.com",
		RequireDPoP: true,
		// The URL clients put in their proofs' htu; the path of each
		// request is appended.
		BaseURL: "https://api.example.com/orders",
	})
	if err != nil {
		log.Fatal(err)
	}
	defer v.Close()
}

// exampleIssuer stands in for Rotor in the examples: it serves metadata
// and a key set on loopback, and mints access tokens for alice as the
// client orders-app, with scope, valid for ttl (negative: expired). The
// server lives as long as the example's process.
func exampleIssuer() (issuer string, mint func(scope string, ttl time.Duration) string) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		log.Fatal(err)
	}
	srv := httptest.NewServer(nil)
	issuer = srv.URL
	srv.Config.Handler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/.well-known/oauth-authorization-server":
			_ = json.NewEncoder(w).Encode(map[string]string{"issuer": issuer, "jwks_uri": issuer + "/jwks"})
		case "/jwks":
			_ = json.NewEncoder(w).Encode(jose.JSONWebKeySet{Keys: []jose.JSONWebKey{{Key: &key.PublicKey, KeyID: "k1", Algorithm: "ES256", Use: "sig"}}})
		default:
			http.NotFound(w, r)
		}
	})
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.ES256, Key: key},
		(&jose.SignerOptions{}).WithType("at+jwt").WithHeader("kid", "k1"))
	if err != nil {
		log.Fatal(err)
	}
	return issuer, func(scope string, ttl time.Duration) string {
		now := time.Now()
		iat := now.Add(-time.Minute)
		if ttl < 0 {
			iat = now.Add(ttl - time.Minute)
		}
		claims, _ := json.Marshal(map[string]any{
			"iss": issuer, "sub": "alice", "aud": []string{"https://orders.example.com"},
			"exp": now.Add(ttl).Unix(), "iat": iat.Unix(), "jti": randomID(), "client_id": "orders-app", "scope": scope,
		})
		jws, err := signer.Sign(claims)
		if err != nil {
			log.Fatal(err)
		}
		tok, _ := jws.CompactSerialize()
		return tok
	}
}
