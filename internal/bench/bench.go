package bench

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	mrand "math/rand/v2"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/rotor-auth/rotor/internal/secret"
	"github.com/rotor-auth/rotor/internal/store"
	"github.com/rotor-auth/rotor/internal/store/backend"
)

// Limits that keep every run bounded.
const (
	MaxDuration    = 5 * time.Minute
	MaxConcurrency = 1024
	MaxFamilies    = 10_000_000
	MaxAge         = 1_000_000
	// maxCellRequests bounds a cell in count, whatever its duration.
	maxCellRequests = 5_000_000
	// sampleTokens is how many families' tokens the bench keeps to refresh
	// at scale: a uniform sample (ids are random), so requests still land
	// all over the table.
	sampleTokens = 100_000
	// defaultAgePairs is how many interleaved gen-1 / aged refreshes the
	// age comparison makes.
	defaultAgePairs = 1000
	// startTimeout bounds how long a child server may take to answer.
	startTimeout = 30 * time.Second
)

// Config is what a run measures, and against what.
type Config struct {
	// DSN names the database: sqlite:PATH or postgres://... Without
	// Target the bench starts its own server on it, and the database must
	// be new (a SQLite file that does not exist yet; on PostgreSQL the
	// bench creates a schema of its own in it), so that the bench can
	// delete it afterwards. With Target it is the running server's
	// database, shared.
	DSN string
	// Target is the base URL of a running Rotor whose database is DSN;
	// "" starts one.
	Target string
	// Secrets are the running server's keys (derived from its master
	// key); only with Target. A server the bench starts gets a fresh key.
	Secrets *secret.Keys
	// Binary is the rotor executable the child servers run.
	Binary string
	// ServeArgs runs the server under test with Binary, "{addr}" standing
	// for its listen address; the database and master key arrive in its
	// environment (ROTOR_DATABASE_URL, ROTOR_MASTER_KEY), never on its
	// command line.
	ServeArgs []string
	// FloorArgs runs the floor server the same way; nil for no floor.
	FloorArgs []string
	// ChildEnv is added to the environment of every child server (such as
	// ROTOR_CONFIG, so that they read the bench's configuration file).
	ChildEnv []string

	// Grants to measure, of [AllGrants], in that order.
	Grants []string
	// Concurrency levels, each measured for every grant.
	Concurrency []int
	// Warmup and Duration of every cell: requests in the warm-up are not
	// counted.
	Warmup, Duration time.Duration
	// Families to provision before the run.
	Families int
	// ScaleFamilies, when above Families, grows the families table to
	// that many after the run and measures refresh again, for the
	// comparison side by side.
	ScaleFamilies int
	// Age, when above 1, refreshes one chain that many times and then
	// compares, interleaved, its refreshes with those of new families:
	// AgePairs of each (1,000 when 0).
	Age, AgePairs int
	// Keep leaves the bench database (self-started server) in place.
	Keep bool

	// Progress receives status lines (stderr); TTY makes them live.
	Progress io.Writer
	TTY      bool
}

