package family_test

import (
	"testing"
)

// BenchmarkRefreshParallel measures rotations from 32 goroutines at once,
// each refreshing a chain of its own, against each backend: how the
// store's transactions (one writer on SQLite, row locks on PostgreSQL)
// behave under concurrent load, with durable commits.
func BenchmarkRefreshParallel(b *testing.B) {
	for _, backend := range benchBackends {
		b.Run(backend.name, func(b *testing.B) {
			fx := newFixture(b, backend.open(b), 0)
			b.ReportAllocs()
			b.SetParallelism(16) // 32 goroutines on 2 CPUs
			b.RunParallel(func(pb *testing.PB) {
				g := fx.create(b)
				for pb.Next() {
					var err error
					if g, err = fx.refresh(g.RefreshToken); err != nil {
						b.Error(err)
						return
					}
				}
			})
		})
	}
}
