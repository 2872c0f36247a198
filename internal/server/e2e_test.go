package server_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"golang.org/x/oauth2"

	"github.com/rotor-auth/rotor/internal/store"
	"github.com/rotor-auth/rotor/internal/store/sqlite"
	"github.com/rotor-auth/rotor/internal/store/testdb"
)

// tokenSet remembers every secret a test saw, to look for them later in
// logs, audit events and database dumps.
type tokenSet struct {
	strings []string
	// raw holds the random parts of refresh tokens, which must not be
	// stored in any encoding.
	raw [][]byte
}

func (s *tokenSet) add(tok *oauth2.Token) {
	if tok == nil {
		return
	}
	s.strings = append(s.strings, tok.AccessToken)
	if tok.RefreshToken != "" {
		s.addRefresh(tok.RefreshToken)
	}
}

func (s *tokenSet) addRefresh(rt string) {
	s.strings = append(s.strings, rt)
	body, err := base64.RawURLEncoding.DecodeString(strings.TrimPrefix(rt, "rt_"))
	if err == nil && len(body) >= 57 {
		s.raw = append(s.raw, body[25:57]) // version | family id | generation | random
	}
}

// findIn reports the first secret found in blob, in clear, hex or base64.
func (s *tokenSet) findIn(blob []byte) string {
	for _, tok := range s.strings {
		if bytes.Contains(blob, []byte(tok)) {
			return tok[:12] + "…"
		}
		// The part after a token-type prefix, in case something strips it.
		// (Only such a prefix: a JWT may hold '_' anywhere, and a few
		// characters after one would match logs by chance.)
		for _, p := range []string{"rt_", "rcs_"} {
			if rest, ok := strings.CutPrefix(tok, p); ok && bytes.Contains(blob, []byte(rest)) {
				return tok[:12] + "…"
			}
		}
	}
	for _, r := range s.raw {
		for _, enc := range [][]byte{r, []byte(hex.EncodeToString(r)), []byte(base64.RawURLEncoding.EncodeToString(r)), []byte(base64.StdEncoding.EncodeToString(r))} {
			if bytes.Contains(blob, enc) {
				return "random part of a refresh token"
			}
		}
	}
	return ""
}

// e2e runs a whole session with the real x/oauth2 client: password grant,
// a protected API call, access-token expiry and automatic refresh, then a
// replay of an old refresh token that ends the session. It returns every
// secret it saw.
func e2e(t *testing.T, r *rig) *tokenSet {
	ctx := context.Background()
	seen := &tokenSet{strings: []string{svcSecret, "correct horse"}}
	// x/oauth2 treats a token as expired 10 s before its expiry: an
	// 11 s lifetime makes it refresh after one second.
	r.addClient(t, store.Client{ID: "cli", GrantTypes: []string{"password", "refresh_token"}, Scopes: []string{"read"},
		ReuseGrace: dur(0), AccessTokenTTL: dur(11 * time.Second)}, svcSecret)
	r.addUser(t, "alice", "correct horse")
	r.addClient(t, store.Client{ID: "api", GrantTypes: []string{"client_credentials"}, Introspect: true}, "api-secret")
	seen.strings = append(seen.strings, "api-secret")

	// The protected API asks Rotor whether the token is active, as a
	// resource server using introspection does.
	api := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		tok := strings.TrimPrefix(req.Header.Get("Authorization"), "Bearer ")
		resp := r.post(t, "/oauth2/introspect", url.Values{"token": {tok}}, "api", "api-secret")
		if resp.Body["active"] != true {
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		_, _ = w.Write([]byte("hello " + resp.str("sub")))
	}))
	defer api.Close()

	conf := &oauth2.Config{ClientID: "cli", ClientSecret: svcSecret, Scopes: []string{"read"},
		Endpoint: oauth2.Endpoint{TokenURL: r.URL + "/oauth2/token", AuthStyle: oauth2.AuthStyleInHeader}}
	first, err := conf.PasswordCredentialsToken(ctx, "alice", "correct horse")
	if err != nil {
		t.Fatalf("password grant: %v", err)
	}
	seen.add(first)
	src := conf.TokenSource(ctx, first)
	client := oauth2.NewClient(ctx, src)
	get := func() int {
		resp, err := client.Get(api.URL)
		if err != nil {
			var re *oauth2.RetrieveError
			if errors.As(err, &re) {
				return -1
			}
			t.Fatalf("GET api: %v", err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	if code := get(); code != 200 {
		t.Fatalf("API with a fresh token: %d", code)
	}
	time.Sleep(1100 * time.Millisecond) // let x/oauth2 see the token as expired
	if code := get(); code != 200 {
		t.Fatalf("API after automatic refresh: %d", code)
	}
	cur, err := src.Token()
	if err != nil {
		t.Fatal(err)
	}
	seen.add(cur)
	if cur.RefreshToken == first.RefreshToken || cur.AccessToken == first.AccessToken {
		t.Fatal("the token source did not refresh an expired token")
	}

	// An attacker replays the first refresh token: invalid_grant, and the
	// whole family is revoked.
	stolen := conf.TokenSource(ctx, &oauth2.Token{RefreshToken: first.RefreshToken, Expiry: time.Now().Add(-time.Hour)})
	_, err = stolen.Token()
	var re *oauth2.RetrieveError
	if !errors.As(err, &re) || re.ErrorCode != "invalid_grant" {
		t.Fatalf("replay: %v, want invalid_grant", err)
	}
	// The session is over: the live access token is deny-listed and the
	// next refresh fails.
	if code := get(); code != http.StatusUnauthorized {
		t.Fatalf("API after the replay: %d, want 401", code)
	}
	time.Sleep(1100 * time.Millisecond) // let x/oauth2 see the token as expired, by the wall clock
	if code := get(); code != -1 {
		t.Fatalf("API after the replay and expiry: %d, want a refresh error", code)
	}
	return seen
}

func TestEndToEndOAuth2ClientLogsAndDump(t *testing.T) {
	t.Run("sqlite", func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "rotor.db")
		db, err := sqlite.Open(context.Background(), path)
		if err != nil {
			t.Fatal(err)
		}
		if err := db.Migrate(context.Background()); err != nil {
			t.Fatal(err)
		}
		r := newRig(t, db, nil)
		seen := e2e(t, r)
		checkLogs(t, r, seen)
		checkAudit(t, r.Store, seen)
		r.HTTP.Close()
		if err := db.Close(); err != nil {
			t.Fatal(err)
		}
		var dump []byte
		for _, suffix := range []string{"", "-wal", "-shm"} {
			b, err := os.ReadFile(path + suffix)
			if err != nil && !os.IsNotExist(err) {
				t.Fatal(err)
			}
			dump = append(dump, b...)
		}
		if len(dump) == 0 {
			t.Fatal("empty database dump")
		}
		if found := seen.findIn(dump); found != "" {
			t.Fatalf("the database file holds a secret: %s", found)
		}
	})
	t.Run("postgres", func(t *testing.T) {
		dsn := testdb.PostgresDSN(t)
		st := openPostgres(t, dsn)
		r := newRig(t, st, nil)
		seen := e2e(t, r)
		checkLogs(t, r, seen)
		checkAudit(t, r.Store, seen)
		dump := dumpPostgres(t, dsn)
		if !bytes.Contains(dump, []byte("alice")) {
			t.Fatal("the dump does not look like a dump of this database")
		}
		if found := seen.findIn(dump); found != "" {
			t.Fatalf("the database holds a secret: %s", found)
		}
	})
}

