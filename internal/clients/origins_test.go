package clients_test

import (
	"slices"
	"testing"

	"github.com/rotor-auth/rotor/internal/clients"
	"github.com/rotor-auth/rotor/internal/store"
)

func TestOrigins(t *testing.T) {
	cases := []struct {
		name string
		c    store.Client
		want []string
	}{
		{"from redirect URIs", store.Client{RedirectURIs: []string{
			"https://App.example/cb", "https://app.example:443/other", "http://127.0.0.1:8080/cb", "http://127.0.0.1/cb",
			"com.example.app:/oauth2redirect", "https://app.example:8443/cb",
		}}, []string{"https://app.example", "http://127.0.0.1:8080", "http://127.0.0.1", "https://app.example:8443"}},
		{"allowed origins win", store.Client{RedirectURIs: []string{"https://app.example/cb"},
			AllowedOrigins: []string{"https://spa.example", "https://SPA.example:443", "not an origin"}},
			[]string{"https://spa.example"}},
		{"an empty list allows none", store.Client{RedirectURIs: []string{"https://app.example/cb"}, AllowedOrigins: []string{}}, nil},
		{"no redirect URIs", store.Client{}, nil},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if got := clients.Origins(&tc.c); !slices.Equal(got, tc.want) {
				t.Fatalf("Origins = %q, want %q", got, tc.want)
			}
		})
	}
}
