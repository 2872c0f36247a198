package metrics

import (
	"context"
	"net/http"
	"slices"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/rotor-auth/rotor/internal/audit"
)

// Other stands for a label value outside its closed set, so that no
// caller's input ever becomes a label value.
const Other = "other"

// Unmatched is the handler label of a request no mux pattern matched.
const Unmatched = "unmatched"

// Metrics is Rotor's set of Prometheus metrics. It is safe for concurrent
// use; a nil *Metrics counts nothing, so tests and tools that need no
// metrics pass nil.
type Metrics struct {
	reg *prometheus.Registry

	requests *prometheus.CounterVec
	duration *prometheus.HistogramVec
	tokens   *prometheus.CounterVec
	events   *prometheus.CounterVec
	families prometheus.Gauge
	keyAge   prometheus.Gauge

	grants  map[string]bool
	types   map[string]bool
	reasons map[string]bool
}

// New returns the metrics, with their own registry. grants are the grant
// types the token endpoint knows (server.GrantTypes): any other becomes
// "other".
func New(grants []string) *Metrics {
	m := &Metrics{
		reg: prometheus.NewRegistry(),
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "rotor_http_requests_total",
			Help: "HTTP requests answered, by the route pattern they matched, method and status code.",
		}, []string{"handler", "method", "code"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "rotor_http_request_duration_seconds",
			Help:    "Time to answer an HTTP request, by the route pattern it matched and method.",
			Buckets: []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10},
		}, []string{"handler", "method"}),
		tokens: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "rotor_token_requests_total",
			Help: "Token endpoint requests, by grant type and outcome (ok, or the RFC 6749 §5.2 error code).",
		}, []string{"grant", "outcome"}),
		events: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "rotor_audit_events_total",
			Help: "Audit events committed, by type and reason (docs/design.md lists them).",
		}, []string{"type", "reason"}),
		families: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "rotor_families_stored",
			Help: "Refresh-token families stored, live or not yet deleted by the janitor; refreshed periodically.",
		}),
		keyAge: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "rotor_signing_key_age_seconds",
			Help: "Age of the signing key in use, since it became active; refreshed periodically.",
		}),
		grants:  set(grants),
		types:   set(audit.Types()),
		reasons: map[string]bool{},
	}
	for _, r := range audit.Reasons() {
		m.reasons[string(r)] = true
	}
	for _, c := range audit.ProtocolErrors() {
		m.reasons[c] = true
	}
	m.reg.MustRegister(m.requests, m.duration, m.tokens, m.events, m.families, m.keyAge,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}

func set(values []string) map[string]bool {
	s := make(map[string]bool, len(values))
	for _, v := range values {
		s[v] = true
	}
	return s
}

// Handler serves the metrics in the Prometheus text format, for the admin
// listener.
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{Registry: m.reg})
}

// Registry returns the metrics' own registry, for tests that gather it.
func (m *Metrics) Registry() *prometheus.Registry { return m.reg }

// methods are the methods counted by name; any other is "other" (a
// client chooses the method, so it is no bounded set otherwise).
var methods = []string{http.MethodGet, http.MethodHead, http.MethodPost, http.MethodPut,
	http.MethodPatch, http.MethodDelete, http.MethodOptions}

func method(m string) string {
	if slices.Contains(methods, m) {
		return m
	}
	return Other
}

// code is the status label: the exact code, from a bounded range.
func code(status int) string {
	if status < 100 || status > 599 {
		return Other
	}
	return strconv.Itoa(status)
}