// Validate reports every problem with c.
func (c *Config) Validate() error {
	var errs []error
	if _, _, err := backend.Parse(c.DSN); err != nil {
		errs = append(errs, err)
	}
	if c.Target != "" {
		u, err := url.Parse(c.Target)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			errs = append(errs, fmt.Errorf("--target %q must be an http(s) URL", c.Target))
		}
		if c.Secrets == nil {
			errs = append(errs, errors.New("--target needs the running server's master key"))
		}
	} else if c.Binary == "" || len(c.ServeArgs) == 0 {
		errs = append(errs, errors.New("bench: no server command"))
	}
	if len(c.Grants) == 0 && c.FloorArgs == nil {
		errs = append(errs, errors.New("no grant to measure"))
	}
	for _, g := range c.Grants {
		if !slices.Contains(AllGrants, g) {
			errs = append(errs, fmt.Errorf("unknown grant %q: choose from %s", g, strings.Join(AllGrants, ", ")))
		}
	}
	if len(c.Concurrency) == 0 {
		errs = append(errs, errors.New("no concurrency level"))
	}
	for _, n := range c.Concurrency {
		if n < 1 || n > MaxConcurrency {
			errs = append(errs, fmt.Errorf("concurrency %d: must be between 1 and %d", n, MaxConcurrency))
		}
	}
	if c.Duration <= 0 || c.Duration > MaxDuration {
		errs = append(errs, fmt.Errorf("duration %s: must be above 0 and at most %s", c.Duration, MaxDuration))
	}
	if c.Warmup < 0 || c.Warmup > MaxDuration {
		errs = append(errs, fmt.Errorf("warm-up %s: must be between 0 and %s", c.Warmup, MaxDuration))
	}
	if c.Families < 1 || c.Families > MaxFamilies {
		errs = append(errs, fmt.Errorf("families %d: must be between 1 and %d", c.Families, MaxFamilies))
	}
	if c.ScaleFamilies != 0 && (c.ScaleFamilies <= c.Families || c.ScaleFamilies > MaxFamilies) {
		errs = append(errs, fmt.Errorf("scale to %d families: must be above --families (%d) and at most %d", c.ScaleFamilies, c.Families, MaxFamilies))
	}
	if c.ScaleFamilies != 0 && !slices.Contains(c.Grants, GrantRefresh) {
		errs = append(errs, errors.New("the scale comparison measures refresh_token: include it in the grants"))
	}
	if c.Age < 0 || c.Age > MaxAge {
		errs = append(errs, fmt.Errorf("age %d: must be between 0 and %d", c.Age, MaxAge))
	}
	if c.AgePairs < 0 || c.AgePairs > MaxAge {
		errs = append(errs, fmt.Errorf("age pairs %d: must be between 0 and %d", c.AgePairs, MaxAge))
	}
	return errors.Join(errs...)
}

// Report is the outcome of a run.
type Report struct {
	Machine  Machine   `json:"machine"`
	Backend  string    `json:"backend"`
	Target   string    `json:"target,omitempty"`
	Started  time.Time `json:"started"`
	Warmup   float64   `json:"warmup_seconds"`
	Duration float64   `json:"duration_seconds"`
	// Provisioning lists each bulk creation of families and its speed.
	Provisioning []Provision `json:"provisioning"`
	// Rows are the measured cells: the floor first, then each grant.
	Rows []Row `json:"rows"`
	// Sizes are the families and events tables at points of the run.
	Sizes []SizeSnapshot `json:"sizes"`
	// Memory of the server under test (self-started only).
	Memory *Memory `json:"memory,omitempty"`
	// Startup is how soon `rotor serve` answers its metadata on a new
	// embedded database (self-started runs only).
	Startup *Startup `json:"startup,omitempty"`
	// Age compares refreshing an old chain with refreshing a new one.
	Age *Age `json:"age,omitempty"`
	// Seconds is the wall time of the whole run.
	Seconds float64 `json:"seconds"`
}

// Machine describes where the run happened.
type Machine struct {
	CPUs      int    `json:"cpus"`
	Model     string `json:"cpu_model"`
	GoVersion string `json:"go_version"`
	OS        string `json:"os"`
	// LoadStart and LoadEnd are the 1-minute load averages when the run
	// began and ended: other work on the machine skews every figure.
	LoadStart float64 `json:"load_average_start"`
	LoadEnd   float64 `json:"load_average_end"`
}

// Provision is one bulk creation of families.
type Provision struct {
	Families int     `json:"families"`
	Total    int     `json:"total_families"`
	Seconds  float64 `json:"seconds"`
	PerSec   float64 `json:"families_per_second"`
}

// SizeSnapshot is the size of the tables at one point of the run.
type SizeSnapshot struct {
	Label  string      `json:"label"`
	Tables []TableSize `json:"tables"`
}

// Memory is the server's resident memory.
type Memory struct {
	// IdleStart is right after the server first answered; IdleEnd after
	// the run, with no request in flight.
	IdleStart int64 `json:"idle_start_bytes"`
	IdleEnd   int64 `json:"idle_end_bytes"`
	// PeakByConcurrency is the largest RSS seen in any cell at each
	// concurrency.
	PeakByConcurrency map[int]int64 `json:"peak_bytes_by_concurrency"`
}

