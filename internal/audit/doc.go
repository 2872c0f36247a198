// Package audit names the events of Rotor's audit trail and the reasons
// they carry, and formats them for people and scripts. Events are written
// by the code that makes the change they record, in the same transaction,
// through store.Queries.AppendEvents; this package only describes them.
//
// It imports internal/store and nothing higher.
package audit