func checkLogs(t *testing.T, r *rig, seen *tokenSet) {
	t.Helper()
	logs := r.Logs.String()
	if !strings.Contains(logs, "reuse detected") {
		t.Fatalf("the logs do not record the replay; captured: %q", logs)
	}
	if found := seen.findIn([]byte(logs)); found != "" {
		t.Fatalf("the server logged a secret: %s", found)
	}
}

func checkAudit(t *testing.T, st store.Store, seen *tokenSet) {
	t.Helper()
	events, err := st.ListEvents(context.Background(), store.EventFilter{})
	if err != nil {
		t.Fatal(err)
	}
	var b bytes.Buffer
	types := map[string]bool{}
	for _, e := range events {
		types[e.Type] = true
		b.WriteString(strings.Join([]string{e.Type, e.ClientID, e.Subject, e.FamilyID, e.TokenID, e.IP, e.UserAgent, e.Reason, e.Detail}, "|"))
		b.WriteByte('\n')
	}
	for _, want := range []string{"family_created", "token_rotated", "access_token_issued", "refresh_token_reuse_detected", "family_revoked", "refresh_failed"} {
		if !types[want] {
			t.Errorf("no %s event in the audit trail", want)
		}
	}
	if found := seen.findIn(b.Bytes()); found != "" {
		t.Fatalf("the audit trail holds a secret: %s", found)
	}
}

// dumpPostgres renders every row of every table of the test schema as text,
// as pg_dump would.
func dumpPostgres(t *testing.T, dsn string) []byte {
	t.Helper()
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	rows, err := conn.Query(ctx, `SELECT tablename FROM pg_tables WHERE schemaname = current_schema()`)
	if err != nil {
		t.Fatal(err)
	}
	tables, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil || len(tables) < 4 {
		t.Fatalf("tables %v: %v", tables, err)
	}
	var dump bytes.Buffer
	for _, tbl := range tables {
		rows, err := conn.Query(ctx, "SELECT t::text FROM "+pgx.Identifier{tbl}.Sanitize()+" t")
		if err != nil {
			t.Fatal(err)
		}
		lines, err := pgx.CollectRows(rows, pgx.RowTo[string])
		if err != nil {
			t.Fatal(err)
		}
		for _, l := range lines {
			dump.WriteString(l)
			dump.WriteByte('\n')
		}
	}
	return dump.Bytes()
}
