package workercli

import (
	"context"
	"errors"
	"flag"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/hibiken/asynq"

	"github.com/sinch-dispatch/sinch-dispatch/internal/campaign"
	"github.com/sinch-dispatch/sinch-dispatch/internal/cli"
	"github.com/sinch-dispatch/sinch-dispatch/internal/jobs"
	"github.com/sinch-dispatch/sinch-dispatch/internal/sinch"
	"github.com/sinch-dispatch/sinch-dispatch/internal/sinchcall"
	"github.com/sinch-dispatch/sinch-dispatch/internal/tracking"
)

// workerTracking holds the worker's outcome-tracking flags.
type workerTracking struct {
	interval, active *time.Duration
	keywords         *string
	onPage           func() // metrics: one call per page listed
}

// trackingFlags registers the worker's tracking flags on fs.
func trackingFlags(fs *flag.FlagSet) *workerTracking {
	return &workerTracking{
		interval: fs.Duration("track-interval", jobs.DefaultTrackInterval,
			"run an outcome-tracking pass of every campaign with recent sends this often; 0 disables"),
		active: fs.Duration("track-active", jobs.DefaultTrackActive,
			"track campaigns whose last send is at most this old"),
		keywords: fs.String("stop-keywords", strings.Join(tracking.DefaultStopKeywords, ","),
			"replies that opt the recipient out and suppress them (comma-separated, case and accents ignored)"),
	}
}

func (w *workerTracking) validate() error {
	switch {
	case *w.interval < 0:
		return errors.New("--track-interval must not be negative (0 disables tracking)")
	case *w.active <= 0:
		return errors.New("--track-active must be positive")
	}
	_, err := cli.StopKeywords(*w.keywords)
	return err
}

// start builds the tracker, returns the mux option routing tracking tasks to
// it, and starts the loop that enqueues passes (unless --track-interval is
// 0: the worker then still runs passes other workers enqueue). stop ends
// the loop.
func (w *workerTracking) start(ctx context.Context, client *sinch.Client, store *campaign.Store, budgets sinchcall.Budgets,
	ropt asynq.RedisConnOpt, queues map[string]int, appID string, logger *slog.Logger) (jobs.MuxOption, func(), error) {
	kw, err := cli.StopKeywords(*w.keywords)
	if err != nil {
		return nil, nil, err
	}
	tracker, err := tracking.New(client, store, budgets, tracking.Config{AppID: appID, StopKeywords: kw, Logger: logger, OnPage: w.onPage})
	if err != nil {
		return nil, nil, err
	}
	opt := jobs.WithTrack(jobs.NewTrackHandler(tracker, store, logger))
	if *w.interval == 0 {
		return opt, func() {}, nil
	}
	ac := asynq.NewClient(ropt)
	lctx, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		jobs.RunTrackSchedule(lctx, ac, store, jobs.TrackSchedule{
			Interval: *w.interval, Active: *w.active, Queue: jobs.TrackQueue(queues), Logger: logger,
		})
	}()
	logger.Info("outcome tracking", "interval", *w.interval, "active", *w.active, "queue", jobs.TrackQueue(queues))
	return opt, func() { cancel(); wg.Wait(); ac.Close() }, nil
}
