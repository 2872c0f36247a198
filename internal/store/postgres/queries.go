package postgres

import (
	"context"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/rotor-auth/rotor/internal/store"
)

// querier is what both *pgxpool.Pool and pgx.Tx offer, so that every query
// is written once and runs in or out of a transaction.
type querier interface {
	Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error)
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
	SendBatch(ctx context.Context, b *pgx.Batch) pgx.BatchResults
}

// queries implements [store.Queries] over a querier.
type queries struct {
	q querier
	// inTx is set inside [DB.Tx], where LockFamily takes a row lock; a
	// lock taken outside would end with its own statement.
	inTx bool
}

// scanner is a pgx.Row or pgx.Rows.
type scanner interface{ Scan(dest ...any) error }

// where builds a WHERE clause of AND-ed conditions with numbered
// placeholders. Only the conditions in use are written, so that each
// filter shape gets its own cached statement and a plan that uses the
// matching index.
type where struct {
	conds []string
	args  []any
}

// add appends a condition whose %s verbs stand for vals, in order.
func (w *where) add(cond string, vals ...any) {
	w.conds = append(w.conds, w.arg(cond, vals...))
}

// arg formats s with a placeholder for each of vals, added to w.args.
func (w *where) arg(s string, vals ...any) string {
	ph := make([]any, len(vals))
	for i, v := range vals {
		w.args = append(w.args, v)
		ph[i] = "$" + strconv.Itoa(len(w.args))
	}
	return fmt.Sprintf(s, ph...)
}

func (w *where) sql() string {
	if len(w.conds) == 0 {
		return ""
	}
	return " WHERE " + strings.Join(w.conds, " AND ")
}

// column is one column of a row and the value written to it. A table's
// columns and their values are listed once, in one function, and its
// INSERT, its UPDATE and its COPY are built from that list, so that a
// value never drifts out of step with its column.
type column struct {
	name  string
	value any
}

// insertSQL is an INSERT of one row of cols into table, and its args.
func insertSQL(table string, cols []column) (string, []any) {
	names := make([]string, len(cols))
	ph := make([]string, len(cols))
	args := make([]any, len(cols))
	for i, c := range cols {
		names[i], ph[i], args[i] = c.name, "$"+strconv.Itoa(i+1), c.value
	}
	return "INSERT INTO " + table + " (" + strings.Join(names, ", ") + ") VALUES (" + strings.Join(ph, ", ") + ")", args
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
			args = append(args, c.value)
			set = append(set, c.name+" = $"+strconv.Itoa(len(args)))
		}
	}
	args = append(args, keyValue)
	return "UPDATE " + table + " SET " + strings.Join(set, ", ") + " WHERE " + key + " = $" + strconv.Itoa(len(args)), args
}

// list runs a query and scans every row with scan.
func list[T any](ctx context.Context, q querier, scan func(scanner) (*T, error), sql string, args ...any) ([]T, error) {
	rows, err := q.Query(ctx, sql, args...)
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
	if err := rows.Err(); err != nil {
		return nil, mapErr(err)
	}
	return out, nil
}

func scanString(s scanner) (*string, error) {
	var v string
	if err := s.Scan(&v); err != nil {
		return nil, mapErr(err)
	}
	return &v, nil
}

// insertResult maps an INSERT ... ON CONFLICT DO NOTHING that inserted
// nothing to [store.ErrConflict].
func insertResult(tag pgconn.CommandTag, err error) error {
	if err != nil {
		return mapErr(err)
	}
	if tag.RowsAffected() == 0 {
		return store.ErrConflict
	}
	return nil
}

// oneRow maps a keyed UPDATE or DELETE that touched nothing to
// [store.ErrNotFound].
func oneRow(tag pgconn.CommandTag, err error) error {
	if err != nil {
		return mapErr(err)
	}
	if tag.RowsAffected() == 0 {
		return store.ErrNotFound
	}
	return nil
}

func rowCount(tag pgconn.CommandTag, err error) (int, error) {
	if err != nil {
		return 0, mapErr(err)
	}
	return int(tag.RowsAffected()), nil
}

// checkLimit refuses a batch size that would delete nothing, so that a
// misconfigured janitor fails loudly rather than never collecting.
func checkLimit(limit int) error {
	if limit <= 0 {
		return fmt.Errorf("postgres: batch limit must be positive, got %d", limit)
	}
	return nil
}

// timeIn stores the zero time as NULL. Times that are only compared
// against (a filter's now) go to the driver as they are, so that the zero
// time keeps its Go meaning there: before every other time.
func timeIn(t time.Time) any {
	if t.IsZero() {
		return nil
	}
	return t
}

// timeOut reads NULL as the zero time and any other time in UTC, whatever
// the session's time zone.
func timeOut(t *time.Time) time.Time {
	if t == nil {
		return time.Time{}
	}
	return t.UTC()
}

// durIn stores a duration as BIGINT nanoseconds, nil as NULL.
func durIn(d *time.Duration) any {
	if d == nil {
		return nil
	}
	return int64(*d)
}

func durOut(ns *int64) *time.Duration {
	if ns == nil {
		return nil
	}
	d := time.Duration(*ns)
	return &d
}

// listIn stores a nil list as an empty array: the columns are NOT NULL so
// that no query needs to tell NULL from empty.
func listIn(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

// optListIn stores a list whose nil and empty differ: nil as NULL, empty
// as an empty array.
func optListIn(s []string) any {
	if s == nil {
		return nil
	}
	return s
}

// optListOut keeps NULL as nil and an empty array as empty.
func optListOut(s []string) []string {
	if s != nil && len(s) == 0 {
		return []string{}
	}
	return s
}

// listOut returns nil for an empty list, as Go code usually writes it.
func listOut(s []string) []string {
	if len(s) == 0 {
		return nil
	}
	return s
}

// bytesOut returns nil for empty bytes, which no hash or sealed value is.
func bytesOut(b []byte) []byte {
	if len(b) == 0 {
		return nil
	}
	return b
}

// genIn converts a generation to BIGINT, refusing what it cannot hold.
func genIn(g uint64) (int64, error) {
	if g > math.MaxInt64 {
		return 0, fmt.Errorf("postgres: generation %d out of range", g)
	}
	return int64(g), nil
}
