package main

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/rotor-auth/rotor/client"
	"github.com/rotor-auth/rotor/internal/dpop"
	"github.com/rotor-auth/rotor/internal/testrig"
)

const (
	audience = "https://orders.example.com"
	password = "correct horse battery staple"
	// rtKey is where the page keeps its refresh token (oauth.js).
	rtKey = "rotor-spa.refresh_token"
	// stepTimeout bounds each step of a browser test, so that a page that
	// never shows what a step waits for fails with that step's name.
	stepTimeout = 30 * time.Second
)

// page drives one tab of Chromium.
type page struct {
	t   *testing.T
	ctx context.Context
}

// do runs a named step; on failure it reports where the page is and
// what it says.
func (p *page) do(name string, steps ...chromedp.Action[chromedp.Void]) {
	p.t.Helper()
	ctx, cancel := context.WithTimeout(p.ctx, stepTimeout)
	defer cancel()
	if err := chromedp.Do(ctx, steps...); err != nil {
		p.t.Fatalf("%s: %v\n%s", name, err, p.state())
	}
}

// eval evaluates a JavaScript expression, awaiting it if it is a promise.
func (p *page) eval(expr string) string {
	p.t.Helper()
	ctx, cancel := context.WithTimeout(p.ctx, stepTimeout)
	defer cancel()
	v, err := chromedp.Run(ctx, chromedp.Evaluate[string](expr, chromedp.EvalAwaitPromise))
	if err != nil {
		p.t.Fatalf("evaluate %s: %v\n%s", expr, err, p.state())
	}
	return v
}

// waitText waits until the element's text contains want.
func (p *page) waitText(sel, want string) {
	p.t.Helper()
	js, _ := json.Marshal(want)
	p.do("wait for "+sel+" to say "+want,
		chromedp.Poll[chromedp.Void](`(document.querySelector('`+sel+`')?.textContent || '').toLowerCase().includes(`+strings.ToLower(string(js))+`)`,
			chromedp.WithPollingInterval(50*time.Millisecond), chromedp.WithPollingTimeout(stepTimeout)))
}

// state describes the page, for failure messages.
func (p *page) state() string {
	ctx, cancel := context.WithTimeout(p.ctx, 5*time.Second)
	defer cancel()
	v, err := chromedp.Run(ctx, chromedp.Evaluate[string](`location.href + '\n' + document.body.innerText`))
	if err != nil {
		return "(the page cannot be read: " + err.Error() + ")"
	}
	return "the page at " + v
}

// apiLine is what examples/api logs once it listens.
var apiLine = regexp.MustCompile(`orders API on (http://127\.0\.0\.1:[0-9]+)`)

