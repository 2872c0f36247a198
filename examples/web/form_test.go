package main

import (
	"fmt"
	"html"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
)

// This file is a small browser for the end-to-end test: it reads the
// forms of a page the way a person's browser submits them, so that the
// test goes through Rotor's login and consent pages as a user does.

// htmlForm is one form of a page: where it posts, its fields, and its
// submit buttons (name=value).
type htmlForm struct {
	action, method string
	fields         url.Values
	buttons        []htmlButton
}

type htmlButton struct{ name, value, id string }

var (
	tagRE  = regexp.MustCompile(`(?is)<(/?)(form|input|button|textarea)\b([^>]*)>`)
	attrRE = regexp.MustCompile(`(?s)([a-zA-Z_:][-a-zA-Z0-9_:.]*)(?:\s*=\s*(?:"([^"]*)"|'([^']*)'|([^\s"'>]+)))?`)
)

func attrs(s string) map[string]string {
	m := map[string]string{}
	for _, a := range attrRE.FindAllStringSubmatch(s, -1) {
		m[strings.ToLower(a[1])] = html.UnescapeString(a[2] + a[3] + a[4])
	}
	return m
}

// parseForms returns the forms of an HTML page.
func parseForms(page string) []*htmlForm {
	var forms []*htmlForm
	var cur *htmlForm
	for _, m := range tagRE.FindAllStringSubmatch(page, -1) {
		closing, tag, a := m[1] == "/", strings.ToLower(m[2]), attrs(m[3])
		switch {
		case tag == "form" && closing:
			cur = nil
		case tag == "form":
			cur = &htmlForm{action: a["action"], method: strings.ToUpper(a["method"]), fields: url.Values{}}
			forms = append(forms, cur)
		case cur == nil || closing:
		case tag == "button" || (tag == "input" && strings.EqualFold(a["type"], "submit")):
			cur.buttons = append(cur.buttons, htmlButton{name: a["name"], value: a["value"], id: a["id"]})
		case tag == "input" || tag == "textarea":
			if a["name"] != "" {
				cur.fields.Set(a["name"], a["value"])
			}
		}
	}
	return forms
}

// formWith returns the first form that has the field name.
func formWith(t *testing.T, page, field string) *htmlForm {
	t.Helper()
	for _, f := range parseForms(page) {
		if _, ok := f.fields[field]; ok {
			return f
		}
	}
	t.Fatalf("the page has no form with a field %q:\n%s", field, page)
	return nil
}

// formTo returns the first form that posts to action.
func formTo(t *testing.T, page, action string) *htmlForm {
	t.Helper()
	for _, f := range parseForms(page) {
		if f.action == action {
			return f
		}
	}
	t.Fatalf("the page has no form to %s:\n%s", action, page)
	return nil
}

// formWithButton returns the first form with a button name=value.
func formWithButton(t *testing.T, page, name, value string) *htmlForm {
	t.Helper()
	for _, f := range parseForms(page) {
		for _, b := range f.buttons {
			if b.name == name && b.value == value {
				return f
			}
		}
	}
	t.Fatalf("the page has no button %s=%s:\n%s", name, value, page)
	return nil
}

// browser is an HTTP client with a cookie jar that follows redirects, and
// remembers where it ended.
type browser struct {
	hc *http.Client
}

// visit is a page the browser landed on.
type visit struct {
	url    *url.URL
	status int
	body   string
}

func (b *browser) do(t *testing.T, req *http.Request) *visit {
	t.Helper()
	resp, err := b.hc.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", req.Method, req.URL, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		t.Fatal(err)
	}
	return &visit{url: resp.Request.URL, status: resp.StatusCode, body: string(body)}
}

func (b *browser) get(t *testing.T, u string) *visit {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, u, nil)
	if err != nil {
		t.Fatal(err)
	}
	return b.do(t, req)
}

// submit submits f of page v with the button name=value (none if name is
// ""), after setting fields.
func (b *browser) submit(t *testing.T, v *visit, f *htmlForm, button htmlButton, set map[string]string) *visit {
	t.Helper()
	action, err := v.url.Parse(f.action)
	if err != nil {
		t.Fatal(err)
	}
	vals := url.Values{}
	for k, vs := range f.fields {
		vals[k] = append([]string(nil), vs...)
	}
	for k, s := range set {
		vals.Set(k, s)
	}
	if button.name != "" {
		vals.Set(button.name, button.value)
	}
	var req *http.Request
	if f.method == http.MethodPost {
		req, err = http.NewRequest(http.MethodPost, action.String(), strings.NewReader(vals.Encode()))
		if err == nil {
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			// As a browser does: the page's origin, so that Origin checks see a same-origin post.
			req.Header.Set("Origin", v.url.Scheme+"://"+v.url.Host)
		}
	} else {
		action.RawQuery = vals.Encode()
		req, err = http.NewRequest(http.MethodGet, action.String(), nil)
	}
	if err != nil {
		t.Fatal(err)
	}
	return b.do(t, req)
}

func (v *visit) String() string { return fmt.Sprintf("%s (%d)", v.url, v.status) }

func TestParseForms(t *testing.T) {
	page := `<form method="post" action="/login?request=a&amp;b=1"><label>User <input name="username" autocomplete=username></label>
<input type="password" name='password'><input type="hidden" name="csrf_token" value="x&#34;y">
<button type="submit">Sign in</button></form>
<form method=post action="/consent"><input type=hidden name=csrf_token value=z>
<button name="decision" value="allow">Allow</button><button name="decision" value="deny">Deny</button></form>`
	fs := parseForms(page)
	if len(fs) != 2 {
		t.Fatalf("%d forms", len(fs))
	}
	if fs[0].action != "/login?request=a&b=1" || fs[0].method != "POST" || fs[0].fields.Get("csrf_token") != `x"y` ||
		!fs[0].fields.Has("username") || !fs[0].fields.Has("password") || len(fs[0].buttons) != 1 {
		t.Errorf("login form: %+v", fs[0])
	}
	if len(fs[1].buttons) != 2 || fs[1].buttons[1] != (htmlButton{name: "decision", value: "deny"}) || fs[1].fields.Get("csrf_token") != "z" {
		t.Errorf("consent form: %+v", fs[1])
	}
}
