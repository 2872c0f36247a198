package family_test

import (
	"testing"

	"github.com/rotor-auth/rotor/internal/store"
	"github.com/rotor-auth/rotor/internal/store/testdb"
)

// BenchmarkRefresh measures one rotation (lock, check, update, two audit
// events, commit) against each backend, with durable commits.
// benchBackends are the stores every family benchmark runs against.
var benchBackends = []struct {
	name string
	open func(testing.TB) store.Store
}{{"sqlite", testdb.SQLite}, {"postgres", testdb.Postgres}}

func BenchmarkRefresh(b *testing.B) {
	for _, backend := range benchBackends {
		b.Run(backend.name, func(b *testing.B) {
			fx := newFixture(b, backend.open(b), 0)
			g := fx.create(b)
			b.ReportAllocs()
			for b.Loop() {
				var err error
				if g, err = fx.refresh(g.RefreshToken); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
