package bench

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// Grants the bench knows, in the order it runs them.
const (
	GrantRefresh           = "refresh_token"
	GrantClientCredentials = "client_credentials"
	GrantIntrospect        = "introspect"
	GrantRevoke            = "revoke"
	// GrantFloor is the floor server's one request.
	GrantFloor = "floor"
)

// AllGrants lists the grants of a default run.
var AllGrants = []string{GrantRefresh, GrantClientCredentials, GrantIntrospect, GrantRevoke}

// maxResponseBytes caps what the bench reads of an answer.
const maxResponseBytes = 64 << 10

// endpoint is one URL the bench posts forms to, with the bench client's
// HTTP Basic credentials (client_secret_basic).
type endpoint struct {
	url   string
	authz string
}

func newEndpoint(base, path, clientID, secret string) endpoint {
	cred := url.QueryEscape(clientID) + ":" + url.QueryEscape(secret)
	return endpoint{url: base + path, authz: "Basic " + base64.StdEncoding.EncodeToString([]byte(cred))}
}

// post sends a form and returns the status and body of the answer.
func (e endpoint) post(ctx context.Context, hc *http.Client, form string) (int, []byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, e.url, strings.NewReader(form))
	if err != nil {
		return 0, nil, err
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Authorization", e.authz)
	req.Header.Set("User-Agent", "rotor-bench")
	resp, err := hc.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxResponseBytes))
	return resp.StatusCode, body, err
}

// workload sends one kind of request. do is called by many workers at
// once; it reports whether the request succeeded, and done when the
// workload has nothing left to send (a pool used up).
type workload interface {
	do(ctx context.Context, hc *http.Client) (ok, done bool)
}

// formWorkload posts the same form every time and expects 200 (and, when
// check is set, a body check accepts).
type formWorkload struct {
	ep    endpoint
	form  string
	check func(body []byte) bool
}

func (w *formWorkload) do(ctx context.Context, hc *http.Client) (bool, bool) {
	code, body, err := w.ep.post(ctx, hc, w.form)
	return err == nil && code == http.StatusOK && (w.check == nil || w.check(body)), false
}

// activeIntrospection accepts an introspection answer saying the token is
// active.
func activeIntrospection(body []byte) bool {
	var r struct {
		Active bool `json:"active"`
	}
	return json.Unmarshal(body, &r) == nil && r.Active
}

// chainPool holds one refresh token per family: the live one. A worker
// takes a family, uses its token exactly once, and puts back the successor
// it received, so no token is ever presented twice (which Rotor would take
// for a replay and answer by revoking the family). Workers go round the
// families in order, so consecutive requests touch different rows spread
// over the whole table (family ids are random).
type chainPool struct {
	mu     sync.Mutex
	tokens []string // "" for a chain broken by an error
	busy   []bool
	next   int
}

func newChainPool(tokens []string) *chainPool {
	return &chainPool{tokens: tokens, busy: make([]bool, len(tokens))}
}

// take returns a family's slot and live token; false when every family
// is in use or broken.
func (p *chainPool) take() (int, string, bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for range len(p.tokens) {
		i := p.next
		p.next = (p.next + 1) % len(p.tokens)
		if !p.busy[i] && p.tokens[i] != "" {
			p.busy[i] = true
			return i, p.tokens[i], true
		}
	}
	return 0, "", false
}

// put returns a slot with its new live token, or "" when the chain broke
// (an error left the token's state unknown).
func (p *chainPool) put(i int, tok string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.tokens[i], p.busy[i] = tok, false
}

// snapshot returns the live tokens (for a later pool).
func (p *chainPool) snapshot() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	var out []string
	for _, t := range p.tokens {
		if t != "" {
			out = append(out, t)
		}
	}
	return out
}

// refreshWorkload rotates the chains of a pool.
type refreshWorkload struct {
	ep   endpoint
	pool *chainPool
}

func (w *refreshWorkload) do(ctx context.Context, hc *http.Client) (bool, bool) {
	i, tok, ok := w.pool.take()
	if !ok {
		return false, true
	}
	next, err := refresh(ctx, hc, w.ep, tok)
	w.pool.put(i, next)
	return err == nil, false
}

// refresh presents tok once and returns its successor.
func refresh(ctx context.Context, hc *http.Client, ep endpoint, tok string) (string, error) {
	code, body, err := ep.post(ctx, hc, "grant_type=refresh_token&refresh_token="+url.QueryEscape(tok))
	if err != nil {
		return "", err
	}
	var r struct {
		RefreshToken string `json:"refresh_token"`
	}
	if code != http.StatusOK || json.Unmarshal(body, &r) != nil || r.RefreshToken == "" {
		return "", fmt.Errorf("refresh answered %d", code)
	}
	return r.RefreshToken, nil
}

