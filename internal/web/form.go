package web

import (
	"errors"
	"net/http"

	"github.com/rotor-auth/rotor/internal/oauth"
)

// Fields of each form and query, with the longest value each may have.
// Anything else in a form is refused: a form of these pages never sends
// it, so it is not a person's browser that did.
var (
	loginFields   = fields{"username": 1024, "password": 4096, "csrf_token": 64, "request": maxSealed, "return": maxReturn}
	consentFields = fields{"decision": 16, "csrf_token": 64, "request": maxSealed, "session": 64}
	// The query of the consent page, and of the login page.
	requestQuery = fields{"request": maxSealed}
	loginQuery   = fields{"request": maxSealed, "return": maxReturn}
	// The /device page: the code form, then the confirmation's.
	deviceFields = fields{"user_code": maxUserCode, "csrf_token": 64, "decision": 16, "session": 64}
	deviceQuery  = fields{"user_code": maxUserCode}
	// The sessions page: end one, or all.
	sessionsFields = fields{"revoke": 128, "end_browser": 128, "sign_out_everywhere": 16, "csrf_token": 64}
	sessionsQuery  = fields{"ended": 16}
	// An RP-initiated logout (OIDC RP-Initiated Logout 1.0 §2), with the
	// confirmation form's own fields. ui_locales and logout_hint are
	// accepted and ignored.
	logoutFields = fields{"id_token_hint": 8 << 10, "client_id": 256, "post_logout_redirect_uri": 2048,
		"state": 2048, "ui_locales": 256, "logout_hint": 512, "csrf_token": 64, "logout": 16}
)

const (
	maxSealed = 16 << 10
	// maxUserCode is longer than any user code a person types with
	// spaces; authz.NormalizeUserCode refuses what is too long to be one.
	maxUserCode = 256
	maxReturn   = 256
)

// fields names the parameters a form or query may hold and caps each.
type fields map[string]int

// errForm is every refusal of a form: the person sees one page whatever
// was wrong with it.
var errForm = errors.New("web: malformed form")

// parseForm reads a page's POST body (capped by the page's MaxBytesReader)
// strictly: form encoding, UTF-8, every parameter once, none unknown,
// none too long. The query string is not read.
func parseForm(r *http.Request, allowed fields) (oauth.Form, error) {
	f, err := oauth.ParseForm(r, maxFormBytes)
	if err != nil {
		return nil, errForm
	}
	return checkFields(f, allowed, true)
}

// parseQuery reads a page's query string: the same rules, except that
// unknown parameters are ignored (a link may carry what a page does not
// use), and empty values count as absent.
func parseQuery(r *http.Request, allowed fields) (oauth.Form, error) {
	return parseQueryString(r.URL.RawQuery, allowed)
}

func parseQueryString(raw string, allowed fields) (oauth.Form, error) {
	if len(raw) > maxFormBytes {
		return nil, errForm
	}
	f, err := oauth.ParseFormBody(raw)
	if err != nil {
		return nil, errForm
	}
	return checkFields(f, allowed, false)
}

func checkFields(f oauth.Form, allowed fields, strict bool) (oauth.Form, error) {
	for name, vs := range f {
		limit, ok := allowed[name]
		if !ok {
			if strict {
				return nil, errForm
			}
			delete(f, name)
			continue
		}
		// oauth.ParseFormBody lets resource and audience repeat; no page
		// field may.
		if len(vs) != 1 || len(vs[0]) > limit {
			return nil, errForm
		}
	}
	return f, nil
}
