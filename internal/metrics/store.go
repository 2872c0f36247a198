package metrics

import (
	"context"

	"github.com/rotor-auth/rotor/internal/store"
)

// Audit events are written in many places: the family, clients, users,
// session and authz packages append them inside their transactions, and
// the audit Recorders (Aggregator, Direct) outside any. The one point
// all of them pass is the store, so that is where they are counted: the
// store [Metrics.Store] returns counts the events of AppendEvents at
// once, and those appended inside Tx only when the transaction committed
// (fn returned nil and so did Tx). A run of fn that a backend retries
// starts from nothing, so a retried transaction counts once. An event
// the Aggregator counted (Count > 1) counts as that many.

// Store returns st, counting the audit events written through it; with
// nil metrics it returns st itself.
func (m *Metrics) Store(st store.Store) store.Store {
	if m == nil {
		return st
	}
	return &countingStore{Store: st, m: m}
}

type countingStore struct {
	store.Store
	m *Metrics
}

func (c *countingStore) count(events []*store.Event) {
	for _, ev := range events {
		c.m.Event(ev.Type, ev.Reason, max(ev.Count, 1))
	}
}

// AppendEvents counts the events once they are written.
func (c *countingStore) AppendEvents(ctx context.Context, events ...*store.Event) error {
	if err := c.Store.AppendEvents(ctx, events...); err != nil {
		return err
	}
	c.count(events)
	return nil
}

// Tx counts the events appended in fn once the transaction committed.
func (c *countingStore) Tx(ctx context.Context, fn func(tx store.Tx) error) error {
	var pending []*store.Event
	err := c.Store.Tx(ctx, func(tx store.Tx) error {
		pending = pending[:0] // a retried run starts again
		return fn(&countingTx{Tx: tx, pending: &pending})
	})
	if err == nil {
		c.count(pending)
	}
	return err
}

type countingTx struct {
	store.Tx
	pending *[]*store.Event
}

// AppendEvents remembers the events for the count at commit.
func (t *countingTx) AppendEvents(ctx context.Context, events ...*store.Event) error {
	if err := t.Tx.AppendEvents(ctx, events...); err != nil {
		return err
	}
	*t.pending = append(*t.pending, events...)
	return nil
}
