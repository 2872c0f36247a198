// Command api is an example API protected by Rotor's access tokens: GET
// /orders needs any valid token for the API, POST /orders needs the
// orders:write scope too. Tokens are verified offline against Rotor's
// published keys; revoked sessions are refused within ten seconds when
// DENYLIST_CLIENT_ID and DENYLIST_CLIENT_SECRET name a confidential
// client of Rotor.
//
//	ISSUER=http://127.0.0.1:8080 AUDIENCE=https://orders.example.com go run ./examples/api
package main

import (
	"context"
	"fmt"
	"log"
	"net/http"
	"os"

	"github.com/rotor-auth/rotor/resource"
)

func main() {
	cfg := config(os.Getenv)
	v, err := resource.New(context.Background(), cfg)
	if err != nil {
		log.Fatal(err)
	}
	addr := os.Getenv("ADDR")
	if addr == "" {
		addr = "127.0.0.1:9090"
	}
	log.Printf("orders API on http://%s, tokens from %s", addr, cfg.Issuer)
	err = http.ListenAndServe(addr, routes(v))
	v.Close()
	log.Fatal(err)
}

// config reads the verifier's settings from the environment. It names no
// algorithm: the verifier takes each key of Rotor's JWKS for the alg the
// key names, so the API keeps working whichever --key-algorithm Rotor
// signs with, and across a rotation from one to another.
func config(getenv func(string) string) resource.Config {
	cfg := resource.Config{Issuer: getenv("ISSUER"), Audience: getenv("AUDIENCE")}
	if id := getenv("DENYLIST_CLIENT_ID"); id != "" {
		cfg.DenyList = &resource.DenyList{ClientID: id, ClientSecret: getenv("DENYLIST_CLIENT_SECRET")}
	}
	return cfg
}

// routes is the API: each route says what it needs.
func routes(v *resource.Verifier) http.Handler {
	mux := http.NewServeMux()
	mux.Handle("GET /orders", v.Middleware(http.HandlerFunc(listOrders)))
	mux.Handle("POST /orders", v.Middleware(v.Require("orders:write")(http.HandlerFunc(createOrder))))
	return mux
}

func listOrders(w http.ResponseWriter, r *http.Request) {
	claims, _ := resource.ClaimsFrom(r.Context())
	fmt.Fprintf(w, "orders of %s (client %s)\n", claims.Subject, claims.ClientID)
}

func createOrder(w http.ResponseWriter, r *http.Request) {
	claims, _ := resource.ClaimsFrom(r.Context())
	w.WriteHeader(http.StatusCreated)
	fmt.Fprintf(w, "order created for %s\n", claims.Subject)
}
