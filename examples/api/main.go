// Command api is an example API protected by Rotor's access tokens: GET
// /orders needs any valid token for the API, POST /orders needs the
// orders:write scope too. Tokens are verified offline against Rotor's
// published keys; revoked sessions are refused within ten seconds when
// DENYLIST_CLIENT_ID and DENYLIST_CLIENT_SECRET name a confidential
// client of Rotor.
//
// Browser apps on other origins (examples/spa) may call it when
// ALLOWED_ORIGINS lists their origins, comma-separated, exactly as the
// browser sends them (scheme://host:port).
//
//	ISSUER=http://127.0.0.1:8080 AUDIENCE=https://orders.example.com go run ./examples/api
//	ALLOWED_ORIGINS=http://127.0.0.1:8082 ISSUER=... AUDIENCE=... go run ./examples/api
package main

import (
	"context"
	"fmt"
	"log"
	"net"
	"net/http"
	"os"
	"slices"
	"strings"
	"time"

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
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		log.Fatal(err)
	}
	// The address listened on, not the one asked for: ADDR may name port 0.
	log.Printf("orders API on http://%s, tokens from %s", ln.Addr(), cfg.Issuer)
	srv := &http.Server{Handler: cors(origins(os.Getenv("ALLOWED_ORIGINS")), routes(v)), ReadHeaderTimeout: 5 * time.Second}
	err = srv.Serve(ln)
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

// origins parses ALLOWED_ORIGINS: comma-separated, blanks ignored.
func origins(list string) []string {
	var out []string
	for o := range strings.SplitSeq(list, ",") {
		if o = strings.TrimSpace(o); o != "" {
			out = append(out, o)
		}
	}
	return out
}

// cors lets the browser origins in allowed call next (Fetch standard,
// "CORS protocol"). Origins match exactly, as the browser sends them: no
// wildcard, no pattern, and "null" only if listed. Credentials (cookies)
// are never allowed: the API takes tokens in the Authorization header
// only. A preflight is answered here, for the headers a DPoP client sends
// (Authorization, DPoP); the answer's WWW-Authenticate and DPoP-Nonce are
// exposed, so that a browser app can read why a token was refused and the
// nonce to retry with (RFC 9449 §9).
func cors(allowed []string, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		origin := r.Header.Get("Origin")
		// The answer depends on Origin: caches must not give one origin's
		// answer to another.
		w.Header().Add("Vary", "Origin")
		ok := origin != "" && slices.Contains(allowed, origin)
		if r.Method == http.MethodOptions && r.Header.Get("Access-Control-Request-Method") != "" {
			w.Header().Add("Vary", "Access-Control-Request-Method")
			w.Header().Add("Vary", "Access-Control-Request-Headers")
			if !ok {
				http.Error(w, "origin not allowed", http.StatusForbidden)
				return
			}
			h := w.Header()
			h.Set("Access-Control-Allow-Origin", origin)
			h.Set("Access-Control-Allow-Methods", "GET, POST")
			h.Set("Access-Control-Allow-Headers", "Authorization, DPoP")
			h.Set("Access-Control-Max-Age", "600")
			w.WriteHeader(http.StatusNoContent)
			return
		}
		if ok {
			w.Header().Set("Access-Control-Allow-Origin", origin)
			w.Header().Set("Access-Control-Expose-Headers", "WWW-Authenticate, DPoP-Nonce")
		}
		next.ServeHTTP(w, r)
	})
}
