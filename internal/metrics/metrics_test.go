package metrics

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/rotor-auth/rotor/internal/audit"
	"github.com/rotor-auth/rotor/internal/store"
	"github.com/rotor-auth/rotor/internal/store/testdb"
)

// TestMiddlewareLabelsByPattern: requests are counted by the pattern the
// (nested) mux matched, with the query and path ids left out, and a
// request nothing matched is "unmatched".
func TestMiddlewareLabelsByPattern(t *testing.T) {
	m := New(nil)
	inner := http.NewServeMux()
	inner.HandleFunc("POST /oauth2/token", func(w http.ResponseWriter, _ *http.Request) {
		w.WriteHeader(http.StatusBadRequest)
	})
	inner.HandleFunc("GET /items/{id}", func(w http.ResponseWriter, _ *http.Request) {})
	outer := http.NewServeMux()
	outer.HandleFunc("GET /login", func(w http.ResponseWriter, _ *http.Request) {})
	outer.Handle("/", inner)
	srv := httptest.NewServer(m.Middleware(outer))
	defer srv.Close()

	for _, c := range []struct{ method, path string }{
		{"POST", "/oauth2/token?x=1"}, {"POST", "/oauth2/token"}, {"GET", "/items/123"},
		{"GET", "/login"}, {"GET", "/nope/123"}, {"BREW", "/oauth2/token"},
	} {
		req, _ := http.NewRequest(c.method, srv.URL+c.path, nil)
		resp, err := srv.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
	}
	for _, c := range []struct {
		handler, method, code string
		want                  float64
	}{
		{"POST /oauth2/token", "POST", "400", 2},
		{"GET /items/{id}", "GET", "200", 1},
		{"GET /login", "GET", "200", 1},
		{Unmatched, "GET", "404", 1},
		{Unmatched, Other, "405", 1},
	} {
		if got := testutil.ToFloat64(m.requests.WithLabelValues(c.handler, c.method, c.code)); got != c.want {
			t.Errorf("requests{%q,%q,%q} = %v, want %v", c.handler, c.method, c.code, got, c.want)
		}
	}
	if n := testutil.CollectAndCount(m.requests); n != 5 {
		t.Errorf("%d request series, want 5", n)
	}
	if n := testutil.CollectAndCount(m.duration); n != 5 {
		t.Errorf("%d duration series, want 5 (one per handler and method)", n)
	}
}

// TestTokenRequestLabelsAreClosed: a grant or code outside the known sets
// is "other".
func TestTokenRequestLabelsAreClosed(t *testing.T) {
	m := New([]string{"password", "refresh_token"})
	m.TokenRequest("password", "ok")
	m.TokenRequest("refresh_token", "invalid_grant")
	m.TokenRequest("urn:made-up", "ok")
	m.TokenRequest("password", "my_own_error")
	for _, c := range []struct {
		grant, outcome string
		want           float64
	}{
		{"password", "ok", 1}, {"refresh_token", "invalid_grant", 1}, {Other, "ok", 1}, {"password", Other, 1},
	} {
		if got := testutil.ToFloat64(m.tokens.WithLabelValues(c.grant, c.outcome)); got != c.want {
			t.Errorf("tokens{%q,%q} = %v, want %v", c.grant, c.outcome, got, c.want)
		}
	}
}

// TestEventLabelsAreClosed: types and reasons outside internal/audit's
// sets are "other"; RFC error codes of token_request_failed stay.
func TestEventLabelsAreClosed(t *testing.T) {
	m := New(nil)
	m.Event(audit.RefreshFailed, audit.ReasonExpiredIdle, 1)
	m.Event(audit.TokenRequestFailed, "invalid_scope", 1)
	m.Event("made_up", "alice", 2)
	m.Event(audit.FamilyCreated, "", 1)
	m.Event(audit.FamilyCreated, "", 0)
	for _, c := range []struct {
		typ, reason string
		want        float64
	}{
		{audit.RefreshFailed, audit.ReasonExpiredIdle, 1}, {audit.TokenRequestFailed, "invalid_scope", 1},
		{Other, Other, 2}, {audit.FamilyCreated, "", 1},
	} {
		if got := testutil.ToFloat64(m.events.WithLabelValues(c.typ, c.reason)); got != c.want {
			t.Errorf("events{%q,%q} = %v, want %v", c.typ, c.reason, got, c.want)
		}
	}
}

