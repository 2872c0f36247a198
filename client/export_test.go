package client

import "time"

// SetNow replaces the Source's clock, so that expiry is tested without
// sleeping.
func SetNow(s *Source, now func() time.Time) { s.now = now }

// ParseTokenFile, ParseTokenResponse and ParseErrorBody expose the parsers
// to the fuzz targets.
var (
	ParseTokenFile     = parseTokenFile
	ParseTokenResponse = parseTokenResponse
)
