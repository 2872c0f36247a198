package bench

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// clockTicks is USER_HZ, the unit of the CPU times in /proc/PID/stat: 100
// on every Linux architecture Go supports (the kernel fixes it for user
// space whatever its internal HZ).
const clockTicks = 100

// Process is a server the bench started as a child process, so that its CPU
// time and memory are read apart from the load generator's.
type Process struct {
	// URL is the server's base URL, http://127.0.0.1:PORT.
	URL string
	// Started is when the process was started.
	Started time.Time
	// Ready is how long after Started its readiness path first answered 200.
	Ready time.Duration

	cmd  *exec.Cmd
	out  *tailBuffer
	done chan struct{}
	err  error // set before done is closed
}

// StartProcess runs bin with args and env (added to the bench's own
// environment), "{addr}" in args replaced by a free loopback address, and
// waits until GET readyPath answers 200 (up to timeout). Its output is
// kept, the last few kilobytes, for the error if it dies.
func StartProcess(ctx context.Context, bin string, args, env []string, readyPath string, timeout time.Duration) (*Process, error) {
	addr, err := freeAddr()
	if err != nil {
		return nil, err
	}
	args = append([]string(nil), args...)
	for i, a := range args {
		args[i] = strings.ReplaceAll(a, "{addr}", addr)
	}
	cmd := exec.Command(bin, args...)
	cmd.Env = append(os.Environ(), env...)
	// Its own process group, so that a Ctrl-C to the bench does not reach
	// it before the bench has stopped it cleanly.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	out := &tailBuffer{max: 16 << 10}
	cmd.Stdout, cmd.Stderr = out, out
	p := &Process{URL: "http://" + addr, cmd: cmd, out: out, done: make(chan struct{})}
	p.Started = time.Now()
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s: %w", bin, err)
	}
	go func() { p.err = cmd.Wait(); close(p.done) }()

	client := &http.Client{Timeout: time.Second}
	deadline := p.Started.Add(timeout)
	for {
		resp, err := client.Get(p.URL + readyPath)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				p.Ready = time.Since(p.Started)
				return p, nil
			}
		}
		select {
		case <-p.done:
			return nil, fmt.Errorf("%s %s exited at start (%v):\n%s", bin, strings.Join(args, " "), p.err, out.String())
		case <-ctx.Done():
			p.Stop()
			return nil, ctx.Err()
		case <-time.After(5 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			p.Stop()
			return nil, fmt.Errorf("%s %s did not answer %s within %s:\n%s", bin, strings.Join(args, " "), readyPath, timeout, out.String())
		}
	}
}

// freeAddr returns a loopback address with a port nobody listens on now.
// Another process could take it before the child does; on a bench machine
// that does not happen, and the child would then fail loudly at start.
func freeAddr() (string, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer l.Close()
	return l.Addr().String(), nil
}

// Stop asks the process to shut down (SIGTERM), and kills it if it has
// not within ten seconds.
func (p *Process) Stop() {
	select {
	case <-p.done:
		return
	default:
	}
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(10 * time.Second):
		_ = p.cmd.Process.Kill()
		<-p.done
	}
}

// Output returns the end of what the process wrote.
func (p *Process) Output() string { return p.out.String() }

// Exited reports whether the process has ended.
func (p *Process) Exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// CPU returns the CPU time (user + system) the process has used so far.
func (p *Process) CPU() (time.Duration, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", p.cmd.Process.Pid))
	if err != nil {
		return 0, err
	}
	return parseStatCPU(string(b))
}

// parseStatCPU reads utime and stime (fields 14 and 15) from a
// /proc/PID/stat line. The command name (field 2) is in parentheses and
// may hold spaces, so fields are counted from the last ")".
func parseStatCPU(stat string) (time.Duration, error) {
	i := strings.LastIndexByte(stat, ')')
	if i < 0 {
		return 0, errors.New("bench: malformed /proc stat")
	}
	f := strings.Fields(stat[i+1:])
	// f[0] is field 3 (state), so field n is f[n-3].
	if len(f) < 13 {
		return 0, errors.New("bench: malformed /proc stat")
	}
	utime, err1 := strconv.ParseInt(f[11], 10, 64)
	stime, err2 := strconv.ParseInt(f[12], 10, 64)
	if err1 != nil || err2 != nil {
		return 0, errors.New("bench: malformed /proc stat")
	}
	return time.Duration(utime+stime) * time.Second / clockTicks, nil
}

// RSS returns the process's resident memory in bytes.
func (p *Process) RSS() (int64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", p.cmd.Process.Pid))
	if err != nil {
		return 0, err
	}
	return parseStatusRSS(string(b))
}

// parseStatusRSS reads VmRSS (in kB) from /proc/PID/status.
func parseStatusRSS(status string) (int64, error) {
	for line := range strings.Lines(status) {
		if v, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			kb, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
			if err != nil {
				return 0, fmt.Errorf("bench: malformed VmRSS %q", v)
			}
			return kb << 10, nil
		}
	}
	return 0, errors.New("bench: no VmRSS in /proc status")
}

// tailBuffer keeps the last max bytes written to it.
type tailBuffer struct {
	mu  sync.Mutex
	b   bytes.Buffer
	max int
}

func (t *tailBuffer) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.b.Write(p)
	if over := t.b.Len() - t.max; over > 0 {
		t.b.Next(over)
	}
	return len(p), nil
}

func (t *tailBuffer) String() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.b.String()
}

// commandCPU returns the CPU time used so far by every process whose
// command name is comm, such as the PostgreSQL server's backends on this
// machine ("postgres"). Processes that end between the directory listing
// and the read are skipped, and those that ended before are not counted:
// good enough for backends that live as long as their connections.
func commandCPU(comm string) (time.Duration, error) {
	ents, err := os.ReadDir("/proc")
	if err != nil {
		return 0, err
	}
	var sum time.Duration
	found := false
	for _, e := range ents {
		if _, err := strconv.Atoi(e.Name()); err != nil {
			continue
		}
		b, err := os.ReadFile("/proc/" + e.Name() + "/stat")
		if err != nil {
			continue
		}
		s := string(b)
		open, end := strings.IndexByte(s, '('), strings.LastIndexByte(s, ')')
		if open < 0 || end < open || s[open+1:end] != comm {
			continue
		}
		d, err := parseStatCPU(s)
		if err != nil {
			continue
		}
		sum += d
		found = true
	}
	if !found {
		return 0, fmt.Errorf("bench: no %s process", comm)
	}
	return sum, nil
}
