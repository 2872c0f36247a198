// Package authz owns pending authorizations of the code flow: the
// validated authorization request carried, sealed, from the authorization
// endpoint through the login and consent pages; remembered consent; and
// authorization codes, issued once a person has agreed and redeemed once
// (RFC 6749 §4.1, RFC 7636). It knows no HTTP: internal/server parses the
// protocol and internal/web talks to the person.
package authz
