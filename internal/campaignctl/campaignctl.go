// Package campaignctl holds the campaign operations that both the `campaign`
// CLI and the dashboard offer: list, status, pause, resume, cancel, retry.
// Both front ends run this code, so they show the same numbers.
package campaignctl

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/hibiken/asynq"
	"github.com/redis/go-redis/v9"

	"github.com/sinch-dispatch/sinch-dispatch/internal/campaign"
)

// Typed errors, so front ends can answer each one in kind (an exit code, an
// HTTP status). ErrNotFound is campaign.ErrNotFound.
var (
	// ErrCancelled: pausing or retrying a cancelled campaign.
	ErrCancelled = errors.New("campaign is cancelled")
	// ErrInvalidID: an ID no campaign can have.
	ErrInvalidID = errors.New("invalid campaign ID")
)

// Default reasons shown in status when the operator gives none.
const (
	DefaultPauseReason  = "paused by an operator"
	DefaultCancelReason = "cancelled by an operator"
)

// Controller runs campaign operations on one Redis (the campaign store and
// the asynq queue share it).
type Controller struct {
	store  *campaign.Store
	tasks  *TaskCounter
	ops    *Ops
	closer func()
}

// New opens a Controller on rdb; ropt must point at the same Redis (asynq's
// Inspector and Client open their own connections from it). Close releases
// those connections, not rdb.
func New(rdb redis.UniversalClient, ropt asynq.RedisConnOpt) *Controller {
	store := campaign.NewStore(rdb)
	insp := asynq.NewInspector(ropt)
	client := asynq.NewClient(ropt)
	return &Controller{
		store: store, tasks: NewTaskCounter(rdb),
		ops:    NewOps(rdb, insp, client, store),
		closer: func() { insp.Close(); client.Close() },
	}
}

// Close closes the queue connections New opened.
func (c *Controller) Close() { c.closer() }

// Store is the campaign store the Controller reads.
func (c *Controller) Store() *campaign.Store { return c.store }

// Lookup checks id and that the campaign exists (campaign.ErrNotFound).
func (c *Controller) Lookup(ctx context.Context, id string) error {
	if err := campaign.ValidateID(id); err != nil {
		return fmt.Errorf("%w: %v", ErrInvalidID, err)
	}
	_, err := c.store.Get(ctx, id)
	return err
}

// checkNotCancelled returns ErrCancelled for a cancelled campaign.
func (c *Controller) checkNotCancelled(ctx context.Context, id string) error {
	if _, cancelled, _, err := c.store.Control(ctx, id); err != nil {
		return err
	} else if cancelled {
		return fmt.Errorf("%w: %s", ErrCancelled, id)
	}
	return nil
}

// List returns every campaign's summary, newest first. Queue task counts
// are left out (Scheduled and Retrying): counting them scans queue sets
// per campaign.
func (c *Controller) List(ctx context.Context) ([]campaign.Summary, error) {
	ids, err := c.store.IDs(ctx)
	if err != nil {
		return nil, err
	}
	sums := make([]campaign.Summary, 0, len(ids))
	for _, id := range ids {
		sum, err := c.store.Summary(ctx, id, nil)
		if errors.Is(err, campaign.ErrNotFound) {
			continue // expired
		}
		if err != nil {
			return nil, err
		}
		sums = append(sums, sum)
	}
	return sums, nil
}

// Status is `campaign status`: the summary with the queue's task counts.
func (c *Controller) Status(ctx context.Context, id string) (campaign.Summary, error) {
	if err := c.Lookup(ctx, id); err != nil {
		return campaign.Summary{}, err
	}
	return c.store.Summary(ctx, id, c.tasks)
}

// Pause stops sending a campaign; reason defaults to DefaultPauseReason.
func (c *Controller) Pause(ctx context.Context, id, reason string) error {
	if err := c.Lookup(ctx, id); err != nil {
		return err
	}
	if err := c.checkNotCancelled(ctx, id); err != nil {
		return err
	}
	return c.store.Pause(ctx, id, orDefault(reason, DefaultPauseReason))
}

