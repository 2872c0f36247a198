package client_test

import (
	"context"
	"testing"
	"time"

	"golang.org/x/oauth2"

	"github.com/rotor-auth/rotor/client"
	"github.com/rotor-auth/rotor/internal/store"
	"github.com/rotor-auth/rotor/internal/store/testdb"
)

// BenchmarkTokenCached is the common case: a valid token, many goroutines.
func BenchmarkTokenCached(b *testing.B) {
	cfg := &client.Config{OAuth2: &oauth2.Config{ClientID: "c", Endpoint: oauth2.Endpoint{TokenURL: "http://127.0.0.1:1/token"}}}
	tok := &oauth2.Token{AccessToken: "a", RefreshToken: "r", Expiry: time.Now().Add(time.Hour)}
	src := client.TokenSource(context.Background(), cfg, client.NewMemoryStore(tok))
	if _, err := src.Token(); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, err := src.Token(); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// BenchmarkProofES256 is the cost DPoP adds to each request.
func BenchmarkProofES256(b *testing.B) {
	d, err := client.NewDPoP(newP256(b))
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := d.Proof("GET", "https://api.example/v1/things", "eyJ.access.token", ""); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkRefresh is one whole refresh against a real Rotor on SQLite,
// through a FileStore: lock, load, HTTP round trip, rotation, save.
func BenchmarkRefresh(b *testing.B) {
	e := newEnv(b, testdb.SQLite(b), store.Client{ID: "cli"}, false)
	fs := client.NewFileStore(b.TempDir() + "/token.json")
	if err := fs.Save(context.Background(), e.first); err != nil {
		b.Fatal(err)
	}
	src := client.TokenSource(context.Background(), e.config(nil), fs)
	due := e.first.Expiry
	client.SetNow(src, func() time.Time { return due })
	b.ReportAllocs()
	for b.Loop() {
		tok, err := src.Token()
		if err != nil {
			b.Fatal(err)
		}
		due = tok.Expiry // the clock jumps to its expiry: the next call refreshes
	}
	b.StopTimer()
	if n := e.tokenCalls.Load(); int(n) != b.N {
		b.Fatalf("%d refreshes for %d calls", n, b.N)
	}
}
