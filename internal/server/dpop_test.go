package server_test

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"

	"github.com/rotor-auth/rotor/internal/audit"
	"github.com/rotor-auth/rotor/internal/server"
	"github.com/rotor-auth/rotor/internal/store"
	"github.com/rotor-auth/rotor/internal/store/testdb"
)

// holder is a DPoP key holder: a client's key pair.
type holder struct {
	key *ecdsa.PrivateKey
	jkt string
}

func newHolder(t testing.TB) *holder {
	k, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tp, err := (&jose.JSONWebKey{Key: k.Public()}).Thumbprint(crypto.SHA256)
	if err != nil {
		t.Fatal(err)
	}
	return &holder{key: k, jkt: base64.RawURLEncoding.EncodeToString(tp)}
}

// proof makes a fresh proof for POST to htu, with nonce when not "".
func (h *holder) proof(t testing.TB, htu, nonce string) string {
	t.Helper()
	opts := (&jose.SignerOptions{}).WithType("dpop+jwt").WithHeader("jwk", jose.JSONWebKey{Key: h.key.Public()})
	s, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.ES256, Key: h.key}, opts)
	if err != nil {
		t.Fatal(err)
	}
	c := map[string]any{"jti": rand.Text(), "htm": "POST", "htu": htu, "iat": time.Now().Unix()}
	if nonce != "" {
		c["nonce"] = nonce
	}
	b, _ := json.Marshal(c)
	obj, err := s.Sign(b)
	if err != nil {
		t.Fatal(err)
	}
	out, _ := obj.CompactSerialize()
	return out
}

// postDPoP posts a token request with the given DPoP header values.
func (r *rig) postDPoP(t testing.TB, form url.Values, proofs ...string) response {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, r.URL+"/oauth2/token", strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	for _, p := range proofs {
		req.Header.Add("DPoP", p)
	}
	resp, err := r.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	out := response{Status: resp.StatusCode, Header: resp.Header, Raw: string(raw)}
	if err := json.Unmarshal(raw, &out.Body); err != nil {
		t.Fatalf("not JSON: %q", raw)
	}
	return out
}

func cnf(t testing.TB, at string) string {
	c, _ := claims(t, at)["cnf"].(map[string]any)
	jkt, _ := c["jkt"].(string)
	return jkt
}

// TestDPoPBoundPublicClient: a public client that must use DPoP gets a
// family bound to its key and refreshes many times with it; a previous
// refresh token presented with another key is a replay by someone else
// and revokes the family; the live token with another key does too.
func TestDPoPBoundPublicClient(t *testing.T) {
	testdb.Each(t, func(t *testing.T, st store.Store) {
		r := newRig(t, st, nil)
		r.addClient(t, store.Client{ID: "tv", GrantTypes: []string{"password", "refresh_token"}, Scopes: []string{"read"},
			RequireDPoP: true, ReuseGrace: dur(15 * time.Second)}, "")
		r.addUser(t, "alice", "correct horse")
		r.addClient(t, store.Client{ID: "api", GrantTypes: []string{"client_credentials"}, Introspect: true}, "api-secret")
		tokenURL := r.URL + "/oauth2/token"
		alice, mallory := newHolder(t), newHolder(t)
		login := url.Values{"grant_type": {"password"}, "client_id": {"tv"}, "username": {"alice"}, "password": {"correct horse"}}

		expectError(t, r.post(t, "/oauth2/token", login), 400, "invalid_dpop_proof")
		g := r.postDPoP(t, login, alice.proof(t, tokenURL, ""))
		expectOK(t, g)
		if g.str("token_type") != "DPoP" || cnf(t, g.str("access_token")) != alice.jkt {
			t.Fatalf("token_type %q, cnf.jkt %q, want DPoP bound to %s", g.str("token_type"), cnf(t, g.str("access_token")), alice.jkt)
		}
		// A public client's refresh token is introspectable by nobody
		// (RFC 7662 §4: only its own client, and public clients never);
		// the access token shows the binding to a resource server.
		intro := r.post(t, "/oauth2/introspect", url.Values{"token": {g.str("refresh_token")}}, "api", "api-secret")
		if intro.Body["active"] != false {
			t.Fatalf("another client introspected tv's refresh token: %s", intro.Raw)
		}
		intro = r.post(t, "/oauth2/introspect", url.Values{"token": {g.str("access_token")}}, "api", "api-secret")
		if c, _ := intro.Body["cnf"].(map[string]any); c["jkt"] != alice.jkt || intro.str("token_type") != "DPoP" {
			t.Fatalf("access token introspection lacks cnf or token_type DPoP: %s", intro.Raw)
		}

		var prev string
		for i := range 20 {
			prev = g.str("refresh_token")
			g = r.postDPoP(t, url.Values{"grant_type": {"refresh_token"}, "client_id": {"tv"}, "refresh_token": {prev}},
				alice.proof(t, tokenURL, ""))
			if g.Status != 200 || cnf(t, g.str("access_token")) != alice.jkt {
				t.Fatalf("refresh %d: %d %s", i, g.Status, g.Raw)
			}
		}
		live := g.str("refresh_token")

		// Without a proof: refused, nothing revoked.
		expectError(t, r.post(t, "/oauth2/token", url.Values{"grant_type": {"refresh_token"}, "client_id": {"tv"},
			"refresh_token": {live}}), 400, "invalid_dpop_proof")
		// The previous token with Mallory's key, inside the grace period:
		// the grace needs Alice's key, so it is a replay and revokes.
		stolen := r.postDPoP(t, url.Values{"grant_type": {"refresh_token"}, "client_id": {"tv"}, "refresh_token": {prev}},
			mallory.proof(t, tokenURL, ""))
		expectError(t, stolen, 400, "invalid_grant")
		after := r.postDPoP(t, url.Values{"grant_type": {"refresh_token"}, "client_id": {"tv"}, "refresh_token": {live}},
			alice.proof(t, tokenURL, ""))
		expectError(t, after, 400, "invalid_grant")
		evs, err := st.ListEvents(t.Context(), store.EventFilter{Type: audit.ReuseDetected})
		if err != nil || len(evs) != 1 {
			t.Fatalf("reuse events %v %v", evs, err)
		}
		if a := r.post(t, "/oauth2/introspect", url.Values{"token": {g.str("access_token")}}, "api", "api-secret"); a.Body["active"] != false {
			t.Fatalf("the revoked family's DPoP access token is still active: %s", a.Raw)
		}

		// A second session: its live token proven by Mallory revokes it.
		g2 := r.postDPoP(t, login, alice.proof(t, tokenURL, ""))
		expectOK(t, g2)
		m := r.postDPoP(t, url.Values{"grant_type": {"refresh_token"}, "client_id": {"tv"}, "refresh_token": {g2.str("refresh_token")}},
			mallory.proof(t, tokenURL, ""))
		expectError(t, m, 400, "invalid_grant")
		expectError(t, r.postDPoP(t, url.Values{"grant_type": {"refresh_token"}, "client_id": {"tv"},
			"refresh_token": {g2.str("refresh_token")}}, alice.proof(t, tokenURL, "")), 400, "invalid_grant")
	})
}

