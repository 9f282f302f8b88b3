package jobs

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"sync"
	"time"

	"github.com/hibiken/asynq"
	goredis "github.com/redis/go-redis/v9"

	"github.com/sinch-dispatch/sinch-dispatch/internal/rawconn"
	"github.com/sinch-dispatch/sinch-dispatch/internal/sinch"
)

// ServerConfig configures the Asynq side of a worker process.
type ServerConfig struct {
	// Concurrency is the number of sends in flight in this process. Defaults to 64.
	Concurrency int
	// Servers is how many Asynq servers share the concurrency. One server
	// fetches one task per Redis round trip, so several hide Redis latency.
	// Defaults to 1.
	Servers int
	// Queues and their weights. Defaults to DefaultQueues.
	Queues map[string]int
	// ShutdownTimeout is how long in-flight sends get to finish on SIGTERM;
	// it must exceed the Sinch HTTP timeout. Defaults to 30s.
	ShutdownTimeout time.Duration
	Logger          *slog.Logger
	// AppConcurrency, when set, makes Run also serve the send queues of
	// every app that has any (AppQueues): each app on its own Asynq server
	// with AppConcurrency(app) slots, so a slow app's sends never hold the
	// slots of another. Run looks for new apps' queues every AppWatch.
	AppConcurrency func(app string) int
	// AppWatch defaults to DefaultAppWatch.
	AppWatch time.Duration
	// QueueShards is how many shards each send queue has (ShardsFor; 0 or
	// 1: none). Queues is given sharded already (ShardQueues); an app's
	// server serves its queues' shards.
	QueueShards int
	// AppRate is an app's send rate ("": the configured app's), which sets
	// how many of its chunks its feeder keeps in asynq (feedBound). Nil:
	// the most, maxFeedBound.
	AppRate func(app string) float64
}

// DefaultAppWatch is how often a worker looks for the queues of apps it
// does not serve yet: a campaign on a new app starts within about this.
const DefaultAppWatch = 2 * time.Second

