package main

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/rotor-auth/rotor/internal/store"
	"github.com/rotor-auth/rotor/internal/store/testdb"
	"github.com/rotor-auth/rotor/internal/testrig"
	"github.com/rotor-auth/rotor/resource"
)

// TestAPI runs the example's routes with tokens from a real Rotor.
func TestAPI(t *testing.T) {
	r := testrig.Start(t, testdb.SQLite(t), nil)
	r.AddClient(t, store.Client{ID: "shop", GrantTypes: []string{"client_credentials"},
		Scopes: []string{"orders:read", "orders:write"}, Audiences: []string{"https://orders.example.com"}}, "secret")
	v, err := resource.New(context.Background(), resource.Config{Issuer: r.URL, Audience: "https://orders.example.com"})
	if err != nil {
		t.Fatal(err)
	}
	defer v.Close()
	api := httptest.NewServer(routes(v))
	defer api.Close()

	token := func(scope string) string {
		req, _ := http.NewRequest("POST", r.URL+"/oauth2/token", strings.NewReader(url.Values{"grant_type": {"client_credentials"}, "scope": {scope}}.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.SetBasicAuth("shop", "secret")
		resp, err := r.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var tr struct {
			AccessToken string `json:"access_token"`
		}
		if err := json.NewDecoder(resp.Body).Decode(&tr); err != nil || tr.AccessToken == "" {
			t.Fatalf("token: %d %v", resp.StatusCode, err)
		}
		return tr.AccessToken
	}
	call := func(method, tok string) (int, string) {
		req, _ := http.NewRequest(method, api.URL+"/orders", nil)
		req.Header.Set("Authorization", "Bearer "+tok)
		resp, err := api.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	if code, body := call("GET", token("orders:read")); code != 200 || body != "orders of shop (client shop)\n" {
		t.Fatalf("GET: %d %q", code, body)
	}
	if code, _ := call("POST", token("orders:read")); code != http.StatusForbidden {
		t.Fatalf("POST with orders:read: %d", code)
	}
	if code, _ := call("POST", token("orders:write")); code != http.StatusCreated {
		t.Fatalf("POST with orders:write: %d", code)
	}
}
