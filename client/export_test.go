package client

import "time"

// SetNow replaces the Source's clock, so that expiry is tested without
// sleeping.
func SetNow(s *Source, now func() time.Time) { s.now = now }