// Resume sends a paused campaign again.
func (c *Controller) Resume(ctx context.Context, id string) error {
	if err := c.Lookup(ctx, id); err != nil {
		return err
	}
	return c.store.Resume(ctx, id)
}

// CancelResult is what Cancel did and the counters after it.
type CancelResult struct {
	CancelCounts
	Counters campaign.Counters `json:"-"`
}

// Cancel stops a campaign for good (see Ops.Cancel); reason defaults
// to DefaultCancelReason.
func (c *Controller) Cancel(ctx context.Context, id, reason string) (CancelResult, error) {
	if err := c.Lookup(ctx, id); err != nil {
		return CancelResult{}, err
	}
	res, err := c.ops.Cancel(ctx, id, orDefault(reason, DefaultCancelReason))
	if err != nil {
		return CancelResult{}, err
	}
	cn, err := c.store.Counters(ctx, id)
	return CancelResult{CancelCounts: res, Counters: cn}, err
}

// RetryResult is what Retry did.
type RetryResult struct {
	RetryCounts
	// Paused: the re-queued sends wait until the campaign is resumed.
	Paused bool `json:"paused"`
}

// Retry re-queues the campaign's failed sends, and only those (see
// Ops.RetryFailed).
func (c *Controller) Retry(ctx context.Context, id string) (RetryResult, error) {
	if err := c.Lookup(ctx, id); err != nil {
		return RetryResult{}, err
	}
	if err := c.checkNotCancelled(ctx, id); err != nil {
		return RetryResult{}, err
	}
	res, err := c.ops.RetryFailed(ctx, id)
	if err != nil {
		return RetryResult{}, err
	}
	out := RetryResult{RetryCounts: res}
	if paused, _, _, err := c.store.Control(ctx, id); err == nil && paused && res.Requeued > 0 {
		out.Paused = true
	}
	return out, nil
}

// RateWindow is how many seconds of sending SendSeries covers at most (from
// 1 to 60 seconds, it covers 60).
const RateWindow = 10 * 60

// SendSeries returns accepted sends per second over the campaign's last
// RateWindow seconds of sending, oldest first, and the second the series
// starts at. It ends now while the campaign may still send, and at its last
// send once it is done or cancelled, so a finished campaign still shows how
// it ran. Empty before the first send.
func (c *Controller) SendSeries(ctx context.Context, sum campaign.Summary) ([]int64, time.Time, error) {
	if sum.FirstSent.IsZero() {
		return nil, time.Time{}, nil
	}
	end := time.Now().UTC().Truncate(time.Second)
	if (sum.State == campaign.StateDone || sum.State == campaign.StateCancelled) && !sum.LastSent.IsZero() {
		end = sum.LastSent
	}
	// At least a minute, so a campaign sent in a second shows as a spike,
	// not as one bar filling the chart.
	n := int(end.Sub(sum.FirstSent)/time.Second) + 1
	n = max(60, min(n, RateWindow))
	series, err := c.store.SentPerSecondUntil(ctx, sum.CampaignID, end, n)
	return series, end.Add(-time.Duration(n-1) * time.Second), err
}

// MaxFailureScan bounds SendFailures: grouping reads every recipient's
// record, which is quick up to this size and too slow for a page beyond.
const MaxFailureScan = 100_000

// SendFailures groups the campaign's failed recipients by their last error
// (what `campaign report` shows per row). ok is false, and nothing is read,
// when the campaign has more than MaxFailureScan recipients.
func (c *Controller) SendFailures(ctx context.Context, sum campaign.Summary) (byError map[string]int64, ok bool, err error) {
	if sum.Failed == 0 {
		return nil, true, nil
	}
	if sum.Total > MaxFailureScan {
		return nil, false, nil
	}
	byError = map[string]int64{}
	err = c.store.ScanRecipients(ctx, sum.CampaignID, func(_ string, st campaign.Status, rec campaign.Record) error {
		if st == campaign.StatusFailed {
			byError[cmp.Or(rec.Error, "no error recorded")]++
		}
		return nil
	})
	return byError, err == nil, err
}

func orDefault(s, def string) string {
	if strings.TrimSpace(s) == "" {
		return def
	}
	return s
}