// Startup is the time from starting `rotor serve` on a new SQLite database
// (migrations, master key file and first signing key included) to its
// first answer with the metadata document.
type Startup struct {
	MetadataSeconds float64 `json:"metadata_seconds"`
}

// Age compares refreshes of a chain Generations long with refreshes of
// new families (generation 1), interleaved one for one so that both see
// the same database and machine state.
type Age struct {
	Generations  int     `json:"generations"`
	BuildSeconds float64 `json:"build_seconds"`
	Pairs        int     `json:"pairs"`
	NewP50       float64 `json:"new_p50_ms"`
	NewMean      float64 `json:"new_mean_ms"`
	AgedP50      float64 `json:"aged_p50_ms"`
	AgedMean     float64 `json:"aged_mean_ms"`
	// FirstP50 and LastP50 are the medians of the first and last 1,000
	// refreshes while the chain was built.
	FirstP50 float64 `json:"build_first_1000_p50_ms"`
	LastP50  float64 `json:"build_last_1000_p50_ms"`
}

// run is the state of one bench run.
type run struct {
	cfg    Config
	rep    *Report
	prog   *progress
	st     store.Store
	dsn    string // of the database the server uses
	srv    *Process
	floor  *Process
	target string
	prov   *provisioner
	hc     *http.Client
	// floorRPS is the floor's rate at each concurrency.
	floorRPS map[int]float64
	// refreshRPS is refresh's rate at each concurrency, to size the pool
	// of families revoke uses up.
	refreshRPS map[int]float64
}

// Run provisions, measures every cell and returns the report. It stops
// the servers it started and, unless cfg.Keep, deletes the database it
// created, whatever happens.
func Run(ctx context.Context, cfg Config) (rep *Report, err error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	kind, _, _ := backend.Parse(cfg.DSN)
	r := &run{
		cfg:        cfg,
		rep:        &Report{Machine: machine(), Backend: string(kind), Target: cfg.Target, Started: time.Now(), Warmup: cfg.Warmup.Seconds(), Duration: cfg.Duration.Seconds()},
		prog:       &progress{w: cfg.Progress, tty: cfg.TTY},
		dsn:        cfg.DSN,
		target:     cfg.Target,
		hc:         newHTTPClient(slices.Max(cfg.Concurrency)),
		floorRPS:   map[int]float64{},
		refreshRPS: map[int]float64{},
	}
	defer r.hc.CloseIdleConnections()
	sk := cfg.Secrets
	var env []string
	if cfg.Target == "" {
		mk := secret.NewMasterKey()
		if sk, err = secret.Derive(mk); err != nil {
			return nil, err
		}
		drop, err := r.prepareDB(ctx)
		if err != nil {
			return nil, err
		}
		defer func() {
			if cfg.Keep {
				r.prog.logf("kept the bench database %s", backend.Redact(r.dsn))
				return
			}
			if derr := drop(); derr != nil {
				err = errors.Join(err, derr)
			}
		}()
		env = append(slices.Clone(cfg.ChildEnv), "ROTOR_DATABASE_URL="+r.dsn, "ROTOR_MASTER_KEY="+secret.EncodeMasterKey(mk), "ROTOR_LOG_LEVEL=warn")
	}

	if r.st, err = backend.Open(ctx, r.dsn); err != nil {
		return nil, err
	}
	defer r.st.Close()
	if cfg.Target == "" {
		if err := r.st.Migrate(ctx); err != nil {
			return nil, fmt.Errorf("bench: migrate: %w", err)
		}
		if err := r.measureStartup(ctx); err != nil {
			return nil, err
		}
		r.prog.logf("starting the server: %s %s", filepath.Base(cfg.Binary), strings.Join(cfg.ServeArgs, " "))
		if r.srv, err = StartProcess(ctx, cfg.Binary, cfg.ServeArgs, env, "/healthz", startTimeout); err != nil {
			return nil, err
		}
		defer r.srv.Stop()
		r.target = r.srv.URL
		r.rep.Memory = &Memory{PeakByConcurrency: map[int]int64{}}
		r.rep.Memory.IdleStart, _ = r.srv.RSS()
	}
	if cfg.FloorArgs != nil {
		floorEnv := append(slices.Clone(cfg.ChildEnv), "ROTOR_LOG_LEVEL=warn")
		if r.floor, err = StartProcess(ctx, cfg.Binary, cfg.FloorArgs, floorEnv, "/healthz", startTimeout); err != nil {
			return nil, fmt.Errorf("bench: floor server: %w", err)
		}
		defer r.floor.Stop()
	}

	if r.prov, err = newProvisioner(ctx, r.st, sk, time.Now); err != nil {
		return nil, err
	}
	if cfg.Target != "" {
		defer func() {
			if cerr := r.prov.cleanup(context.WithoutCancel(ctx)); cerr != nil {
				err = errors.Join(err, cerr)
			}
		}()
	}
	if err := r.measure(ctx); err != nil {
		return nil, err
	}
	if r.srv != nil {
		r.rep.Memory.IdleEnd, _ = r.srv.RSS()
	}
	r.rep.Seconds = time.Since(r.rep.Started).Seconds()
	r.rep.Machine.LoadEnd = loadAverage()
	return r.rep, nil
}

