package client

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"encoding/asn1"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/big"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"
)

// DPoP makes DPoP proofs (RFC 9449) with one private key, and remembers the
// nonces servers hand out. Tokens obtained with its proofs are bound to the
// key: the server refuses to refresh them, and resource servers refuse to
// accept them, without a proof made with the same key. Keep the key as long
// as the tokens (a CLI stores it beside them).
//
// A DPoP is safe for concurrent use.
type DPoP struct {
	key    crypto.Signer
	alg    string
	hash   crypto.Hash // 0 for EdDSA, which signs the message itself
	size   int         // bytes of each of r and s, for ECDSA
	header string      // base64url of the protected header, the same for every proof
	jkt    string
	now    func() time.Time

	mu     sync.Mutex
	nonces map[string]string // origin → the last DPoP-Nonce it sent
}

// maxNonces caps the remembered nonces, one per origin; a program that
// talks to more origins than this just asks again.
const maxNonces = 64

// NewDPoP returns a proof maker for key, which must be an ECDSA key on P-256
// (ES256, the algorithm every DPoP server supports) or P-384 (ES384), or an
// Ed25519 key (EdDSA). The key may live in hardware: only its Sign method is
// used.
func NewDPoP(key crypto.Signer) (*DPoP, error) {
	if key == nil {
		return nil, errors.New("client: DPoP key is nil")
	}
	d := &DPoP{key: key, now: time.Now}
	var jwk string
	switch pub := key.Public().(type) {
	case *ecdsa.PublicKey:
		var crv string
		switch pub.Curve {
		case elliptic.P256():
			d.alg, d.hash, d.size, crv = "ES256", crypto.SHA256, 32, "P-256"
		case elliptic.P384():
			d.alg, d.hash, d.size, crv = "ES384", crypto.SHA384, 48, "P-384"
		default:
			return nil, fmt.Errorf("client: DPoP: unsupported ECDSA curve %s", pub.Curve.Params().Name)
		}
		pk, err := pub.ECDH()
		if err != nil {
			return nil, fmt.Errorf("client: DPoP: %w", err)
		}
		b := pk.Bytes() // 0x04 | X | Y, each padded to the curve size
		x, y := b64(b[1:1+d.size]), b64(b[1+d.size:])
		// RFC 7638 §3: the required members, in lexicographic order, no
		// whitespace. The same text serves as the header's jwk.
		jwk = `{"crv":"` + crv + `","kty":"EC","x":"` + x + `","y":"` + y + `"}`
	case ed25519.PublicKey:
		d.alg = "EdDSA"
		jwk = `{"crv":"Ed25519","kty":"OKP","x":"` + b64(pub) + `"}`
	default:
		return nil, fmt.Errorf("client: DPoP: unsupported key type %T", pub)
	}
	sum := sha256.Sum256([]byte(jwk))
	d.jkt = b64(sum[:])
	h, err := json.Marshal(struct {
		Typ string          `json:"typ"`
		Alg string          `json:"alg"`
		JWK json.RawMessage `json:"jwk"`
	}{"dpop+jwt", d.alg, json.RawMessage(jwk)})
	if err != nil {
		return nil, err
	}
	d.header = b64(h)
	return d, nil
}

// Thumbprint returns the RFC 7638 JWK SHA-256 thumbprint of the public key,
// base64url-encoded: the value of the cnf.jkt claim of the tokens bound to
// it.
func (d *DPoP) Thumbprint() string { return d.jkt }

// Algorithm returns the JWS algorithm of the proofs ("ES256", ...).
func (d *DPoP) Algorithm() string { return d.alg }

// proofClaims are the claims of a DPoP proof (RFC 9449 §4.2).
type proofClaims struct {
	JTI   string `json:"jti"`
	HTM   string `json:"htm"`
	HTU   string `json:"htu"`
	IAT   int64  `json:"iat"`
	Nonce string `json:"nonce,omitempty"`
	// ATH is the hash of the access token, on requests that carry one.
	ATH string `json:"ath,omitempty"`
}

// Proof returns a DPoP proof for one HTTP request: method and target URL
// (its query and fragment are left out, as RFC 9449 §4.2 says), the access
// token the request carries ("" for a token request) and the server's nonce
// ("" if it asked for none). Every proof has a fresh random jti, so a proof
// must not be reused for another request.
func (d *DPoP) Proof(method, target, accessToken, nonce string) (string, error) {
	htu, err := htuOf(target)
	if err != nil {
		return "", err
	}
	if method == "" {
		method = http.MethodGet
	}
	c := proofClaims{JTI: rand.Text(), HTM: method, HTU: htu, IAT: d.now().Unix(), Nonce: nonce}
	if accessToken != "" {
		sum := sha256.Sum256([]byte(accessToken))
		c.ATH = b64(sum[:])
	}
	body, err := json.Marshal(c)
	if err != nil {
		return "", err
	}
	input := d.header + "." + b64(body)
	sig, err := d.sign([]byte(input))
	if err != nil {
		return "", fmt.Errorf("client: DPoP: sign: %w", err)
	}
	return input + "." + b64(sig), nil
}

