package bench

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/rotor-auth/rotor/internal/audit"
	"github.com/rotor-auth/rotor/internal/store"
	"github.com/rotor-auth/rotor/internal/store/postgres"
	"github.com/rotor-auth/rotor/internal/store/sqlite"
	"github.com/rotor-auth/rotor/internal/store/testdb"
	"github.com/rotor-auth/rotor/internal/testrig"
	"github.com/rotor-auth/rotor/internal/token"
)

// TestRunAgainstTarget drives a real server on loopback (--target) with
// every grant at two concurrency levels, grows the table (--scale) and
// ages a chain, and checks what the bench promises: every request
// answered without error, every refresh token used exactly once (no
// family revoked for reuse), the families table not growing with
// refreshes, and its own client and families gone afterwards.
func TestRunAgainstTarget(t *testing.T) {
	for _, tc := range []struct {
		name string
		open func(t *testing.T) (dsn string, st store.Store)
	}{
		{"sqlite", func(t *testing.T) (string, store.Store) {
			path := filepath.Join(t.TempDir(), "rotor.db")
			db, err := sqlite.Open(context.Background(), path)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { db.Close() })
			return "sqlite:" + path, db
		}},
		{"postgres", func(t *testing.T) (string, store.Store) {
			dsn := testdb.PostgresDSN(t)
			db, err := postgres.Open(context.Background(), dsn)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { db.Close() })
			return dsn, db
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dsn, st := tc.open(t)
			ctx := context.Background()
			if err := st.Migrate(ctx); err != nil {
				t.Fatal(err)
			}
			rig := testrig.Start(t, st, nil)
			var progress bytes.Buffer
			rep, err := Run(ctx, Config{
				DSN: dsn, Target: rig.URL, Secrets: rig.Secrets,
				Grants: AllGrants, Concurrency: []int{1, 4},
				Warmup: 50 * time.Millisecond, Duration: 300 * time.Millisecond,
				Families: 200, ScaleFamilies: 1200, Age: 30, AgePairs: 50,
				Progress: &progress,
			})
			if err != nil {
				t.Fatalf("%v\nprogress:\n%s\nserver logs:\n%s", err, progress.String(), rig.Logs.String())
			}

			want := map[string]int{GrantRefresh: 4, GrantClientCredentials: 2, GrantIntrospect: 2, GrantRevoke: 2}
			got := map[string]int{}
			measured := 0
			for _, row := range rep.Rows {
				got[row.Grant]++
				// On a loaded machine one slow request may outlast a short
				// window; the server must still have answered every request.
				if row.Total == 0 || row.Errors != 0 || row.P99 < row.P50 {
					t.Errorf("row %+v: want requests, no errors and ordered percentiles", row)
				}
				if row.Requests > 0 {
					measured++
				}
				if row.ServerCPUPer1k >= 0 {
					t.Errorf("row %+v: a --target server's CPU cannot be measured", row)
				}
			}
			if measured == 0 {
				t.Error("no cell measured any request")
			}
			for g, n := range want {
				if got[g] != n {
					t.Errorf("%d %s rows, want %d (rows %v)", got[g], g, n, got)
				}
			}
			if rep.Age == nil || rep.Age.Pairs != 50 || rep.Age.AgedP50 <= 0 || rep.Age.NewP50 <= 0 {
				t.Errorf("age comparison missing or empty: %+v", rep.Age)
			}
			if len(rep.Provisioning) < 3 {
				t.Errorf("provisioning records: %+v", rep.Provisioning)
			}

			// Refreshes rewrote rows in place: the families table has as many
			// rows after refresh_token as before, and the audit trail grew.
			before, after := sizeOf(t, rep, "after provisioning 200 families"), sizeOf(t, rep, "after refresh_token")
			if before["families"].Rows != 200 || after["families"].Rows != 200 {
				t.Errorf("families rows %d before and %d after refresh, want 200 and 200", before["families"].Rows, after["families"].Rows)
			}
			if after["events"].Rows <= before["events"].Rows {
				t.Errorf("events rows %d → %d: refreshes must be audited", before["events"].Rows, after["events"].Rows)
			}

			// Each token was presented once: no reuse was ever detected.
			reuse, err := st.ListEvents(ctx, store.EventFilter{Type: audit.ReuseDetected})
			if err != nil {
				t.Fatal(err)
			}
			if len(reuse) != 0 {
				t.Fatalf("%d reuse detections: the bench presented a refresh token twice", len(reuse))
			}
			// The bench cleaned up after itself on a database it does not own.
			clients, err := st.ListClients(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if len(clients) != 0 {
				t.Errorf("clients left behind: %v", clients)
			}
			live, err := st.ListFamilies(ctx, store.FamilyFilter{LiveOnly: true, Now: time.Now(), Limit: 1})
			if err != nil {
				t.Fatal(err)
			}
			if len(live) != 0 {
				t.Errorf("live families left behind, such as %s", live[0].ID)
			}

			var table bytes.Buffer
			if err := rep.WriteTable(&table); err != nil {
				t.Fatal(err)
			}
			for _, s := range []string{"refresh_token", "client_credentials", "introspect", "revoke", "by size of the families table", "chain age"} {
				if !strings.Contains(table.String(), s) {
					t.Errorf("table lacks %q:\n%s", s, table.String())
				}
			}
			if b, err := json.Marshal(rep); err != nil || !json.Valid(b) {
				t.Errorf("report does not marshal: %v", err)
			}
		})
	}
}

