package web

import (
	"bytes"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"html/template"
	"io/fs"
	"net/http"
	"net/url"
	"strings"
)

//go:embed templates/*.html static/*
var assets embed.FS

// stylesheet is the one stylesheet; its URL carries a hash of its content
// so that a browser may cache it and still sees a new one at once.
const stylesheet = "rotor.css"

// pages holds the parsed templates and the stylesheet.
type pages struct {
	tmpl   map[string]*template.Template
	css    []byte
	cssURL string
}

// view is what a page shows. Every field is text: html/template escapes
// it for where it lands.
type view struct {
	Title string
	// Alert is a message the person must notice (role=alert): a failed
	// sign-in, an error.
	Alert string
	// Notice is a calmer message.
	Notice string
	// Help says what to do next, under the message.
	Help string
	// Link and LinkText let the person go on (start again).
	Link, LinkText string

	CSRF    string
	Request string
	// Return is the page of Rotor's own a sign-in goes on to, when no
	// application asked for it; Purpose says why, on the login page.
	Return, Purpose string
	// Client is the name of the application asking.
	Client   string
	Username string
	// SignedInAs is the user of the browser's session.
	SignedInAs string
	// Session is the public id of the browser session the consent page
	// was shown in: the answer counts only for that session's user.
	Session string
	Scopes  []scopeLine

	// Logout carries the parameters of an RP-initiated logout.
	ClientID, PostLogoutRedirectURI, State string

	// The /device page: the code, and the device that asked (RFC 8628
	// §5.4): its address, user agent, and how long ago.
	UserCode, DeviceIP, DeviceUA, Asked string
	// YourIP is the address of the person looking, to compare with the
	// device's.
	YourIP string
	// Families are the sessions page's lines.
	Families []familyLine
	// Browsers are the sessions page's browser sessions, this one first.
	Browsers []browserLine
	// Wide widens the card, for a list.
	Wide bool

	css string
}

// CSS is the stylesheet's URL, for the templates.
func (v *view) CSS() string { return v.css }

func loadPages() (*pages, error) {
	css, err := assets.ReadFile("static/" + stylesheet)
	if err != nil {
		return nil, err
	}
	sum := sha256.Sum256(css)
	p := &pages{tmpl: map[string]*template.Template{}, css: css,
		cssURL: assetsPath + stylesheet + "?v=" + hex.EncodeToString(sum[:6])}
	names, err := fs.Glob(assets, "templates/*.html")
	if err != nil {
		return nil, err
	}
	for _, n := range names {
		name := strings.TrimSuffix(strings.TrimPrefix(n, "templates/"), ".html")
		if name == "layout" {
			continue
		}
		t, err := template.New(name).ParseFS(assets, "templates/layout.html", n)
		if err != nil {
			return nil, err
		}
		p.tmpl[name] = t
	}
	return p, nil
}

// render writes page name with the headers every page carries. formTargets
// are the URLs a form of the page may end up at after its redirects: CSP
// form-action applies to every redirect that follows a submission (CSP 3
// §6.4.1; Chromium enforces it), so a form whose answer sends the browser
// to a client must name the client's origin.
func (h *Handler) render(w http.ResponseWriter, status int, name string, v *view, formTargets ...string) {
	t, ok := h.pages.tmpl[name]
	if !ok {
		panic("web: no template " + name)
	}
	v.css = h.pages.cssURL
	var b bytes.Buffer
	if err := t.ExecuteTemplate(&b, "layout", v); err != nil {
		// Only a template bug gets here: the data are plain strings.
		h.log.Error("template failed", "page", name, "err", err)
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	pageHeaders(w.Header(), formAction(name, formTargets))
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(status)
	_, _ = w.Write(b.Bytes())
}

// formAction is the CSP form-action of a page: none for pages without a
// form; 'self' and the origins of the redirect targets otherwise.
func formAction(name string, targets []string) string {
	if name == "message" {
		return "'none'"
	}
	src := []string{"'self'"}
	for _, t := range targets {
		s, ok := cspSource(t)
		if !ok {
			// A target that cannot be written as a source expression:
			// leaving form-action out is safer than a page whose form
			// the browser refuses to complete.
			return ""
		}
		src = append(src, s)
	}
	return strings.Join(src, " ")
}

// cspSource is the CSP source expression that allows a URL: its origin
// for http(s), its scheme for a private-use scheme (RFC 8252 §7.1).
func cspSource(raw string) (string, bool) {
	u, err := url.Parse(raw)
	if err != nil || u.Scheme == "" {
		return "", false
	}
	var s string
	switch u.Scheme {
	case "http", "https":
		if u.Host == "" {
			return "", false
		}
		s = u.Scheme + "://" + u.Host
	default:
		s = u.Scheme + ":"
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || strings.IndexByte(".-+:/[]", c) >= 0) {
			return "", false
		}
	}
	return s, true
}

// pageHeaders are the headers of every page: no framing (clickjacking of
// the consent button), no caching (a page holds a CSRF token and a
// sealed request), no referrer (the URL holds the sealed request), and a
// CSP that allows only the embedded stylesheet.
func pageHeaders(h http.Header, formAction string) {
	csp := "default-src 'none'; style-src 'self'; img-src 'self'; frame-ancestors 'none'; base-uri 'none'"
	if formAction != "" {
		csp += "; form-action " + formAction
	}
	h.Set("Content-Security-Policy", csp)
	h.Set("X-Frame-Options", "DENY")
	h.Set("Cache-Control", "no-store")
	h.Set("Pragma", "no-cache")
	h.Set("Referrer-Policy", "no-referrer")
	h.Set("X-Content-Type-Options", "nosniff")
}

func (h *Handler) handleAsset(w http.ResponseWriter, r *http.Request) {
	if r.PathValue("file") != stylesheet {
		http.NotFound(w, r)
		return
	}
	w.Header().Set("Content-Type", "text/css; charset=utf-8")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.Header().Set("Cache-Control", "public, max-age=86400")
	_, _ = w.Write(h.pages.css)
}