// measure runs every cell of the run.
func (r *run) measure(ctx context.Context) error {
	cfg := r.cfg
	tokens, err := r.provision(ctx, cfg.Families, nil)
	if err != nil {
		return err
	}
	// Requests go to families in random order, as users' do: in creation
	// order, consecutive refreshes would share table pages (rows are stored
	// in insertion order), which flatters a big table.
	mrand.Shuffle(len(tokens), func(i, j int) { tokens[i], tokens[j] = tokens[j], tokens[i] })
	chains := newChainPool(tokens)
	if err := settle(ctx, r.dsn); err != nil {
		return fmt.Errorf("bench: settle after the bulk load: %w", err)
	}
	if err := r.sizes(ctx, fmt.Sprintf("after provisioning %d families", cfg.Families)); err != nil {
		return err
	}
	if r.floor != nil {
		for _, c := range cfg.Concurrency {
			row, err := r.cell(ctx, GrantFloor, "none", 0, c, r.floorWorkload(), r.floor)
			if err != nil {
				return err
			}
			r.floorRPS[c] = row.RPS
		}
	}
	for _, g := range cfg.Grants {
		for _, c := range cfg.Concurrency {
			wl, err := r.workload(ctx, g, c, chains)
			if err != nil {
				return err
			}
			row, err := r.cell(ctx, g, r.rep.Backend, r.prov.families, c, wl, r.srv)
			if err != nil {
				return err
			}
			if g == GrantRefresh {
				r.refreshRPS[c] = row.RPS
			}
		}
		if err := r.sizes(ctx, "after "+g); err != nil {
			return err
		}
		// Scale right after refresh, before revoke adds families of its
		// own, so that the table holds exactly the two sizes compared.
		if g == GrantRefresh && cfg.ScaleFamilies > cfg.Families {
			if err := r.scale(ctx, chains); err != nil {
				return err
			}
		}
	}
	if cfg.Age > 1 {
		if err := r.age(ctx); err != nil {
			return err
		}
	}
	return nil
}

// provision creates n families, keeping the tokens keep selects, and
// records the speed.
func (r *run) provision(ctx context.Context, n int, keep func(int) bool) ([]string, error) {
	t0 := time.Now()
	tokens, err := r.prov.create(ctx, n, keep, func(done int) {
		r.prog.live("  provisioning families: %d/%d (%.0f/s)", done, n, float64(done)/time.Since(t0).Seconds())
	})
	r.prog.clear()
	if err != nil {
		return nil, err
	}
	secs := time.Since(t0).Seconds()
	r.rep.Provisioning = append(r.rep.Provisioning, Provision{Families: n, Total: r.prov.families, Seconds: secs, PerSec: float64(n) / secs})
	r.prog.logf("provisioned %d families in %.1f s (%.0f/s), %d in all", n, secs, float64(n)/secs, r.prov.families)
	return tokens, nil
}