// TestStoreCountsCommittedEvents: events appended outside a transaction
// count at once, those of a transaction once it committed, and those of
// a rolled-back one never; an aggregated event counts as its Count.
func TestStoreCountsCommittedEvents(t *testing.T) {
	ctx := context.Background()
	m := New(nil)
	st := m.Store(testdb.SQLite(t))
	ev := func(typ, reason string, n int64) *store.Event {
		return &store.Event{Time: time.Now().UTC(), Type: typ, Reason: reason, Count: n}
	}
	count := func(typ, reason string) float64 { return testutil.ToFloat64(m.events.WithLabelValues(typ, reason)) }

	if err := st.AppendEvents(ctx, ev(audit.PasswordGrantFailed, audit.ReasonWrongPassword, 0),
		ev(audit.PasswordGrantFailed, audit.ReasonWrongPassword, 5)); err != nil {
		t.Fatal(err)
	}
	if got := count(audit.PasswordGrantFailed, audit.ReasonWrongPassword); got != 6 {
		t.Errorf("outside a transaction: %v, want 6", got)
	}

	var inside float64
	err := st.Tx(ctx, func(tx store.Tx) error {
		if err := tx.AppendEvents(ctx, ev(audit.TokenRotated, "", 0)); err != nil {
			return err
		}
		inside = count(audit.TokenRotated, "")
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if inside != 0 || count(audit.TokenRotated, "") != 1 {
		t.Errorf("committed transaction: %v before commit, %v after; want 0 and 1", inside, count(audit.TokenRotated, ""))
	}

	boom := errors.New("boom")
	err = st.Tx(ctx, func(tx store.Tx) error {
		if err := tx.AppendEvents(ctx, ev(audit.ReuseDetected, "", 0)); err != nil {
			return err
		}
		return boom
	})
	if !errors.Is(err, boom) {
		t.Fatal(err)
	}
	if got := count(audit.ReuseDetected, ""); got != 0 {
		t.Errorf("rolled-back transaction counted %v", got)
	}
	if evs, err := st.ListEvents(ctx, store.EventFilter{}); err != nil || len(evs) != 3 {
		t.Fatalf("stored %d events (%v), want 3", len(evs), err)
	}
}

// TestRefreshSetsGauges: the gauges take what their readers say, and a
// failed reading keeps the last value.
func TestRefreshSetsGauges(t *testing.T) {
	ctx := context.Background()
	m := New(nil)
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	n := int64(7)
	var fail error
	g := Gauges{
		Families:    func(context.Context) (int64, error) { return n, fail },
		KeyActiveAt: func(context.Context) (time.Time, bool, error) { return now.Add(-time.Hour), true, nil },
		Now:         func() time.Time { return now },
	}
	if err := m.Refresh(ctx, g); err != nil {
		t.Fatal(err)
	}
	if f, a := testutil.ToFloat64(m.families), testutil.ToFloat64(m.keyAge); f != 7 || a != 3600 {
		t.Fatalf("families %v, key age %v; want 7 and 3600", f, a)
	}
	n, fail = 9, errors.New("database down")
	if err := m.Refresh(ctx, g); err == nil {
		t.Fatal("a failed reading returned no error")
	}
	if f := testutil.ToFloat64(m.families); f != 7 {
		t.Fatalf("families %v after a failed reading, want the last value 7", f)
	}
}

// TestNilMetricsCountNothing: a nil *Metrics is a valid no-op.
func TestNilMetricsCountNothing(t *testing.T) {
	var m *Metrics
	m.TokenRequest("password", "ok")
	m.Event(audit.FamilyCreated, "", 1)
	h := http.NotFoundHandler()
	if got := m.Middleware(h); got == nil {
		t.Fatal("nil Middleware returned nil")
	}
	st := testdb.SQLite(t)
	if m.Store(st) != st {
		t.Fatal("nil Store wrapped the store")
	}
}
