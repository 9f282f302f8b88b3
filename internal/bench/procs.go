package bench

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/sinch-dispatch/sinch-dispatch/internal/campaign"
)

const modulePath = "github.com/sinch-dispatch/sinch-dispatch"

// buildBinaries compiles cmd/worker and cmd/enqueue into dir.
func buildBinaries(ctx context.Context, dir string) error {
	cmd := exec.CommandContext(ctx, "go", "build", "-o", dir+string(filepath.Separator),
		modulePath+"/cmd/worker", modulePath+"/cmd/enqueue")
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("go build: %v\n%s", err, out)
	}
	return nil
}

// process is a running binary whose output is kept for error reports.
type process struct {
	cmd  *exec.Cmd
	out  *syncBuffer
	done chan struct{}
	err  error
}

func startProcess(bin string, env []string, args ...string) (*process, error) {
	cmd := exec.Command(bin, args...)
	cmd.Env = append([]string{"PATH=" + os.Getenv("PATH")}, env...)
	p := &process{cmd: cmd, out: &syncBuffer{}, done: make(chan struct{})}
	cmd.Stdout, cmd.Stderr = p.out, p.out
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s: %w", filepath.Base(bin), err)
	}
	go func() { p.err = cmd.Wait(); close(p.done) }()
	return p, nil
}

// stop sends SIGTERM and waits up to grace before killing.
func (p *process) stop(grace time.Duration) error {
	p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
		return p.err
	case <-time.After(grace):
		p.cmd.Process.Kill()
		<-p.done
		return fmt.Errorf("%s did not stop within %s of SIGTERM", filepath.Base(p.cmd.Path), grace)
	}
}

func (p *process) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// watchPeakRSS polls the process's VmHWM (peak resident set) every 5ms
// until it exits and returns a function giving the largest value seen, in
// bytes. wait4's ru_maxrss cannot be used: Go starts children with
// CLONE_VM, so before exec the child shares this process's memory, and
// Linux keeps that high-water mark in the child's maxrss across exec.
func (p *process) watchPeakRSS() func() int64 {
	var peak atomic.Int64
	path := fmt.Sprintf("/proc/%d/status", p.cmd.Process.Pid)
	done := make(chan struct{})
	go func() {
		defer close(done)
		t := time.NewTicker(5 * time.Millisecond)
		defer t.Stop()
		for {
			if b, err := os.ReadFile(path); err == nil {
				for line := range strings.SplitSeq(string(b), "\n") {
					if v, ok := strings.CutPrefix(line, "VmHWM:"); ok {
						kb, _ := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
						if kb*1024 > peak.Load() {
							peak.Store(kb * 1024)
						}
					}
				}
			}
			select {
			case <-p.done:
				return
			case <-t.C:
			}
		}
	}()
	return func() int64 { <-done; return peak.Load() }
}

var serversRE = regexp.MustCompile(`"worker started".*?concurrency=(\d+) servers=(\d+)`)

// workerSizing reads concurrency and servers from a worker's start log line.
func workerSizing(logs string) (conc, servers int) {
	m := serversRE.FindStringSubmatch(logs)
	if m == nil {
		return 0, 0
	}
	conc, _ = strconv.Atoi(m[1])
	servers, _ = strconv.Atoi(m[2])
	return conc, servers
}

// drained waits until campaign id has nothing pending and total recipients,
// or until timeout; it fails early when a worker exits.
func drained(ctx context.Context, store *campaign.Store, id string, total int64, timeout time.Duration, workers []*process) (campaign.Counters, error) {
	deadline := time.Now().Add(timeout)
	for {
		c, err := store.Counters(ctx, id)
		if err != nil {
			return c, err
		}
		if c.Pending == 0 && c.Total() == total {
			return c, nil
		}
		for _, w := range workers {
			if w.exited() {
				return c, fmt.Errorf("a worker exited early: %v\n%s", w.err, lastLines(w.out.String(), 10))
			}
		}
		if time.Now().After(deadline) {
			return c, fmt.Errorf("not drained after %s: %d sent, %d pending, %d failed", timeout, c.Sent, c.Pending, c.Failed)
		}
		select {
		case <-ctx.Done():
			return c, ctx.Err()
		case <-time.After(10 * time.Millisecond):
		}
	}
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}
