package server

import (
	"errors"
	"net/http"
	"net/url"
	"time"

	"github.com/rotor-auth/rotor/internal/authz"
	"github.com/rotor-auth/rotor/internal/oauth"
	"github.com/rotor-auth/rotor/internal/ratelimit"
	"github.com/rotor-auth/rotor/internal/users"
)

// DevicePath is the page where a person types a user code (RFC 8628
// §3.3); internal/web serves it.
const DevicePath = "/device"

// deviceStartLimit bounds the device authorization requests of one
// address: 5 at once, then one every 30 s (50 codes pending per address
// at most, in a code's 10 minutes by default).
var deviceStartLimit = ratelimit.Limit{Burst: 5, Every: 30 * time.Second}

// deviceAuthorization is the answer of RFC 8628 §3.2.
type deviceAuthorization struct {
	DeviceCode              string `json:"device_code"`
	UserCode                string `json:"user_code"`
	VerificationURI         string `json:"verification_uri"`
	VerificationURIComplete string `json:"verification_uri_complete"`
	ExpiresIn               int64  `json:"expires_in"`
	Interval                int64  `json:"interval"`
}

// handleDeviceAuthorization is POST /oauth2/device_authorization (RFC
// 8628 §3.1): the client authenticates as at the token endpoint (a public
// client names itself), and gets a device code and a user code.
func (s *Server) handleDeviceAuthorization(w http.ResponseWriter, r *http.Request) {
	f, err := oauth.ParseForm(r, s.opts.MaxBodyBytes)
	if err != nil {
		s.writeErr(w, r, err)
		return
	}
	r, cancel := s.withDeadline(w, r)
	defer cancel()
	c, err := s.authenticate(r, f)
	if err != nil {
		s.writeErr(w, r, err)
		return
	}
	if !c.AllowsGrant(oauth.GrantDeviceCode) {
		s.writeErr(w, r, oauth.UnauthorizedClient("the client may not use the device authorization grant"))
		return
	}
	// Per address (an IPv6 /64 counts as one): a public client's
	// requests need no secret, so without it one caller could fill the
	// client's pending cap and lock every real device out.
	if ok, retry := s.deviceStarts.Take("device:"+users.Source(s.meta(r).IP), deviceStartLimit); !ok {
		s.writeErr(w, r, oauth.TooManyRequests("too many device sign-ins from this address; retry later",
			int(max(1, retry.Round(time.Second)/time.Second))))
		return
	}
	scopes, oe := authorizeScopes(f, c)
	if oe != nil {
		s.writeErr(w, r, oe)
		return
	}
	aud, err := s.audience(f, c)
	if err != nil {
		s.writeErr(w, r, err)
		return
	}
	var resources []string
	if len(f.All("resource"))+len(f.All("audience")) > 0 {
		resources = aud
	}
	start, err := s.opts.Authz.StartDevice(r.Context(), c, scopes, resources, s.meta(r))
	if errors.Is(err, authz.ErrTooManyPending) {
		s.writeErr(w, r, oauth.TooManyRequests("too many devices of this client are waiting for a user; retry later", 30))
		return
	}
	if err != nil {
		s.writeErr(w, r, err)
		return
	}
	page := s.opts.Issuer + DevicePath
	oauth.WriteJSON(w, deviceAuthorization{
		DeviceCode:              start.DeviceCode,
		UserCode:                start.UserCode,
		VerificationURI:         page,
		VerificationURIComplete: page + "?" + url.Values{"user_code": {start.UserCode}}.Encode(),
		ExpiresIn:               int64(start.ExpiresIn / time.Second),
		Interval:                int64((start.Interval + time.Second - 1) / time.Second),
	})
}
