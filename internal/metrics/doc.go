// Package metrics owns Rotor's Prometheus metrics: one registry of its own
// (never the process-wide default), the HTTP middleware that counts
// requests by the mux pattern they matched, the token endpoint's counts by
// grant and outcome, and the counts of audit events, taken at the store
// boundary ([Metrics.Store]). Every label has a bounded set of values
// (docs/STYLE rule 15 in docs/design.md): never a client id, a user, a
// token or a raw path.
package metrics
