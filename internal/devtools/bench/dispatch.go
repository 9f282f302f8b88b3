package bench

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync/atomic"
	"time"

	"github.com/hibiken/asynq"

	"github.com/sinch-dispatch/sinch-dispatch/internal/campaign"
	"github.com/sinch-dispatch/sinch-dispatch/internal/jobs"
	"github.com/sinch-dispatch/sinch-dispatch/internal/keyspace"
	"github.com/sinch-dispatch/sinch-dispatch/internal/ratelimit"
	"github.com/sinch-dispatch/sinch-dispatch/internal/sinch"
	"github.com/sinch-dispatch/sinch-dispatch/internal/sinch/sinchsim"
	"github.com/sinch-dispatch/sinch-dispatch/internal/sinchcall"
)

// Sizing of the unthrottled dispatch measurement: the worker's default
// sizing at Sinch's project cap of 800 requests/s.
const (
	dispatchConcurrency = 200 // the worker's default at 800/s: rate/4
	dispatchServers     = 6   // and concurrency/32
	unthrottledRate     = 100_000
)

// benchDispatch (figure 2): sends/s of the real send path (jobs.Run serving
// jobs.SendHandler: claim, rate limit, messages:send to a zero-latency
// simulator, record) versus the same asynq servers running a no-op handler on
// as many tasks of the same payload. A third variant, reported for
// information, replaces the HTTP call with an in-memory sender: it splits
// the cost between our Redis bookkeeping and the API call.
func benchDispatch(ctx context.Context, h *harness) ([]Figure, error) {
	n := h.sizes.DispatchTasks
	timeout := 30*time.Second + time.Duration(n)*time.Millisecond
	var subject, baseline, bookkeeping trials
	var rt *roundTrips // of the send path's last round
	for round := range h.sizes.Rounds {
		rt = newRoundTrips()
		// Baseline: no-op handler.
		b, err := h.noop(ctx, n, timeout)
		if err != nil {
			return nil, err
		}
		baseline = append(baseline, b)

		// Subject: the send path against the simulator.
		if err := fresh(ctx, h.redis); err != nil {
			return nil, err
		}
		if _, err := enqueueCampaign(ctx, h.redis, benchCampaign, n); err != nil {
			return nil, err
		}
		sim, err := startSim(sinchsim.Config{RateLimit: -1})
		if err != nil {
			return nil, err
		}
		sender, err := sinch.New(sim.clientConfig())
		var t trial
		if err == nil {
			t, err = h.sendPath(ctx, sender, n, timeout, rt)
		}
		stats := sim.Stats()
		sim.Close()
		if err != nil {
			return nil, fmt.Errorf("send path: %w", err)
		}
		if stats.Accepted != int64(n) || stats.Duplicates != 0 {
			return nil, fmt.Errorf("send path: simulator accepted %d (%d duplicates), want %d and 0", stats.Accepted, stats.Duplicates, n)
		}
		subject = append(subject, t)

		// Diagnostic: the send path with an in-memory sender.
		if err := fresh(ctx, h.redis); err != nil {
			return nil, err
		}
		if _, err := enqueueCampaign(ctx, h.redis, benchCampaign, n); err != nil {
			return nil, err
		}
		if t, err = h.sendPath(ctx, acceptAll{}, n, timeout, nil); err != nil {
			return nil, fmt.Errorf("send path, in-memory sender: %w", err)
		}
		bookkeeping = append(bookkeeping, t)
		h.logf("dispatch round %d: send path %.0f sends/s, in-memory sender %.0f, no-op %.0f tasks/s",
			round+1, subject[round].rate, bookkeeping[round].rate, baseline[round].rate)
	}
	s, b, k := subject.best(), baseline.best(), bookkeeping.best()
	sizing := fmt.Sprintf("%d tasks, concurrency %d, %d servers, rate limit %d/s, best of %d",
		n, dispatchConcurrency, dispatchServers, unthrottledRate, len(subject))
	return []Figure{
		{
			Name: "2 dispatch (unthrottled, 0 ms API)", Value: s.rate, Unit: "sends/s",
			Baseline: fmt.Sprintf("asynq no-op handler %.0f tasks/s", b.rate),
			Ratio:    s.rate / b.rate, Target: "ratio ≥ 0.5", Pass: s.rate/b.rate >= 0.5,
			Note: fmt.Sprintf("%s (send path %s; no-op %s)\nsend path %s\nno-op     %s\nsend path, handler's own Redis client: %s",
				sizing, subject, baseline,
				s.cpu.perItem(n, "task", "worker+simulator"), b.cpu.perItem(n, "task", "worker"), rt.perItem(n, "send")),
		},
		{
			Name: "2b dispatch, in-memory sender instead of HTTP", Value: k.rate, Unit: "sends/s",
			Baseline: fmt.Sprintf("asynq no-op handler %.0f tasks/s", b.rate), Ratio: k.rate / b.rate,
			Note: fmt.Sprintf("%s (%s)\n%s", sizing, bookkeeping, k.cpu.perItem(n, "task", "worker")),
		},
	}, nil
}

