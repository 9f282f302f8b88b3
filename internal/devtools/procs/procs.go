// Package procs runs the project's binaries and a private redis-server as
// real processes, for the benchmark suite and the fault-scenario harness.
package procs

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/sinch-dispatch/sinch-dispatch/internal/devtools/logbuf"
)

// ModulePath is the module whose commands Build compiles.
const ModulePath = "github.com/sinch-dispatch/sinch-dispatch"

// Build compiles the named commands (e.g. "worker", "enqueue": packages
// under cmd/; "..." for all of them) into dir.
func Build(ctx context.Context, dir string, commands ...string) error {
	args := []string{"build", "-o", dir + string(filepath.Separator)}
	for _, c := range commands {
		args = append(args, ModulePath+"/cmd/"+c)
	}
	if out, err := exec.CommandContext(ctx, "go", args...).CombinedOutput(); err != nil {
		return fmt.Errorf("go build: %v\n%s", err, out)
	}
	return nil
}

// Process is a running binary whose output is kept for error reports.
type Process struct {
	Cmd  *exec.Cmd
	out  *logbuf.Buffer
	done chan struct{}
	err  error
}

// Start runs bin with args and only PATH plus env in its environment.
func Start(bin string, env []string, args ...string) (*Process, error) {
	cmd := exec.Command(bin, args...)
	cmd.Env = append([]string{"PATH=" + os.Getenv("PATH")}, env...)
	p := &Process{Cmd: cmd, out: &logbuf.Buffer{}, done: make(chan struct{})}
	cmd.Stdout, cmd.Stderr = p.out, p.out
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s: %w", filepath.Base(bin), err)
	}
	go func() { p.err = cmd.Wait(); close(p.done) }()
	return p, nil
}

// Name is the binary's base name.
func (p *Process) Name() string { return filepath.Base(p.Cmd.Path) }

// Pid is the process ID.
func (p *Process) Pid() int { return p.Cmd.Process.Pid }

// Output is everything the process wrote to stdout and stderr so far.
func (p *Process) Output() string { return p.out.String() }

// Done is closed when the process has exited.
func (p *Process) Done() <-chan struct{} { return p.done }

// Err is the process's exit error, once Done is closed.
func (p *Process) Err() error { <-p.done; return p.err }

// Exited reports whether the process has exited.
func (p *Process) Exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// Stop sends SIGTERM and waits up to grace before killing; the error is the
// exit error, or says the process had to be killed.
func (p *Process) Stop(grace time.Duration) error {
	p.Cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
		return p.err
	case <-time.After(grace):
		p.Kill()
		return fmt.Errorf("%s did not stop within %s of SIGTERM", p.Name(), grace)
	}
}

// Kill sends SIGKILL and waits for the process to be gone.
func (p *Process) Kill() {
	p.Cmd.Process.Kill()
	<-p.done
}

// LastLines is the last n lines of s, for error messages.
func LastLines(s string, n int) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	return strings.Join(lines[max(0, len(lines)-n):], "\n")
}
