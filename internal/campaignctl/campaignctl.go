// Package campaignctl is the one home of the operator actions on campaigns:
// list, status, report, retry, pause, resume, cancel, track and suppress.
// The `campaign` CLI and the dashboard are thin callers of this code, so
// they do the same thing, show the same numbers and answer the same errors.
// Each action looks its campaign up once and passes the definition down.
package campaignctl

import (
	"bufio"
	"cmp"
	"context"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/hibiken/asynq"
	"github.com/redis/go-redis/v9"

	"github.com/sinch-dispatch/sinch-dispatch/internal/campaign"
	"github.com/sinch-dispatch/sinch-dispatch/internal/enqueue"
	"github.com/sinch-dispatch/sinch-dispatch/internal/jobs"
	"github.com/sinch-dispatch/sinch-dispatch/internal/recipients"
	"github.com/sinch-dispatch/sinch-dispatch/internal/sinch"
	"github.com/sinch-dispatch/sinch-dispatch/internal/tracking"
)

// Typed errors, so front ends can answer each one in kind (an exit code, an
// HTTP status). Besides these, actions answer the store's
// campaign.ErrCampaignNotFound (an ErrNotFound) for an unknown campaign and
// campaign.ErrCancelled when pausing, resuming or retrying a cancelled one.
var (
	// ErrInvalidID: an ID no campaign can have.
	ErrInvalidID = errors.New("invalid campaign ID")
	// ErrTrackingBusy: another tracking pass of the campaign is running.
	ErrTrackingBusy = errors.New("a tracking pass of the campaign is running")
)

// Default reasons shown in status when the operator gives none.
const (
	DefaultPauseReason  = "paused by an operator"
	DefaultCancelReason = "cancelled by an operator"
)

// Controller runs campaign operations on one Redis (the campaign store and
// the asynq queue share it).
type Controller struct {
	rdb    redis.UniversalClient
	store  *campaign.Store
	insp   *asynq.Inspector
	client *asynq.Client
	rate   enqueue.RateFunc // nil: no ETA at the app's rate, no TTL check
}

// SetRate gives the Controller the apps' outbound rates: Status then shows
// the ETA at the app's rate, and Create checks uploads against their TTL.
func (c *Controller) SetRate(rate enqueue.RateFunc) { c.rate = rate }

// New opens a Controller on rdb; ropt must point at the same Redis (asynq's
// Inspector and Client open their own connections from it). Close releases
// those connections, not rdb.
func New(rdb redis.UniversalClient, ropt asynq.RedisConnOpt) *Controller {
	return &Controller{rdb: rdb, store: campaign.NewStore(rdb), insp: asynq.NewInspector(ropt), client: asynq.NewClient(ropt)}
}

// Close closes the queue connections New opened.
func (c *Controller) Close() {
	c.insp.Close()
	c.client.Close()
}

// Store is the campaign store the Controller reads.
func (c *Controller) Store() *campaign.Store { return c.store }

// checkID refuses an ID no campaign can have, before any Redis call.
func checkID(id string) error {
	if err := campaign.ValidateID(id); err != nil {
		return fmt.Errorf("%w: %v", ErrInvalidID, err)
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
		if errors.Is(err, campaign.ErrCampaignNotFound) {
			continue // expired
		}
		if err != nil {
			return nil, err
		}
		sums = append(sums, sum)
	}
	return sums, nil
}

// Status is `campaign status`: the summary with the queue's task counts
// (retrying apart from waiting) and, given SetRate, the app's rate and the
// ETA at it.
func (c *Controller) Status(ctx context.Context, id string) (campaign.Summary, error) {
	if err := checkID(id); err != nil {
		return campaign.Summary{}, err
	}
	sum, err := c.store.Summary(ctx, id, taskCounter{c.rdb})
	if err == nil && c.rate != nil {
		sum.SetAppRate(c.rate(ctx, sum.App), time.Now())
	}
	return sum, err
}

// Audit is the campaign's audit log, newest first: the newest n entries,
// or all of them when n is 0.
func (c *Controller) Audit(ctx context.Context, id string, n int) ([]campaign.AuditEntry, error) {
	if err := checkID(id); err != nil {
		return nil, err
	}
	if _, err := c.store.Get(ctx, id); err != nil {
		return nil, err
	}
	return c.store.Audit(ctx, id, n)
}

