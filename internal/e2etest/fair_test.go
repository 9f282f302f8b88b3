package e2etest

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/sinch-dispatch/sinch-dispatch/internal/campaign"
	"github.com/sinch-dispatch/sinch-dispatch/internal/devtools/logbuf"
	"github.com/sinch-dispatch/sinch-dispatch/internal/sinch/sinchsim"
	"github.com/sinch-dispatch/sinch-dispatch/internal/testwait"
)

// fairRate is the simulated app's rate in the fairness tests: slow enough
// that a campaign of hundreds takes many slices (jobs.SliceRecipients).
const fairRate = 50

// newFairStack is a stack whose configured app sends at fairRate.
func newFairStack(t *testing.T) *stack {
	t.Helper()
	s := newStack(t, sinchsim.Config{RateLimit: -1, Apps: []sinchsim.App{{ID: "fair-app", OutboundRate: fairRate}}})
	s.env["SINCH_APP_ID"] = "fair-app"
	return s
}

// enqueueN enqueues campaign id of n recipients (numbers by prefix, so two
// campaigns do not share any) with args.
func (s *stack) enqueueN(t *testing.T, id string, prefix, n int, args ...string) {
	t.Helper()
	var b strings.Builder
	b.WriteString("phone\n")
	for i := range n {
		fmt.Fprintf(&b, "+336%02d%06d\n", prefix, i)
	}
	path := filepath.Join(t.TempDir(), id+".csv")
	if err := os.WriteFile(path, []byte(b.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	if sum := s.enqueue(append([]string{"--campaign", id, "--csv", path, "--text", "Hi"}, args...)...); sum.Enqueued != int64(n) {
		t.Fatalf("campaign %s: got %+v, want %d enqueued", id, sum, n)
	}
}

// acceptTimes are the times the simulator accepted campaign id's sends,
// in order.
func (s *stack) acceptTimes(t *testing.T, id string) []time.Time {
	t.Helper()
	var times []time.Time
	err := campaign.NewStore(s.redis.Client).ScanRecipients(context.Background(), id, func(_ string, st campaign.Status, rec campaign.Record) error {
		if st == campaign.StatusSent && !rec.AcceptedTime.IsZero() { // its record may follow its status
			times = append(times, rec.AcceptedTime)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	slices.SortFunc(times, func(a, b time.Time) int { return a.Compare(b) })
	return times
}

func (s *stack) sent(t *testing.T, id string) int64 {
	t.Helper()
	c, err := campaign.NewStore(s.redis.Client).Counters(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	return c.Sent
}

// Not parallel, as the apps tests: the shares are measured on the
// simulator's clock. A small high-priority campaign started while a big
// normal one sends on the same app is sent within a few seconds, and
// done while most of the big one waits: without the feeder it would queue
// behind all of the big one's chunks (30 s at the app's rate).
func TestHighPriorityCampaignOvertakesANormalOne(t *testing.T) {
	if testing.Short() {
		t.Skip("runs for about 10 seconds")
	}
	for _, app := range []string{"", "fair-app"} { // the configured app's queues, and a named app's
		t.Run("app="+app, func(t *testing.T) {
			s := newFairStack(t)
			var appArgs []string
			if app != "" {
				appArgs = []string{"--app", app}
			}
			const big, small = 1500, 20
			s.enqueueN(t, "big", 1, big, appArgs...)
			stop := s.startWorker("--track-interval", "0")
			defer stop()
			testwait.For(t, 20*time.Second, "the big campaign sending", func() bool { return s.sent(t, "big") >= 2*fairRate })

			start := time.Now()
			s.enqueueN(t, "urgent", 2, small, append(appArgs, "--priority", "high")...)
			testwait.For(t, 30*time.Second, "the high-priority campaign sent", func() bool { return len(s.acceptTimes(t, "urgent")) == small })
			bigSent := s.sent(t, "big")
			times := s.acceptTimes(t, "urgent")
			first, last := times[0].Sub(start), times[len(times)-1].Sub(start)
			t.Logf("high priority: first send %s, last %s after its enqueue; big campaign %d of %d sent then", first, last, bigSent, big)
			// A normal chunk ends its slice (about 2 s of sends, jobs.FeedSlice)
			// and frees a slot, then the feeder's poll and asynq's: 6 s
			// leaves room for a loaded machine.
			if first > 6*time.Second {
				t.Errorf("first high-priority send %s after its enqueue, want within a few seconds", first)
			}
			if bigSent > big/2 {
				t.Errorf("the big campaign had sent %d of %d when the high-priority one was done, want most still pending", bigSent, big)
			}
		})
	}
}

// Two normal campaigns on one app, the second started a second after the
// first, share the app's rate: over a window after the second's first
// send, each gets at least 0.35 of the sends (without the feeder the
// second would wait for all of the first), and together they keep most of
// the app's rate. With two worker processes one feeds, and each chunk
// runs in whichever process fetches it.
func TestTwoNormalCampaignsShareTheirAppsRate(t *testing.T) {
	if testing.Short() {
		t.Skip("runs for about 30 seconds")
	}
	for _, procs := range []int{1, 2} {
		t.Run(fmt.Sprintf("workers=%d", procs), func(t *testing.T) { testShareTheAppsRate(t, procs) })
	}
}

func testShareTheAppsRate(t *testing.T, procs int) {
	s := newFairStack(t)
	const n = 800
	s.enqueueN(t, "first", 1, n, "--app", "fair-app")
	var stop func()
	if procs == 1 {
		stopWorker := s.startWorker("--track-interval", "0")
		stop = func() { stopWorker() }
	} else {
		buildBinaries(t)
		var logs logbuf.Buffer
		var workers []*exec.Cmd
		for range procs {
			workers = append(workers, s.startProcess(t, "worker", &logs, "--track-interval", "0"))
		}
		stop = func() {
			for _, w := range workers {
				w.Process.Signal(syscall.SIGTERM)
			}
			for _, w := range workers {
				w.Wait()
			}
		}
	}
	defer stop()
	testwait.For(t, 20*time.Second, "the first campaign sending", func() bool { return s.sent(t, "first") > 0 })
	time.Sleep(time.Second)
	s.enqueueN(t, "second", 2, n, "--app", "fair-app")
	testwait.For(t, 20*time.Second, "the second campaign sending", func() bool { return len(s.acceptTimes(t, "second")) > 0 })
	secondFirst := s.acceptTimes(t, "second")[0]
	// A second to settle, then a window of several slices.
	from, window := secondFirst.Add(time.Second), 8*time.Second
	to := from.Add(window)
	time.Sleep(time.Until(to) + time.Second) // the last sends of the window recorded
	count := func(id string) int {
		k := 0
		for _, at := range s.acceptTimes(t, id) {
			if !at.Before(from) && at.Before(to) {
				k++
			}
		}
		return k
	}
	a, b := count("first"), count("second")
	total := a + b
	t.Logf("over %s: first %d, second %d sends (%.1f/s of the app's %d/s)", window, a, b, float64(total)/window.Seconds(), fairRate)
	if total < int(0.6*fairRate*window.Seconds()) {
		t.Fatalf("the app sent %d in %s, want at least 0.6 of its rate %d/s", total, window, fairRate)
	}
	for id, k := range map[string]int{"first": a, "second": b} {
		if share := float64(k) / float64(total); share < 0.35 {
			t.Errorf("campaign %s got %.2f of the app's sends (%d of %d), want at least 0.35", id, share, k, total)
		}
	}
	if st := s.sim.Stats(); st.Duplicates != 0 {
		t.Errorf("simulator: %d duplicates, want none", st.Duplicates)
	}
}
