// Package workercli is the worker command: it serves the send, tracking and
// schedule tasks under the shared Sinch rate limit until SIGTERM.
package workercli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"runtime"
	"strconv"
	"strings"

	"github.com/sinch-dispatch/sinch-dispatch/internal/campaign"
	"github.com/sinch-dispatch/sinch-dispatch/internal/cli"
	"github.com/sinch-dispatch/sinch-dispatch/internal/config"
	"github.com/sinch-dispatch/sinch-dispatch/internal/jobs"
	"github.com/sinch-dispatch/sinch-dispatch/internal/metrics"
	"github.com/sinch-dispatch/sinch-dispatch/internal/ratelimit"
	recurring "github.com/sinch-dispatch/sinch-dispatch/internal/schedule" // enqueue.go has a func schedule
)

// defaultQueues is the --queues default: jobs.DefaultQueues.
var defaultQueues = jobs.FormatQueues(jobs.DefaultQueues)

var workerUsage = "worker [--concurrency N] [--rate R] [--app-rate APP=R,...] [--burst B] [--queues " + defaultQueues + "] [options]"

// Run is the worker command: it sends queued messages until SIGTERM. It
// leaves GOMAXPROCS to the program it runs in (tests, the demo); Main is
// the worker process's.
func Run(ctx context.Context, args []string, getenv cli.Env, stdout, stderr io.Writer) error {
	return run(ctx, args, getenv, stdout, stderr, false)
}

// Main is Run as the worker process: unless GOMAXPROCS is set, it also
// sizes GOMAXPROCS to --rate (procsFor).
func Main(ctx context.Context, args []string, getenv cli.Env, stdout, stderr io.Writer) error {
	return run(ctx, args, getenv, stdout, stderr, true)
}

// sendsPerProc is the --rate one GOMAXPROCS serves. A send costs the
// worker about 250 µs of CPU at the rate (BENCHMARKS.md, figure 3), so one
// core sends about 4,000 a second; a quarter of that leaves room for GC,
// retries, tracking and slower machines. The worker waits on Sinch and
// Redis almost all the time, and each P beyond what it needs costs CPU of
// its own: a goroutine made runnable wakes an idle P's thread (a futex
// call and a scheduler pass), about a quarter of the worker's CPU at
// 500/s on two.
const sendsPerProc = 1000

// procsFor is the GOMAXPROCS of a worker capped at rate: one per
// sendsPerProc, within 1 and cpus.
func procsFor(rate float64, cpus int) int {
	return min(cpus, int(math.Ceil(rate/sendsPerProc)))
}

