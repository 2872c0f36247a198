package sqlite

import (
	"context"
	"database/sql"
	"time"

	"github.com/rotor-auth/rotor/internal/store"
)

const eventCols = `id, occurred_at, type, client_id, subject, family_id, token_id, generation,
	ip, user_agent, reason, detail, actor, occurrences`

func scanEvent(s scanner) (*store.Event, error) {
	var (
		e   store.Event
		at  sql.NullInt64
		gen int64
	)
	if err := s.Scan(&e.ID, &at, &e.Type, &e.ClientID, &e.Subject, &e.FamilyID, &e.TokenID, &gen,
		&e.IP, &e.UserAgent, &e.Reason, &e.Detail, &e.Actor, &e.Count); err != nil {
		return nil, mapErr(err)
	}
	e.Time, e.Generation = timeOut(at), uint64(gen)
	return &e, nil
}

// AppendEvents inserts events and sets their IDs.
func (q *queries) AppendEvents(ctx context.Context, events ...*store.Event) error {
	for _, e := range events {
		e.Count = max(1, e.Count)
		gen, err := genIn(e.Generation)
		if err != nil {
			return err
		}
		err = q.w.QueryRowContext(ctx, `INSERT INTO events (occurred_at, type, client_id, subject, family_id,
			token_id, generation, ip, user_agent, reason, detail, actor, occurrences) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id`,
			timeIn(e.Time), e.Type, e.ClientID, e.Subject, e.FamilyID, e.TokenID, gen, e.IP, e.UserAgent,
			e.Reason, e.Detail, e.Actor, max(1, e.Count)).Scan(&e.ID)
		if err != nil {
			return mapErr(err)
		}
	}
	return nil
}

// ListEvents returns matching events in increasing ID order.
func (q *queries) ListEvents(ctx context.Context, filter store.EventFilter) ([]store.Event, error) {
	w := where{}
	if filter.AfterID > 0 {
		w.add("id > ?", filter.AfterID)
	}
	// A fixed column order and a bound LIMIT keep one prepared statement
	// per query shape.
	for _, c := range []struct{ col, v string }{{"type", filter.Type}, {"client_id", filter.ClientID},
		{"subject", filter.Subject}, {"family_id", filter.FamilyID}} {
		if c.v != "" {
			w.add(c.col+" = ?", c.v)
		}
	}
	query := `SELECT ` + eventCols + ` FROM events` + w.sql()
	switch {
	case filter.Limit > 0 && filter.Newest:
		query = `SELECT * FROM (` + query + ` ORDER BY id DESC LIMIT ?) ORDER BY id`
		w.args = append(w.args, filter.Limit)
	case filter.Limit > 0:
		query += " ORDER BY id LIMIT ?"
		w.args = append(w.args, filter.Limit)
	default:
		query += " ORDER BY id"
	}
	return list(ctx, q.r, scanEvent, query, w.args...)
}

// DeleteEventsBefore deletes at most limit events older than before.
func (q *queries) DeleteEventsBefore(ctx context.Context, before time.Time, limit int) (int, error) {
	return rowCount(q.w.ExecContext(ctx, `DELETE FROM events WHERE id IN (
		SELECT id FROM events WHERE occurred_at < ? OR occurred_at IS NULL ORDER BY id LIMIT ?)`, timeIn(before), limit))
}
