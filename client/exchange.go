package client

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"golang.org/x/oauth2"
)

// Size caps for what the token endpoint sends back.
const (
	// maxTokenResponse is far above any real token response (a few KiB);
	// a larger one is refused rather than read into memory.
	maxTokenResponse = 1 << 20
	// maxErrorBody is how much of an error answer is kept in a
	// RetrieveError, for the log.
	maxErrorBody = 1 << 10
)

// firstBackoff is the wait before the first retry; it doubles each time.
const firstBackoff = 250 * time.Millisecond

// transientError marks a failure after which the same request may be sent
// again: no answer, a cut-off answer, a 5xx or a 429.
type transientError struct {
	err        error
	retryAfter time.Duration
}

func (e *transientError) Error() string { return e.err.Error() }
func (e *transientError) Unwrap() error { return e.err }

// exchange rotates rt, retrying with the same rt while the failures are
// transient, within Retries and RetryWindow.
func (s *Source) exchange(ctx context.Context, rt string) (*oauth2.Token, error) {
	start := time.Now()
	backoff := firstBackoff
	for attempt := 0; ; attempt++ {
		tok, err := s.post(ctx, rt)
		var te *transientError
		if !errors.As(err, &te) {
			return tok, err
		}
		// Jitter spreads the retries of many clients after an outage.
		wait := backoff/2 + rand.N(backoff)
		if te.retryAfter > wait {
			wait = te.retryAfter
		}
		if attempt >= s.cfg.Retries || time.Since(start)+wait > s.cfg.RetryWindow {
			return nil, te.err
		}
		if err := s.wait(ctx, wait); err != nil {
			return nil, err
		}
		backoff *= 2
	}
}

