// Package store defines Rotor's domain types (clients, users, refresh-token
// families, deny-list entries, audit events, signing keys), the sentinel
// errors every backend returns, and the [Store] and [Tx] interfaces.
//
// Backends live in subpackages (sqlite, postgres) and all pass the shared
// suite in storetest. This package imports nothing from Rotor; values hold
// only keyed hashes and sealed bytes, never a usable token or secret.
package store
