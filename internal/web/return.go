package web

import (
	"net/url"
	"strings"

	"github.com/rotor-auth/rotor/internal/authz"
	"github.com/rotor-auth/rotor/internal/oauth"
)

// A sign-in that no application asked for (a person who opens /device or
// /account/sessions signed out) carries the page to go back to in the
// login form's return field. That field is the browser's to change, so it
// must not make the login an open redirector: localReturn accepts only
// the two pages, with no scheme, host or fragment, and for /device only a
// well-formed user code in the query. It returns the path rebuilt from
// what it parsed, never the input itself, so nothing of the input but a
// normalised user code reaches a Location header.

// localReturn parses a return path; ok is false for anything but
// /device, /device?user_code=<a well-formed code> and /account/sessions.
// Its result is accepted by itself unchanged.
func localReturn(raw string) (string, bool) {
	if len(raw) > maxReturn {
		return "", false
	}
	path, query, hasQuery := strings.Cut(raw, "?")
	switch path {
	case SessionsPath:
		if hasQuery {
			return "", false
		}
		return SessionsPath, true
	case DevicePath:
		if !hasQuery {
			return DevicePath, true
		}
		f, err := oauth.ParseFormBody(query)
		if err != nil || len(f) != 1 || len(f["user_code"]) != 1 {
			return "", false
		}
		code, ok := authz.NormalizeUserCode(f.Get("user_code"))
		if !ok {
			return "", false
		}
		return deviceWith(code), true
	}
	return "", false
}

// deviceReturn is the /device page to come back to with what a person
// typed: the code kept if it can be one, dropped otherwise.
func deviceReturn(typed string) string {
	if code, ok := authz.NormalizeUserCode(typed); ok {
		return deviceWith(code)
	}
	return DevicePath
}

// deviceWith is the /device page pre-filled with a normalised code, in
// the form the device authorization endpoint's verification_uri_complete
// has (RFC 8628 §3.3.1).
func deviceWith(code string) string {
	return DevicePath + "?" + url.Values{"user_code": {authz.FormatUserCode(code)}}.Encode()
}
