package server_test

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/rotor-auth/rotor/internal/store"
	"github.com/rotor-auth/rotor/internal/store/testdb"
)

// clientFrom returns an HTTP client whose connections leave from the
// loopback address local, so the server sees another caller than
// 127.0.0.1 (the whole of 127.0.0.0/8 is loopback).
func clientFrom(local string) *http.Client {
	d := &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(local)}, Timeout: 5 * time.Second}
	return &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{DialContext: d.DialContext, MaxIdleConnsPerHost: 200}}
}

// TestPasswordFloodDoesNotLockOutRealUsers: 100 concurrent wrong
// passwords through a public client (no secret needed) while a real user
// signs in ten times from another address: every one of the ten succeeds
// (issue 9 item 11: the flood used to fill the argon2id slots, and 9 of
// 10 real logins failed with 503). The flood is bounded in count and time.
func TestPasswordFloodDoesNotLockOutRealUsers(t *testing.T) {
	if testing.Short() {
		t.Skip("a flood of argon2id verifications")
	}
	r := newRig(t, testdb.SQLite(t), nil)
	r.addClient(t, store.Client{ID: "spa", GrantTypes: []string{"password", "refresh_token"}, Scopes: []string{"read"}}, "")
	r.addUser(t, "alice", "correct horse")
	r.addUser(t, "victim", "a password nobody guesses")
	endpoint := r.URL + "/oauth2/token"
	attacker, user := clientFrom("127.0.0.1"), clientFrom("127.0.0.2")

	ctx, stop := context.WithTimeout(context.Background(), 20*time.Second)
	defer stop()
	var (
		wg       sync.WaitGroup
		sent     atomic.Int64
		statuses sync.Map // status → *atomic.Int64
	)
	for i := range 100 {
		wg.Go(func() {
			for n := 0; n < 200 && ctx.Err() == nil; n++ {
				// Half guess the victim's password, half spray made-up names.
				name := "victim"
				if i%2 == 1 {
					name = fmt.Sprintf("user%d-%d", i, n)
				}
				form := url.Values{"grant_type": {"password"}, "client_id": {"spa"}, "username": {name}, "password": {"guess"}}
				req, _ := http.NewRequestWithContext(ctx, http.MethodPost, endpoint, strings.NewReader(form.Encode()))
				req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
				resp, err := attacker.Do(req)
				if err != nil {
					continue
				}
				resp.Body.Close()
				sent.Add(1)
				c, _ := statuses.LoadOrStore(resp.StatusCode, &atomic.Int64{})
				c.(*atomic.Int64).Add(1)
			}
		})
	}
	// Let the flood fill the server first.
	for sent.Load() < 200 && ctx.Err() == nil {
		time.Sleep(5 * time.Millisecond) // real time: real requests on loopback and argon2id work, which a fake clock does not pace
	}
	var took []time.Duration
	for i := range 10 {
		form := url.Values{"grant_type": {"password"}, "client_id": {"spa"}, "username": {"alice"}, "password": {"correct horse"}}
		start := time.Now()
		resp, err := user.PostForm(endpoint, form)
		if err != nil {
			t.Fatalf("real login %d: %v", i, err)
		}
		resp.Body.Close()
		took = append(took, time.Since(start))
		if resp.StatusCode != http.StatusOK {
			t.Errorf("real login %d during the flood: %d", i, resp.StatusCode)
		}
	}
	stop()
	wg.Wait()
	slices.Sort(took)
	counts := map[int]int64{}
	statuses.Range(func(k, v any) bool { counts[k.(int)] = v.(*atomic.Int64).Load(); return true })
	t.Logf("real logins during a flood of %d wrong passwords: median %s, max %s; flood answers by status %v",
		sent.Load(), took[len(took)/2].Round(time.Millisecond), took[len(took)-1].Round(time.Millisecond), counts)
	if counts[http.StatusTooManyRequests] == 0 {
		t.Error("the flood was never limited")
	}
}