// revokeWorkload revokes each token of a list once (each a live family).
type revokeWorkload struct {
	ep     endpoint
	tokens []string
	next   atomic.Int64
}

func (w *revokeWorkload) do(ctx context.Context, hc *http.Client) (bool, bool) {
	i := w.next.Add(1) - 1
	if i >= int64(len(w.tokens)) {
		return false, true
	}
	code, _, err := w.ep.post(ctx, hc, "token="+url.QueryEscape(w.tokens[i])+"&token_type_hint=refresh_token")
	return err == nil && code == http.StatusOK, false
}

// cell is one measurement: a workload at one concurrency for a time.
type cell struct {
	grant, backend string
	families       int
	concurrency    int
	warmup, dur    time.Duration
	// maxRequests bounds the cell in count as well as in time.
	maxRequests int64
	// dbComm names the database's processes on this machine whose CPU
	// time to measure ("postgres"), or "".
	dbComm string
}

// counters are what the workers of a running cell add to.
type counters struct {
	requests, errors atomic.Int64
}

// Row is the result of one cell.
type Row struct {
	Grant       string `json:"grant"`
	Backend     string `json:"backend"`
	Families    int    `json:"families,omitempty"`
	Concurrency int    `json:"concurrency"`
	// Requests completed inside the measured window; Total counts the
	// warm-up too. Errors counts the failed requests of the whole cell,
	// warm-up included.
	Requests int64   `json:"requests"`
	Total    int64   `json:"total_requests"`
	Errors   int64   `json:"errors"`
	Seconds  float64 `json:"seconds"`
	RPS      float64 `json:"requests_per_second"`
	// Latencies in milliseconds, over every request of the window.
	P50  float64 `json:"p50_ms"`
	P95  float64 `json:"p95_ms"`
	P99  float64 `json:"p99_ms"`
	Mean float64 `json:"mean_ms"`
	// ServerCPUPer1k is the server process's CPU seconds per 1,000
	// requests; negative when unknown (a --target server).
	ServerCPUPer1k float64 `json:"server_cpu_s_per_1k"`
	// DBCPUPer1k is the same for the PostgreSQL processes on this machine;
	// negative when unknown (SQLite runs inside the server; a remote
	// PostgreSQL cannot be seen).
	DBCPUPer1k float64 `json:"db_cpu_s_per_1k"`
	// WALPerRequest is the PostgreSQL write-ahead log written per request
	// over the cell, warm-up included, in bytes; 0 on SQLite.
	WALPerRequest float64 `json:"wal_bytes_per_request,omitempty"`
	// ClientCPUPer1k is the same for the bench process itself.
	ClientCPUPer1k float64 `json:"client_cpu_s_per_1k"`
	// PeakRSS is the server's largest resident memory seen in the window,
	// in bytes; 0 when unknown.
	PeakRSS int64 `json:"server_peak_rss_bytes,omitempty"`
	// FloorRatio is RPS over the floor's at the same concurrency; 0 when
	// there is no floor.
	FloorRatio float64 `json:"floor_ratio,omitempty"`
	// Exhausted is set when the workload ran out of tokens before the
	// time was up; the window is then shorter.
	Exhausted bool `json:"exhausted,omitempty"`
}

