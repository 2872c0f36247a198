// Command spa serves a single-page app that signs in with Rotor from the
// browser alone: plain JavaScript modules, no build step and no
// dependency. The page does the authorization code flow with PKCE, binds
// its tokens with DPoP (RFC 9449) to a WebCrypto key it cannot export,
// keeps its refresh token rotated, and calls examples/api. This program
// only serves the files, the settings the page reads (/config.json), and
// the headers that confine the page (Content-Security-Policy: its own
// scripts only, connections only to itself, the issuer and the API).
//
//	rotor serve --demo
//	ALLOWED_ORIGINS=http://127.0.0.1:8082 go run ./examples/api   # with ISSUER and AUDIENCE
//	go run ./examples/spa
//
// Settings, from the environment: ISSUER (default http://127.0.0.1:8080),
// CLIENT_ID (default demo-spa), API (default http://127.0.0.1:9090), ADDR
// (default 127.0.0.1:8082), SCOPES (default "openid profile
// offline_access": GET /orders of examples/api needs no scope, only the
// audience), RESOURCE, the API's identifier, sent as an RFC 8707 resource
// indicator (default https://orders.example.com, "-" for none).
package main

import (
	"embed"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"log"
	"net"
	"net/http"
	"net/url"
	"os"
	"strings"
	"time"
)

//go:embed static
var static embed.FS

// config is what the page needs to know, served as /config.json.
type config struct {
	Issuer   string `json:"issuer"`
	ClientID string `json:"client_id"`
	API      string `json:"api"`
	Scope    string `json:"scope"`
	Resource string `json:"resource,omitempty"`
}

// configFrom reads the settings through getenv and checks the URLs.
func configFrom(getenv func(string) string) (config, error) {
	c := config{
		Issuer: strings.TrimRight(getenv("ISSUER"), "/"), ClientID: getenv("CLIENT_ID"),
		API: strings.TrimRight(getenv("API"), "/"), Scope: strings.Join(strings.Fields(getenv("SCOPES")), " "),
		Resource: getenv("RESOURCE"),
	}
	if c.Issuer == "" {
		c.Issuer = "http://127.0.0.1:8080"
	}
	if c.ClientID == "" {
		c.ClientID = "demo-spa"
	}
	if c.API == "" {
		c.API = "http://127.0.0.1:9090"
	}
	if c.Scope == "" {
		c.Scope = "openid profile offline_access"
	}
	switch c.Resource {
	case "":
		c.Resource = "https://orders.example.com"
	case "-":
		c.Resource = ""
	}
	var errs []error
	for name, u := range map[string]string{"ISSUER": c.Issuer, "API": c.API} {
		if origin(u) == "" {
			errs = append(errs, fmt.Errorf("%s %q is not an http(s) URL", name, u))
		}
	}
	return c, errors.Join(errs...)
}

// origin returns scheme://host[:port] of an http(s) URL, or "".
func origin(raw string) string {
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.User != nil {
		return ""
	}
	return u.Scheme + "://" + u.Host
}

func main() {
	cfg, err := configFrom(os.Getenv)
	if err != nil {
		log.Fatal(err)
	}
	addr := os.Getenv("ADDR")
	if addr == "" {
		addr = "127.0.0.1:8082"
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		log.Fatal(err)
	}
	// The address listened on, not the one asked for: ADDR may name port 0.
	log.Printf("SPA on http://%s, signing in with %s as %s", ln.Addr(), cfg.Issuer, cfg.ClientID)
	srv := &http.Server{Handler: routes(cfg), ReadHeaderTimeout: 5 * time.Second}
	log.Fatal(srv.Serve(ln))
}

// routes serves the page. /callback, the redirect URI, is the page
// itself: its script reads the code from the address.
func routes(cfg config) http.Handler {
	files, _ := fs.Sub(static, "static") // a constant path of the embedded tree
	settings, _ := json.Marshal(cfg)
	mux := http.NewServeMux()
	mux.HandleFunc("GET /config.json", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write(settings)
	})
	mux.HandleFunc("GET /callback", func(w http.ResponseWriter, r *http.Request) {
		http.ServeFileFS(w, r, files, "index.html")
	})
	mux.Handle("GET /", http.FileServerFS(files))
	return headers(cfg, mux)
}

// headers confines the page. Its scripts come from this origin only (no
// inline script, so an injected <script> does not run); it may connect to
// this origin, the issuer and the API only, so that an injected script
// cannot send a token elsewhere with fetch; it cannot be framed; and it
// sends no referrer (the callback's address carries the code).
func headers(cfg config, next http.Handler) http.Handler {
	csp := fmt.Sprintf("default-src 'self'; connect-src 'self' %s %s; object-src 'none'; base-uri 'none'; "+
		"form-action 'none'; frame-ancestors 'none'", origin(cfg.Issuer), origin(cfg.API))
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("Content-Security-Policy", csp)
		h.Set("X-Frame-Options", "DENY")
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("Referrer-Policy", "no-referrer")
		h.Set("Cache-Control", "no-store")
		next.ServeHTTP(w, r)
	})
}