func TestDPoPProofChecksAtTheTokenEndpoint(t *testing.T) {
	r := newRig(t, testdb.SQLite(t), nil)
	standard(t, r, 0)
	tokenURL := r.URL + "/oauth2/token"
	h := newHolder(t)
	cc := url.Values{"grant_type": {"client_credentials"}, "client_id": {"svc"}, "client_secret": {svcSecret}}

	p := h.proof(t, tokenURL, "")
	ok := r.postDPoP(t, cc, p)
	expectOK(t, ok)
	if ok.str("token_type") != "DPoP" || cnf(t, ok.str("access_token")) != h.jkt {
		t.Fatalf("client_credentials with a proof: %s", ok.Raw)
	}
	expectError(t, r.postDPoP(t, cc, p), 400, "invalid_dpop_proof") // replayed proof
	// A proof on a request that fails is not remembered: a public
	// client's id and made-up tokens cannot fill the replay cache.
	failing := h.proof(t, tokenURL, "")
	for range 3 {
		expectError(t, r.postDPoP(t, url.Values{"grant_type": {"refresh_token"}, "client_id": {"spa"}, "refresh_token": {"rt_garbage"}}, failing), 400, "invalid_grant")
	}
	expectError(t, r.postDPoP(t, cc, h.proof(t, r.URL+"/oauth2/revoke", "")), 400, "invalid_dpop_proof")
	expectError(t, r.postDPoP(t, cc, h.proof(t, tokenURL, ""), h.proof(t, tokenURL, "")), 400, "invalid_dpop_proof")
	expectError(t, r.postDPoP(t, cc, "not-a-proof"), 400, "invalid_dpop_proof")
	// A proof does not replace client authentication.
	bad := url.Values{"grant_type": {"client_credentials"}, "client_id": {"svc"}, "client_secret": {"wrong"}}
	expectError(t, r.postDPoP(t, bad, h.proof(t, tokenURL, "")), 401, "invalid_client")
	// Without a proof, a Bearer token as before.
	if b := r.postDPoP(t, cc); b.str("token_type") != "Bearer" || cnf(t, b.str("access_token")) != "" {
		t.Fatalf("without a proof: %s", b.Raw)
	}
}

func TestDPoPServerNonce(t *testing.T) {
	r := newRig(t, testdb.SQLite(t), nil, func(o *server.Options) { o.DPoPNonce = true })
	standard(t, r, 0)
	tokenURL := r.URL + "/oauth2/token"
	h := newHolder(t)
	cc := url.Values{"grant_type": {"client_credentials"}, "client_id": {"svc"}, "client_secret": {svcSecret}}

	first := r.postDPoP(t, cc, h.proof(t, tokenURL, ""))
	expectError(t, first, 400, "use_dpop_nonce")
	nonce := first.Header.Get("DPoP-Nonce")
	if nonce == "" {
		t.Fatal("use_dpop_nonce without a DPoP-Nonce header")
	}
	expectError(t, r.postDPoP(t, cc, h.proof(t, tokenURL, "made-up")), 400, "use_dpop_nonce")
	second := r.postDPoP(t, cc, h.proof(t, tokenURL, nonce))
	expectOK(t, second)
	if second.Header.Get("DPoP-Nonce") == "" {
		t.Fatal("a success does not carry the current nonce")
	}
}