// workload builds the workload of grant g for a cell at concurrency c.
func (r *run) workload(ctx context.Context, g string, c int, chains *chainPool) (workload, error) {
	token := newEndpoint(r.target, "/oauth2/token", r.prov.clientID, r.prov.secret)
	switch g {
	case GrantRefresh:
		return &refreshWorkload{ep: token, pool: chains}, nil
	case GrantClientCredentials:
		return &formWorkload{ep: token, form: "grant_type=client_credentials"}, nil
	case GrantIntrospect:
		// A fresh access token for each cell: it must outlive the cell.
		code, body, err := token.post(ctx, r.hc, "grant_type=client_credentials")
		var resp struct {
			AccessToken string `json:"access_token"`
		}
		if err != nil || code != http.StatusOK || json.Unmarshal(body, &resp) != nil || resp.AccessToken == "" {
			return nil, fmt.Errorf("bench: get an access token to introspect: %d %v", code, err)
		}
		return &formWorkload{ep: newEndpoint(r.target, "/oauth2/introspect", r.prov.clientID, r.prov.secret),
			form: "token=" + url.QueryEscape(resp.AccessToken) + "&token_type_hint=access_token", check: activeIntrospection}, nil
	case GrantRevoke:
		// Each revocation revokes a live family, so the cell needs as many
		// as it can use: sized from refresh's rate (a revocation costs no
		// more), with a margin.
		rate := r.refreshRPS[c]
		if rate == 0 {
			rate = 3000
		}
		n := min(int(rate*2.5*(r.cfg.Warmup+r.cfg.Duration).Seconds())+1000, 1_000_000)
		toks, err := r.provision(ctx, n, nil)
		if err != nil {
			return nil, err
		}
		return &revokeWorkload{ep: newEndpoint(r.target, "/oauth2/revoke", r.prov.clientID, r.prov.secret), tokens: toks}, nil
	}
	return nil, fmt.Errorf("bench: unknown grant %q", g)
}

func (r *run) floorWorkload() workload {
	return &formWorkload{ep: newEndpoint(r.floor.URL, "/oauth2/token", "floor-client", "floor-secret"), form: "grant_type=client_credentials"}
}

// cell runs one measurement and records its row.
func (r *run) cell(ctx context.Context, grant, backendName string, families, c int, wl workload, srv *Process) (Row, error) {
	dbComm := ""
	if grant != GrantFloor && r.rep.Backend == string(backend.Postgres) && localDB(r.dsn) {
		dbComm = "postgres"
	}
	var wal0 int64
	pg := grant != GrantFloor && r.rep.Backend == string(backend.Postgres)
	if pg {
		wal0, _ = walPosition(ctx, r.dsn)
	}
	row := runCell(ctx, r.hc, wl, cell{grant: grant, backend: backendName, families: families, concurrency: c,
		warmup: r.cfg.Warmup, dur: r.cfg.Duration, maxRequests: maxCellRequests, dbComm: dbComm}, srv, r.prog)
	if pg && wal0 > 0 && row.Total > 0 {
		if wal1, err := walPosition(ctx, r.dsn); err == nil {
			row.WALPerRequest = float64(wal1-wal0) / float64(row.Total)
		}
	}
	if err := ctx.Err(); err != nil {
		return row, err
	}
	for _, p := range []*Process{r.srv, r.floor} {
		if p != nil && p.Exited() {
			return row, fmt.Errorf("bench: the server exited during %s at concurrency %d:\n%s", grant, c, p.Output())
		}
	}
	if f := r.floorRPS[c]; f > 0 && grant != GrantFloor {
		row.FloorRatio = row.RPS / f
	}
	if srv != nil && srv == r.srv && r.rep.Memory != nil {
		r.rep.Memory.PeakByConcurrency[c] = max(r.rep.Memory.PeakByConcurrency[c], row.PeakRSS)
	}
	r.rep.Rows = append(r.rep.Rows, row)
	r.prog.logf("%s", rowLine(row))
	return row, nil
}

// sizes records the tables' sizes.
func (r *run) sizes(ctx context.Context, label string) error {
	t, err := tableSizes(ctx, r.dsn)
	if err != nil {
		return err
	}
	r.rep.Sizes = append(r.rep.Sizes, SizeSnapshot{Label: label, Tables: t})
	return nil
}

