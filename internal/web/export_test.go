package web

import "github.com/rotor-auth/rotor/internal/ratelimit"

// SetCodeTable gives h a table of at most max wrong-code buckets, so that
// a test can fill it.
func SetCodeTable(h *Handler, max int) { h.codes = ratelimit.NewMemory(h.now, max) }
