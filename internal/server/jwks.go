package server

import (
	"context"
	"net/http"
)

// handleJWKS serves the JSON Web Key Set (RFC 7517) of the published
// signing keys: the current one, the next one before it signs, and old
// ones until every token they signed has expired.
func (s *Server) handleJWKS(w http.ResponseWriter, r *http.Request) {
	// A reload of the key set reads the database: bounded like any
	// other request's database work (the cached set is served meanwhile).
	ctx, cancel := context.WithTimeout(r.Context(), s.opts.DBTimeout)
	defer cancel()
	b, err := s.opts.Signer.JWKS(ctx)
	if err != nil {
		s.internalError(w, r, err)
		return
	}
	w.Header().Set("Content-Type", "application/jwk-set+json")
	// Short enough that verifiers see a rotated key well within the
	// prepublication window.
	w.Header().Set("Cache-Control", "public, max-age=300")
	_, _ = w.Write(b)
}
