package main

import (
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

var adminLine = regexp.MustCompile(`(?m)^  admin +http://(\S+)/metrics$`)

// TestServeMetrics runs serve, makes token requests that succeed, fail
// and replay, and parses the admin listener's /metrics with the
// Prometheus text parser: the families are there with their labels and
// conventional names, the counts match what was done, and no label value
// is a client id, a username or a raw path.
func TestServeMetrics(t *testing.T) {
	h := newHarness(t)
	const clientID, username = "secret-client-xyz", "user-name-xyz"
	h.ok("user", "create", "--username", username, "--password", "correct horse")
	created := decode[clientView](t, h.ok("client", "create", "--id", clientID, "--generate-secret",
		"--grant-types", "password,refresh_token", "--scopes", "read", "--json"))
	issuer, out, _, _ := startServe(t, h, "--reuse-grace", "0s")
	m := adminLine.FindStringSubmatch(out.String())
	if m == nil {
		t.Fatalf("the banner names no admin address:\n%s", out)
	}
	admin := "http://" + m[1]

	post := func(path, id, secret string, form url.Values) (int, map[string]any) {
		req, _ := http.NewRequest(http.MethodPost, issuer+path, strings.NewReader(form.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.SetBasicAuth(id, secret)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var v map[string]any
		_ = json.NewDecoder(resp.Body).Decode(&v)
		return resp.StatusCode, v
	}
	code, tok := post("/oauth2/token?x=1", clientID, created.ClientSecret,
		url.Values{"grant_type": {"password"}, "username": {username}, "password": {"correct horse"}})
	if code != 200 {
		t.Fatalf("password grant: %d %v", code, tok)
	}
	old := tok["refresh_token"].(string)
	if code, v := post("/oauth2/token", clientID, created.ClientSecret,
		url.Values{"grant_type": {"refresh_token"}, "refresh_token": {old}}); code != 200 {
		t.Fatalf("refresh: %d %v", code, v)
	}
	// The rotated-out token again: a replay, which revokes the family.
	if code, v := post("/oauth2/token", clientID, created.ClientSecret,
		url.Values{"grant_type": {"refresh_token"}, "refresh_token": {old}}); code != 400 {
		t.Fatalf("replay: %d %v", code, v)
	}
	if code, v := post("/oauth2/token", clientID, created.ClientSecret,
		url.Values{"grant_type": {"password"}, "username": {username}, "password": {"wrong"}}); code != 400 {
		t.Fatalf("wrong password: %d %v", code, v)
	}
	if code, v := post("/oauth2/token", "unknown-client-xyz", "x", url.Values{"grant_type": {"password"}}); code != 401 {
		t.Fatalf("unknown client: %d %v", code, v)
	}
	if code, v := post("/oauth2/token", clientID, created.ClientSecret, url.Values{"grant_type": {"urn:grant-xyz"}}); code != 400 {
		t.Fatalf("unknown grant: %d %v", code, v)
	}
	resp, err := http.Get(issuer + "/nope/123")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()

	if resp, err := http.Get(issuer + "/metrics"); err != nil || resp.StatusCode != http.StatusNotFound {
		t.Fatalf("the public listener answers /metrics: %v %v", resp.Status, err)
	}
	resp, err = http.Get(admin + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET /metrics: %s", resp.Status)
	}
	body, _ := io.ReadAll(resp.Body)
	parser := expfmt.NewTextParser(model.UTF8Validation)
	families, err := parser.TextToMetricFamilies(strings.NewReader(string(body)))
	if err != nil {
		t.Fatalf("the Prometheus text parser refuses /metrics: %v\n%s", err, body)
	}

	// Names and labels.
	for name, want := range map[string]struct {
		typ    dto.MetricType
		labels []string
	}{
		"rotor_http_requests_total":           {dto.MetricType_COUNTER, []string{"code", "handler", "method"}},
		"rotor_http_request_duration_seconds": {dto.MetricType_HISTOGRAM, []string{"handler", "method"}},
		"rotor_token_requests_total":          {dto.MetricType_COUNTER, []string{"grant", "outcome"}},
		"rotor_audit_events_total":            {dto.MetricType_COUNTER, []string{"reason", "type"}},
		"rotor_families_stored":               {dto.MetricType_GAUGE, nil},
		"rotor_signing_key_age_seconds":       {dto.MetricType_GAUGE, nil},
	} {
		f := families[name]
		if f == nil {
			t.Errorf("no metric %s", name)
			continue
		}
		if f.GetType() != want.typ {
			t.Errorf("%s is a %v, want %v", name, f.GetType(), want.typ)
		}
		for _, mt := range f.GetMetric() {
			var got []string
			for _, l := range mt.GetLabel() {
				got = append(got, l.GetName())
			}
			if strings.Join(got, ",") != strings.Join(want.labels, ",") {
				t.Errorf("%s has labels %v, want %v", name, got, want.labels)
			}
		}
	}
	for name, f := range families {
		if !strings.HasPrefix(name, "rotor_") {
			continue
		}
		switch f.GetType() {
		case dto.MetricType_COUNTER:
			if !strings.HasSuffix(name, "_total") {
				t.Errorf("counter %s does not end in _total", name)
			}
		case dto.MetricType_HISTOGRAM:
			if !strings.HasSuffix(name, "_seconds") {
				t.Errorf("histogram %s does not end in _seconds", name)
			}
		}
	}

	// No label value is a caller's string.
	for name, f := range families {
		for _, mt := range f.GetMetric() {
			for _, l := range mt.GetLabel() {
				for _, bad := range []string{clientID, "unknown-client-xyz", username, "x=1", "/nope", "123", "urn:grant-xyz"} {
					if strings.Contains(l.GetValue(), bad) {
						t.Errorf("%s{%s=%q} carries %q", name, l.GetName(), l.GetValue(), bad)
					}
				}
			}
		}
	}

	// The counts of what was done.
	value := func(name string, labels map[string]string) float64 {
		f := families[name]
	next:
		for _, mt := range f.GetMetric() {
			for _, l := range mt.GetLabel() {
				if v, ok := labels[l.GetName()]; ok && v != l.GetValue() {
					continue next
				}
			}
			if c := mt.GetCounter(); c != nil {
				return c.GetValue()
			}
			return mt.GetGauge().GetValue()
		}
		return 0
	}
	for _, c := range []struct {
		name   string
		labels map[string]string
		want   float64
	}{
		{"rotor_token_requests_total", map[string]string{"grant": "password", "outcome": "ok"}, 1},
		{"rotor_token_requests_total", map[string]string{"grant": "refresh_token", "outcome": "ok"}, 1},
		{"rotor_token_requests_total", map[string]string{"grant": "refresh_token", "outcome": "invalid_grant"}, 1},
		{"rotor_token_requests_total", map[string]string{"grant": "password", "outcome": "invalid_grant"}, 1},
		{"rotor_token_requests_total", map[string]string{"grant": "password", "outcome": "invalid_client"}, 1},
		{"rotor_token_requests_total", map[string]string{"grant": "other", "outcome": "unsupported_grant_type"}, 1},
		{"rotor_http_requests_total", map[string]string{"handler": "POST /oauth2/token", "method": "POST", "code": "200"}, 2},
		{"rotor_http_requests_total", map[string]string{"handler": "unmatched", "method": "GET", "code": "404"}, 2},
		{"rotor_audit_events_total", map[string]string{"type": "family_created", "reason": ""}, 1},
		{"rotor_audit_events_total", map[string]string{"type": "token_rotated", "reason": ""}, 1},
		{"rotor_audit_events_total", map[string]string{"type": "refresh_token_reuse_detected", "reason": ""}, 1},
		{"rotor_audit_events_total", map[string]string{"type": "family_revoked", "reason": "reuse_detected"}, 1},
		{"rotor_audit_events_total", map[string]string{"type": "password_grant_failed", "reason": "wrong_password"}, 1},
		{"rotor_audit_events_total", map[string]string{"type": "client_auth_failed", "reason": "unknown_client"}, 1},
	} {
		if got := value(c.name, c.labels); got != c.want {
			t.Errorf("%s%v = %v, want %v", c.name, c.labels, got, c.want)
		}
	}
	if age := value("rotor_signing_key_age_seconds", nil); age < 0 {
		t.Errorf("signing key age %v", age)
	}
}
