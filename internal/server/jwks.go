package server

import "net/http"

// handleJWKS serves the JSON Web Key Set (RFC 7517) of the published
// signing keys: the current one, the next one before it signs, and old
// ones until every token they signed has expired.
func (s *Server) handleJWKS(w http.ResponseWriter, r *http.Request) {
	b, err := s.opts.Signer.JWKS(r.Context())
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
