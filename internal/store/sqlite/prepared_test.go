package sqlite

import (
	"context"
	"fmt"
	"testing"
)

// TestReadsArePreparedOnceAndBounded: a read outside a transaction runs
// as a prepared statement kept for the next time, and the cache of them
// stops growing at its bound (queries past it run unprepared, and right).
func TestReadsArePreparedOnceAndBounded(t *testing.T) {
	db, _ := openTest(t)
	ctx := context.Background()
	for range 3 {
		if _, err := db.CountFamilies(ctx); err != nil {
			t.Fatal(err)
		}
	}
	db.reads.mu.Lock()
	n := len(db.reads.stmts)
	db.reads.mu.Unlock()
	if n != 1 {
		t.Fatalf("%d prepared statements after one query run three times, want 1", n)
	}
	for i := range maxCachedStmts + 10 {
		var v int
		if err := db.reads.QueryRowContext(ctx, fmt.Sprintf("SELECT %d", i)).Scan(&v); err != nil || v != i {
			t.Fatalf("query %d: %d, %v", i, v, err)
		}
	}
	db.reads.mu.Lock()
	n = len(db.reads.stmts)
	db.reads.mu.Unlock()
	if n != maxCachedStmts {
		t.Fatalf("%d prepared statements, want the bound %d", n, maxCachedStmts)
	}
}
