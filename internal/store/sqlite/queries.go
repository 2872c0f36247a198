package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"math"
	"runtime"
	"slices"
	"strings"
	"time"

	"github.com/rotor-auth/rotor/internal/store"
)

// querier runs statements: the reader pool ([readPool]), the committer's
// transaction ([detached]), or nothing at all ([committerOnly]).
type querier interface {
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
	QueryRowContext(ctx context.Context, query string, args ...any) scanner
}

// queries implements [store.Queries]. Inside a transaction both r and w
// are the committer's transaction. Outside one, r is the reader pool and
// w is [committerOnly]: the writes a caller makes outside a transaction
// are the methods of [DB] in writes.go, each a transaction of its own, so
// that no statement reaches the writer connection but through the
// committer.
type queries struct {
	r, w querier
}

// scanner is a *sql.Row or *sql.Rows.
type scanner interface{ Scan(dest ...any) error }

// committerOnly is the writer of the queries that run outside a
// transaction. A statement that reaches it is a write that would bypass
// the committer (a method of queries that writes and has no override in
// writes.go): it fails loudly, naming the method, so that the
// conformance suite, which calls every method outside a transaction,
// catches it.
type committerOnly struct{}

func (committerOnly) ExecContext(_ context.Context, query string, _ ...any) (sql.Result, error) {
	return nil, errOutsideCommitter(query)
}

func (committerOnly) QueryContext(_ context.Context, query string, _ ...any) (*sql.Rows, error) {
	return nil, errOutsideCommitter(query)
}

func (committerOnly) QueryRowContext(_ context.Context, query string, _ ...any) scanner {
	return errRow{errOutsideCommitter(query)}
}

// errOutsideCommitter names the method of queries that ran query, and
// the query's first line.
func errOutsideCommitter(query string) error {
	method := "a query"
	pcs := make([]uintptr, 16)
	frames := runtime.CallersFrames(pcs[:runtime.Callers(2, pcs)])
	for {
		f, more := frames.Next()
		if _, name, ok := strings.Cut(f.Function, ".(*queries)."); ok {
			method = name
			break
		}
		if !more {
			break
		}
	}
	first, _, _ := strings.Cut(strings.TrimSpace(query), "\n")
	return &bypassError{method: method, query: first}
}

// bypassError is a statement that reached [committerOnly].
type bypassError struct{ method, query string }

func (e *bypassError) Error() string {
	return fmt.Sprintf("sqlite: write outside the committer: %s ran %q; give it a method in writes.go that runs it in DB.Tx", e.method, e.query)
}

// errRow is a row that failed before it was read.
type errRow struct{ err error }

func (r errRow) Scan(...any) error { return r.err }

// where builds a WHERE clause from conditions joined by AND.
type where struct {
	conds []string
	args  []any
}

func (w *where) add(cond string, args ...any) {
	w.conds = append(w.conds, cond)
	w.args = append(w.args, args...)
}

func (w *where) sql() string {
	if len(w.conds) == 0 {
		return ""
	}
	return " WHERE " + strings.Join(w.conds, " AND ")
}

// column is one column of a row and the value written to it. A table's
// columns and their values are listed once, in one function, and both
// its INSERT and its UPDATE are built from that list, so that a value
// never drifts out of step with its column.
type column struct {
	name  string
	value any
}

// insertSQL is an INSERT of one row of cols into table, and its args.
func insertSQL(table string, cols []column) (string, []any) {
	names := make([]string, len(cols))
	args := make([]any, len(cols))
	for i, c := range cols {
		names[i], args[i] = c.name, c.value
	}
	return "INSERT INTO " + table + " (" + strings.Join(names, ", ") + ") VALUES (" + placeholders(len(cols)) + ")", args
}

// updateSQL is an UPDATE of the row of table whose key column holds the
// key's value in cols, setting every other column of cols but the fixed
// ones, and its args.
func updateSQL(table, key string, fixed []string, cols []column) (string, []any) {
	set := make([]string, 0, len(cols))
	args := make([]any, 0, len(cols))
	var keyValue any
	for _, c := range cols {
		switch {
		case c.name == key:
			keyValue = c.value
		case !slices.Contains(fixed, c.name):
			set = append(set, c.name+" = ?")
			args = append(args, c.value)
		}
	}
	return "UPDATE " + table + " SET " + strings.Join(set, ", ") + " WHERE " + key + " = ?", append(args, keyValue)
}

func placeholders(n int) string { return strings.TrimSuffix(strings.Repeat("?, ", n), ", ") }

func list[T any](ctx context.Context, q querier, scan func(scanner) (*T, error), query string, args ...any) ([]T, error) {
	rows, err := q.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, mapErr(err)
	}
	defer rows.Close()
	var out []T
	for rows.Next() {
		v, err := scan(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, *v)
	}
	return out, mapErr(rows.Err())
}

func scanString(s scanner) (*string, error) {
	var v string
	if err := s.Scan(&v); err != nil {
		return nil, mapErr(err)
	}
	return &v, nil
}

// oneRow maps a keyed UPDATE or DELETE that touched nothing to ErrNotFound.
func oneRow(res sql.Result, err error) error {
	if err != nil {
		return mapErr(err)
	}
	if n, err := res.RowsAffected(); err != nil {
		return mapErr(err)
	} else if n == 0 {
		return store.ErrNotFound
	}
	return nil
}

func rowCount(res sql.Result, err error) (int, error) {
	if err != nil {
		return 0, mapErr(err)
	}
	n, err := res.RowsAffected()
	return int(n), mapErr(err)
}

// Times are stored as unix microseconds, the precision of the contract.
func timeIn(t time.Time) any {
	if t.IsZero() {
		return nil
	}
	return t.UnixMicro()
}

func timeOut(v sql.NullInt64) time.Time {
	if !v.Valid {
		return time.Time{}
	}
	return time.UnixMicro(v.Int64).UTC()
}

func durIn(d *time.Duration) any {
	if d == nil {
		return nil
	}
	return int64(*d)
}

func durOut(v sql.NullInt64) *time.Duration {
	if !v.Valid {
		return nil
	}
	d := time.Duration(v.Int64)
	return &d
}

func listIn(s []string) string { return strings.Join(s, " ") }

func listOut(s string) []string {
	if s == "" {
		return nil
	}
	return strings.Split(s, " ")
}

// optListIn stores a list whose nil and empty differ: nil as NULL, empty
// as ”.
func optListIn(s []string) any {
	if s == nil {
		return nil
	}
	return strings.Join(s, " ")
}

func optListOut(v sql.NullString) []string {
	if !v.Valid {
		return nil
	}
	if v.String == "" {
		return []string{}
	}
	return strings.Split(v.String, " ")
}

func bytesOut(b []byte) []byte {
	if len(b) == 0 {
		return nil
	}
	return b
}

// genIn converts a generation to INTEGER, refusing what it cannot hold.
func genIn(g uint64) (int64, error) {
	if g > math.MaxInt64 {
		return 0, errors.New("sqlite: generation out of range")
	}
	return int64(g), nil
}
