package dpop_test

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/hmac"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"strings"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"

	"github.com/rotor-auth/rotor/internal/dpop"
)

const endpoint = "https://auth.example/oauth2/token"

var clock = time.Unix(1_800_000_000, 0)

func now() time.Time { return clock }

// proof signs claims with key, with header typ and an embedded jwk of pub.
func proof(t testing.TB, key crypto.Signer, alg jose.SignatureAlgorithm, typ string, pub any, claims map[string]any) string {
	t.Helper()
	opts := (&jose.SignerOptions{}).WithType(jose.ContentType(typ))
	if pub != nil {
		opts.EmbedJWK = false
		opts = opts.WithHeader("jwk", pub)
	}
	s, err := jose.NewSigner(jose.SigningKey{Algorithm: alg, Key: key}, opts)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := json.Marshal(claims)
	obj, err := s.Sign(b)
	if err != nil {
		t.Fatal(err)
	}
	out, err := obj.CompactSerialize()
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func good() map[string]any {
	return map[string]any{"jti": "j1", "htm": "POST", "htu": endpoint, "iat": clock.Unix()}
}

func with(k string, v any) map[string]any {
	c := good()
	if v == nil {
		delete(c, k)
	} else {
		c[k] = v
	}
	return c
}

func thumb(t testing.TB, pub crypto.PublicKey) string {
	tp, err := (&jose.JSONWebKey{Key: pub}).Thumbprint(crypto.SHA256)
	if err != nil {
		t.Fatal(err)
	}
	return base64.RawURLEncoding.EncodeToString(tp)
}

func TestVerify(t *testing.T) {
	ec, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	other, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	_, ed, _ := ed25519.GenerateKey(rand.Reader)
	pubJWK := jose.JSONWebKey{Key: ec.Public()}
	privJWK := jose.JSONWebKey{Key: ec}
	v := dpop.NewVerifier([]byte("nonce key"), false, now)

	p, err := v.Verify(proof(t, ec, jose.ES256, "dpop+jwt", pubJWK, good()), "POST", endpoint)
	if err != nil {
		t.Fatalf("good proof refused: %v", err)
	}
	if p.JKT != thumb(t, ec.Public()) || p.JTI != "j1" {
		t.Fatalf("proof %+v", p)
	}
	edp, err := v.Verify(proof(t, ed, jose.EdDSA, "dpop+jwt", jose.JSONWebKey{Key: ed.Public()}, good()), "POST", endpoint)
	if err != nil || edp.JKT != thumb(t, ed.Public()) {
		t.Fatalf("EdDSA proof: %v", err)
	}
	// Same URL, spelled differently, with a query: still the endpoint.
	if _, err := v.Verify(proof(t, ec, jose.ES256, "dpop+jwt", pubJWK, with("htu", "HTTPS://Auth.Example:443/oauth2/token?x=1#f")), "POST", endpoint); err != nil {
		t.Fatalf("equivalent htu refused: %v", err)
	}

	hmacProof := func() string {
		// HS256 keyed with the public key's bytes, the classic confusion.
		h := base64.RawURLEncoding.EncodeToString([]byte(`{"alg":"HS256","typ":"dpop+jwt"}`))
		b, _ := json.Marshal(good())
		body := h + "." + base64.RawURLEncoding.EncodeToString(b)
		m := hmac.New(sha256.New, elliptic.MarshalCompressed(elliptic.P256(), ec.X, ec.Y))
		m.Write([]byte(body))
		return body + "." + base64.RawURLEncoding.EncodeToString(m.Sum(nil))
	}()
	noneProof := base64.RawURLEncoding.EncodeToString([]byte(`{"alg":"none","typ":"dpop+jwt"}`)) + "." +
		base64.RawURLEncoding.EncodeToString([]byte(`{"jti":"x","htm":"POST","htu":"`+endpoint+`","iat":1800000000}`)) + "."
	for name, tc := range map[string]struct {
		proof  string
		method string
	}{
		"empty":              {"", "POST"},
		"garbage":            {"a.b.c", "POST"},
		"too long":           {strings.Repeat("a", dpop.MaxProofLen+1), "POST"},
		"alg none":           {noneProof, "POST"},
		"HS256 with pub key": {hmacProof, "POST"},
		"wrong typ":          {proof(t, ec, jose.ES256, "JWT", pubJWK, good()), "POST"},
		"no jwk":             {proof(t, ec, jose.ES256, "dpop+jwt", nil, good()), "POST"},
		"private jwk":        {proof(t, ec, jose.ES256, "dpop+jwt", privJWK, good()), "POST"},
		"jwk of another key": {proof(t, ec, jose.ES256, "dpop+jwt", jose.JSONWebKey{Key: other.Public()}, good()), "POST"},
		"wrong method":       {proof(t, ec, jose.ES256, "dpop+jwt", pubJWK, good()), "GET"},
		"htm lowercase":      {proof(t, ec, jose.ES256, "dpop+jwt", pubJWK, with("htm", "post")), "POST"},
		"other URL":          {proof(t, ec, jose.ES256, "dpop+jwt", pubJWK, with("htu", "https://auth.example/oauth2/revoke")), "POST"},
		"other host":         {proof(t, ec, jose.ES256, "dpop+jwt", pubJWK, with("htu", "https://evil.example/oauth2/token")), "POST"},
		"http for https":     {proof(t, ec, jose.ES256, "dpop+jwt", pubJWK, with("htu", "http://auth.example/oauth2/token")), "POST"},
		"no jti":             {proof(t, ec, jose.ES256, "dpop+jwt", pubJWK, with("jti", nil)), "POST"},
		"huge jti":           {proof(t, ec, jose.ES256, "dpop+jwt", pubJWK, with("jti", strings.Repeat("j", 300))), "POST"},
		"no iat":             {proof(t, ec, jose.ES256, "dpop+jwt", pubJWK, with("iat", nil)), "POST"},
		"old iat":            {proof(t, ec, jose.ES256, "dpop+jwt", pubJWK, with("iat", clock.Add(-2*time.Minute).Unix())), "POST"},
		"future iat":         {proof(t, ec, jose.ES256, "dpop+jwt", pubJWK, with("iat", clock.Add(2*time.Minute).Unix())), "POST"},
		"iat as string":      {proof(t, ec, jose.ES256, "dpop+jwt", pubJWK, with("iat", "1800000000")), "POST"},
	} {
		t.Run(name, func(t *testing.T) {
			if p, err := v.Verify(tc.proof, tc.method, endpoint); err == nil {
				t.Fatalf("accepted: %+v", p)
			}
		})
	}
}

// TestVerifyJWKAlg: a proof's jwk that names its alg (RFC 7517 §4.4)
// takes only signatures made with that alg; one that names none takes
// any algorithm its type fits.
func TestVerifyJWKAlg(t *testing.T) {
	rsaKey, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	ec, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	v := dpop.NewVerifier([]byte("nonce key"), false, now)
	for _, tc := range []struct {
		name   string
		key    crypto.Signer
		jwkAlg string
		alg    jose.SignatureAlgorithm
		ok     bool
	}{
		{"RS256 key, RS256", rsaKey, "RS256", jose.RS256, true},
		{"RS256 key, PS256", rsaKey, "RS256", jose.PS256, false},
		{"PS256 key, RS256", rsaKey, "PS256", jose.RS256, false},
		{"PS256 key, PS256", rsaKey, "PS256", jose.PS256, true},
		{"RSA key without alg, PS256", rsaKey, "", jose.PS256, true},
		{"ES256 key, ES256", ec, "ES256", jose.ES256, true},
		{"ES384 label on a P-256 key", ec, "ES384", jose.ES256, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			jwk := jose.JSONWebKey{Key: tc.key.Public(), Algorithm: tc.jwkAlg}
			_, err := v.Verify(proof(t, tc.key, tc.alg, "dpop+jwt", jwk, good()), "POST", endpoint)
			if tc.ok && err != nil {
				t.Fatalf("refused: %v", err)
			}
			if !tc.ok && err == nil {
				t.Fatal("accepted")
			}
		})
	}
}

