package jobs

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/hibiken/asynq"
)

// TypeScheduleFire is one firing of a recurring schedule: its handler
// (internal/schedule) creates the firing's campaign and enqueues its
// recipients. The string is a wire contract, and not a prefix of any other
// type.
const TypeScheduleFire = "schedule:fire"

// FirePayload names the schedule that fired. The firing time is not in it:
// asynq's Scheduler enqueues the same task at every firing, so the handler
// derives the firing from the schedule and its clock.
type FirePayload struct {
	Schedule string `json:"schedule"`
}

// fireMaxRetry bounds retries of a firing that fails (CSV missing, Redis
// down); each retry re-runs the same idempotent enqueue.
const fireMaxRetry = 5

// NewFireTask returns the task and options a Scheduler registers for the
// schedule name. unique (at least 1s) makes the copies that several workers'
// Schedulers enqueue for one firing collapse into one task.
func NewFireTask(name string, unique time.Duration) (*asynq.Task, []asynq.Option, error) {
	b, err := json.Marshal(FirePayload{Schedule: name})
	if err != nil {
		return nil, nil, fmt.Errorf("encode fire payload: %w", err)
	}
	return asynq.NewTask(TypeScheduleFire, b), []asynq.Option{
		asynq.Queue(ScheduleQueue),
		asynq.Unique(max(unique, time.Second)),
		asynq.MaxRetry(fireMaxRetry),
		asynq.Retention(TaskRetention),
		asynq.Timeout(time.Hour),
	}, nil
}

// DecodeFire reads a fire payload.
func DecodeFire(b []byte) (FirePayload, error) {
	var p FirePayload
	if err := json.Unmarshal(b, &p); err != nil {
		return p, fmt.Errorf("decode fire payload: %w", err)
	}
	if p.Schedule == "" {
		return p, errors.New("decode fire payload: missing schedule")
	}
	return p, nil
}

// MuxOption adds an optional handler to NewMux.
type MuxOption func(*muxOptions)

type muxOptions struct {
	fire  asynq.Handler
	track asynq.Handler // see WithTrack (track.go)
}

// WithScheduleFire routes TypeScheduleFire to h (a *schedule.Handler).
func WithScheduleFire(h asynq.Handler) MuxOption {
	return func(o *muxOptions) { o.fire = h }
}

// noSchedules answers a firing that reached a worker without a schedules
// file. It cannot happen when only such workers serve ScheduleQueue; if it
// does, the error retries the firing, on another worker with luck.
var noSchedules = asynq.HandlerFunc(func(context.Context, *asynq.Task) error {
	return errors.New("this worker has no schedules file (--schedules)")
})
