// Package web serves the pages a person sees while an application signs
// them in: the login and consent pages of the authorization code flow
// (RFC 6749 §4.1) and the logout of OpenID Connect RP-Initiated Logout
// 1.0; the /device page of the device authorization grant (RFC 8628
// §3.3); and the signed-in user's sessions page (/account/sessions),
// where any family, or all of them, can be ended. It owns the browser's
// cookies (the session and the CSRF cookie), the templates and the
// embedded stylesheet. The authorization endpoint
// in internal/server validates a request, seals it (authz.Seal) and sends
// the browser to /login; from there on the flow is this package's, and
// it ends with a redirect to the client.
//
// Every answer is a page a person can continue from: an expired request
// offers to start again, a reload or the back button re-evaluates the
// request, and nothing in the browser is a dead end. See docs/design.md.
package web