func TestReplayCache(t *testing.T) {
	ec, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	other, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	at := clock
	v := dpop.NewVerifier([]byte("k"), false, func() time.Time { return at })
	mk := func(key *ecdsa.PrivateKey, iat time.Time) *dpop.Proof {
		p, err := v.Verify(proof(t, key, jose.ES256, "dpop+jwt", jose.JSONWebKey{Key: key.Public()}, with("iat", iat.Unix())), "POST", endpoint)
		if err != nil {
			t.Fatal(err)
		}
		return p
	}
	p := mk(ec, at)
	if v.Seen(p) || !v.Remember(p) {
		t.Fatal("first use refused")
	}
	if !v.Seen(p) || v.Remember(p) {
		t.Fatal("replayed proof accepted")
	}
	// The same jti under another key is another proof.
	if q := mk(other, at); v.Seen(q) || !v.Remember(q) {
		t.Fatal("same jti under another key refused")
	}
	// A proof issued a minute ahead stays acceptable to Verify until two
	// minutes from now: it must stay remembered that long, across the
	// generations of the cache.
	ahead := mk(ec, at.Add(59*time.Second))
	ahead.JTI = "ahead"
	v.Remember(ahead)
	for _, d := range []time.Duration{30 * time.Second, 90 * time.Second, 119 * time.Second} {
		at = clock.Add(d)
		if !v.Seen(ahead) {
			t.Fatalf("a proof still acceptable %s later was forgotten", d)
		}
	}
	// One remembered late in a generation outlives the rotation.
	at = clock.Add(110 * time.Second)
	late := mk(ec, at.Add(59*time.Second))
	late.JTI = "late"
	v.Remember(late)
	for _, d := range []time.Duration{11 * time.Second, 60 * time.Second, 119 * time.Second} {
		at = clock.Add(110*time.Second + d)
		if !v.Seen(late) {
			t.Fatalf("a proof remembered late in a generation was forgotten %s later", d)
		}
	}
	// Far past the window everything is forgotten, and Verify refuses the
	// stale proof anyway.
	at = clock.Add(10 * time.Minute)
	if v.Seen(p) || v.Seen(ahead) {
		t.Fatal("entries outlived the window")
	}
	if _, err := v.Verify(proof(t, ec, jose.ES256, "dpop+jwt", jose.JSONWebKey{Key: ec.Public()}, good()), "POST", endpoint); err == nil {
		t.Fatal("stale proof accepted")
	}
}