// sign returns the JWS signature of input (RFC 7518 §3.4: ECDSA as r | s,
// each padded to the curve size, not ASN.1).
func (d *DPoP) sign(input []byte) ([]byte, error) {
	if d.hash == 0 {
		return d.key.Sign(rand.Reader, input, crypto.Hash(0))
	}
	h := d.hash.New()
	h.Write(input)
	der, err := d.key.Sign(rand.Reader, h.Sum(nil), d.hash)
	if err != nil {
		return nil, err
	}
	var rs struct{ R, S *big.Int }
	rest, err := asn1.Unmarshal(der, &rs)
	if err != nil || len(rest) > 0 || rs.R == nil || rs.S == nil ||
		rs.R.Sign() <= 0 || rs.S.Sign() <= 0 || rs.R.BitLen() > 8*d.size || rs.S.BitLen() > 8*d.size {
		return nil, errors.New("the key returned a malformed ECDSA signature")
	}
	out := make([]byte, 2*d.size)
	rs.R.FillBytes(out[:d.size])
	rs.S.FillBytes(out[d.size:])
	return out, nil
}

// htuOf returns the htu claim for target: the URL without query and
// fragment.
func htuOf(target string) (string, error) {
	u, err := url.Parse(target)
	if err != nil {
		return "", fmt.Errorf("client: DPoP: %w", err)
	}
	if u.Scheme == "" || u.Host == "" {
		return "", fmt.Errorf("client: DPoP: %q is not an absolute URL", target)
	}
	u.RawQuery, u.ForceQuery, u.Fragment, u.RawFragment, u.User = "", false, "", "", nil
	return u.String(), nil
}

func origin(u *url.URL) string { return strings.ToLower(u.Scheme) + "://" + strings.ToLower(u.Host) }

func (d *DPoP) nonce(origin string) string {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.nonces[origin]
}

func (d *DPoP) setNonce(origin, nonce string) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.nonces == nil || len(d.nonces) >= maxNonces {
		d.nonces = make(map[string]string)
	}
	d.nonces[origin] = nonce
}

// Transport returns a RoundTripper for token requests: it adds a proof for
// each request's method and URL and, when the server asks for a nonce
// (error use_dpop_nonce with a DPoP-Nonce header), sends the request once
// more with it. Use it to get the first token of a DPoP-bound session with
// golang.org/x/oauth2, through the oauth2.HTTPClient context key. base nil
// means http.DefaultTransport.
func (d *DPoP) Transport(base http.RoundTripper) http.RoundTripper {
	return roundTripFunc(func(req *http.Request) (*http.Response, error) {
		return d.roundTrip(baseOrDefault(base), req.Clone(req.Context()), "")
	})
}

type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

func baseOrDefault(rt http.RoundTripper) http.RoundTripper {
	if rt == nil {
		return http.DefaultTransport
	}
	return rt
}

// maxNoncePeek caps how much of a 400 answer is read to see whether it asks
// for a nonce; the bytes read are given back to the caller.
const maxNoncePeek = 16 << 10

// roundTrip sends req, which the caller owns, with a proof and, when
// accessToken is set, "Authorization: DPoP"; it retries once with a fresh
// nonce if the server demands one and the body can be sent again.
func (d *DPoP) roundTrip(base http.RoundTripper, req *http.Request, accessToken string) (*http.Response, error) {
	org := origin(req.URL)
	nonce := d.nonce(org)
	for try := 0; ; try++ {
		proof, err := d.Proof(req.Method, req.URL.String(), accessToken, nonce)
		if err != nil {
			if req.Body != nil {
				req.Body.Close()
			}
			return nil, err
		}
		if accessToken != "" {
			req.Header.Set("Authorization", "DPoP "+accessToken)
		}
		req.Header.Set("DPoP", proof)
		resp, err := base.RoundTrip(req)
		if err != nil {
			return nil, err
		}
		fresh := resp.Header.Get("DPoP-Nonce")
		if fresh != "" {
			d.setNonce(org, fresh)
		}
		if try > 0 || fresh == "" || fresh == nonce || !replayable(req) || !asksForNonce(resp) {
			return resp, nil
		}
		_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, maxNoncePeek))
		resp.Body.Close()
		next := req.Clone(req.Context())
		if req.GetBody != nil {
			if next.Body, err = req.GetBody(); err != nil {
				return nil, err
			}
		}
		req, nonce = next, fresh
	}
}

// replayable reports whether req's body can be sent a second time.
func replayable(req *http.Request) bool {
	return req.Body == nil || req.Body == http.NoBody || req.GetBody != nil
}

// asksForNonce reports whether resp is a use_dpop_nonce error: a 401 with
// the code in WWW-Authenticate (resource servers, RFC 9449 §9) or a 400
// with it in the JSON body (authorization servers, §8). A 400 body that is
// read to find out is put back.
func asksForNonce(resp *http.Response) bool {
	switch resp.StatusCode {
	case http.StatusUnauthorized:
		for _, v := range resp.Header.Values("WWW-Authenticate") {
			if strings.Contains(v, "use_dpop_nonce") {
				return true
			}
		}
	case http.StatusBadRequest:
		peek, err := io.ReadAll(io.LimitReader(resp.Body, maxNoncePeek))
		resp.Body = struct {
			io.Reader
			io.Closer
		}{io.MultiReader(bytes.NewReader(peek), resp.Body), resp.Body}
		if err != nil {
			return false
		}
		var e struct {
			Error string `json:"error"`
		}
		return json.Unmarshal(peek, &e) == nil && e.Error == "use_dpop_nonce"
	}
	return false
}

func b64(b []byte) string { return base64.RawURLEncoding.EncodeToString(b) }
