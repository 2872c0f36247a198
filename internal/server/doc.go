// Package server is Rotor's HTTP edge: routing, client authentication, one
// file per endpoint and one small type per grant. The token endpoint owns
// the shared steps (parse the form, authenticate the client, write the
// response); grants own their own rules. Domain errors from internal/family
// are mapped to RFC 6749 codes here and nowhere else.
//
// It imports the lower layers (oauth, secret, store, family, audit) and is
// imported only by cmd/rotor and tests.
package server