func TestNonces(t *testing.T) {
	ec, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	at := clock
	v := dpop.NewVerifier([]byte("shared nonce key"), true, func() time.Time { return at })
	replica := dpop.NewVerifier([]byte("shared nonce key"), true, func() time.Time { return at })
	stranger := dpop.NewVerifier([]byte("another key"), true, func() time.Time { return at })
	mk := func(nonce string) string {
		c := with("iat", at.Unix())
		if nonce != "" {
			c["nonce"] = nonce
		}
		return proof(t, ec, jose.ES256, "dpop+jwt", jose.JSONWebKey{Key: ec.Public()}, c)
	}
	var de *dpop.Error
	_, err := v.Verify(mk(""), "POST", endpoint)
	if !asNonce(err, &de) {
		t.Fatalf("proof without nonce: %v", err)
	}
	n := v.Nonce()
	if _, err := replica.Verify(mk(n), "POST", endpoint); err != nil {
		t.Fatalf("a replica refused the shared nonce: %v", err)
	}
	if _, err := stranger.Verify(mk(n), "POST", endpoint); !asNonce(err, &de) {
		t.Fatalf("a nonce under another key: %v", err)
	}
	at = at.Add(6 * time.Minute) // next bucket: still good
	if _, err := v.Verify(mk(n), "POST", endpoint); err != nil {
		t.Fatalf("nonce of the previous bucket refused: %v", err)
	}
	at = at.Add(10 * time.Minute)
	if _, err := v.Verify(mk(n), "POST", endpoint); !asNonce(err, &de) {
		t.Fatalf("expired nonce: %v", err)
	}
}

func asNonce(err error, de **dpop.Error) bool {
	e, ok := err.(*dpop.Error)
	*de = e
	return ok && e.NonceRequired
}

func FuzzVerify(f *testing.F) {
	ec, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	f.Add(proof(f, ec, jose.ES256, "dpop+jwt", jose.JSONWebKey{Key: ec.Public()}, good()))
	f.Add("eyJhbGciOiJub25lIn0.e30.")
	f.Add("a.b.c")
	v := dpop.NewVerifier([]byte("k"), false, now)
	f.Fuzz(func(t *testing.T, s string) {
		p, err := v.Verify(s, "POST", endpoint)
		if err == nil && (p.JKT == "" || p.JTI == "") {
			t.Fatalf("accepted a proof without key or jti: %+v", p)
		}
	})
}
