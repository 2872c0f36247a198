package client

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"
)

// FuzzParseTokenFile: the token file parser never panics, never quotes
// the file in its errors, and what it accepts survives a write and a read.
func FuzzParseTokenFile(f *testing.F) {
	f.Add([]byte(`{"version":1,"access_token":"a","token_type":"Bearer","refresh_token":"rt_x","expiry":"2030-01-02T03:04:05Z"}`))
	f.Add([]byte(`{"version":1,"access_token":""}`))
	f.Add([]byte(`{"version":2}`))
	f.Add([]byte(`{"version":1,"access_token":"a"} trailing`))
	f.Add([]byte(`[]`))
	f.Fuzz(func(t *testing.T, data []byte) {
		tok, err := parseTokenFile(data)
		if err != nil {
			if len(data) >= 8 && strings.Contains(err.Error(), string(data)) {
				t.Fatalf("error quotes the file: %v", err)
			}
			return
		}
		again, err := json.Marshal(tokenFile{Version: tokenFileVersion, AccessToken: tok.AccessToken,
			TokenType: tok.TokenType, RefreshToken: tok.RefreshToken, Expiry: tok.Expiry})
		if err != nil {
			t.Fatal(err)
		}
		tok2, err := parseTokenFile(again)
		if err != nil {
			t.Fatalf("re-encoded file refused: %v", err)
		}
		if tok2.AccessToken != tok.AccessToken || tok2.RefreshToken != tok.RefreshToken ||
			tok2.TokenType != tok.TokenType || !tok2.Expiry.Equal(tok.Expiry) {
			t.Fatalf("round trip changed the token")
		}
	})
}

// FuzzParseTokenResponse: a token response is accepted only with an
// access token and a type, its expiry is never before the request, and
// errors never quote the body (it holds tokens).
func FuzzParseTokenResponse(f *testing.F) {
	f.Add([]byte(`{"access_token":"a","token_type":"DPoP","expires_in":600,"refresh_token":"rt_x","scope":"read"}`))
	f.Add([]byte(`{"access_token":"a","token_type":"bearer","expires_in":"600"}`))
	f.Add([]byte(`{"access_token":"a","token_type":"bearer","expires_in":-1}`))
	f.Add([]byte(`{"access_token":"a","token_type":"bearer","expires_in":1e400}`))
	f.Add([]byte(`{"access_token":1}`))
	sent := time.Unix(1_700_000_000, 0)
	f.Fuzz(func(t *testing.T, body []byte) {
		tok, err := parseTokenResponse(body, sent)
		if err != nil {
			if len(body) >= 8 && strings.Contains(err.Error(), string(body)) {
				t.Fatalf("error quotes the body: %v", err)
			}
			return
		}
		if tok.AccessToken == "" || tok.TokenType == "" {
			t.Fatalf("accepted a response without access_token or token_type")
		}
		if !tok.Expiry.IsZero() && tok.Expiry.Before(sent) {
			t.Fatalf("expiry %v before the request", tok.Expiry)
		}
	})
}

// FuzzErrorAnswers: error bodies are parsed without panics, kept capped,
// and a 400 peeked at for use_dpop_nonce is handed back byte for byte.
func FuzzErrorAnswers(f *testing.F) {
	f.Add([]byte(`{"error":"invalid_grant","error_description":"gone"}`))
	f.Add([]byte(`{"error":"use_dpop_nonce"}`))
	f.Add([]byte(`<html>502</html>`))
	f.Add(bytes.Repeat([]byte("x"), maxNoncePeek+10))
	f.Fuzz(func(t *testing.T, body []byte) {
		resp := &http.Response{StatusCode: http.StatusBadRequest, Header: http.Header{}, Body: io.NopCloser(bytes.NewReader(body))}
		re := parseErrorResponse(resp, body)
		if len(re.Body) > maxErrorBody {
			t.Fatalf("kept %d bytes of the body", len(re.Body))
		}
		asks := asksForNonce(resp)
		got, err := io.ReadAll(resp.Body)
		if err != nil || !bytes.Equal(got, body) {
			t.Fatalf("the body was not handed back whole")
		}
		if asks && re.ErrorCode != "use_dpop_nonce" {
			t.Fatalf("asksForNonce and the error parser disagree")
		}
	})
}
