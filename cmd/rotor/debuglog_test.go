package main

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/rotor-auth/rotor/internal/config"
)

// TestDebugLogLevel: --log-level debug (or ROTOR_LOG_LEVEL=debug) tells
// more than info: the configuration, the database and its migrations.
func TestDebugLogLevel(t *testing.T) {
	t.Run("command", func(t *testing.T) {
		h := newHarness(t)
		h.env["ROTOR_LOG_LEVEL"] = "info"
		r := h.run("", "client", "list")
		if r.code != 0 {
			t.Fatalf("exit %d\n%s", r.code, r.stderr)
		}
		if strings.Contains(r.stderr, "level=DEBUG") {
			t.Errorf("info logs a debug line:\n%s", r.stderr)
		}

		h = newHarness(t)
		h.env["ROTOR_LOG_LEVEL"] = "debug"
		r = h.run("", "client", "list")
		if r.code != 0 {
			t.Fatalf("exit %d\n%s", r.code, r.stderr)
		}
		for _, want := range []string{"level=DEBUG msg=configuration", "config.reuse_grace=15s",
			`level=DEBUG msg="database opened"`, `level=DEBUG msg="migrations applied"`, "applied=0001_init,"} {
			if !strings.Contains(r.stderr, want) {
				t.Errorf("debug does not log %q:\n%s", want, r.stderr)
			}
		}
	})

	t.Run("serve", func(t *testing.T) {
		h := newHarness(t)
		_, _, errb, stop := startServe(t, h, "--log-level", "debug")
		if code := stop(); code != 0 {
			t.Fatalf("serve exited %d\n%s", code, errb)
		}
		for _, want := range []string{"level=DEBUG msg=configuration", `level=DEBUG msg="database opened"`,
			`level=DEBUG msg="background work" key_check_interval=5m`} {
			if !strings.Contains(errb.String(), want) {
				t.Errorf("serve --log-level debug does not log %q:\n%s", want, errb)
			}
		}
	})
}

// countingChecker stands for the key manager: it counts checks and fails
// when told to.
type countingChecker struct {
	mu   sync.Mutex
	n    int
	fail error
}

func (c *countingChecker) EnsureCurrent(context.Context) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.n++
	return c.fail
}

func (c *countingChecker) failWith(err error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.fail = err
}

func (c *countingChecker) checks() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.n
}

// TestKeyLoopLogsEachCheck: at debug, each scheduled signing-key check
// leaves a line; at info only a failed one does.
func TestKeyLoopLogsEachCheck(t *testing.T) {
	for _, level := range []string{"debug", "info"} {
		t.Run(level, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				var b syncBuffer
				log := (&config.Config{LogLevel: level}).NewLogger(&b)
				kc := &countingChecker{}
				ctx, cancel := context.WithCancel(t.Context())
				done := make(chan struct{})
				go func() { keyLoop(ctx, kc, time.Minute, log); close(done) }()
				time.Sleep(3*time.Minute + time.Second) // fake time: three ticks
				synctest.Wait()
				kc.failWith(errors.New("database down"))
				time.Sleep(time.Minute)
				synctest.Wait()
				cancel()
				<-done

				if n := kc.checks(); n != 4 {
					t.Fatalf("%d checks in 4 minutes, want 4", n)
				}
				lines := strings.Count(b.String(), `msg="signing keys checked" next_check=1m`)
				if want := map[string]int{"debug": 3, "info": 0}[level]; lines != want {
					t.Errorf("%d debug lines of a check, want %d:\n%s", lines, want, b.String())
				}
				if !strings.Contains(b.String(), "level=ERROR") {
					t.Errorf("the failed check is not logged:\n%s", b.String())
				}
			})
		})
	}
}
