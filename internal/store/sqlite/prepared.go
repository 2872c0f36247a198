package sqlite

import (
	"context"
	"database/sql"
	"sync"
)

// readPool runs the reads made outside transactions on the reader pool
// with statements prepared once (database/sql then prepares each on a
// connection the first time it runs there, and reuses it), so that SQLite
// does not parse the client lookup of every request again.
type readPool struct {
	db    *sql.DB
	mu    sync.Mutex
	stmts map[string]*sql.Stmt
}

func newReadPool(db *sql.DB) *readPool { return &readPool{db: db, stmts: map[string]*sql.Stmt{}} }

// stmt returns query's prepared statement, preparing it on first use; nil
// when the cache is full or preparing failed (the query then runs
// unprepared).
func (p *readPool) stmt(ctx context.Context, query string) *sql.Stmt {
	p.mu.Lock()
	st, ok := p.stmts[query]
	full := len(p.stmts) >= maxCachedStmts || len(query) > maxCachedQuery
	p.mu.Unlock()
	if ok {
		return st
	}
	if full {
		return nil
	}
	st, err := p.db.PrepareContext(ctx, query)
	if err != nil {
		return nil
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if had, ok := p.stmts[query]; ok {
		_ = st.Close() // another caller prepared it meanwhile
		return had
	}
	p.stmts[query] = st
	return st
}

// ExecContext runs query on the reader pool, whose connections are
// read-only (query_only): a write fails there.
func (p *readPool) ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error) {
	return p.db.ExecContext(ctx, query, args...)
}

func (p *readPool) QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error) {
	if st := p.stmt(ctx, query); st != nil {
		return st.QueryContext(ctx, args...)
	}
	return p.db.QueryContext(ctx, query, args...)
}

func (p *readPool) QueryRowContext(ctx context.Context, query string, args ...any) scanner {
	if st := p.stmt(ctx, query); st != nil {
		return st.QueryRowContext(ctx, args...)
	}
	return p.db.QueryRowContext(ctx, query, args...)
}

// close releases the prepared statements.
func (p *readPool) close() {
	p.mu.Lock()
	defer p.mu.Unlock()
	for q, st := range p.stmts {
		_ = st.Close()
		delete(p.stmts, q)
	}
}
