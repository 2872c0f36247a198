// Package oauth holds the OAuth 2.0 wire vocabulary shared by Rotor's HTTP
// edge: the RFC 6749 §5.2 error type and its constructors, a strict parser
// for form-encoded requests, scope parsing, and the JSON shapes of token,
// introspection and metadata responses.
//
// It imports only the standard library and nothing else from Rotor.
package oauth
