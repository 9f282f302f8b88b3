package jobs

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"time"

	"github.com/hibiken/asynq"

	"github.com/sinch-dispatch/sinch-dispatch/internal/campaign"
	"github.com/sinch-dispatch/sinch-dispatch/internal/tracking"
)

// TypeTrack runs one tracking pass for one campaign (see internal/tracking).
// The string is a wire contract, and not a prefix of any other type.
const TypeTrack = "campaign:track"

// trackTimeout bounds one pass: a million messages are a thousand pages.
const trackTimeout = 15 * time.Minute

// TrackPayload names the campaign to track.
type TrackPayload struct {
	CampaignID string `json:"campaign_id"`
}

// TrackTaskID is the task ID of a campaign's pass in one interval slot:
// every worker enqueueing the pass of the same slot gets the same ID, so
// only one is queued.
func TrackTaskID(campaignID string, slot int64) string {
	return "track:" + campaignID + ":" + strconv.FormatInt(slot, 10)
}

// NewTrackTask builds the pass of campaignID for the interval slot, in
// queue. The finished task is kept for retention (at least the interval),
// which is what makes the task ID deduplicate across workers.
func NewTrackTask(campaignID, queue string, slot int64, retention time.Duration) (*asynq.Task, error) {
	if err := campaign.ValidateID(campaignID); err != nil {
		return nil, err
	}
	b, err := json.Marshal(TrackPayload{CampaignID: campaignID})
	if err != nil {
		return nil, fmt.Errorf("encode track payload: %w", err)
	}
	return asynq.NewTask(TypeTrack, b,
		asynq.TaskID(TrackTaskID(campaignID, slot)),
		asynq.Queue(queue),
		// A failed pass is not retried: the next interval runs a new one.
		asynq.MaxRetry(0),
		asynq.Retention(max(retention, time.Minute)),
		asynq.Timeout(trackTimeout),
	), nil
}

func decodeTrack(b []byte) (TrackPayload, error) {
	var p TrackPayload
	if err := json.Unmarshal(b, &p); err != nil {
		return p, fmt.Errorf("decode track payload: %w", err)
	}
	if p.CampaignID == "" {
		return p, errors.New("decode track payload: missing campaign_id")
	}
	return p, nil
}

// TrackHandler processes TypeTrack tasks.
type TrackHandler struct {
	tracker *tracking.Tracker
	store   *campaign.Store
	logger  *slog.Logger
}

// NewTrackHandler returns a handler running passes with tracker.
func NewTrackHandler(tracker *tracking.Tracker, store *campaign.Store, logger *slog.Logger) *TrackHandler {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	return &TrackHandler{tracker: tracker, store: store, logger: logger}
}

// ProcessTask runs one pass. A pass that fails is logged here and not
// retried (the next interval runs another), so a Sinch outage does not fill
// the archive with tracking tasks.
func (h *TrackHandler) ProcessTask(ctx context.Context, t *asynq.Task) error {
	p, err := decodeTrack(t.Payload())
	if err != nil {
		return fmt.Errorf("%w: %v", asynq.SkipRetry, err)
	}
	release, ok, err := h.store.LockTracking(ctx, p.CampaignID, trackTimeout)
	if err != nil {
		return err
	}
	if !ok {
		h.logger.DebugContext(ctx, "tracking pass skipped: another is running", "campaign_id", p.CampaignID)
		return nil
	}
	defer release()
	start := time.Now()
	rep, err := h.tracker.Track(ctx, p.CampaignID)
	switch {
	case errors.Is(err, tracking.ErrNoRetention):
		// Recorded on the campaign too; campaign status shows it.
		h.logger.WarnContext(ctx, "tracking impossible", "campaign_id", p.CampaignID, "err", err)
		return nil
	case err != nil && ctx.Err() != nil:
		return err // shutting down: Asynq requeues it
	case err != nil:
		h.logger.ErrorContext(ctx, "tracking pass failed", "campaign_id", p.CampaignID, "pages", rep.Pages, "err", err)
		return nil
	}
	h.logger.InfoContext(ctx, "tracking pass", "campaign_id", p.CampaignID, "pages", rep.Pages,
		"messages", rep.Messages, "changed", rep.ChangedTotal(), "suppressed_added", rep.SuppressedAdded,
		"duration", time.Since(start).Round(time.Millisecond))
	return nil
}

// noTracker answers a track task on a mux built without a tracker.
var noTracker = asynq.HandlerFunc(func(context.Context, *asynq.Task) error {
	return fmt.Errorf("%w: this process has no tracker", asynq.SkipRetry)
})

// WithTrack routes TypeTrack to h.
func WithTrack(h asynq.Handler) MuxOption {
	return func(o *muxOptions) { o.track = h }
}

// Defaults for TrackSchedule.
const (
	DefaultTrackInterval = time.Minute
	DefaultTrackActive   = 24 * time.Hour
)

// TrackSchedule configures the loop that enqueues tracking passes.
type TrackSchedule struct {
	// Interval between passes of one campaign. Required (> 0).
	Interval time.Duration
	// Active: campaigns whose last send is older than this are no longer
	// tracked. Defaults to DefaultTrackActive.
	Active time.Duration
	// Queue the passes go to. Required.
	Queue  string
	Logger *slog.Logger
	// Now is the clock. Defaults to time.Now.
	Now func() time.Time
}

func (cfg TrackSchedule) withDefaults() (TrackSchedule, error) {
	if cfg.Interval <= 0 || cfg.Queue == "" {
		return cfg, errors.New("track schedule: Interval and Queue are required")
	}
	if cfg.Active <= 0 {
		cfg.Active = DefaultTrackActive
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	return cfg, nil
}

// Enqueuer is the part of *asynq.Client the schedule uses.
type Enqueuer interface {
	EnqueueContext(ctx context.Context, task *asynq.Task, opts ...asynq.Option) (*asynq.TaskInfo, error)
}

// RunTrackSchedule enqueues, every Interval until ctx is done, one tracking
// pass per campaign that had a send within Active. Any number of workers may
// run it: the pass of one campaign in one interval slot has one task ID, so
// it is queued once.
func RunTrackSchedule(ctx context.Context, client Enqueuer, store *campaign.Store, cfg TrackSchedule) error {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return err
	}
	tick := time.NewTicker(cfg.Interval)
	defer tick.Stop()
	for {
		if err := EnqueueTrackPasses(ctx, client, store, cfg); err != nil && ctx.Err() == nil {
			cfg.Logger.WarnContext(ctx, "enqueue tracking passes", "err", err)
		}
		select {
		case <-ctx.Done():
			return nil
		case <-tick.C:
		}
	}
}

// EnqueueTrackPasses enqueues the passes of the current interval slot (see
// RunTrackSchedule); a pass already queued by another worker is not an error.
func EnqueueTrackPasses(ctx context.Context, client Enqueuer, store *campaign.Store, cfg TrackSchedule) error {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return err
	}
	now := cfg.Now()
	ids, err := store.RecentlySent(ctx, now.Add(-cfg.Active))
	if err != nil {
		return err
	}
	slot := now.UnixNano() / int64(cfg.Interval)
	for _, id := range ids {
		task, err := NewTrackTask(id, cfg.Queue, slot, cfg.Interval)
		if err != nil {
			return err
		}
		_, err = client.EnqueueContext(ctx, task)
		if err != nil && !errors.Is(err, asynq.ErrTaskIDConflict) && !errors.Is(err, asynq.ErrDuplicateTask) {
			return fmt.Errorf("campaign %s: %w", id, err)
		}
	}
	return nil
}