// scale grows the families table to ScaleFamilies and measures refresh
// again, at every concurrency, on a sample spread over the whole table.
func (r *run) scale(ctx context.Context, chains *chainPool) error {
	add := r.cfg.ScaleFamilies - r.prov.families
	if add <= 0 {
		return nil
	}
	live := chains.snapshot()
	// Keep one token in every k of the new families, so that the pool
	// (the old chains and the sample) has about sampleTokens families
	// spread over the whole table.
	want := max(sampleTokens-len(live), 1)
	k := max(add/want, 1)
	toks, err := r.provision(ctx, add, func(i int) bool { return i%k == 0 })
	if err != nil {
		return err
	}
	pool := append(live, toks...)
	// Random order, as in measure, old and new families mixed.
	mrand.Shuffle(len(pool), func(i, j int) { pool[i], pool[j] = pool[j], pool[i] })
	big := newChainPool(pool)
	if err := settle(ctx, r.dsn); err != nil {
		return fmt.Errorf("bench: settle after the bulk load: %w", err)
	}
	if err := r.sizes(ctx, fmt.Sprintf("after provisioning %d families", r.prov.families)); err != nil {
		return err
	}
	for _, c := range r.cfg.Concurrency {
		if _, err := r.cell(ctx, GrantRefresh, r.rep.Backend, r.prov.families, c, &refreshWorkload{ep: newEndpoint(r.target, "/oauth2/token", r.prov.clientID, r.prov.secret), pool: big}, r.srv); err != nil {
			return err
		}
	}
	return r.sizes(ctx, fmt.Sprintf("after refresh at %d families", r.prov.families))
}

// age refreshes one chain cfg.Age-1 times (to generation cfg.Age), then
// alternates a refresh of that chain with a refresh of a new family,
// agePairs times, one request at a time.
func (r *run) age(ctx context.Context) error {
	ep := newEndpoint(r.target, "/oauth2/token", r.prov.clientID, r.prov.secret)
	agePairs := r.cfg.AgePairs
	if agePairs <= 0 {
		agePairs = defaultAgePairs
	}
	toks, err := r.provision(ctx, agePairs+1, nil)
	if err != nil {
		return err
	}
	tok, fresh := toks[0], toks[1:]
	a := &Age{Generations: r.cfg.Age, Pairs: agePairs}
	var build []time.Duration
	t0 := time.Now()
	for gen := 1; gen < r.cfg.Age; gen++ {
		s := time.Now()
		if tok, err = refresh(ctx, r.hc, ep, tok); err != nil {
			return fmt.Errorf("bench: age: refresh at generation %d: %w", gen, err)
		}
		build = append(build, time.Since(s))
		if gen%500 == 0 {
			r.prog.live("  aging one chain: generation %d/%d", gen+1, r.cfg.Age)
		}
	}
	r.prog.clear()
	a.BuildSeconds = time.Since(t0).Seconds()
	first, last := slices.Clone(build[:min(1000, len(build))]), slices.Clone(build[max(len(build)-1000, 0):])
	slices.Sort(first)
	slices.Sort(last)
	a.FirstP50, a.LastP50 = ms(quantile(first, 0.5)), ms(quantile(last, 0.5))

	var aged, young []time.Duration
	for i := range agePairs {
		s := time.Now()
		if tok, err = refresh(ctx, r.hc, ep, tok); err != nil {
			return fmt.Errorf("bench: age: refresh of the aged chain: %w", err)
		}
		aged = append(aged, time.Since(s))
		s = time.Now()
		if _, err = refresh(ctx, r.hc, ep, fresh[i]); err != nil {
			return fmt.Errorf("bench: age: refresh of a new family: %w", err)
		}
		young = append(young, time.Since(s))
	}
	a.AgedP50, a.AgedMean = stats(aged)
	a.NewP50, a.NewMean = stats(young)
	r.rep.Age = a
	r.prog.logf("age: generation %d refreshes in %.3f ms (p50), a new family in %.3f ms", r.cfg.Age+agePairs/2, a.AgedP50, a.NewP50)
	return nil
}

func stats(d []time.Duration) (p50, mean float64) {
	s := slices.Clone(d)
	slices.Sort(s)
	var sum time.Duration
	for _, v := range s {
		sum += v
	}
	return ms(quantile(s, 0.5)), ms(sum / time.Duration(max(len(s), 1)))
}