// TestSPAEndToEnd runs the example in Chromium against the rotor binary
// and examples/api, each on its own loopback port: sign in through
// Rotor's login and consent pages, call the API with a DPoP-bound token,
// refresh and see the refresh token rotate, reload and carry on with the
// same key, and then a copy of an old refresh token, replayed from
// outside the browser, ends the session: the page's next refresh shows
// "signed out — sign in again".
func TestSPAEndToEnd(t *testing.T) {
	ctx := testrig.Chromium(t)
	rotor := testrig.NewRotorProcess(t)
	spa := httptest.NewUnstartedServer(nil)
	t.Cleanup(spa.Close)
	base := "http://" + spa.Listener.Addr().String()
	// CORS origins match exactly, port included, so the test's origin is
	// registered; --require-dpop makes Rotor refuse any token request of
	// the page that lacks a proof.
	rotor.CreateClient(t, "--id", "spa", "--public", "--name", "Example SPA",
		"--grant-types", "authorization_code,refresh_token", "--scopes", "openid profile offline_access orders:read",
		"--audiences", audience, "--redirect-uris", base+"/callback", "--post-logout-redirect-uris", base+"/",
		"--allowed-origins", base, "--require-dpop")
	rotor.CreateUser(t, "alice", password)
	// Server nonces on: the page must follow use_dpop_nonce (RFC 9449 §8).
	rotor.Serve(t, "--dpop-nonce")
	apiCmd := exec.Command(testrig.BuildCommand(t, "github.com/rotor-auth/rotor/examples/api"))
	apiCmd.Env = append(os.Environ(), "ISSUER="+rotor.URL, "AUDIENCE="+audience, "ADDR=127.0.0.1:0", "ALLOWED_ORIGINS="+base)
	api := testrig.StartCommand(t, apiCmd, apiLine)[1]
	cfg, err := configFrom(env{"ISSUER": rotor.URL, "CLIENT_ID": "spa", "API": api}.get)
	if err != nil {
		t.Fatal(err)
	}
	spa.Config.Handler = routes(cfg)
	spa.Start()

	p := &page{t: t, ctx: ctx}
	p.do("open the app", chromedp.Navigate(base+"/"), chromedp.WaitVisible(chromedp.ID("signin")))
	p.do("sign in at Rotor",
		chromedp.Click(chromedp.ID("signin")),
		chromedp.WaitVisible(chromedp.CSS(`input[name=username]`)),
		chromedp.SendKeys(chromedp.CSS(`input[name=username]`), "alice"),
		chromedp.SendKeys(chromedp.CSS(`input[name=password]`), password),
		chromedp.Submit(chromedp.CSS(`input[name=password]`)))
	p.do("allow on the consent page",
		chromedp.WaitVisible(chromedp.CSS(`button[name=decision][value=allow]`)),
		chromedp.Click(chromedp.CSS(`button[name=decision][value=allow]`)))
	p.do("back in the app, signed in", chromedp.WaitVisible(chromedp.ID("call")))
	p.waitText("#status", "Signed in as alice")
	if u := p.eval(`location.href`); u != base+"/" {
		t.Errorf("after sign-in the address is %s: the code must not stay in it", u)
	}

	// The key: ECDSA P-256, kept in IndexedDB, and not extractable.
	if k := p.eval(`new Promise((ok, fail) => {
		const r = indexedDB.open('rotor-spa');
		r.onerror = () => fail(r.error);
		r.onsuccess = () => {
			const g = r.result.transaction('keys').objectStore('keys').get('dpop');
			g.onerror = () => fail(g.error);
			g.onsuccess = () => {
				const k = g.result.privateKey;
				crypto.subtle.exportKey('jwk', k).then(() => 'exported', (e) => e.name).then((x) =>
					ok([k.extractable, k.algorithm.name, k.algorithm.namedCurve, k.usages.join(','), x].join(' ')));
			};
		};
	})`); k != "false ECDSA P-256 sign InvalidAccessError" {
		t.Errorf("the DPoP key is %q, want a non-extractable P-256 signing key", k)
	}
	if at := p.eval(`JSON.stringify(Object.keys(sessionStorage).concat(Object.keys(localStorage)).filter((k) => /access/.test(k)))`); at != "[]" {
		t.Errorf("the access token is kept in storage: %s", at)
	}

	p.do("call the API", chromedp.Click(chromedp.ID("call")))
	p.waitText("#api-result", "orders of ")
	if r := p.eval(`document.querySelector('#api-result').textContent`); !strings.HasPrefix(r, "200\n") || !strings.Contains(r, "(client spa)") {
		t.Fatalf("the API answered %q", r)
	}

	old := p.eval(`sessionStorage.getItem('` + rtKey + `')`)
	if !strings.HasPrefix(old, "rt_") {
		t.Fatalf("no refresh token in session storage (was offline_access granted?): %q", old)
	}
	p.do("refresh", chromedp.Click(chromedp.ID("refresh")))
	p.waitText("#status", "rotated (1)")
	rotated := p.eval(`sessionStorage.getItem('` + rtKey + `')`)
	if rotated == old || !strings.HasPrefix(rotated, "rt_") {
		t.Fatal("the refresh token did not rotate")
	}

	// A reload drops the access token (memory only) but not the refresh
	// token or the key: the next call refreshes, proving the same key, and
	// the API answers.
	p.do("reload", chromedp.Reload(), chromedp.WaitVisible(chromedp.ID("call")))
	p.waitText("#status", "Signed in as alice")
	p.do("call the API after the reload", chromedp.Click(chromedp.ID("call")))
	p.waitText("#api-result", "orders of ")
	if r := p.eval(`document.querySelector('#api-result').textContent`); !strings.HasPrefix(r, "200\n") {
		t.Fatalf("after the reload the API answered %q", r)
	}
	if p.eval(`sessionStorage.getItem('`+rtKey+`')`) == rotated {
		t.Error("the call after the reload did not refresh")
	}

	// A thief's copy of the first refresh token, presented from outside
	// the browser with the thief's own key: Rotor takes it for a replay
	// and revokes the whole session.
	code, e := replay(t, rotor.URL+"/oauth2/token", "spa", old)
	if code != http.StatusBadRequest || e != "invalid_grant" {
		t.Fatalf("the replayed refresh token: %d %q, want 400 invalid_grant", code, e)
	}
	p.do("refresh after the replay", chromedp.Click(chromedp.ID("refresh")))
	p.waitText("#status", "signed out — sign in again")
	p.do("the sign-in button is back", chromedp.WaitVisible(chromedp.ID("signin")))
	if rt := p.eval(`String(sessionStorage.getItem('` + rtKey + `'))`); rt != "null" {
		t.Error("the page kept the refused refresh token")
	}
	// And the operator sees why.
	if out := rotor.Run(t, "audit", "tail", "--type", "refresh_token_reuse_detected", "--json"); !strings.Contains(out, "refresh_token_reuse_detected") {
		t.Errorf("the audit trail does not show the replay:\n%s", out)
	}

	// Signing in again needs no password (Rotor's browser session lives
	// on) nor consent (remembered); signing out then revokes the new
	// session's refresh token and ends the browser session at Rotor.
	p.do("sign in again", chromedp.Click(chromedp.ID("signin")), chromedp.WaitVisible(chromedp.ID("signout")))
	p.waitText("#status", "Signed in as alice")
	last := p.eval(`sessionStorage.getItem('` + rtKey + `')`)
	p.do("sign out", chromedp.Click(chromedp.ID("signout")), chromedp.WaitVisible(chromedp.ID("signin")))
	p.waitText("#status", "Signed out.")
	if u := p.eval(`location.href`); u != base+"/" {
		t.Errorf("after sign-out the address is %s", u)
	}
	if code, e := replay(t, rotor.URL+"/oauth2/token", "spa", last); code != http.StatusBadRequest || e != "invalid_grant" {
		t.Errorf("the refresh token after sign-out: %d %q, want 400 invalid_grant", code, e)
	}
	p.do("a new sign-in asks for the password", chromedp.Click(chromedp.ID("signin")),
		chromedp.WaitVisible(chromedp.CSS(`input[name=password]`)))
}