// Record adds an operator action to the campaign's audit log (nothing for
// a campaign that does not exist).
func (c *Controller) Record(ctx context.Context, id string, e campaign.AuditEntry) error {
	return c.store.AppendAudit(ctx, id, e)
}

// ReportHeader is the report's CSV header.
var ReportHeader = []string{"row", "channel", "identity", "status", "message_id", "accepted_time", "attempts", "error", "outcome", "encoding", "segments", "delivered_channel"}

// Report is `campaign report`: one campaign's recipients, looked up and
// ready to stream with WriteCSV (the caller opens its output in between,
// so an unknown campaign leaves no file behind).
type Report struct {
	store *campaign.Store
	id    string
}

// Report looks the campaign up for its report.
func (c *Controller) Report(ctx context.Context, id string) (Report, error) {
	if err := checkID(id); err != nil {
		return Report{}, err
	}
	if _, err := c.store.Get(ctx, id); err != nil {
		return Report{}, err
	}
	return Report{store: c.store, id: id}, nil
}

// WriteCSV streams one CSV row per recipient to w, page by page (constant
// memory), and returns how many it wrote. Every cell goes through
// recipients.EscapeFormula, so a spreadsheet never runs one as a formula:
// phone numbers appear as '+33612345678 (the quote shows them as text).
func (r Report) WriteCSV(ctx context.Context, w io.Writer) (int64, error) {
	bw := bufio.NewWriterSize(w, 64<<10)
	cw := csv.NewWriter(bw)
	if err := cw.Write(ReportHeader); err != nil {
		return 0, err
	}
	var n int64
	cell := make([]string, len(ReportHeader))
	err := r.store.ScanReport(ctx, r.id, func(r campaign.ReportRow) error {
		accepted := ""
		if !r.Record.AcceptedTime.IsZero() {
			accepted = r.Record.AcceptedTime.UTC().Format(time.RFC3339Nano)
		}
		cell[0] = strconv.Itoa(r.Record.Row)
		cell[1] = string(r.Record.Channel)
		cell[2] = r.Record.Identity
		cell[3] = string(r.Status)
		cell[4] = r.Record.MessageID
		cell[5] = accepted
		cell[6] = strconv.Itoa(r.Record.Attempts)
		cell[7] = r.Record.Error
		cell[8] = r.Outcome.String()
		cell[9], cell[10] = r.Record.Encoding, ""
		if r.Record.Segments > 0 {
			cell[10] = strconv.Itoa(r.Record.Segments)
		}
		cell[11] = string(r.Outcome.Channel)
		for i := range cell {
			cell[i] = recipients.EscapeFormula(cell[i])
		}
		n++
		return cw.Write(cell)
	})
	if err != nil {
		return n, err
	}
	cw.Flush()
	if err := cw.Error(); err != nil {
		return n, err
	}
	return n, bw.Flush()
}

// Pause stops sending a campaign; reason defaults to DefaultPauseReason.
func (c *Controller) Pause(ctx context.Context, id, reason string) error {
	if err := checkID(id); err != nil {
		return err
	}
	return c.store.Pause(ctx, id, orDefault(reason, DefaultPauseReason))
}

// Resume sends a paused campaign again.
func (c *Controller) Resume(ctx context.Context, id string) error {
	if err := checkID(id); err != nil {
		return err
	}
	return c.store.Resume(ctx, id)
}

// CancelResult is what Cancel did and the counters after it.
type CancelResult struct {
	// Cancelled recipients: every one still pending.
	Cancelled int64 `json:"cancelled"`
	// TasksDeleted from the scheduled and retry sets (see
	// deleteWaitingTasks).
	TasksDeleted int64             `json:"tasks_deleted"`
	Counters     campaign.Counters `json:"-"`
}

// Cancel stops the rest of a campaign at once: it sets the cancel flag,
// marks every pending recipient cancelled (so sent + failed + cancelled =
// total right away) and deletes the campaign's scheduled and retrying
// tasks and its feed. A send in flight when Cancel runs either is accepted (its
// recipient then counts as sent) or sees the flag. reason defaults to
// DefaultCancelReason.
func (c *Controller) Cancel(ctx context.Context, id, reason string) (CancelResult, error) {
	var res CancelResult
	if err := checkID(id); err != nil {
		return res, err
	}
	def, err := c.store.Cancel(ctx, id, orDefault(reason, DefaultCancelReason))
	if err != nil {
		return res, err
	}
	if res.Cancelled, err = c.store.CancelPending(ctx, id); err != nil {
		return res, err
	}
	if res.TasksDeleted, err = c.deleteWaitingTasks(ctx, def); err != nil {
		return res, err
	}
	// Its chunks not fed yet: the feeder would drop them too, later.
	if err := jobs.DropFeed(ctx, c.rdb, def.App, id); err != nil {
		return res, err
	}
	res.Counters, err = c.store.Counters(ctx, id)
	return res, err
}

