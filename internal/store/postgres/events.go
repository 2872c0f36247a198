package postgres

import (
	"context"
	"errors"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/rotor-auth/rotor/internal/store"
)

const eventCols = `id, occurred_at, type, client_id, subject, family_id, token_id,
	generation, ip, user_agent, reason, detail, actor, occurrences`

const insertEvent = `INSERT INTO events (occurred_at, type, client_id, subject, family_id,
	token_id, generation, ip, user_agent, reason, detail, actor, occurrences)
	VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13) RETURNING id`

func scanEvent(s scanner) (*store.Event, error) {
	var (
		e          store.Event
		at         *time.Time
		generation int64
	)
	err := s.Scan(&e.ID, &at, &e.Type, &e.ClientID, &e.Subject, &e.FamilyID, &e.TokenID,
		&generation, &e.IP, &e.UserAgent, &e.Reason, &e.Detail, &e.Actor, &e.Count)
	if err != nil {
		return nil, mapErr(err)
	}
	e.Time = timeOut(at)
	e.Generation = uint64(generation) // never negative: written by genIn
	return &e, nil
}

func eventArgs(e *store.Event) ([]any, error) {
	if e == nil {
		return nil, errors.New("postgres: AppendEvents: nil event")
	}
	gen, err := genIn(e.Generation)
	if err != nil {
		return nil, err
	}
	e.Count = max(1, e.Count)
	return []any{timeIn(e.Time), e.Type, e.ClientID, e.Subject, e.FamilyID, e.TokenID,
		gen, e.IP, e.UserAgent, e.Reason, e.Detail, e.Actor, max(1, e.Count)}, nil
}

// AppendEvents inserts audit events, atomically, and sets their IDs.
func (q *queries) AppendEvents(ctx context.Context, events ...*store.Event) error {
	switch len(events) {
	case 0:
		return nil
	case 1:
		args, err := eventArgs(events[0])
		if err != nil {
			return err
		}
		return mapErr(q.q.QueryRow(ctx, insertEvent, args...).Scan(&events[0].ID))
	}
	// Several events go in one round trip. Out of a transaction a batch
	// still runs as one implicit transaction, so it is all or nothing.
	b := &pgx.Batch{}
	ids := make([]int64, len(events))
	for i, e := range events {
		args, err := eventArgs(e)
		if err != nil {
			return err
		}
		b.Queue(insertEvent, args...).QueryRow(func(row pgx.Row) error { return row.Scan(&ids[i]) })
	}
	if err := q.q.SendBatch(ctx, b).Close(); err != nil {
		return mapErr(err)
	}
	// IDs are set only once every insert has succeeded, so a failed call
	// leaves the events as they were.
	for i, e := range events {
		e.ID = ids[i]
	}
	return nil
}

// ListEvents returns the matching events in increasing ID order.
func (q *queries) ListEvents(ctx context.Context, filter store.EventFilter) ([]store.Event, error) {
	var w where
	if filter.AfterID != 0 {
		w.add("id > %s", filter.AfterID)
	}
	if filter.Type != "" {
		w.add("type = %s", filter.Type)
	}
	if filter.ClientID != "" {
		w.add("client_id = %s", filter.ClientID)
	}
	if filter.Subject != "" {
		w.add("subject = %s", filter.Subject)
	}
	if filter.FamilyID != "" {
		w.add("family_id = %s", filter.FamilyID)
	}
	sql := `SELECT ` + eventCols + ` FROM events` + w.sql()
	switch {
	case filter.Limit > 0 && filter.Newest:
		sql = `SELECT * FROM (` + sql + w.arg(" ORDER BY id DESC LIMIT %s", filter.Limit) + `) newest ORDER BY id`
	case filter.Limit > 0:
		sql += w.arg(" ORDER BY id LIMIT %s", filter.Limit)
	default:
		sql += " ORDER BY id"
	}
	return list(ctx, q.q, scanEvent, sql, w.args...)
}

// DeleteEventsBefore deletes at most limit events that happened before
// before, and returns how many it deleted.
func (q *queries) DeleteEventsBefore(ctx context.Context, before time.Time, limit int) (int, error) {
	if err := checkLimit(limit); err != nil {
		return 0, err
	}
	return rowCount(q.q.Exec(ctx, `DELETE FROM events WHERE id IN (
		SELECT id FROM events WHERE occurred_at < $1 OR occurred_at IS NULL
		LIMIT $2)`, before, limit))
}