func run(ctx context.Context, args []string, getenv cli.Env, stdout, stderr io.Writer, ownProcess bool) error {
	fs := cli.NewFlagSet("worker", stderr, workerUsage)
	settings := config.Register(fs)
	var (
		concurrency = fs.Int("concurrency", 0, "sends in flight in this process (default: enough for the known apps' rates × 250ms, at least 64)")
		servers     = fs.Int("servers", 1, "Asynq servers for the base queues in this process (each app's queues have a server of their own); more hide Redis round trips of many small tasks")
		rateFlag    = fs.Float64("rate", cli.DefaultProjectRate, "the project's cap: Sinch requests per second of ALL apps and ALL workers on this Redis together")
		burst       = fs.Int("burst", 0, "requests that may go above --rate in any one second at Sinch (default: rate/20, at least what the jitter reserve needs)")
		queues      = fs.String("queues", defaultQueues, "Asynq queues and weights")
		maxRetry    = fs.Int("max-retry", jobs.DefaultMaxRetry, "failed attempts (5xx, timeouts) before a send is archived; 429s never count")
		shutdown    = fs.Duration("shutdown-timeout", 0, "time in-flight sends get to finish on SIGTERM (default: 3 × --sinch-timeout)")
		callbackURL = fs.String("callback-url", "", "delivery-receipt URL sent with every message (default: the app's webhook)")
		logFormat   = fs.String("log-format", "text", "log format: text or json")
		logLevel    = fs.String("log-level", "info", "log level: debug, info, warn or error")
		schedules   = fs.String("schedules", "", "recurring campaigns file, YAML or JSON (env SCHEDULES_FILE; see docs/campaigns.md)")
		replicaWait = fs.String("replica-wait", "auto", "wait this long per claim for a Redis replica to hold it before sending, so a failover cannot make a send look new: auto (100ms under Sentinel, else off), off or a duration")
		metricsAddr = fs.String("metrics-addr", "", "serve Prometheus /metrics on this address, e.g. :9100; empty: off (env WORKER_METRICS_ADDR)")
	)
	appRate := cli.AppRateFlag(fs)
	eviction := cli.RegisterEviction(fs)
	track := trackingFlags(fs) // --track-interval, --track-active, --stop-keywords (tracking.go)
	if err := cli.Parse(fs, settings, args, getenv); err != nil {
		return err
	}
	logger, err := cli.NewLogger(stderr, *logFormat, *logLevel)
	if err != nil {
		return err
	}
	qs, err := parseQueues(*queues)
	if err != nil {
		return err
	}
	if err := track.validate(); err != nil {
		return err
	}
	appRates, err := cli.ParseAppRates(*appRate, settings.SinchAppID)
	if err != nil {
		return err
	}
	switch {
	case !(*rateFlag > 0):
		return errors.New("--rate must be positive")
	case *burst < 0:
		return errors.New("--burst must not be negative")
	case *concurrency < 0:
		return errors.New("--concurrency must be positive")
	case *servers < 1:
		return errors.New("--servers must be at least 1")
	case *maxRetry < 1:
		return errors.New("--max-retry must be at least 1 (0 would archive a send on its first 429)")
	case *shutdown < 0:
		return errors.New("--shutdown-timeout must be positive")
	}
	if *shutdown == 0 {
		*shutdown = 3 * settings.SinchTimeout
	}
	if ownProcess && strings.TrimSpace(getenv("GOMAXPROCS")) == "" {
		runtime.GOMAXPROCS(procsFor(*rateFlag, runtime.GOMAXPROCS(0)))
	}
	if *shutdown <= settings.SinchTimeout {
		return fmt.Errorf("--shutdown-timeout (%s) must exceed --sinch-timeout (%s) so in-flight sends can finish", *shutdown, settings.SinchTimeout)
	}
	if *schedules == "" {
		*schedules = strings.TrimSpace(getenv("SCHEDULES_FILE"))
	}
	if *metricsAddr == "" {
		*metricsAddr = strings.TrimSpace(getenv("WORKER_METRICS_ADDR"))
	}
	ropt, _ := settings.RedisOpt() // validated by Parse
	claimWait, err := config.ReplicaWait(*replicaWait, ropt)
	if err != nil {
		return err
	}
	var sched *recurring.Config
	if *schedules != "" {
		if sched, err = recurring.Load(*schedules); err != nil {
			return err
		}
	}
	if err := settings.RequireSinch(); err != nil {
		return err
	}
	client, err := cli.SinchClient(settings)
	if err != nil {
		return err
	}
	rdb, err := cli.ConnectRedis(ctx, settings)
	if err != nil {
		return err
	}
	defer rdb.Close()
	if err := eviction.Check(ctx, rdb, getenv, func(msg string) { logger.Warn(msg) }); err != nil {
		return err
	}

	// Fetch the access token before serving: sends granted while it is
	// fetched would wait for it and then reach Sinch as one burst (429s).
	// The client refreshes it in the background from then on.
	if err := cli.Authenticate(ctx, client); err != nil {
		logger.Warn("could not fetch the Sinch access token at startup; the first send will try again", "err", err)
	}

	// One set of budgets for sends and tracking passes: the project's at
	// --rate, each app's at its outbound rate (see cli.Budgets).
	met := metrics.New() // counted always, served with --metrics-addr
	budgets, err := cli.NewBudgets(rdb, settings, client, cli.BudgetConfig{
		Rate: *rateFlag, Burst: *burst, AppRates: appRates, Hooks: []func(*ratelimit.Config){cli.LimiterMetrics(met)},
	}, logger)
	if err != nil {
		return err
	}
	// The apps known now: the configured one and those of --app-rate.
	known := budgets.Levels("").App().Rate()
	met.SetRate(known)
	for app, r := range appRates {
		if app != settings.SinchAppID {
			budgets.Levels(app)
			known += r
		}
	}
	rctx, stopRefresh := context.WithCancel(ctx)
	defer stopRefresh()
	go budgets.Run(rctx)

	conc := *concurrency
	if conc == 0 {
		// Little's law: sends in flight = rate × latency. 250ms covers a
		// slow API call with margin.
		// At least 64: sends of a slow app may hold up to a second of its
		// budget each (jobs.maxHold), and the other apps need slots too.
		conc = max(64, int(min(known, budgets.Rate())/4))
	}
	// One server is enough for the base queues: a chunk task carries up
	// to 256 sends, so dequeues are rare, and each idle server polls Redis
	// (about 0.3 % of a core each, per process, at any rate).
	srv := *servers
	// The rate an app's sends go at: its own, under the project's cap.
	rateOf := func(app string) float64 { return min(budgets.Levels(app).App().Rate(), budgets.Rate()) }
	store := campaign.NewStore(rdb)
	store.SetReplicaWait(claimWait)
	defer func() {
		if n := store.ReplicaMisses(); n > 0 {
			logger.Warn("writes no Redis replica acknowledged within --replica-wait (claims held back, send records written again)", "writes", n, "replica_wait", claimWait)
		}
	}()
	handler, err := jobs.NewSendHandler(client, store, budgets, jobs.HandlerConfig{
		AppID: settings.SinchAppID, CallbackURL: *callbackURL, MaxRetry: *maxRetry,
		HTTPTimeout: settings.SinchTimeout, Logger: logger, Observer: met,
		ChunkConcurrency: conc, // chunk recipients in flight, as many as single sends
		// A chunk gives its slot back after its slice (jobs.SliceRecipients).
		ChunkSlice: func(app string) int { return jobs.SliceRecipients(rateOf(app)) },
		Stopping:   ctx.Done(),
	})
	if err != nil {
		return err
	}
	if *metricsAddr != "" {
		stopMetrics, err := cli.ServeMetrics(met, *metricsAddr, ropt, logger)
		if err != nil {
			return err
		}
		defer stopMetrics()
	}
	track.onPage = met.TrackerPage
	var muxOpts []jobs.MuxOption
	trackOpt, stopTracking, err := track.start(ctx, client, campaign.NewStore(rdb), budgets, ropt, qs, settings.SinchAppID, logger)
	if err != nil {
		return err
	}
	defer stopTracking()
	muxOpts = append(muxOpts, trackOpt)
	if sched != nil {
		runner, err := recurring.NewRunner(ropt, campaign.NewStore(rdb), sched, logger)
		if err != nil {
			return err
		}
		// The TTL check of a firing: the rate the app's budget here uses.
		runner.SetRate(func(_ context.Context, app string) float64 {
			r, _ := budgets.AppRate(app)
			return r
		})
		if err := runner.Start(); err != nil {
			return err
		}
		defer runner.Close()
		qs[jobs.ScheduleQueue] = max(1, qs[jobs.QueueCritical]) // firings are few and should start on time
		muxOpts = append(muxOpts, jobs.WithScheduleFire(runner.Handler()))
		logger.Info("schedules loaded", "file", *schedules, "schedules", len(sched.Entries))
	}
	// On a Redis Cluster campaigns spread their sends over shard queues
	// (jobs.SendShard); the worker serves every shard.
	shards := jobs.ShardsFor(rdb)
	qs = jobs.ShardQueues(qs, shards)
	logger.Info("worker started", "rate", budgets.Rate(), "burst", budgets.Burst(), "apps", budgets.Apps(), "concurrency", conc, "servers", srv,
		"queues", *queues, "queue_shards", max(1, shards), "replica_wait", claimWait, "gomaxprocs", runtime.GOMAXPROCS(0))
	err = jobs.Run(ctx, ropt, jobs.ServerConfig{
		Concurrency: conc, Servers: srv, Queues: qs, QueueShards: shards, ShutdownTimeout: *shutdown, Logger: logger,
		// Each app's queues get slots for its rate (Little's law, as
		// above) plus the second of its budget a send may wait for.
		AppConcurrency: func(app string) int {
			return max(16, int(min(budgets.Levels(app).App().Rate(), budgets.Rate())*1.25))
		},
		AppRate: rateOf, // how many chunks each app's feeder keeps in asynq
	}, jobs.NewMux(handler, muxOpts...))
	logger.Info("worker stopped")
	return err
}

// parseQueues reads the --queues flag, e.g. "critical=6,default=3,low=1".
func parseQueues(s string) (map[string]int, error) {
	out := map[string]int{}
	for _, part := range strings.Split(s, ",") {
		name, weight, ok := strings.Cut(strings.TrimSpace(part), "=")
		w, err := strconv.Atoi(weight)
		if !ok || name == "" || err != nil || w < 1 {
			return nil, fmt.Errorf("--queues must look like %s (weights ≥ 1), got %q", defaultQueues, s)
		}
		out[name] = w
	}
	return out, nil
}
