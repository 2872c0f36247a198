// Package bench is the load generator behind `rotor bench`: it provisions
// a client, users and refresh-token families straight through the store,
// drives a Rotor over HTTP on loopback with each grant at several
// concurrency levels for a bounded time, measures the server process's CPU
// and memory from /proc, and compares every figure with a floor server
// that only parses the form and signs an access token.
//
// It sits at the top of the house, beside cmd/rotor: it may import the
// store, secret, keys and oauth packages, and nothing imports it but the
// command.
package bench