// get makes a map an environment for configFrom.
type env map[string]string

func (e env) get(k string) string { return e[k] }

// replay presents rt at the token endpoint as a stolen copy would arrive:
// from another program, with a DPoP key of its own (following
// use_dpop_nonce once). It returns the status and error code.
func replay(t *testing.T, tokenURL, clientID, rt string) (int, string) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	d, err := client.NewDPoP(key)
	if err != nil {
		t.Fatal(err)
	}
	nonce := ""
	for attempt := 0; ; attempt++ {
		proof, err := d.Proof(http.MethodPost, tokenURL, "", nonce)
		if err != nil {
			t.Fatal(err)
		}
		req, _ := http.NewRequest(http.MethodPost, tokenURL, strings.NewReader(url.Values{
			"grant_type": {"refresh_token"}, "refresh_token": {rt}, "client_id": {clientID}}.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.Header.Set("DPoP", proof)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		var body struct {
			Error string `json:"error"`
		}
		_ = json.NewDecoder(resp.Body).Decode(&body)
		resp.Body.Close()
		if body.Error == "use_dpop_nonce" && attempt == 0 {
			nonce = resp.Header.Get("DPoP-Nonce")
			continue
		}
		return resp.StatusCode, body.Error
	}
}

// TestDPoPProofsFromTheBrowser checks the page's DPoP proofs with the
// server's own verifier: typ, alg, the public jwk only, htm, htu without
// query or fragment, iat, a fresh jti each time, and ath, the hash of the
// access token (RFC 9449 §4.2–4.3). It needs only the browser and the
// page's server.
func TestDPoPProofsFromTheBrowser(t *testing.T) {
	ctx := testrig.Chromium(t)
	cfg, err := configFrom(env{"ISSUER": "http://127.0.0.1:1", "API": "http://127.0.0.1:2"}.get)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(routes(cfg))
	defer srv.Close()
	p := &page{t: t, ctx: ctx}
	p.do("open the app", chromedp.Navigate(srv.URL+"/"))
	out := p.eval(`(async () => {
		const m = await import('/dpop.js');
		const a = await m.proof('POST', 'http://127.0.0.1:9090/orders?x=1#f', 'the-access-token');
		const b = await m.proof('POST', 'http://127.0.0.1:9090/orders', 'the-access-token');
		return JSON.stringify([a, b, await m.thumbprint()]);
	})()`)
	var got [3]string
	if err := json.Unmarshal([]byte(out), &got); err != nil {
		t.Fatal(err)
	}
	v := dpop.NewVerifier(nil, false, time.Now)
	var jtis []string
	for _, proof := range got[:2] {
		pr, err := v.Verify(proof, "POST", "http://127.0.0.1:9090/orders")
		if err != nil {
			t.Fatalf("the server refuses the page's proof: %v", err)
		}
		if pr.JKT != got[2] {
			t.Errorf("thumbprint %s, the page says %s", pr.JKT, got[2])
		}
		jtis = append(jtis, pr.JTI)
		payload, _ := base64.RawURLEncoding.DecodeString(strings.Split(proof, ".")[1])
		var c struct {
			ATH string `json:"ath"`
		}
		_ = json.Unmarshal(payload, &c)
		sum := sha256.Sum256([]byte("the-access-token"))
		if c.ATH != base64.RawURLEncoding.EncodeToString(sum[:]) {
			t.Errorf("ath %q is not the token's hash", c.ATH)
		}
		header, _ := base64.RawURLEncoding.DecodeString(strings.Split(proof, ".")[0])
		if strings.Contains(string(header), `"d"`) {
			t.Errorf("the proof's header holds a private key: %s", header)
		}
	}
	if jtis[0] == jtis[1] {
		t.Error("two proofs share a jti")
	}
}
