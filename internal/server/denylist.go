package server

import (
	"encoding/json"
	"net/http"
	"strings"

	"github.com/rotor-auth/rotor/internal/oauth"
	"github.com/rotor-auth/rotor/internal/token"
)

// denyListPage bounds one page of the deny-list.
const denyListPage = 10000

// denyList is the deny-list document resource servers poll: revoked
// families (sid) and access tokens (jti), each with the Unix time until
// which the entry holds. Next, when set, is the after parameter of the
// following page.
type denyList struct {
	SID  map[string]int64 `json:"sid"`
	JTI  map[string]int64 `json:"jti"`
	Next string           `json:"next,omitempty"`
}

// handleDenyList serves GET /oauth2/denylist to authenticated confidential
// clients (resource servers register as one, as for introspection). It
// lets a resource server refuse revoked tokens without a call per request,
// at the cost of its polling interval in revocation latency.
func (s *Server) handleDenyList(w http.ResponseWriter, r *http.Request) {
	after := r.URL.Query().Get("after")
	if len(after) > token.MaxLen {
		oauth.WriteError(w, oauth.InvalidRequest("after is too long"))
		return
	}
	r, cancel := s.withDeadline(w, r)
	defer cancel()
	c, err := s.authenticate(r, oauth.Form{})
	if err == nil && c.Public {
		err = oauth.InvalidClient("public clients may not read the deny-list")
	}
	if err != nil {
		s.writeErr(w, r, err)
		return
	}
	entries, err := s.opts.Store.ListDenials(r.Context(), s.now(), []string{"sid:", "jti:"}, after, denyListPage)
	if err != nil {
		s.internalError(w, r, err)
		return
	}
	doc := denyList{SID: map[string]int64{}, JTI: map[string]int64{}}
	for _, d := range entries {
		kind, id, _ := strings.Cut(d.Key, ":")
		switch kind {
		case "sid":
			doc.SID[id] = d.ExpiresAt.Unix()
		case "jti":
			doc.JTI[id] = d.ExpiresAt.Unix()
		}
	}
	if len(entries) == denyListPage {
		doc.Next = entries[len(entries)-1].Key
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	_ = json.NewEncoder(w).Encode(doc)
}