func sizeOf(t *testing.T, rep *Report, label string) map[string]TableSize {
	t.Helper()
	for _, s := range rep.Sizes {
		if s.Label == label {
			m := map[string]TableSize{}
			for _, tb := range s.Tables {
				m[tb.Table] = tb
			}
			return m
		}
	}
	t.Fatalf("no size snapshot %q in %+v", label, rep.Sizes)
	return nil
}

// TestFloorHandler checks that the floor parses like the token endpoint
// (a repeated parameter is refused) and answers with an access token that
// the signing keys verify.
func TestFloorHandler(t *testing.T) {
	ctx := context.Background()
	km, closeSigner, err := NewFloorSigner(ctx, "ES256")
	if err != nil {
		t.Fatal(err)
	}
	defer closeSigner()
	srv := httptest.NewServer(NewFloorHandler("http://floor.test", km))
	defer srv.Close()

	post := func(form string) (int, map[string]any) {
		t.Helper()
		resp, err := http.Post(srv.URL+"/oauth2/token", "application/x-www-form-urlencoded", strings.NewReader(form))
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var body map[string]any
		if err := json.NewDecoder(resp.Body).Decode(&body); err != nil {
			t.Fatal(err)
		}
		return resp.StatusCode, body
	}
	code, body := post(url.Values{"grant_type": {"client_credentials"}, "client_id": {"c1"}}.Encode())
	if code != http.StatusOK {
		t.Fatalf("floor answered %d %v", code, body)
	}
	tok, _ := body["access_token"].(string)
	payload, err := km.Verify(ctx, token.TypeAccess, tok)
	if err != nil {
		t.Fatalf("the floor's token does not verify: %v", err)
	}
	var claims token.Claims
	if err := json.Unmarshal(payload, &claims); err != nil || claims.ClientID != "c1" || claims.Issuer != "http://floor.test" || claims.JTI == "" {
		t.Fatalf("claims %+v (%v)", claims, err)
	}
	if code, body := post("grant_type=a&grant_type=b"); code != http.StatusBadRequest || body["error"] != "invalid_request" {
		t.Fatalf("a repeated parameter: %d %v, want 400 invalid_request", code, body)
	}
}

