// Package audit is the one way to write an event of Rotor's audit trail:
// one constructor per event type (constructors.go), a closed set of event
// types and typed reason codes (events.go) that alert rules and metrics
// read, and [Meta], who caused an event and when. Events are written by
// the code that makes the change they record, in the same transaction,
// through store.Queries.AppendEvents.
//
// It imports internal/store and nothing higher.
package audit
