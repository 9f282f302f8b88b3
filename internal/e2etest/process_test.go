package e2etest

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/sinch-dispatch/sinch-dispatch/internal/campaign"
	"github.com/sinch-dispatch/sinch-dispatch/internal/devtools/logbuf"
	"github.com/sinch-dispatch/sinch-dispatch/internal/devtools/procs"
	"github.com/sinch-dispatch/sinch-dispatch/internal/sinch/sinchsim"
	"github.com/sinch-dispatch/sinch-dispatch/internal/testwait"
)

// buildBinaries compiles the commands once per test run, so tests can run
// them as real processes.
func buildBinaries(t *testing.T) string {
	t.Helper()
	return procs.BuildForTest(t, "worker", "enqueue")
}

// startProcess runs a built command with the stack's environment.
func (s *stack) startProcess(t *testing.T, name string, logs *logbuf.Buffer, args ...string) *exec.Cmd {
	t.Helper()
	cmd := exec.Command(filepath.Join(buildBinaries(t), name), args...)
	cmd.Env = []string{"PATH=" + os.Getenv("PATH")}
	for k, v := range s.env {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	cmd.Stdout, cmd.Stderr = logs, logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	return cmd
}

// Not parallel: the simulator measures the rate on its own clock, and a
// sibling test's load would add jitter between a grant and its arrival.
func TestTwoWorkerProcessesShareTheRate(t *testing.T) {
	if testing.Short() {
		t.Skip("runs for about 10 seconds")
	}
	s := newStack(t, sinchsim.Config{RateLimit: -1})
	const n, rate, burst = 1000, 100, 5
	var b strings.Builder
	b.WriteString("phone,first_name\n")
	for i := range n {
		fmt.Fprintf(&b, "+33612%06d,N%d\n", i, i)
	}
	path := filepath.Join(t.TempDir(), "r.csv")
	os.WriteFile(path, []byte(b.String()), 0o600)
	if sum := s.enqueue("--campaign", "two", "--csv", path, "--text", "Hi {{.first_name}}"); sum.Enqueued != n {
		t.Fatalf("got %+v, want %d enqueued", sum, n)
	}

	buildBinaries(t) // before the clock starts
	var logs logbuf.Buffer
	start := time.Now()
	workers := []*exec.Cmd{
		s.startProcess(t, "worker", &logs, "--rate", fmt.Sprint(rate), "--burst", fmt.Sprint(burst)),
		s.startProcess(t, "worker", &logs, "--rate", fmt.Sprint(rate), "--burst", fmt.Sprint(burst)),
	}
	store := campaign.NewStore(s.redis.Client)
	var c campaign.Counters
	if !testwait.Until(60*time.Second, func() bool {
		c, _ = store.Counters(context.Background(), "two")
		return c.Pending == 0 && c.Total() == n
	}) {
		t.Fatalf("not done after 60s: %+v\nlogs:\n%s", c, logs.String())
	}
	elapsed := time.Since(start)
	for _, w := range workers {
		w.Process.Signal(syscall.SIGTERM)
	}
	for i, w := range workers {
		if err := w.Wait(); err != nil {
			t.Errorf("worker %d did not exit cleanly on SIGTERM: %v\nlogs:\n%s", i, err, logs.String())
		}
	}
	st := s.sim.Stats()
	if c.Sent != n || st.Accepted != n || st.Duplicates != 0 {
		t.Fatalf("got sent %d, accepted %d, duplicates %d; want %d, %d, 0", c.Sent, st.Accepted, st.Duplicates, n, n)
	}
	if st.MaxAcceptedPerSecond > rate+burst {
		t.Fatalf("simulator saw %d sends in one second, want at most rate %d + burst %d", st.MaxAcceptedPerSecond, rate, burst)
	}
	// Speed is asserted by the benchmark suite, not here; this records it.
	ideal := time.Duration(float64(n) / rate * float64(time.Second))
	t.Logf("elapsed %s, ideal %s (ratio %.3f), max in any 1s window %d", elapsed.Round(time.Millisecond), ideal, float64(elapsed)/float64(ideal), st.MaxAcceptedPerSecond)
}
