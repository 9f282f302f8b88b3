package schedule

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"time"

	"github.com/hibiken/asynq"
	"github.com/redis/go-redis/v9"

	"github.com/sinch-dispatch/sinch-dispatch/internal/campaign"
	"github.com/sinch-dispatch/sinch-dispatch/internal/enqueue"
	"github.com/sinch-dispatch/sinch-dispatch/internal/jobs"
	"github.com/sinch-dispatch/sinch-dispatch/internal/keyspace"
)

// markerTTL is how long the firing markers (keyspace.ScheduleTask and
// keyspace.ScheduleFired) outlive a firing: longer than any retry of it.
const markerTTL = 7 * 24 * time.Hour

// Handler runs firings (TypeScheduleFire tasks): each creates the firing's
// campaign and enqueues the entry's CSV through enqueue.Enqueuer, the code
// path of the enqueue command.
//
// Exactly once: every copy of a firing (one per worker's Scheduler, when
// asynq's Unique lets more than one through) derives the same campaign ID
// from the entry and the firing time. The first copy to mark that ID in
// Redis runs the enqueue; the others find the mark and do nothing. A retry
// of the first copy (same task ID: a Redis error, a worker killed midway)
// keeps the firing it started with and runs the enqueue again, which is
// idempotent (existing campaign, task IDs per recipient).
type Handler struct {
	cfg    *Config
	rdb    redis.UniversalClient
	enq    *enqueue.Enqueuer
	now    func() time.Time
	logger *slog.Logger
	rate   enqueue.RateFunc // the TTL check's app rate; nil skips it
}

// HandlerConfig configures a Handler.
type HandlerConfig struct {
	Logger *slog.Logger
	// Now tells the firing time of a task. Defaults to time.Now.
	Now func() time.Time
}

// NewHandler returns the fire handler of cfg's entries; client enqueues the
// recipients' send tasks.
func NewHandler(cfg *Config, store *campaign.Store, client *asynq.Client, hc HandlerConfig) *Handler {
	if hc.Logger == nil {
		hc.Logger = slog.New(slog.DiscardHandler)
	}
	if hc.Now == nil {
		hc.Now = time.Now
	}
	return &Handler{cfg: cfg, rdb: store.Redis(), enq: enqueue.New(store, client), now: hc.Now, logger: hc.Logger}
}

// ProcessTask runs one firing.
func (h *Handler) ProcessTask(ctx context.Context, t *asynq.Task) error {
	p, err := jobs.DecodeFire(t.Payload())
	if err != nil {
		return fmt.Errorf("%w: %v", asynq.SkipRetry, err)
	}
	e := h.cfg.Lookup(p.Schedule)
	if e == nil {
		return fmt.Errorf("%w: schedule %q is not in this worker's schedules file", asynq.SkipRetry, p.Schedule)
	}
	taskID, ok := asynq.GetTaskID(ctx)
	if !ok {
		taskID = rand.Text() // called outside a server: one call, one copy
	}
	return h.fire(ctx, e, taskID)
}

// fire runs one execution of the task taskID, a copy of a firing of e.
func (h *Handler) fire(ctx context.Context, e *Entry, taskID string) error {
	id, err := h.firingCampaign(ctx, e, taskID)
	if err != nil {
		return err
	}
	first, err := h.claim(ctx, id, taskID)
	if err != nil {
		return err
	}
	if !first {
		h.logger.InfoContext(ctx, "schedule firing already handled by another copy", "schedule", e.Name, "campaign_id", id, "task_id", taskID)
		return nil
	}
	sum, err := h.enqueue(ctx, e, id)
	if errors.Is(err, enqueue.ErrStrictTTL) {
		// The same file at the same rate would be refused again.
		return fmt.Errorf("%w: schedule %s: campaign %s: %v", asynq.SkipRetry, e.Name, id, err)
	}
	if err != nil {
		return fmt.Errorf("schedule %s: campaign %s: %w", e.Name, id, err)
	}
	for _, w := range sum.Warnings {
		h.logger.WarnContext(ctx, "schedule firing: "+w, "schedule", e.Name, "campaign_id", id)
	}
	if err := h.rdb.Set(context.WithoutCancel(ctx), keyspace.ScheduleFired(id), "done", markerTTL).Err(); err != nil {
		// The enqueue is done; a retry would only find everything enqueued.
		h.logger.WarnContext(ctx, "schedule firing done but not marked", "campaign_id", id, "err", err)
	}
	h.logger.InfoContext(ctx, "schedule fired", "schedule", e.Name, "campaign_id", id, "rows", sum.Rows,
		"enqueued", sum.Enqueued, "already_enqueued", sum.AlreadyEnqueued, "duplicates", sum.Duplicates,
		"rejected", sum.Rejected, "suppressed", sum.Suppressed)
	return nil
}

// firingCampaign returns the campaign ID of the task's firing: decided on
// the task's first execution and kept for its retries, which may run after
// the next firing is due.
func (h *Handler) firingCampaign(ctx context.Context, e *Entry, taskID string) (string, error) {
	firing, err := e.Firing(h.now())
	if err != nil {
		return "", fmt.Errorf("%w: %v", asynq.SkipRetry, err)
	}
	key := keyspace.ScheduleTask(taskID)
	id := e.CampaignID(firing)
	set, err := h.rdb.SetNX(ctx, key, id, markerTTL).Result()
	if err != nil {
		return "", fmt.Errorf("redis: %w", err)
	}
	if set {
		return id, nil
	}
	id, err = h.rdb.Get(ctx, key).Result()
	if err != nil {
		return "", fmt.Errorf("redis: %w", err)
	}
	return id, nil
}

// claim marks the firing as being run by taskID. It reports false when
// another copy has it (running or done); true for the first copy and for
// retries of it.
func (h *Handler) claim(ctx context.Context, id, taskID string) (bool, error) {
	key, mine := keyspace.ScheduleFired(id), "run:"+taskID
	set, err := h.rdb.SetNX(ctx, key, mine, markerTTL).Result()
	if err != nil {
		return false, fmt.Errorf("redis: %w", err)
	}
	if set {
		return true, nil
	}
	cur, err := h.rdb.Get(ctx, key).Result()
	if errors.Is(err, redis.Nil) {
		return false, errors.New("firing marker vanished; retrying")
	}
	if err != nil {
		return false, fmt.Errorf("redis: %w", err)
	}
	return cur == mine, nil
}

// enqueue runs the entry's upload as campaign id, sending now.
func (h *Handler) enqueue(ctx context.Context, e *Entry, id string) (enqueue.Summary, error) {
	f, err := os.Open(e.CSV)
	if err != nil {
		return enqueue.Summary{}, fmt.Errorf("csv: %w", err)
	}
	defer f.Close()
	// The same path as every upload: the Spec is resolved again, and its
	// suppress and prices files read, at each firing.
	spec := e.Spec
	spec.Campaign = id
	return h.enq.RunSpec(ctx, spec, enqueue.Input{CSV: f, CSVName: filepath.Base(e.CSV), Rate: h.rate}, time.Now())
}
