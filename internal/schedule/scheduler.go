package schedule

import (
	"errors"
	"fmt"
	"log/slog"

	"github.com/hibiken/asynq"

	"github.com/sinch-dispatch/sinch-dispatch/internal/campaign"
	"github.com/sinch-dispatch/sinch-dispatch/internal/enqueue"
	"github.com/sinch-dispatch/sinch-dispatch/internal/jobs"
)

// Runner is a worker's part in recurring schedules: an asynq Scheduler that
// enqueues a firing when an entry is due, and the Handler that runs firings.
type Runner struct {
	scheduler *asynq.Scheduler
	client    *asynq.Client
	handler   *Handler
}

// SetRate gives the firings the apps' outbound rates for their TTL check
// (enqueue.RateFunc).
func (r *Runner) SetRate(rate enqueue.RateFunc) { r.handler.rate = rate }

// NewRunner registers every entry of cfg with a new asynq Scheduler on
// redis. Start it, serve jobs.ScheduleQueue with Handler, and Close it.
func NewRunner(redis asynq.RedisConnOpt, store *campaign.Store, cfg *Config, logger *slog.Logger) (*Runner, error) {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	s := asynq.NewScheduler(redis, &asynq.SchedulerOpts{
		Logger:          jobs.NewAsynqLogger(logger, "asynq-scheduler"),
		LogLevel:        asynq.WarnLevel,
		PostEnqueueFunc: logEnqueue(logger),
	})
	for _, e := range cfg.Entries {
		task, opts, err := jobs.NewFireTask(e.Name, e.uniqueFor())
		if err != nil {
			return nil, err
		}
		if _, err := s.Register(e.Cron, task, opts...); err != nil {
			return nil, fmt.Errorf("schedule %s: cron: %w", e.Name, err)
		}
	}
	client := asynq.NewClient(redis)
	return &Runner{scheduler: s, client: client, handler: NewHandler(cfg, store, client, HandlerConfig{Logger: logger})}, nil
}

// Handler runs firings; route jobs.TypeScheduleFire to it.
func (r *Runner) Handler() *Handler { return r.handler }

// Start starts firing.
func (r *Runner) Start() error {
	if err := r.scheduler.Start(); err != nil {
		return fmt.Errorf("start scheduler: %w", err)
	}
	return nil
}

// Close stops firing and releases the Redis connections.
func (r *Runner) Close() {
	r.scheduler.Shutdown()
	r.client.Close()
}

// logEnqueue logs what each Scheduler tick did. Every worker's Scheduler
// fires; asynq's Unique turns all but one copy into ErrDuplicateTask.
func logEnqueue(logger *slog.Logger) func(*asynq.TaskInfo, error) {
	return func(info *asynq.TaskInfo, err error) {
		switch {
		case err == nil:
			name := ""
			if p, perr := jobs.DecodeFire(info.Payload); perr == nil {
				name = p.Schedule
			}
			logger.Info("schedule due: firing enqueued", "schedule", name, "task_id", info.ID)
		case errors.Is(err, asynq.ErrDuplicateTask), errors.Is(err, asynq.ErrTaskIDConflict):
			logger.Debug("schedule due: firing already enqueued by another worker")
		default:
			logger.Error("schedule due: could not enqueue the firing", "err", err)
		}
	}
}
