package server_test

import (
	"context"
	"fmt"
	"net/url"
	"testing"
	"time"

	"github.com/rotor-auth/rotor/internal/audit"
	"github.com/rotor-auth/rotor/internal/server"
	"github.com/rotor-auth/rotor/internal/store"
	"github.com/rotor-auth/rotor/internal/store/testdb"
)

// TestUnauthenticatedFailuresCostBoundedRows: made-up client ids, wrong
// secrets and garbage refresh tokens from a public client are recorded,
// but repeats from one source are counted into one event per window, and
// past the sources a window tells apart, by kind alone: the rows written
// stay bounded whatever the caller sends, and the counts lose nothing
// (issue 9 item 12: every such request was a durable row, about 1,500 a
// second from four connections).
func TestUnauthenticatedFailuresCostBoundedRows(t *testing.T) {
	st := testdb.SQLite(t)
	const maxKeys = 20
	agg := audit.NewAggregator(st, time.Hour, maxKeys, time.Now, nil)
	r := newRig(t, st, nil, func(o *server.Options) { o.Refusals = agg })
	standard(t, r, 0)
	ctx := context.Background()
	before, err := st.ListEvents(ctx, store.EventFilter{})
	if err != nil {
		t.Fatal(err)
	}
	const each = 60
	for i := range each {
		// A made-up client id, new each time.
		expectError(t, r.post(t, "/oauth2/token", url.Values{"grant_type": {"client_credentials"}}, fmt.Sprint("nobody-", i), "x"), 401, "invalid_client")
		// A wrong secret for a real client.
		expectError(t, r.post(t, "/oauth2/token", url.Values{"grant_type": {"client_credentials"}}, "svc", "wrong"), 401, "invalid_client")
		// A garbage refresh token through a public client.
		expectError(t, r.post(t, "/oauth2/token", url.Values{"grant_type": {"refresh_token"}, "client_id": {"spa"},
			"refresh_token": {fmt.Sprint("rt_garbage", i)}}), 400, "invalid_grant")
	}
	if err := agg.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	var last int64
	if len(before) > 0 {
		last = before[len(before)-1].ID
	}
	after, err := st.ListEvents(ctx, store.EventFilter{AfterID: last})
	if err != nil {
		t.Fatal(err)
	}
	// Each source a window tells apart: its first event and one with the
	// count of the rest; beyond them, one event per kind.
	if bound := 2*maxKeys + 4; len(after) > bound {
		t.Fatalf("%d refusals wrote %d rows, want at most %d", 3*each, len(after), bound)
	}
	counts := map[string]int64{}
	for _, e := range after {
		counts[e.Type] += e.Count
	}
	if counts[audit.ClientAuthFailed] != 2*each || counts[audit.RefreshFailed] != each {
		t.Fatalf("counted %v, want %d client_auth_failed and %d refresh_failed", counts, 2*each, each)
	}
	t.Logf("%d refusals: %d rows", 3*each, len(after))
}