// post sends one refresh request.
func (s *Source) post(ctx context.Context, rt string) (*oauth2.Token, error) {
	oc := s.cfg.OAuth2
	form := url.Values{"grant_type": {"refresh_token"}, "refresh_token": {rt}}
	basic := oc.ClientSecret != "" && oc.Endpoint.AuthStyle != oauth2.AuthStyleInParams
	if !basic {
		form.Set("client_id", oc.ClientID)
		if oc.ClientSecret != "" {
			form.Set("client_secret", oc.ClientSecret)
		}
	}
	actx, cancel := context.WithTimeout(ctx, s.cfg.RequestTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(actx, http.MethodPost, oc.Endpoint.TokenURL, strings.NewReader(form.Encode()))
	if err != nil {
		return nil, fmt.Errorf("client: token request: %w", err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Accept", "application/json")
	if basic {
		// RFC 6749 §2.3.1: both parts form-encoded before Basic.
		req.SetBasicAuth(url.QueryEscape(oc.ClientID), url.QueryEscape(oc.ClientSecret))
	}
	sent := s.now()
	resp, err := s.hc.Do(req)
	if err != nil {
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		return nil, &transientError{err: fmt.Errorf("client: refresh: %w", err)}
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxTokenResponse+1))
	switch {
	case err != nil:
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		// The server may have rotated the token and the answer was cut
		// off: the same request gets the same successor in the grace
		// period.
		return nil, &transientError{err: fmt.Errorf("client: refresh: reading the answer: %w", err)}
	case len(body) > maxTokenResponse:
		return nil, fmt.Errorf("client: refresh: the answer is larger than %d bytes", maxTokenResponse)
	}

	if resp.StatusCode >= 200 && resp.StatusCode < 300 {
		tok, err := parseTokenResponse(body, sent)
		if err != nil {
			// Most likely an answer mangled on the way; the server may
			// well have rotated, so ask again.
			return nil, &transientError{err: err}
		}
		return tok, nil
	}
	re := parseErrorResponse(resp, body)
	redact(re, rt)
	switch {
	case resp.StatusCode >= 500:
		return nil, &transientError{err: re}
	case resp.StatusCode == http.StatusTooManyRequests:
		return nil, &transientError{err: re, retryAfter: retryAfter(resp.Header.Get("Retry-After"))}
	case re.ErrorCode == "invalid_grant":
		return nil, &ReauthError{Reason: "invalid_grant", Err: re}
	}
	return nil, re
}

// tokenResponse is a successful token response (RFC 6749 §5.1).
type tokenResponse struct {
	AccessToken  string `json:"access_token"`
	TokenType    string `json:"token_type"`
	RefreshToken string `json:"refresh_token"`
	// ExpiresIn is a number by the RFC; some servers send a string.
	ExpiresIn json.RawMessage `json:"expires_in"`
}

// parseTokenResponse parses a 2xx answer; sent is when the request was
// sent, the safe base for expires_in. Errors never quote the body: it may
// hold tokens.
func parseTokenResponse(body []byte, sent time.Time) (*oauth2.Token, error) {
	var r tokenResponse
	if err := json.Unmarshal(body, &r); err != nil {
		return nil, errors.New("client: refresh: the token response is not valid JSON")
	}
	var raw map[string]any
	if err := json.Unmarshal(body, &raw); err != nil {
		return nil, errors.New("client: refresh: the token response is not a JSON object")
	}
	if r.AccessToken == "" || r.TokenType == "" {
		return nil, errors.New("client: refresh: the token response lacks access_token or token_type")
	}
	exp, err := expiresIn(r.ExpiresIn)
	if err != nil {
		return nil, err
	}
	tok := &oauth2.Token{AccessToken: r.AccessToken, TokenType: r.TokenType, RefreshToken: r.RefreshToken, ExpiresIn: exp}
	if exp > 0 {
		tok.Expiry = sent.Add(time.Duration(exp) * time.Second)
	}
	return tok.WithExtra(raw), nil
}

// maxExpiresIn caps expires_in at ten years, so that the Duration cannot
// overflow.
const maxExpiresIn = 10 * 365 * 24 * 3600

func expiresIn(raw json.RawMessage) (int64, error) {
	if len(raw) == 0 || string(raw) == "null" {
		return 0, nil
	}
	s := string(raw)
	if unq, err := strconv.Unquote(s); err == nil {
		s = unq
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil || n < 0 || n > maxExpiresIn {
		return 0, errors.New("client: refresh: expires_in is not a valid number of seconds")
	}
	return n, nil
}

// parseErrorResponse builds the RetrieveError for a non-2xx answer (RFC
// 6749 §5.2); a body that is not the RFC's JSON leaves the codes empty.
func parseErrorResponse(resp *http.Response, body []byte) *oauth2.RetrieveError {
	re := &oauth2.RetrieveError{Response: resp, Body: body}
	if len(re.Body) > maxErrorBody {
		re.Body = re.Body[:maxErrorBody]
	}
	var e struct {
		Error            string `json:"error"`
		ErrorDescription string `json:"error_description"`
		ErrorURI         string `json:"error_uri"`
	}
	if json.Unmarshal(body, &e) == nil {
		re.ErrorCode, re.ErrorDescription, re.ErrorURI = e.Error, e.ErrorDescription, e.ErrorURI
	}
	return re
}

// redact removes the refresh token from an error answer that echoes the
// request (some proxies' error pages do), so that it cannot reach a log
// through the error.
func redact(re *oauth2.RetrieveError, rt string) {
	const mask = "[refresh token]"
	if bytes.Contains(re.Body, []byte(rt)) {
		re.Body = bytes.ReplaceAll(re.Body, []byte(rt), []byte(mask))
	}
	re.ErrorDescription = strings.ReplaceAll(re.ErrorDescription, rt, mask)
	re.ErrorURI = strings.ReplaceAll(re.ErrorURI, rt, mask)
}

// retryAfter parses a Retry-After header in seconds; dates and junk count
// as no hint.
func retryAfter(v string) time.Duration {
	n, err := strconv.Atoi(strings.TrimSpace(v))
	if err != nil || n < 0 || n > 3600 {
		return 0
	}
	return time.Duration(n) * time.Second
}
