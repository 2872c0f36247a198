// Package config builds Rotor's configuration from, in increasing
// precedence, built-in defaults, a YAML file, ROTOR_* environment variables
// and command-line flags. Decoding is strict: an unknown key is an error,
// and [Config.Validate] reports every problem at once, in words an operator
// understands. It also finds the master key (ROTOR_MASTER_KEY, a key file,
// or a file created beside an embedded database).
//
// It imports internal/secret, internal/family and internal/store/backend;
// only cmd/rotor imports it.
package config
