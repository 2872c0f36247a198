package client

import (
	"errors"
	"net/http"
	"strings"

	"golang.org/x/oauth2"
)

// Transport is an http.RoundTripper for calling APIs: it authorizes each
// request with the current access token from Source. A Bearer token is sent
// as "Authorization: Bearer"; a DPoP-bound token (token_type DPoP) as
// "Authorization: DPoP" with a proof bound to the token (ath), the
// request's method and URL, made with DPoP's key. When the API asks for a
// DPoP nonce (401 with use_dpop_nonce), the request is sent once more with
// it if its body can be sent again (http.NewRequest sets GetBody for the
// usual body types).
//
// golang.org/x/oauth2's own Transport cannot send DPoP proofs; use this one
// (or [Source.Client]) for DPoP-bound tokens.
type Transport struct {
	// Source supplies the access token; it is called on every request.
	Source oauth2.TokenSource
	// DPoP makes the proofs for DPoP-bound tokens; it must hold the key the
	// tokens are bound to. It may be nil if every token is a Bearer token.
	DPoP *DPoP
	// Base sends the requests; nil means http.DefaultTransport.
	Base http.RoundTripper
}

// RoundTrip authorizes and sends req. It does not modify req.
func (t *Transport) RoundTrip(req *http.Request) (*http.Response, error) {
	closeBody := func() {
		if req.Body != nil {
			req.Body.Close()
		}
	}
	if t.Source == nil {
		closeBody()
		return nil, errors.New("client: Transport has no Source")
	}
	tok, err := t.Source.Token()
	if err != nil {
		closeBody()
		return nil, err
	}
	r2 := req.Clone(req.Context())
	if strings.EqualFold(tok.TokenType, "DPoP") {
		if t.DPoP == nil {
			closeBody()
			return nil, errors.New("client: the access token is DPoP-bound but the Transport has no DPoP key")
		}
		return t.DPoP.roundTrip(baseOrDefault(t.Base), r2, tok.AccessToken)
	}
	r2.Header.Set("Authorization", "Bearer "+tok.AccessToken)
	return baseOrDefault(t.Base).RoundTrip(r2)
}
