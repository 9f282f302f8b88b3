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

// appCampaign is one campaign of an apps test: n recipients sent from app
// at the app's rate.
type appCampaign struct {
	id, app string
	n       int
	rate    float64
}

// enqueueApps writes and enqueues each campaign in order, so the first one's
// tasks are ahead of the others in the queue.
func (s *stack) enqueueApps(t *testing.T, cs []appCampaign) {
	t.Helper()
	for ci, c := range cs {
		var b strings.Builder
		b.WriteString("phone\n")
		for i := range c.n {
			fmt.Fprintf(&b, "+3361%d%06d\n", ci, i)
		}
		path := filepath.Join(t.TempDir(), c.id+".csv")
		os.WriteFile(path, []byte(b.String()), 0o600)
		if sum := s.enqueue("--campaign", c.id, "--csv", path, "--text", "Hi", "--app", c.app); sum.Enqueued != int64(c.n) {
			t.Fatalf("campaign %s: got %+v, want %d enqueued", c.id, sum, c.n)
		}
	}
}

// runApps starts procs worker processes with args, waits until every
// campaign is done and stops them.
func (s *stack) runApps(t *testing.T, procs int, cs []appCampaign, timeout time.Duration, args ...string) {
	t.Helper()
	buildBinaries(t) // before the clock starts
	var logs logbuf.Buffer
	var workers []*exec.Cmd
	for range procs {
		workers = append(workers, s.startProcess(t, "worker", &logs, append([]string{"--track-interval", "0"}, args...)...))
	}
	store := campaign.NewStore(s.redis.Client)
	if !testwait.Until(timeout, func() bool {
		for _, c := range cs {
			if n, _ := store.Counters(context.Background(), c.id); n.Sent != int64(c.n) {
				return false
			}
		}
		return true
	}) {
		for _, c := range cs {
			n, _ := store.Counters(context.Background(), c.id)
			t.Errorf("campaign %s: %+v", c.id, n)
		}
		t.Fatalf("not all sent after %s; logs:\n%s", timeout, logs.String())
	}
	for _, w := range workers {
		w.Process.Signal(syscall.SIGTERM)
	}
	for i, w := range workers {
		if err := w.Wait(); err != nil {
			t.Errorf("worker %d did not exit cleanly on SIGTERM: %v", i, err)
		}
	}
}

// checkAppRate fails when campaign c went out above its app's rate, or
// below 0.97 of it. The rate is measured on the simulator's clock, from the
// campaign's first acceptance to its last, after scheduling and the
// network: the upper bound of one second allows their jitter; an app
// starved by another's sends (queued behind a 20/s app, one at 200/s
// measured 0.1-0.6 of its rate) falls far below the lower one.
func (s *stack) checkAppRate(t *testing.T, c appCampaign) {
	t.Helper()
	got, most, err := procs.AcceptRate(context.Background(), campaign.NewStore(s.redis.Client), c.id)
	if err != nil {
		t.Fatal(err)
	}
	burst := max(3, int(c.rate/20)) // the default burst, cli.limiterConfig
	t.Logf("app %s: %.1f/s (%.3f of %g), most in 1s %d", c.app, got, got/c.rate, c.rate, most)
	if got < 0.97*c.rate || got > 1.03*c.rate {
		t.Errorf("app %s sent at %.1f/s, want 0.97-1.03 of its rate %g", c.app, got, c.rate)
	}
	if limit := int(c.rate*1.1) + burst; most > limit {
		t.Errorf("app %s sent %d in one second, want at most %d (its rate %g + burst %d + 10%% jitter)", c.app, most, limit, c.rate, burst)
	}
}

// Not parallel: the rates are measured on the simulator's clock, and a
// sibling test's load would add jitter between a grant and its arrival.
// The slow app's campaign is queued ahead of the fast one's: its sends
// must not hold every worker slot while they wait for its 20/s.
func TestTwoAppsSendAtTheirOwnRates(t *testing.T) {
	if testing.Short() {
		t.Skip("runs for about 25 seconds")
	}
	for _, procs := range []int{2, 3} {
		t.Run(fmt.Sprintf("%d processes", procs), func(t *testing.T) {
			s := newStack(t, sinchsim.Config{RateLimit: -1, Apps: []sinchsim.App{
				{ID: "slow-app", OutboundRate: 20}, {ID: "fast-app", OutboundRate: 200},
			}})
			s.env["SINCH_APP_ID"] = "slow-app"
			cs := []appCampaign{
				{id: "slow", app: "slow-app", n: 200, rate: 20},
				{id: "fast", app: "fast-app", n: 2000, rate: 200},
			}
			s.enqueueApps(t, cs)
			// Rates from GET app; --rate is the project cap above both.
			s.runApps(t, procs, cs, 60*time.Second)
			for _, c := range cs {
				s.checkAppRate(t, c)
			}
			if st := s.sim.Stats(); st.RateLimited != 0 || st.Duplicates != 0 {
				t.Errorf("simulator: %d 429s, %d duplicates; want none", st.RateLimited, st.Duplicates)
			}
		})
	}
}

// A 429 storm on one app (configured far above what its full MT queue
// takes) slows that app's budget only: the other app keeps its rate.
func TestA429StormOnOneAppDoesNotSlowTheOther(t *testing.T) {
	if testing.Short() {
		t.Skip("runs for about 10 seconds")
	}
	s := newStack(t, sinchsim.Config{RateLimit: -1, ModelOutboundQueues: true, Apps: []sinchsim.App{
		{ID: "calm-app", OutboundRate: 100}, {ID: "storm-app", OutboundRate: 10, QueueSize: 5},
	}})
	s.env["SINCH_APP_ID"] = "calm-app"
	calm := appCampaign{id: "calm", app: "calm-app", n: 800, rate: 100}
	storm := appCampaign{id: "storm", app: "storm-app", n: 100, rate: 10}
	s.enqueueApps(t, []appCampaign{storm, calm})
	s.runApps(t, 2, []appCampaign{storm, calm}, 60*time.Second, "--app-rate", "storm-app=100,calm-app=100", "--max-retry", "1000")
	st := s.sim.Stats()
	if st.Apps["storm-app"].QueueFull == 0 {
		t.Fatalf("no 429 from the storm app's full queue: %+v", st.Apps)
	}
	if st.Apps["calm-app"].QueueFull != 0 {
		t.Errorf("calm app drew %d 429s, want none", st.Apps["calm-app"].QueueFull)
	}
	t.Logf("storm app: %d 429s", st.Apps["storm-app"].QueueFull)
	s.checkAppRate(t, calm)
}