// RetryResult is what Retry did.
type RetryResult struct {
	RetryCounts
	// Paused: the re-queued sends wait until the campaign is resumed.
	Paused bool `json:"paused"`
}

// Retry re-queues the campaign's failed sends, and only those (see
// retryFailed). A cancelled campaign is refused (campaign.ErrCancelled).
func (c *Controller) Retry(ctx context.Context, id string) (RetryResult, error) {
	if err := checkID(id); err != nil {
		return RetryResult{}, err
	}
	def, ctl, err := c.store.Lookup(ctx, id)
	if err != nil {
		return RetryResult{}, err
	}
	if err := ctl.NotCancelled("retry", id); err != nil {
		return RetryResult{}, err
	}
	res, err := c.retryFailed(ctx, def)
	return RetryResult{RetryCounts: res, Paused: ctl.Paused && res.Requeued > 0}, err
}

// Tracker runs one outcome-tracking pass (a *tracking.Tracker).
type Tracker interface {
	Track(ctx context.Context, id string) (tracking.Report, error)
}

// trackLockTTL bounds a pass run from here, as the worker's pass is bounded.
const trackLockTTL = 15 * time.Minute

// Track runs one tracking pass of the campaign now, unless another (a
// worker's) is running (ErrTrackingBusy). newTracker builds the pass's
// tracker once the campaign is known to exist: building one may ask Sinch
// for the app's rate, which a mistyped ID should not cost.
func (c *Controller) Track(ctx context.Context, id string, newTracker func() (Tracker, error)) (tracking.Report, error) {
	if err := checkID(id); err != nil {
		return tracking.Report{}, err
	}
	if _, err := c.store.Get(ctx, id); err != nil {
		return tracking.Report{}, err
	}
	t, err := newTracker()
	if err != nil {
		return tracking.Report{}, err
	}
	release, ok, err := c.store.LockTracking(ctx, id, trackLockTTL)
	if err != nil {
		return tracking.Report{}, err
	}
	if !ok {
		return tracking.Report{}, fmt.Errorf("campaign %s: %w; try again when it ends", id, ErrTrackingBusy)
	}
	defer release()
	return t.Track(ctx, id)
}

// Suppress adds normalised identities of channel ch to the suppression
// list and returns how many were not on it already.
func (c *Controller) Suppress(ctx context.Context, ch sinch.Channel, identities []string, reason string) (int, error) {
	return countChanged(identities, func(id string) (bool, error) {
		return c.store.Suppress(ctx, campaign.Suppression{Channel: ch, Identity: id, Reason: reason})
	})
}

// Unsuppress removes normalised identities of channel ch from the
// suppression list and returns how many were on it.
func (c *Controller) Unsuppress(ctx context.Context, ch sinch.Channel, identities []string) (int, error) {
	return countChanged(identities, func(id string) (bool, error) { return c.store.Unsuppress(ctx, ch, id) })
}

func countChanged(identities []string, change func(string) (bool, error)) (int, error) {
	n := 0
	for _, id := range identities {
		changed, err := change(id)
		if err != nil {
			return n, err
		}
		if changed {
			n++
		}
	}
	return n, nil
}

// Suppressions calls fn for every entry of the suppression list.
func (c *Controller) Suppressions(ctx context.Context, fn func(campaign.Suppression) error) error {
	return c.store.ScanSuppressed(ctx, fn)
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

// Create runs an upload that arrived over the network (the dashboard's
// HTTP API and campaign builder): the same pipeline as `enqueue`, with the
// Spec checked for fields that would read the server's files. A dry run
// writes nothing.
func (c *Controller) Create(ctx context.Context, spec enqueue.Spec, in enqueue.Input) (enqueue.Summary, error) {
	if err := spec.CheckRemote(); err != nil {
		return enqueue.Summary{}, err
	}
	if in.Rate == nil {
		in.Rate = c.rate
	}
	e := enqueue.New(c.store, c.client)
	if in.DryRun {
		e = enqueue.New(nil, nil)
	}
	return e.RunSpec(ctx, spec, in, time.Now())
}
