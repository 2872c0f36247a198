// Package storetest is the conformance suite of the storage contract:
// the same test functions run against every backend, with no opt-outs,
// concurrency included. A backend's test calls [Run] with a function that
// opens a fresh, empty, migrated store.
package storetest