// Middleware wraps a mux, counting and timing each request by the pattern
// the mux matched (r.Pattern, e.g. "POST /oauth2/token"), never its path;
// a request no pattern matched is "unmatched". http.ServeMux sets Pattern
// in place on the request it is given before calling the handler, and a
// mux nested under "/" (internal/server's) sets it again on the same
// request; so the middleware hands the mux a shallow copy of its own and
// reads the pattern from that copy after serving. A handler in between
// that passed on a copy (r.WithContext) before the inner mux would leave
// the outer pattern: the test of serve's handler checks the patterns of
// the real chain.
func (m *Metrics) Middleware(mux http.Handler) http.Handler {
	if m == nil {
		return mux
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		rec := &statusWriter{ResponseWriter: w, status: http.StatusOK}
		r2 := r.WithContext(r.Context()) // a shallow copy the mux may mark
		r2.Pattern = ""
		mux.ServeHTTP(rec, r2)
		handler := r2.Pattern
		if handler == "" {
			handler = Unmatched
		}
		meth := method(r.Method)
		m.requests.WithLabelValues(handler, meth, code(rec.status)).Inc()
		m.duration.WithLabelValues(handler, meth).Observe(time.Since(start).Seconds())
	})
}

// statusWriter remembers the status code written.
type statusWriter struct {
	http.ResponseWriter
	status      int
	wroteHeader bool
}

func (s *statusWriter) WriteHeader(code int) {
	if !s.wroteHeader && code >= 200 {
		s.status, s.wroteHeader = code, true
	}
	s.ResponseWriter.WriteHeader(code)
}

func (s *statusWriter) Write(b []byte) (int, error) {
	s.wroteHeader = true
	return s.ResponseWriter.Write(b)
}

// Unwrap lets http.ResponseController reach the connection (deadlines,
// flushing).
func (s *statusWriter) Unwrap() http.ResponseWriter { return s.ResponseWriter }

// TokenRequest counts one token endpoint request: grant is its grant type
// and outcome "ok" or the RFC error code of its refusal. A grant outside
// the known ones, or a code outside audit.ProtocolErrors, is "other".
func (m *Metrics) TokenRequest(grant, outcome string) {
	if m == nil {
		return
	}
	if !m.grants[grant] {
		grant = Other
	}
	if outcome != "ok" {
		outcome = string(audit.ProtocolError(outcome))
	}
	m.tokens.WithLabelValues(grant, outcome).Inc()
}

// Event counts n audit events of a type and reason; values outside the
// closed sets of internal/audit are "other", and an empty reason stays
// empty (most events have none).
func (m *Metrics) Event(typ, reason string, n int64) {
	if m == nil || n <= 0 {
		return
	}
	if !m.types[typ] {
		typ = Other
	}
	if reason != "" && !m.reasons[reason] {
		reason = Other
	}
	m.events.WithLabelValues(typ, reason).Add(float64(n))
}

// Gauges are what [Metrics.Refresh] reads; either may be nil.
type Gauges struct {
	// Families counts the stored families (store.CountFamilies).
	Families func(ctx context.Context) (int64, error)
	// KeyActiveAt is when the signing key in use became active; false
	// when none is.
	KeyActiveAt func(ctx context.Context) (time.Time, bool, error)
	Now         func() time.Time
}

// Refresh sets the gauges once; it returns the first error, leaving the
// gauge whose reading failed at its last value.
func (m *Metrics) Refresh(ctx context.Context, g Gauges) error {
	if m == nil {
		return nil
	}
	var first error
	if g.Families != nil {
		n, err := g.Families(ctx)
		if err != nil {
			first = err
		} else {
			m.families.Set(float64(n))
		}
	}
	if g.KeyActiveAt != nil && g.Now != nil {
		switch at, ok, err := g.KeyActiveAt(ctx); {
		case err != nil && first == nil:
			first = err
		case err == nil && ok:
			m.keyAge.Set(g.Now().Sub(at).Seconds())
		}
	}
	return first
}

// RefreshInterval is how often serve refreshes the gauges: counting the
// families is a query over the whole table, not one per request.
const RefreshInterval = 30 * time.Second

// Run refreshes the gauges at once and then every interval until ctx
// ends; a failed reading is reported to onErr and retried next time.
func (m *Metrics) Run(ctx context.Context, every time.Duration, g Gauges, onErr func(error)) {
	if m == nil {
		return
	}
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		if err := m.Refresh(ctx, g); err != nil && ctx.Err() == nil && onErr != nil {
			onErr(err)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}
