// Package janitor keeps the database small: in short batches, it deletes
// families past their absolute expiry (a replayed token stays detectable
// until then), wipes sealed grace successors whose grace period is over,
// drops expired deny-list entries and audit events past their retention,
// and lets the signing-key manager retire keys nobody can need.
//
// It imports internal/store and nothing higher; the key manager is reached
// through the one-method [KeyCollector].
package janitor