func (c ServerConfig) withDefaults() ServerConfig {
	if c.Concurrency == 0 {
		c.Concurrency = 64
	}
	if c.Servers == 0 {
		c.Servers = 1
	}
	if c.Queues == nil {
		c.Queues = DefaultQueues
	}
	if c.ShutdownTimeout == 0 {
		c.ShutdownTimeout = 30 * time.Second
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	if c.AppWatch <= 0 {
		c.AppWatch = DefaultAppWatch
	}
	return c
}

func (c ServerConfig) validate() error {
	switch {
	case c.Concurrency < 1:
		return errors.New("concurrency must be at least 1")
	case c.Servers < 1 || c.Servers > c.Concurrency:
		return errors.New("servers must be between 1 and concurrency")
	case c.ShutdownTimeout <= 0:
		return errors.New("shutdown timeout must be positive")
	}
	for q, w := range c.Queues {
		if q == "" || w < 1 {
			return fmt.Errorf("queue %q: weight must be at least 1", q)
		}
	}
	return nil
}

// ForwardInterval is how often a worker process moves due retries and
// scheduled tasks back to their queues.
const ForwardInterval = 500 * time.Millisecond

// NewMux routes every task type of this package. Type names are not prefixes
// of each other, so ServeMux's longest-prefix routing cannot misroute.
func NewMux(send *SendHandler, opts ...MuxOption) *asynq.ServeMux {
	var o muxOptions
	for _, opt := range opts {
		opt(&o)
	}
	mux := asynq.NewServeMux()
	mux.Handle(TypeSend, send)
	mux.Handle(TypeChunk, send)
	if o.fire == nil {
		o.fire = noSchedules
	}
	mux.Handle(TypeScheduleFire, o.fire)
	if o.track == nil {
		o.track = noTracker
	}
	mux.Handle(TypeTrack, o.track)
	return mux
}

// Types lists every task type the mux must route (tested).
var Types = []string{TypeSend, TypeChunk, TypeScheduleFire, TypeTrack}

// Run serves tasks until ctx is done, then shuts down gracefully: in-flight
// sends get ShutdownTimeout to finish. Asynq's connections to Redis make
// raw system calls (rawconn): its servers poll Redis all the time.
func Run(ctx context.Context, redis asynq.RedisConnOpt, cfg ServerConfig, handler asynq.Handler) error {
	cfg = cfg.withDefaults()
	if err := cfg.validate(); err != nil {
		return err
	}
	redis = rawconn.AsynqOpt(redis)
	feeds, err := startFeeds(ctx, redis, cfg)
	if err != nil {
		return err
	}
	defer feeds.stop()
	servers := make([]*asynq.Server, cfg.Servers)
	for i := range servers {
		n := cfg.Concurrency / cfg.Servers
		if i < cfg.Concurrency%cfg.Servers {
			n++
		}
		// Sends turned away by a busy app (and quiet hours, pauses) wait in
		// Asynq's retry set; one server of the process moves the due ones
		// back often, so an app's next sends are queued again before the
		// ones waiting in this process are used up (handler.go, maxHold).
		forward := 5 * time.Second
		if i == 0 {
			forward = ForwardInterval
		}
		servers[i] = newServer(redis, cfg, n, cfg.Queues, forward)
		if err := servers[i].Start(handler); err != nil {
			for _, s := range servers[:i] {
				s.Shutdown()
			}
			return fmt.Errorf("start worker: %w", err)
		}
	}
	if cfg.AppConcurrency != nil {
		servers = watchApps(ctx, redis, cfg, handler, servers, feeds)
	} else {
		<-ctx.Done()
	}
	var wg sync.WaitGroup
	for _, s := range servers {
		wg.Add(1)
		go func() { defer wg.Done(); s.Shutdown() }()
	}
	wg.Wait()
	return nil
}

func newServer(redis asynq.RedisConnOpt, cfg ServerConfig, concurrency int, queues map[string]int, forward time.Duration) *asynq.Server {
	return asynq.NewServer(redis, asynq.Config{
		Concurrency:     concurrency,
		Queues:          queues,
		IsFailure:       isFailure,
		RetryDelayFunc:  retryDelay,
		ErrorHandler:    errorLogger(cfg.Logger),
		ShutdownTimeout: cfg.ShutdownTimeout,
		Logger:          NewAsynqLogger(cfg.Logger, "asynq"),
		LogLevel:        asynq.WarnLevel,
		// Short polling keeps an idle worker quick to notice new campaigns.
		TaskCheckInterval:        200 * time.Millisecond,
		DelayedTaskCheckInterval: forward,
	})
}

// watchApps starts a server and a feeder for each app whose send queues
// exist (Asynq lists every queue ever used) or that has a feed, now and
// every AppWatch until ctx is done, and returns every server to shut down.
func watchApps(ctx context.Context, redis asynq.RedisConnOpt, cfg ServerConfig, handler asynq.Handler, servers []*asynq.Server, feeds *feeds) []*asynq.Server {
	insp := asynq.NewInspector(redis)
	defer insp.Close()
	served := map[string]bool{}
	tick := time.NewTicker(cfg.AppWatch)
	defer tick.Stop()
	for {
		queues, err := insp.Queues()
		if err != nil && ctx.Err() == nil {
			cfg.Logger.Warn("list queues for apps", "err", err)
		}
		var apps []string
		for _, q := range queues {
			if app, ok := QueueApp(q); ok {
				apps = append(apps, app)
			}
		}
		fed, err := FeedApps(ctx, feeds.rdb)
		if err != nil && ctx.Err() == nil {
			cfg.Logger.Warn("list the apps with a feed", "err", err)
		}
		for _, app := range append(apps, fed...) {
			if app == "" || served[app] {
				continue
			}
			n := max(1, cfg.AppConcurrency(app))
			s := newServer(redis, cfg, n, ShardQueues(AppQueues(app), cfg.QueueShards), ForwardInterval)
			if err := s.Start(handler); err != nil {
				cfg.Logger.Error("start the server of an app", "app", app, "err", err)
				continue // tried again at the next look
			}
			served[app] = true
			servers = append(servers, s)
			feeds.start(app)
			cfg.Logger.Info("serving an app's queues", "app", app, "concurrency", n)
		}
		select {
		case <-ctx.Done():
			return servers
		case <-tick.C:
		}
	}
}

// feeds runs the feeders of the apps a worker process serves (feed.go).
type feeds struct {
	ctx     context.Context
	cancel  context.CancelFunc
	rdb     goredis.UniversalClient
	tasks   *asynq.Client
	cfg     ServerConfig
	wg      sync.WaitGroup
	started map[string]bool
}

// startFeeds starts the feeder of the configured app when cfg serves its
// send queues; watchApps starts those of the named apps.
func startFeeds(ctx context.Context, ropt asynq.RedisConnOpt, cfg ServerConfig) (*feeds, error) {
	rdb, ok := ropt.MakeRedisClient().(goredis.UniversalClient)
	if !ok {
		return nil, errors.New("start the feeders: not a go-redis connection")
	}
	f := &feeds{rdb: rdb, tasks: asynq.NewClientFromRedisClient(rdb), cfg: cfg, started: map[string]bool{}}
	f.ctx, f.cancel = context.WithCancel(ctx)
	for q := range cfg.Queues {
		if _, named := QueueApp(q); IsSendQueue(q) && !named {
			f.start("")
			break
		}
	}
	return f, nil
}

// start runs app's feeder until ctx is done (once per app).
func (f *feeds) start(app string) {
	if f.started[app] {
		return
	}
	f.started[app] = true
	fd := newFeeder(f.rdb, f.tasks, app, f.cfg.QueueShards, f.cfg.AppRate, f.cfg.Logger)
	f.wg.Go(func() { fd.run(f.ctx) })
}

// stop stops the feeders and closes their connection.
func (f *feeds) stop() {
	f.cancel()
	f.wg.Wait()
	f.rdb.Close() // the asynq client shares it
}

// isFailure keeps 429s, pauses and shutdown interruptions out of the retry
// budget and out of Asynq's failure stats.
func isFailure(err error) bool {
	var d *deferred
	if errors.As(err, &d) {
		return d.failure
	}
	return true
}

// retryDelay honours the delay a handler asked for (Retry-After, pause
// polling), else backs off exponentially.
func retryDelay(n int, err error, _ *asynq.Task) time.Duration {
	var d *deferred
	if errors.As(err, &d) && d.delay > 0 {
		return d.delay
	}
	return backoff(n)
}

// backoff is 1s, 2s, 4s ... capped at 5 minutes, with ±25% jitter so retries
// of a failed burst do not arrive together.
func backoff(n int) time.Duration {
	d := time.Second << min(n, 9)
	d = min(d, 5*time.Minute)
	jitter := time.Duration(rand.Int64N(int64(d/2))) - d/4
	return d + jitter
}

// errorLogger is the one place handler errors are logged. It logs the class
// and HTTP status, never the recipient or message.
func errorLogger(l *slog.Logger) asynq.ErrorHandlerFunc {
	return func(ctx context.Context, t *asynq.Task, err error) {
		id, _ := asynq.GetTaskID(ctx)
		retried, _ := asynq.GetRetryCount(ctx)
		attrs := []any{"task_id", id, "type", t.Type(), "attempt", retried + 1}
		var d *deferred
		switch {
		case errors.Is(err, errPaused), errors.Is(err, errQuietHours), errors.Is(err, errAppBusy):
			return // expected while paused, outside the send window or queued behind the app's rate
		case errors.As(err, &d) && !d.failure:
			attrs = append(attrs, "class", classify(err).String())
		case errors.Is(err, asynq.SkipRetry):
			attrs = append(attrs, "class", "archived")
		default:
			attrs = append(attrs, "class", classify(err).String())
		}
		var apiErr *sinch.APIError
		if errors.As(err, &apiErr) {
			attrs = append(attrs, "status", apiErr.StatusCode, "sinch_status", apiErr.Status)
		} else {
			attrs = append(attrs, "err", err.Error())
		}
		l.WarnContext(ctx, "send attempt failed", attrs...)
	}
}

// AsynqLogger routes the logs of an Asynq server or scheduler into slog,
// each line tagged with its component. Fatal logs at Error level: Asynq
// itself exits after it.
type AsynqLogger struct {
	logger    *slog.Logger
	component string
}

// NewAsynqLogger returns an AsynqLogger writing to l as component
// ("asynq", "asynq-scheduler").
func NewAsynqLogger(l *slog.Logger, component string) AsynqLogger {
	return AsynqLogger{logger: l, component: component}
}

func (a AsynqLogger) Debug(args ...any) { a.log(slog.LevelDebug, args) }
func (a AsynqLogger) Info(args ...any)  { a.log(slog.LevelInfo, args) }
func (a AsynqLogger) Warn(args ...any)  { a.log(slog.LevelWarn, args) }
func (a AsynqLogger) Error(args ...any) { a.log(slog.LevelError, args) }
func (a AsynqLogger) Fatal(args ...any) { a.log(slog.LevelError, args) }

func (a AsynqLogger) log(level slog.Level, args []any) {
	a.logger.Log(context.Background(), level, fmt.Sprint(args...), "component", a.component)
}