// measureStartup starts `rotor serve` on a new SQLite database in a
// temporary directory and times its first metadata answer.
func (r *run) measureStartup(ctx context.Context) error {
	dir, err := os.MkdirTemp("", "rotor-bench-start-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	env := append(slices.Clone(r.cfg.ChildEnv), "ROTOR_DATABASE_URL=sqlite:"+filepath.Join(dir, "rotor.db"), "ROTOR_LOG_LEVEL=warn", "ROTOR_MASTER_KEY=")
	p, err := StartProcess(ctx, r.cfg.Binary, r.cfg.ServeArgs, env, "/.well-known/oauth-authorization-server", startTimeout)
	if err != nil {
		return fmt.Errorf("bench: start-up measurement: %w", err)
	}
	p.Stop()
	r.rep.Startup = &Startup{MetadataSeconds: p.Ready.Seconds()}
	r.prog.logf("rotor serve on a new database answered its metadata %.0f ms after start", p.Ready.Seconds()*1000)
	return nil
}

// prepareDB makes the database of a self-started server: a new SQLite
// file, or a schema of its own in the PostgreSQL database. drop deletes
// it.
func (r *run) prepareDB(ctx context.Context) (drop func() error, err error) {
	kind, path, _ := backend.Parse(r.dsn)
	if kind == backend.SQLite {
		if _, err := os.Stat(path); err == nil {
			return nil, fmt.Errorf("%s exists: the bench needs a new database that it deletes afterwards; remove it or choose another path (or use --target to bench a running server)", path)
		} else if !errors.Is(err, fs.ErrNotExist) {
			return nil, err
		}
		return func() error {
			var errs []error
			for _, suffix := range []string{"", "-wal", "-shm", "-journal"} {
				if err := os.Remove(path + suffix); err != nil && !errors.Is(err, fs.ErrNotExist) {
					errs = append(errs, err)
				}
			}
			return errors.Join(errs...)
		}, nil
	}
	schema := "rotor_bench_" + strings.ToLower(rand.Text()[:12])
	if err := pgAdmin(ctx, r.dsn, "CREATE SCHEMA "+schema); err != nil {
		return nil, err
	}
	base := r.dsn
	u, err := url.Parse(base)
	if err != nil {
		return nil, err
	}
	q := u.Query()
	q.Set("search_path", schema)
	u.RawQuery = q.Encode()
	r.dsn = u.String()
	r.prog.logf("bench schema %s", schema)
	return func() error {
		return pgAdmin(context.WithoutCancel(ctx), base, "DROP SCHEMA IF EXISTS "+schema+" CASCADE")
	}, nil
}

// pgAdmin runs one statement on a connection of its own.
func pgAdmin(ctx context.Context, dsn, stmt string) error {
	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		return fmt.Errorf("bench: connect to %s: %w", backend.Redact(dsn), err)
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, stmt); err != nil {
		return fmt.Errorf("bench: %s: %w", stmt, err)
	}
	return nil
}

// localDB reports whether a PostgreSQL DSN names a server on this
// machine, whose processes the bench can see.
func localDB(dsn string) bool {
	u, err := url.Parse(dsn)
	if err != nil {
		return false
	}
	h := u.Hostname()
	if h == "localhost" || h == "" {
		return true
	}
	ip := net.ParseIP(h)
	return ip != nil && ip.IsLoopback()
}

// loadAverage returns the 1-minute load average, or 0 if unknown.
func loadAverage() float64 {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return 0
	}
	f := strings.Fields(string(b))
	if len(f) == 0 {
		return 0
	}
	v, _ := strconv.ParseFloat(f[0], 64)
	return v
}

// machine describes this computer.
func machine() Machine {
	m := Machine{CPUs: runtime.NumCPU(), GoVersion: runtime.Version(), OS: runtime.GOOS + "/" + runtime.GOARCH, LoadStart: loadAverage()}
	if f, err := os.Open("/proc/cpuinfo"); err == nil {
		defer f.Close()
		sc := bufio.NewScanner(f)
		for sc.Scan() {
			if k, v, ok := strings.Cut(sc.Text(), ":"); ok && strings.TrimSpace(k) == "model name" {
				m.Model = strings.TrimSpace(v)
				break
			}
		}
	}
	return m
}
