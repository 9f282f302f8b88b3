package bench

import (
	"context"
	"errors"
	"fmt"
	"math"
	"path/filepath"
	"time"

	"github.com/sinch-dispatch/sinch-dispatch/internal/campaign"
	"github.com/sinch-dispatch/sinch-dispatch/internal/devtools/procs"
	"github.com/sinch-dispatch/sinch-dispatch/internal/sinch/sinchsim"
)

// Settings of the apps group.
const (
	settleLimit = 50  // figure 9: the simulator's real limit
	settleRate  = 200 // figure 9: the worker's --rate and --app-rate, above it
	slowApp     = 20  // figure 10: the two apps' outbound rates
	fastApp     = 200
)

// benchApps runs figure 9 (settling under a real limit below the
// configured rate) and figure 10 (two apps at their own rates together).
func benchApps(ctx context.Context, h *harness) ([]Figure, error) {
	figs, err := benchSettle(ctx, h)
	if err != nil {
		return figs, err
	}
	two, err := benchTwoApps(ctx, h)
	return append(figs, two...), err
}

// benchSettle (figure 9): 1 and 3 workers at --rate 200 against a
// simulator whose project limit is 50/s: the share of the real limit
// reached and the 429s per attempt.
func benchSettle(ctx context.Context, h *harness) ([]Figure, error) {
	n := max(300, h.sizes.RateRecipients/5)
	var figs []Figure
	for _, workers := range []int{1, 3} {
		res, err := h.runWorkers(ctx, workerRun{
			id: fmt.Sprintf("settle%d", workers), n: n, workers: workers, rate: settleRate,
			sim: sinchsim.Config{RateLimit: settleLimit, RateBurst: settleLimit / 20},
		})
		name := fmt.Sprintf("9 settle under a real limit, %d worker", workers)
		if workers > 1 {
			name += "s"
		}
		if err != nil && res.counters.Sent > 0 && res.counters.Sent < int64(n) {
			// Too slow to drain in time: that is the figure, failing.
			rate := float64(res.counters.Sent) / res.wall.Seconds()
			figs = append(figs, Figure{Name: name + ": achieved rate", Value: rate, Unit: "sends/s",
				Baseline: fmt.Sprintf("real limit %d/s", settleLimit), Ratio: rate / settleLimit,
				Target: "ratio ≥ 0.9", Pass: false, Note: fmt.Sprintf("%d of %d sent in %s: %v", res.counters.Sent, n, res.wall.Round(time.Millisecond), err)},
				Figure{Name: name + ": 429s per attempt", Value: 0, Unit: "%", Baseline: "attempts", Ratio: math.NaN(),
					Target: "≤ 5 %", Pass: false, Note: "not measured: the run did not drain"})
			continue
		}
		if err != nil {
			return figs, fmt.Errorf("settle, %d workers: %w", workers, err)
		}
		attempts := res.stats.Accepted + res.stats.RateLimited
		share := float64(res.stats.RateLimited) / float64(max(attempts, 1))
		note := fmt.Sprintf("%d recipients, --rate %d --app-rate %d, simulator limit %d/s: %d 429s of %d attempts; span %s",
			n, settleRate, settleRate, settleLimit, res.stats.RateLimited, attempts, res.span.Round(time.Millisecond)) +
			"\n" + res.diag(n)
		figs = append(figs,
			Figure{Name: name + ": achieved rate", Value: res.rate, Unit: "sends/s",
				Baseline: fmt.Sprintf("real limit %d/s", settleLimit), Ratio: res.rate / settleLimit,
				Target: "ratio ≥ 0.9", Pass: res.rate/settleLimit >= 0.9, Note: note},
			Figure{Name: name + ": 429s per attempt", Value: 100 * share, Unit: "%",
				Baseline: "attempts", Ratio: math.NaN(), Target: "≤ 5 %", Pass: share <= 0.05},
		)
	}
	return figs, nil
}

// benchTwoApps (figure 10): a campaign on a 20/s app queued ahead of one on
// a 200/s app, sent together by 1 and 3 workers taking the rates from GET
// app: each app's achieved rate and the 429s.
func benchTwoApps(ctx context.Context, h *harness) ([]Figure, error) {
	type app struct {
		id   string
		rate float64
		n    int
	}
	secs := max(5, h.sizes.RateRecipients/500)
	apps := []app{{"slow-app", slowApp, slowApp * secs}, {"fast-app", fastApp, fastApp * secs}}
	var figs []Figure
	for _, workers := range []int{1, 3} {
		if err := fresh(ctx, h.redis); err != nil {
			return figs, err
		}
		for _, a := range apps {
			if _, err := enqueueAppCampaign(ctx, h.redis, a.id, a.id, a.n); err != nil {
				return figs, err
			}
		}
		sim, err := startSim(sinchsim.Config{RateLimit: -1, Apps: []sinchsim.App{
			{ID: apps[0].id, OutboundRate: slowApp}, {ID: apps[1].id, OutboundRate: fastApp},
		}})
		if err != nil {
			return figs, err
		}
		var ps []*procs.Process
		stop := func() {
			for _, p := range ps {
				if !p.Exited() {
					p.Stop(15 * time.Second)
				}
			}
		}
		for range workers {
			p, err := procs.Start(filepath.Join(h.binDir, "worker"), sim.env(h.redis.URL()), "--track-interval", "0")
			if err != nil {
				stop()
				sim.Close()
				return figs, err
			}
			ps = append(ps, p)
		}
		store := campaign.NewStore(h.redis.Client)
		var errs []error
		for _, a := range apps {
			if _, err := procs.WaitDrained(ctx, store, a.id, int64(a.n), 30*time.Second+time.Duration(secs)*3*time.Second, ps); err != nil {
				errs = append(errs, fmt.Errorf("app %s: %w", a.id, err))
			}
		}
		stop()
		st := sim.Stats()
		sim.Close()
		if err := errors.Join(errs...); err != nil {
			return figs, err
		}
		for _, a := range apps {
			rate, most, err := procs.AcceptRate(ctx, store, a.id)
			if err != nil {
				return figs, err
			}
			name := fmt.Sprintf("10 two apps (20/s and 200/s together), %d worker", workers)
			if workers > 1 {
				name += "s"
			}
			figs = append(figs, Figure{Name: fmt.Sprintf("%s: %s achieved rate", name, a.id), Value: rate, Unit: "sends/s",
				Baseline: fmt.Sprintf("its rate %g/s", a.rate), Ratio: rate / a.rate,
				Target: "ratio ≥ 0.97, 0 429s", Pass: rate/a.rate >= 0.97 && st.RateLimited == 0,
				Note: fmt.Sprintf("%d recipients; most in any 1 s %d; %d 429s in the run; the 20/s app's campaign queued first", a.n, most, st.RateLimited)})
		}
	}
	return figs, nil
}