// noop serves n raw send tasks (the payload of the send path) with a no-op
// handler, sized as the dispatch figure: what Asynq alone costs per task.
func (h *harness) noop(ctx context.Context, n int, timeout time.Duration) (trial, error) {
	if err := fresh(ctx, h.redis); err != nil {
		return trial{}, err
	}
	client := asynq.NewClient(h.redis.AsynqOpt())
	err := rawEnqueue(ctx, client, "bench", n, 16)
	client.Close()
	if err != nil {
		return trial{}, err
	}
	noop := asynq.HandlerFunc(func(context.Context, *asynq.Task) error { return nil })
	c0 := h.cpuNow()
	el, err := serveUntil(ctx, h.redis.AsynqOpt(), noop, n, timeout)
	if err != nil {
		return trial{}, fmt.Errorf("no-op baseline: %w", err)
	}
	return trial{float64(n) / el.Seconds(), cpuSince(c0, h.cpuNow())}, nil
}

// acceptAll is a Sender that accepts every message at once, in memory.
type acceptAll struct{}

func (acceptAll) SendMessage(context.Context, *sinch.SendMessageRequest) (*sinch.SendMessageResponse, error) {
	return &sinch.SendMessageResponse{MessageID: "m", AcceptedTime: time.Now()}, nil
}

// sendPath serves the campaign's n tasks with the worker's handler, wired as
// cmd/worker wires it, sending through sender. When rt is set, it counts the
// round trips of the handler's Redis client (the store and the limiter).
func (h *harness) sendPath(ctx context.Context, sender jobs.Sender, n int, timeout time.Duration, rt *roundTrips) (trial, error) {
	discard := slog.New(slog.DiscardHandler)
	rdb := h.redis.Client
	if rt != nil {
		rdb = countedClient(h.redis, rt)
		defer rdb.Close()
	}
	limiter, err := ratelimit.New(rdb, ratelimit.Config{Key: keyspace.RateLimit(sinchsim.DefaultProjectID, sinchsim.DefaultAppID), Rate: unthrottledRate, Logger: discard})
	if err != nil {
		return trial{}, err
	}
	sh, err := jobs.NewSendHandler(sender, campaign.NewStore(rdb), sinchcall.One(limiter),
		jobs.HandlerConfig{AppID: sinchsim.DefaultAppID, Logger: discard, ChunkConcurrency: dispatchConcurrency})
	if err != nil {
		return trial{}, err
	}
	c0 := h.cpuNow()
	el, err := serveUntil(ctx, h.redis.AsynqOpt(), jobs.NewMux(sh), n, timeout)
	if err != nil {
		return trial{}, err
	}
	return trial{float64(n) / el.Seconds(), cpuSince(c0, h.cpuNow())}, nil
}

// serveUntil runs jobs.Run with handler until n tasks succeeded and returns
// the time from start to the n-th success.
func serveUntil(ctx context.Context, opt asynq.RedisConnOpt, handler asynq.Handler, n int, timeout time.Duration) (time.Duration, error) {
	c := &countingHandler{h: handler, target: int64(n), done: make(chan struct{})}
	rctx, cancel := context.WithCancel(ctx)
	defer cancel()
	errc := make(chan error, 1)
	start := time.Now()
	go func() {
		errc <- jobs.Run(rctx, opt, jobs.ServerConfig{
			Concurrency: dispatchConcurrency, Servers: dispatchServers,
			ShutdownTimeout: 10 * time.Second, Logger: slog.New(slog.DiscardHandler),
		}, c)
	}()
	var elapsed time.Duration
	var err error
	select {
	case <-c.done:
		elapsed = time.Since(start)
	case err = <-errc:
		if err == nil {
			err = errors.New("jobs.Run returned early")
		}
		return 0, err
	case <-time.After(timeout):
		err = fmt.Errorf("%d of %d tasks done after %s (%d failed)", c.ok.Load(), n, timeout, c.failed.Load())
	case <-ctx.Done():
		err = ctx.Err()
	}
	cancel()
	if rerr := <-errc; err == nil {
		err = rerr
	}
	return elapsed, err
}

// countingHandler counts successes and closes done at the target.
type countingHandler struct {
	h      asynq.Handler
	target int64
	ok     atomic.Int64
	failed atomic.Int64
	done   chan struct{}
}

// ProcessTask counts a chunk task (jobs.TypeChunk) as its recipients, read
// from its task ID: the target is sends, whatever carries them.
func (c *countingHandler) ProcessTask(ctx context.Context, t *asynq.Task) error {
	err := c.h.ProcessTask(ctx, t)
	if err != nil {
		c.failed.Add(1)
		return err
	}
	n := int64(1)
	if t.Type() == jobs.TypeChunk {
		id, _ := asynq.GetTaskID(ctx)
		n, _ = jobs.TaskRecipients(benchCampaign, id)
	}
	if before := c.ok.Add(n) - n; before < c.target && before+n >= c.target {
		close(c.done)
	}
	return nil
}

// benchCampaign is the campaign ID of the dispatch groups' campaigns.
const benchCampaign = "bench"
