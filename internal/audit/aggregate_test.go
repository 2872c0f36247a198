package audit_test

import (
	"context"
	"fmt"
	"testing"
	"testing/synctest"
	"time"

	"github.com/rotor-auth/rotor/internal/audit"
	"github.com/rotor-auth/rotor/internal/store"
	"github.com/rotor-auth/rotor/internal/store/testdb"
)

func total(t *testing.T, st store.Store) (rows int, count map[string]int64) {
	t.Helper()
	evs, err := st.ListEvents(context.Background(), store.EventFilter{})
	if err != nil {
		t.Fatal(err)
	}
	count = map[string]int64{}
	for _, e := range evs {
		count[e.Type+"/"+e.Reason] += e.Count
	}
	return len(evs), count
}

// TestAggregatorBoundsRowsAndLosesNoCount: first refusals are written at
// once; repeats, many client ids from one address, and more sources than
// the window tells apart are counted, in rows bounded whatever the
// callers send; the counts add up to every refusal.
func TestAggregatorBoundsRowsAndLosesNoCount(t *testing.T) {
	st := testdb.SQLite(t)
	ctx := context.Background()
	agg := audit.NewAggregator(st, time.Hour, 50, time.Now, nil)
	m := audit.Meta{Time: time.Now(), IP: "192.0.2.1"}
	agg.Record(ctx, audit.NewClientAuthFailed(m, "web", audit.ReasonWrongSecret))
	if rows, _ := total(t, st); rows != 1 {
		t.Fatalf("the first refusal is not written at once: %d rows", rows)
	}
	for range 99 {
		agg.Record(ctx, audit.NewClientAuthFailed(m, "web", audit.ReasonWrongSecret))
	}
	for i := range 1000 { // made-up client ids from one address
		agg.Record(ctx, audit.NewClientAuthFailed(m, fmt.Sprint("made-up-", i), audit.ReasonUnknownClient))
	}
	for i := range 1000 { // from many addresses
		agg.Record(ctx, audit.NewClientAuthFailed(audit.Meta{IP: fmt.Sprintf("203.0.%d.%d", i/250, i%250)}, "x", audit.ReasonUnknownClient))
	}
	if err := agg.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	rows, count := total(t, st)
	if bound := 2*50 + 4; rows > bound {
		t.Fatalf("%d rows for 2,100 refusals, want at most %d", rows, bound)
	}
	if count["client_auth_failed/wrong_secret"] != 100 || count["client_auth_failed/unknown_client"] != 2000 {
		t.Fatalf("counts %v, want 100 and 2,000", count)
	}
	// Nothing pending: another flush writes nothing.
	if err := agg.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	if again, _ := total(t, st); again != rows {
		t.Fatalf("a second flush wrote %d more rows", again-rows)
	}
}

// TestAggregatorRunFlushesEachWindowAndOnStop: Run writes the counted
// repeats every window, and once more when it stops.
func TestAggregatorRunFlushesEachWindowAndOnStop(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		st := testdb.SQLite(t) // inside the bubble: its committer is too
		ctx, stop := context.WithCancel(context.Background())
		agg := audit.NewAggregator(st, 10*time.Second, 0, time.Now, nil)
		done := make(chan struct{})
		go func() { agg.Run(ctx); close(done) }()
		m := audit.Meta{IP: "192.0.2.1"}
		for range 3 {
			agg.Record(ctx, audit.NewPasswordGrantFailed(m, "spa", "", audit.ReasonUnknownUser))
		}
		time.Sleep(11 * time.Second) // one window
		synctest.Wait()
		if _, count := total(t, st); count["password_grant_failed/unknown_user"] != 3 {
			t.Fatalf("after a window: %v, want 3", count)
		}
		agg.Record(ctx, audit.NewPasswordGrantFailed(m, "spa", "", audit.ReasonUnknownUser))
		agg.Record(ctx, audit.NewPasswordGrantFailed(m, "spa", "", audit.ReasonUnknownUser))
		stop()
		<-done
		if _, count := total(t, st); count["password_grant_failed/unknown_user"] != 5 {
			t.Fatalf("after stopping: %v, want 5", count)
		}
	})
}

// failing is a store whose AppendEvents fails while down is set: a
// database that is unavailable.
type failing struct {
	store.Store
	down bool
}

func (f *failing) AppendEvents(ctx context.Context, evs ...*store.Event) error {
	if f.down {
		return store.ErrUnavailable
	}
	return f.Store.AppendEvents(ctx, evs...)
}

// TestAggregatorKeepsCountsThroughAnOutage: counted refusals that a flush
// cannot write while the database is down are written by the next flush.
func TestAggregatorKeepsCountsThroughAnOutage(t *testing.T) {
	st := testdb.SQLite(t)
	ctx := context.Background()
	f := &failing{Store: st}
	agg := audit.NewAggregator(f, time.Hour, 0, time.Now, nil)
	m := audit.Meta{IP: "192.0.2.1"}
	for range 5 {
		agg.Record(ctx, audit.NewClientAuthFailed(m, "web", audit.ReasonWrongSecret))
	}
	f.down = true
	agg.Record(ctx, audit.NewClientAuthFailed(m, "web", audit.ReasonWrongSecret))
	if err := agg.Flush(ctx); err == nil {
		t.Fatal("a flush to a database that is down succeeded")
	}
	f.down = false
	if err := agg.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	if _, count := total(t, st); count["client_auth_failed/wrong_secret"] != 6 {
		t.Fatalf("counts %v after the outage, want 6", count)
	}
}