// runCell runs a workload at c.concurrency for c.warmup then c.dur, and
// measures the requests that complete inside the measured window, the
// server's CPU over the window (srv may be nil) and its peak memory.
// Requests in flight at the end complete, so that chains stay consistent,
// but do not count.
func runCell(ctx context.Context, hc *http.Client, wl workload, c cell, srv *Process, prog *progress) Row {
	var (
		wg      sync.WaitGroup
		cnt     counters
		lats    = make([][]time.Duration, c.concurrency)
		stopped atomic.Int64 // workers that ran out of work
		started = time.Now()
		start   = started.Add(c.warmup)
		end     = start.Add(c.dur)
		allDone = make(chan struct{})
	)
	perWorker := c.maxRequests / int64(c.concurrency)
	for w := range c.concurrency {
		wg.Go(func() {
			for n := int64(0); n < perWorker && ctx.Err() == nil; n++ {
				t0 := time.Now()
				if !t0.Before(end) {
					return
				}
				ok, done := wl.do(ctx, hc)
				if done {
					stopped.Add(1)
					return
				}
				t1 := time.Now()
				cnt.requests.Add(1)
				if !ok {
					cnt.errors.Add(1)
				}
				// A request counts in the window it completes in.
				if !t1.Before(start) && !t1.After(end) {
					lats[w] = append(lats[w], t1.Sub(t0))
				}
			}
		})
	}
	go func() { wg.Wait(); close(allDone) }()
	stopProg := prog.start(c, started, &cnt)

	wait := func(until time.Time) bool {
		select {
		case <-time.After(time.Until(until)):
			return true
		case <-allDone:
			return false
		case <-ctx.Done():
			return false
		}
	}
	wait(start)
	cpu0, cpuErr := procCPU(srv)
	db0, dbErr := dbCPU(c.dbComm)
	self0 := selfCPU()
	winStart := time.Now()
	peak := make(chan int64, 1)
	sampleStop := make(chan struct{})
	go func() { peak <- samplePeakRSS(srv, sampleStop) }()
	wait(end)
	winEnd := time.Now()
	cpu1, cpuErr2 := procCPU(srv)
	db1, dbErr2 := dbCPU(c.dbComm)
	self1 := selfCPU()
	close(sampleStop)
	wg.Wait()
	stopProg()

	row := Row{Grant: c.grant, Backend: c.backend, Families: c.families, Concurrency: c.concurrency,
		ServerCPUPer1k: -1, DBCPUPer1k: -1, PeakRSS: <-peak, Exhausted: stopped.Load() > 0, Total: cnt.requests.Load()}
	var all []time.Duration
	for w := range lats {
		all = append(all, lats[w]...)
	}
	row.Errors = cnt.errors.Load()
	row.Requests = int64(len(all))
	// The window ends early when the workload ran dry.
	row.Seconds = winEnd.Sub(winStart).Seconds()
	if row.Seconds <= 0 || row.Requests == 0 {
		return row
	}
	row.RPS = float64(row.Requests) / row.Seconds
	slices.Sort(all)
	row.P50, row.P95, row.P99 = ms(quantile(all, 0.50)), ms(quantile(all, 0.95)), ms(quantile(all, 0.99))
	var sum time.Duration
	for _, d := range all {
		sum += d
	}
	row.Mean = ms(sum / time.Duration(len(all)))
	per1k := func(d time.Duration) float64 { return d.Seconds() / float64(row.Requests) * 1000 }
	if srv != nil && cpuErr == nil && cpuErr2 == nil {
		row.ServerCPUPer1k = per1k(cpu1 - cpu0)
	}
	if dbErr == nil && dbErr2 == nil {
		row.DBCPUPer1k = per1k(db1 - db0)
	}
	row.ClientCPUPer1k = per1k(self1 - self0)
	return row
}

// quantile returns the q-quantile of sorted durations (nearest rank).
func quantile(sorted []time.Duration, q float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	i := int(q*float64(len(sorted))+0.5) - 1
	return sorted[min(max(i, 0), len(sorted)-1)]
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

func procCPU(p *Process) (time.Duration, error) {
	if p == nil {
		return 0, errors.New("no process")
	}
	return p.CPU()
}

func dbCPU(comm string) (time.Duration, error) {
	if comm == "" {
		return 0, errors.New("no database process")
	}
	return commandCPU(comm)
}

// selfCPU is the bench process's own CPU time: the load generator's cost.
func selfCPU() time.Duration {
	var ru syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &ru) != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// samplePeakRSS reads the server's memory every 100 ms until stop closes
// and returns the largest value seen.
func samplePeakRSS(p *Process, stop <-chan struct{}) int64 {
	if p == nil {
		return 0
	}
	var peak int64
	t := time.NewTicker(100 * time.Millisecond)
	defer t.Stop()
	for {
		if v, err := p.RSS(); err == nil && v > peak {
			peak = v
		}
		select {
		case <-stop:
			if v, err := p.RSS(); err == nil && v > peak {
				peak = v
			}
			return peak
		case <-t.C:
		}
	}
}

// newHTTPClient returns a client tuned for a load generator: keep-alive
// connections, enough idle ones per host for every worker, no
// compression, and a timeout so that a stuck server fails a request
// rather than the run.
func newHTTPClient(maxConcurrency int) *http.Client {
	tr := &http.Transport{
		MaxIdleConns:        2 * maxConcurrency,
		MaxIdleConnsPerHost: maxConcurrency,
		IdleConnTimeout:     time.Minute,
		DisableCompression:  true,
		ForceAttemptHTTP2:   false,
	}
	return &http.Client{Transport: tr, Timeout: 10 * time.Second}
}
