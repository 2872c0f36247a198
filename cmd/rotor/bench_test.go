package main

import (
	"context"
	"errors"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/rotor-auth/rotor/internal/bench"
	"github.com/rotor-auth/rotor/internal/store/testdb"
)

// TestBenchCommand runs a built rotor's bench on each backend, briefly: it
// starts its own server and floor as child processes, measures every
// grant with the floor beside it, and deletes its database afterwards.
func TestBenchCommand(t *testing.T) {
	if testing.Short() {
		t.Skip("builds rotor and runs servers as child processes; skipped with -short")
	}
	bin := buildRotor(t)
	args := []string{"bench", "--duration", "400ms", "--warmup", "100ms", "--concurrency", "1,2", "--families", "100", "--json"}

	t.Run("sqlite", func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "bench.db")
		rep := runBench(t, bin, append(args, "--db", "sqlite:"+path))
		checkBenchReport(t, rep, "sqlite")
		for _, suffix := range []string{"", "-wal", "-shm"} {
			if _, err := os.Stat(path + suffix); !errors.Is(err, fs.ErrNotExist) {
				t.Errorf("%s%s left behind (%v)", path, suffix, err)
			}
		}
	})
	t.Run("postgres", func(t *testing.T) {
		base := os.Getenv(testdb.EnvPostgresDSN)
		if base == "" {
			if os.Getenv(testdb.EnvRequireServices) == "1" {
				t.Fatal(testdb.EnvRequireServices + "=1 but " + testdb.EnvPostgresDSN + " is unset")
			}
			t.Skip("set " + testdb.EnvPostgresDSN + " to run the PostgreSQL bench")
		}
		before := benchSchemas(t, base)
		rep := runBench(t, bin, append(args, "--db", base))
		checkBenchReport(t, rep, "postgres")
		if after := benchSchemas(t, base); after != before {
			t.Errorf("%d bench schemas before, %d after: the bench must drop its own", before, after)
		}
	})
}

func runBench(t *testing.T, bin string, args []string) bench.Report {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, args...)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("rotor %s: %v\nstderr:\n%s", strings.Join(args, " "), err, stderr.String())
	}
	return decode[bench.Report](t, string(out))
}

func checkBenchReport(t *testing.T, rep bench.Report, backend string) {
	t.Helper()
	if rep.Backend != backend {
		t.Errorf("backend %q, want %q", rep.Backend, backend)
	}
	rows := map[string]int{}
	floor := map[int]float64{}
	for _, row := range rep.Rows {
		if row.Grant == bench.GrantFloor {
			floor[row.Concurrency] = row.RPS
		}
	}
	for _, row := range rep.Rows {
		rows[row.Grant]++
		if row.Total == 0 || row.Errors != 0 || row.PeakRSS <= 0 {
			t.Errorf("row %+v: want requests, no errors, and the child server's memory", row)
		}
		// A loaded machine may leave a short window empty; when it is not,
		// the server's CPU and the ratio to the floor are measured.
		if row.Requests > 0 && row.ServerCPUPer1k < 0 {
			t.Errorf("row %+v: the child server's CPU must be measured", row)
		}
		if row.Requests > 0 && row.Grant != bench.GrantFloor && floor[row.Concurrency] > 0 && row.FloorRatio <= 0 {
			t.Errorf("row %+v: no ratio to the floor", row)
		}
	}
	for _, g := range append([]string{bench.GrantFloor}, bench.AllGrants...) {
		if rows[g] != 2 {
			t.Errorf("%d rows of %s, want one per concurrency level (2)", rows[g], g)
		}
	}
	if rep.Memory == nil || rep.Memory.IdleStart <= 0 || len(rep.Memory.PeakByConcurrency) != 2 {
		t.Errorf("memory not measured: %+v", rep.Memory)
	}
	if rep.Startup == nil || rep.Startup.MetadataSeconds <= 0 {
		t.Errorf("start-up not measured: %+v", rep.Startup)
	}
}

// benchSchemas counts the schemas a bench creates in the database.
func benchSchemas(t *testing.T, dsn string) int {
	t.Helper()
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	var n int
	if err := conn.QueryRow(ctx, `SELECT count(*) FROM pg_namespace WHERE nspname LIKE 'rotor\_bench\_%'`).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

func TestBenchRefusesWhatItCannotDo(t *testing.T) {
	h := newHarness(t)
	h.ok("client", "list") // creates the SQLite database
	r := h.run("", "bench")
	if r.code != 1 || !strings.Contains(r.stderr, "exists") {
		t.Errorf("bench on an existing database: exit %d, stderr %q; want 1 and a word that it exists", r.code, r.stderr)
	}
	for _, args := range [][]string{
		{"bench", "--concurrency", "0"},
		{"bench", "--grants", "password"},
		{"bench", "--duration", "1h"},
		{"bench", "--target", "http://127.0.0.1:1", "--cpuprofile", "x.prof"},
	} {
		if r := h.run("", args...); r.code != 2 {
			t.Errorf("rotor %s: exit %d, want 2 (usage)\n%s", strings.Join(args, " "), r.code, r.stderr)
		}
	}
}