// TestChainPoolUsesEachTokenOnce hands out tokens to many goroutines and
// checks that no token is handed out twice and every successor is.
func TestChainPoolUsesEachTokenOnce(t *testing.T) {
	p := newChainPool([]string{"a0", "b0", "c0"})
	seen := map[string]bool{}
	results := make(chan string, 3000)
	done := make(chan struct{})
	for w := range 8 {
		go func() {
			defer func() { done <- struct{}{} }()
			for n := range 100 {
				i, tok, ok := p.take()
				if !ok {
					continue // all three in use by others
				}
				results <- tok
				p.put(i, tok+"+"+string(rune('a'+w))+string(rune('0'+n%10)))
			}
		}()
	}
	for range 8 {
		<-done
	}
	close(results)
	for tok := range results {
		if seen[tok] {
			t.Fatalf("token %q handed out twice", tok)
		}
		seen[tok] = true
	}
	if len(p.snapshot()) != 3 {
		t.Fatalf("pool lost chains: %v", p.snapshot())
	}
	p.put(0, "") // a broken chain is skipped
	for range 10 {
		i, _, ok := p.take()
		if !ok || i == 0 {
			t.Fatalf("take gave slot %d (%v); a broken chain must be skipped", i, ok)
		}
		p.put(i, "x")
	}
}

func TestParseProc(t *testing.T) {
	// The command name may hold spaces and parentheses.
	stat := "4242 (rotor (x) y) S 1 4242 4242 0 -1 4194560 1000 0 0 0 250 75 0 0 20 0 8 0 100 0 0"
	d, err := parseStatCPU(stat)
	if err != nil || d != 3250*time.Millisecond {
		t.Fatalf("parseStatCPU = %v, %v; want 3.25s (325 ticks)", d, err)
	}
	if _, err := parseStatCPU("garbage"); err == nil {
		t.Fatal("parseStatCPU accepted garbage")
	}
	rss, err := parseStatusRSS("Name:\trotor\nVmHWM:\t  9000 kB\nVmRSS:\t   23456 kB\n")
	if err != nil || rss != 23456*1024 {
		t.Fatalf("parseStatusRSS = %d, %v", rss, err)
	}
	if _, err := parseStatusRSS("Name: x\n"); err == nil {
		t.Fatal("parseStatusRSS accepted a status without VmRSS")
	}
}

func TestQuantileAndThousands(t *testing.T) {
	var d []time.Duration
	for i := 1; i <= 100; i++ {
		d = append(d, time.Duration(i)*time.Millisecond)
	}
	for q, want := range map[float64]time.Duration{0.5: 50 * time.Millisecond, 0.99: 99 * time.Millisecond, 1: 100 * time.Millisecond} {
		if got := quantile(d, q); got != want {
			t.Errorf("quantile(%v) = %v, want %v", q, got, want)
		}
	}
	for n, want := range map[int64]string{0: "0", 999: "999", 1000: "1,000", 1234567: "1,234,567", -4500: "-4,500"} {
		if got := thousands(n); got != want {
			t.Errorf("thousands(%d) = %q, want %q", n, got, want)
		}
	}
}

func TestConfigValidate(t *testing.T) {
	good := Config{DSN: "sqlite:x.db", Binary: "rotor", ServeArgs: []string{"serve"}, Grants: AllGrants,
		Concurrency: []int{1}, Duration: time.Second, Families: 10}
	if err := good.Validate(); err != nil {
		t.Fatalf("valid config refused: %v", err)
	}
	bad := good
	bad.Grants = []string{"password"}
	bad.Concurrency = []int{0}
	bad.Duration = time.Hour
	bad.Families = 0
	bad.Target = "ftp://x"
	err := bad.Validate()
	if err == nil {
		t.Fatal("invalid config accepted")
	}
	for _, s := range []string{"password", "concurrency 0", "duration", "families 0", "--target", "master key"} {
		if !strings.Contains(err.Error(), s) {
			t.Errorf("error %q does not mention %q", err, s)
		}
	}
}
