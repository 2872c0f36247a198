package client_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/oauth2"

	"github.com/rotor-auth/rotor/client"
	"github.com/rotor-auth/rotor/internal/audit"
	"github.com/rotor-auth/rotor/internal/store"
	"github.com/rotor-auth/rotor/internal/store/testdb"
	"github.com/rotor-auth/rotor/internal/testrig"
)

func TestFileStoreRoundTripAndModes(t *testing.T) {
	ctx := context.Background()
	dir := filepath.Join(t.TempDir(), "new", "dir")
	fs := client.NewFileStore(filepath.Join(dir, "token.json"))
	if _, err := fs.Load(ctx); !errors.Is(err, client.ErrNoToken) {
		t.Fatalf("Load of a missing file: %v, want ErrNoToken", err)
	}
	want := &oauth2.Token{AccessToken: "at", TokenType: "DPoP", RefreshToken: "rt_x", Expiry: time.Now().Round(0).UTC()}
	if err := fs.Save(ctx, want); err != nil {
		t.Fatal(err)
	}
	got, err := fs.Load(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if got.AccessToken != want.AccessToken || got.TokenType != want.TokenType || got.RefreshToken != want.RefreshToken || !got.Expiry.Equal(want.Expiry) {
		t.Fatalf("Load = %+v, want %+v", got, want)
	}
	if runtime.GOOS == "windows" {
		return
	}
	for path, mode := range map[string]os.FileMode{fs.Path(): 0o600, dir: 0o700} {
		fi, err := os.Stat(path)
		if err != nil {
			t.Fatal(err)
		}
		if fi.Mode().Perm() != mode {
			t.Errorf("%s has mode %v, want %v", path, fi.Mode().Perm(), mode)
		}
	}
	// Save fixes a file that someone made readable by others.
	if err := os.Chmod(fs.Path(), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := fs.Save(ctx, want); err != nil {
		t.Fatal(err)
	}
	if fi, _ := os.Stat(fs.Path()); fi.Mode().Perm() != 0o600 {
		t.Errorf("after Save the file has mode %v, want 0600", fi.Mode().Perm())
	}
	unlock, err := fs.Lock(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if fi, _ := os.Stat(fs.Path() + ".lock"); fi.Mode().Perm() != 0o600 {
		t.Errorf("lock file has mode %v, want 0600", fi.Mode().Perm())
	}
	if err := unlock(); err != nil {
		t.Fatal(err)
	}
	if err := fs.Clear(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := fs.Load(ctx); !errors.Is(err, client.ErrNoToken) {
		t.Fatalf("Load after Clear: %v, want ErrNoToken", err)
	}
	if err := fs.Clear(ctx); err != nil {
		t.Fatalf("Clear of a missing file: %v", err)
	}
}

// TestFileStoreAtomicReplace: a reader running beside a writer only ever
// sees a whole token, and no temporary file is left behind.
func TestFileStoreAtomicReplace(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	fs := client.NewFileStore(filepath.Join(dir, "token.json"))
	// A long token makes a torn write likely to show if writes were not
	// atomic.
	pad := strings.Repeat("x", 16<<10)
	if err := fs.Save(ctx, &oauth2.Token{AccessToken: "0" + pad, RefreshToken: "0"}); err != nil {
		t.Fatal(err)
	}
	const writes = 300
	var stop atomic.Bool
	var reads atomic.Int64
	var wg sync.WaitGroup
	for range 2 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for !stop.Load() {
				tok, err := client.NewFileStore(fs.Path()).Load(ctx)
				if err != nil {
					t.Errorf("read during writes: %v", err)
					return
				}
				if tok.AccessToken != tok.RefreshToken+pad {
					t.Errorf("read a token whose parts come from different writes")
					return
				}
				reads.Add(1)
			}
		}()
	}
	for i := 1; i <= writes; i++ {
		n := strconv.Itoa(i)
		if err := fs.Save(ctx, &oauth2.Token{AccessToken: n + pad, RefreshToken: n}); err != nil {
			t.Fatal(err)
		}
	}
	stop.Store(true)
	wg.Wait()
	t.Logf("%d writes, %d whole reads", writes, reads.Load())
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) != 1 {
		var names []string
		for _, e := range entries {
			names = append(names, e.Name())
		}
		t.Fatalf("directory holds %v, want only token.json", names)
	}
}

// TestFileStoreFailedSaveLeavesNoTemporaryFile: when the rename fails (the
// path is a non-empty directory), Save reports it and cleans up.
func TestFileStoreFailedSaveLeavesNoTemporaryFile(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "token.json")
	if err := os.MkdirAll(filepath.Join(path, "occupied"), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := client.NewFileStore(path).Save(context.Background(), &oauth2.Token{AccessToken: "a"}); err == nil {
		t.Fatal("Save over a directory succeeded")
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 1 {
		t.Fatalf("%d entries left in the directory, want 1", len(entries))
	}
}

func TestFileStoreRefusesMalformedFiles(t *testing.T) {
	const secretish = "rt_SECRET"
	for name, content := range map[string]string{
		"not json":      "rt_SECRET",
		"unknown field": `{"version":1,"access_token":"a","refresh_token":"rt_SECRET","extra":1}`,
		"wrong version": `{"version":2,"access_token":"a","refresh_token":"rt_SECRET"}`,
		"no version":    `{"access_token":"a","refresh_token":"rt_SECRET"}`,
		"trailing data": `{"version":1,"access_token":"a","refresh_token":"rt_SECRET"} {}`,
		"too large":     `{"version":1,"access_token":"` + strings.Repeat("a", 70<<10) + `","refresh_token":"rt_SECRET"}`,
	} {
		path := filepath.Join(t.TempDir(), "token.json")
		if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		_, err := client.NewFileStore(path).Load(context.Background())
		if err == nil {
			t.Errorf("%s: loaded", name)
			continue
		}
		if errors.Is(err, client.ErrNoToken) || strings.Contains(err.Error(), secretish) {
			t.Errorf("%s: error %q", name, err)
		}
	}
}

// TestFileStoreLockExcludes: a second FileStore on the same path waits for
// the first one's lock, and gives up when its context ends.
func TestFileStoreLockExcludes(t *testing.T) {
	path := filepath.Join(t.TempDir(), "token.json")
	a, b := client.NewFileStore(path), client.NewFileStore(path)
	unlock, err := a.Lock(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if _, err := b.Lock(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("second Lock while held: %v, want a deadline error", err)
	}
	got := make(chan error, 1)
	go func() {
		u, err := b.Lock(context.Background())
		if err == nil {
			err = u()
		}
		got <- err
	}()
	select {
	case err := <-got:
		t.Fatalf("second Lock returned (%v) while the first is held", err)
	case <-time.After(50 * time.Millisecond):
	}
	if err := unlock(); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-got:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("second Lock still waiting after the first was released")
	}
}

// TestTwoStoresOnOneFile: two Sources over two FileStores on one path, as
// two processes, with many goroutines each, as the token expires. The lock
// makes one refresh; the other Source loads its successor. No grace period,
// so a second use of the old token would revoke the family.
func TestTwoStoresOnOneFile(t *testing.T) {
	testdb.Each(t, func(t *testing.T, st store.Store) {
		e := newEnv(t, st, store.Client{ID: "cli", ReuseGrace: testrig.Dur(0)}, false)
		path := filepath.Join(t.TempDir(), "token.json")
		if err := client.NewFileStore(path).Save(context.Background(), e.due()); err != nil {
			t.Fatal(err)
		}
		srcs := []*client.Source{
			client.TokenSource(context.Background(), e.config(nil), client.NewFileStore(path)),
			client.TokenSource(context.Background(), e.config(nil), client.NewFileStore(path)),
		}
		const callers = 100
		got := make([]*oauth2.Token, 2*callers)
		errs := make([]error, 2*callers)
		parallel(2*callers, func(i int) { got[i], errs[i] = srcs[i%2].Token() })
		for i, err := range errs {
			if err != nil {
				t.Fatalf("caller %d: %v", i, err)
			}
			if got[i].RefreshToken != got[0].RefreshToken {
				t.Fatalf("caller %d holds another refresh token", i)
			}
		}
		if n := len(e.events(t, audit.TokenRotated)); n != 1 {
			t.Errorf("%d rotations, want 1", n)
		}
		e.expectHealthy(t)
		saved, err := client.NewFileStore(path).Load(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		if saved.RefreshToken != got[0].RefreshToken {
			t.Fatal("the file does not hold the token handed out")
		}
	})
}

// Environment of the helper process of TestTwoProcessesShareAFile.
const (
	envHelper     = "ROTOR_CLIENT_TEST_HELPER"
	envTokenURL   = "ROTOR_CLIENT_TEST_TOKEN_URL"
	envTokenFile  = "ROTOR_CLIENT_TEST_TOKEN_FILE"
	envIterations = "ROTOR_CLIENT_TEST_ITERATIONS"
)

// TestTwoProcessesShareAFile runs this test binary twice as helper
// processes that refresh the token in one file over and over, each refresh
// in a fresh Source (as a CLI run does). With no grace period, a token
// refreshed twice would revoke the family; flock keeps them apart.
func TestTwoProcessesShareAFile(t *testing.T) {
	if runtime.GOOS == "windows" || runtime.GOOS == "plan9" {
		t.Skip("FileStore excludes other processes only where flock exists")
	}
	e := newEnv(t, testdb.SQLite(t), store.Client{ID: "cli", ReuseGrace: testrig.Dur(0)}, false)
	path := filepath.Join(t.TempDir(), "token.json")
	if err := client.NewFileStore(path).Save(context.Background(), e.first); err != nil {
		t.Fatal(err)
	}
	const procs, iterations = 2, 15
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	var wg sync.WaitGroup
	out := make([][]byte, procs)
	errs := make([]error, procs)
	for i := range procs {
		cmd := exec.CommandContext(ctx, os.Args[0], "-test.run=^TestHelperProcess$", "-test.count=1")
		cmd.Env = append(os.Environ(), envHelper+"=1", envTokenURL+"="+e.oc.Endpoint.TokenURL,
			envTokenFile+"="+path, envIterations+"="+strconv.Itoa(iterations))
		wg.Add(1)
		go func() {
			defer wg.Done()
			out[i], errs[i] = cmd.CombinedOutput()
		}()
	}
	wg.Wait()
	for i := range procs {
		if errs[i] != nil {
			t.Fatalf("helper %d: %v\n%s", i, errs[i], out[i])
		}
	}
	if n := len(e.events(t, audit.TokenRotated)); n != procs*iterations {
		t.Errorf("%d rotations, want %d", n, procs*iterations)
	}
	e.expectHealthy(t)
	saved, err := client.NewFileStore(path).Load(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.refreshRaw(t, saved.RefreshToken); err != nil {
		t.Fatalf("the file does not hold the live token: %v", err)
	}
}

// TestHelperProcess is the body of the helper processes; it does nothing
// in a normal run.
func TestHelperProcess(t *testing.T) {
	if os.Getenv(envHelper) != "1" {
		t.Skip("helper process for TestTwoProcessesShareAFile")
	}
	n, err := strconv.Atoi(os.Getenv(envIterations))
	if err != nil {
		t.Fatal(err)
	}
	cfg := &client.Config{
		OAuth2: &oauth2.Config{ClientID: "cli", ClientSecret: clientSecret,
			Endpoint: oauth2.Endpoint{TokenURL: os.Getenv(envTokenURL), AuthStyle: oauth2.AuthStyleInHeader}},
		// Every loaded token is due, so every fresh Source refreshes.
		RefreshBefore: 24 * time.Hour,
	}
	fs := client.NewFileStore(os.Getenv(envTokenFile))
	for i := range n {
		if _, err := client.TokenSource(context.Background(), cfg, fs).Token(); err != nil {
			t.Fatal(fmt.Errorf("refresh %d: %w", i, err))
		}
	}
}
