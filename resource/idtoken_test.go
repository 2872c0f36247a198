package resource_test

import (
	"context"
	"net/http"
	"testing"
	"time"

	itoken "github.com/rotor-auth/rotor/internal/token"
	"github.com/rotor-auth/rotor/resource"
)

// TestRotorIDTokenIsNotAnAccessToken: an id_token Rotor signs with its
// own keys, even one whose audience is the API's, is refused as an
// access token for its typ (JWT, not at+jwt): a client cannot call an
// API with the id_token it was given.
func TestRotorIDTokenIsNotAnAccessToken(t *testing.T) {
	r := rotor(t)
	v := verifierFor(t, r, resource.Config{})
	id, err := itoken.NewIssuer(r.URL, r.Keys, time.Now).IssueID(context.Background(),
		itoken.ID{Subject: "alice", ClientID: apiAudience, TTL: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	_, err = v.Verify(context.Background(), id)
	wantError(t, err, resource.ErrType, resource.CodeInvalidToken, http.StatusUnauthorized)
}
