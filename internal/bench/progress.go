package bench

import (
	"fmt"
	"io"
	"sync"
	"time"
)

// progress writes what the bench is doing to stderr: on a terminal, a
// line rewritten four times a second while a cell runs; elsewhere (a log
// file, CI), only one line per finished step.
type progress struct {
	w   io.Writer
	tty bool
	mu  sync.Mutex
}

// logf writes one line of status.
func (p *progress) logf(format string, args ...any) {
	if p == nil || p.w == nil {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	fmt.Fprintf(p.w, format+"\n", args...)
}

// live rewrites the current status line on a terminal; elsewhere it does
// nothing.
func (p *progress) live(format string, args ...any) {
	if p == nil || p.w == nil || !p.tty {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	fmt.Fprintf(p.w, "\r\x1b[K"+format, args...)
}

// clear erases the live line.
func (p *progress) clear() {
	if p == nil || p.w == nil || !p.tty {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	fmt.Fprint(p.w, "\r\x1b[K")
}

// start shows a running cell until the returned function is called.
func (p *progress) start(c cell, started time.Time, cnt *counters) (stop func()) {
	if p == nil || p.w == nil || !p.tty {
		return func() {}
	}
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		t := time.NewTicker(250 * time.Millisecond)
		defer t.Stop()
		total := c.warmup + c.dur
		var lastN int64
		last := started
		for {
			select {
			case <-done:
				return
			case now := <-t.C:
				n := cnt.requests.Load()
				rate := float64(n-lastN) / now.Sub(last).Seconds()
				lastN, last = n, now
				phase := ""
				if now.Sub(started) < c.warmup {
					phase = " (warm-up)"
				}
				p.live("  %-18s %-8s c=%-3d %4.1fs/%.1fs%s  %8.0f req/s  %d errors",
					c.grant, c.backend, c.concurrency, now.Sub(started).Seconds(), total.Seconds(), phase, rate, cnt.errors.Load())
			}
		}
	})
	return func() { close(done); wg.Wait(); p.clear() }
}
