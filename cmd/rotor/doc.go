// Command rotor is Rotor's single binary: the authorization server
// (`rotor serve`) and every operator task (migrations, clients, users,
// revocation, signing keys, garbage collection, the audit trail).
//
// This package is wiring only: it parses flags, builds the parts from the
// internal packages and calls them. Logic lives in internal/; nothing
// imports this package.
package main
