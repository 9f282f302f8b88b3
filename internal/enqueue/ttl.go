package enqueue

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/sinch-dispatch/sinch-dispatch/internal/campaign"
)

// The TTL check: an app's outbound queue drains at its rate_limits.outbound,
// so N recipients take N/rate to send whatever the workers' --rate. When
// that is longer than the campaign's TTL, the last messages leave after the
// time the campaign meant them to live, and any sent faster than the app
// drains wait in its queue until they expire. Run warns (Summary.Warnings);
// with StrictTTL it refuses before writing anything.

// RateFunc answers an app's outbound rate in messages per second ("" is
// the configured app). The CLI, the dashboard and the worker's schedules
// each resolve it their own way (flag override, GET app, default) and pass
// it in Input.Rate.
type RateFunc func(ctx context.Context, app string) float64

// TTLEstimate is how long an upload's recipients take to send at its app's
// rate, against its TTL.
type TTLEstimate struct {
	// Recipients is what this upload enqueues (in a dry run: would).
	Recipients int64 `json:"recipients"`
	// Ahead are the pending recipients of the other campaigns on the app
	// that send before or alongside this one (same or higher priority,
	// neither paused nor cancelled). Not read in a dry run.
	Ahead int64 `json:"queued_ahead"`
	// Rate is the app's outbound rate, messages per second.
	Rate float64 `json:"rate"`
	// SendSeconds is (Recipients + Ahead) / Rate.
	SendSeconds float64 `json:"send_seconds"`
	TTLSeconds  float64 `json:"ttl_seconds"`
}

// NewTTLEstimate is the estimate of n recipients behind ahead others at
// rate, with ttl.
func NewTTLEstimate(n, ahead int64, rate float64, ttl time.Duration) TTLEstimate {
	return TTLEstimate{Recipients: n, Ahead: ahead, Rate: rate,
		SendSeconds: float64(n+ahead) / rate, TTLSeconds: ttl.Seconds()}
}

// Fits reports whether the last send leaves within the TTL.
func (e TTLEstimate) Fits() bool { return e.SendSeconds <= e.TTLSeconds }

// Problem is the TTL field's error when the estimate does not fit, nil
// when it does: the warning's text, and with StrictTTL the refusal.
func (e TTLEstimate) Problem() *FieldError {
	if e.Fits() {
		return nil
	}
	who := Thousands(e.Recipients) + " recipients"
	if e.Recipients == 1 {
		who = "1 recipient"
	}
	if e.Ahead > 0 {
		who += " (behind " + Thousands(e.Ahead) + " already queued on the app)"
	}
	verb := "take"
	if e.Recipients == 1 && e.Ahead == 0 {
		verb = "takes"
	}
	return &FieldError{Field: "ttl", Msg: fmt.Sprintf(
		"%s is too short: %s at the app's %s/s %s %s to send (the last sends would expire in the app's queue); "+
			"raise {ttl}, split the campaign, or ask Sinch for a higher rate_limits.outbound",
		ShortDuration(time.Duration(e.TTLSeconds*float64(time.Second))), who, strconv.FormatFloat(e.Rate, 'f', -1, 64),
		verb, ShortDuration(time.Duration(e.SendSeconds*float64(time.Second))))}
}

// ErrStrictTTL marks the refusal of an upload under StrictTTL (errors.Is).
var ErrStrictTTL = errors.New("refused by strict_ttl")

// ttlRefusal is the strict_ttl refusal: the ttl field's problem, and
// ErrStrictTTL.
type ttlRefusal struct{ *FieldError }

func (r ttlRefusal) Error() string {
	return "refused by strict_ttl, nothing written: " + r.FieldError.In(Keys)
}

func (r ttlRefusal) Unwrap() []error { return []error{r.FieldError, ErrStrictTTL} }

// Thousands writes n with a comma every three digits: 1,000,000.
func Thousands(n int64) string {
	s := strconv.FormatInt(n, 10)
	neg := strings.HasPrefix(s, "-")
	s = strings.TrimPrefix(s, "-")
	var b strings.Builder
	for i, c := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(c)
	}
	if neg {
		return "-" + b.String()
	}
	return b.String()
}

// ShortDuration writes d to the second without zero tails: 2h, 13h53m20s,
// 90m as 1h30m.
func ShortDuration(d time.Duration) string {
	d = d.Round(time.Second)
	s := d.String()
	if strings.HasSuffix(s, "m0s") {
		s = strings.TrimSuffix(s, "0s")
	}
	if strings.HasSuffix(s, "h0m") {
		s = strings.TrimSuffix(s, "0m")
	}
	return s
}

// queuedAhead sums the pending recipients of the other campaigns that send
// before or alongside one of priority p on app: every campaign of the same
// app (an app's outbound queue drains at its own rate), of p or higher,
// neither paused nor cancelled. It reads each campaign's definition and
// counters: a round trip or two per campaign in the index.
func (e *Enqueuer) queuedAhead(ctx context.Context, id, app string, p campaign.Priority) (int64, error) {
	ids, err := e.store.IDs(ctx)
	if err != nil {
		return 0, err
	}
	var n int64
	for _, other := range ids {
		if other == id {
			continue
		}
		def, ctl, err := e.store.Lookup(ctx, other)
		if errors.Is(err, campaign.ErrCampaignNotFound) {
			continue // expired
		}
		if err != nil {
			return 0, err
		}
		if def.App != app || ctl.Paused || ctl.Cancelled || (p == campaign.PriorityHigh && def.Priority != campaign.PriorityHigh) {
			continue
		}
		c, err := e.store.Counters(ctx, other)
		if err != nil {
			return 0, err
		}
		n += c.Pending
	}
	return n, nil
}

// estimate is the upload's TTL estimate for n recipients; ahead is read
// from Redis unless it is a dry run.
func (r *run) estimate(ctx context.Context, n int64) (TTLEstimate, error) {
	var ahead int64
	if !r.opts.DryRun && r.e.store != nil {
		var err error
		if ahead, err = r.e.queuedAhead(ctx, r.opts.CampaignID, r.opts.App, r.opts.Priority); err != nil {
			return TTLEstimate{}, fmt.Errorf("redis: %w", err)
		}
	}
	return NewTTLEstimate(n, ahead, r.opts.Rate, r.opts.TTL), nil
}

// precount is StrictTTL's check before anything is written: the
// recipients are counted by a dry run over the whole CSV, which is then
// rewound (so it must be an io.Seeker: a file), or taken from ExpectedRows
// for a stream.
func (e *Enqueuer) precount(ctx context.Context, opts Options) (int64, error) {
	if opts.ExpectedRows > 0 {
		return opts.ExpectedRows, nil
	}
	seeker, ok := opts.CSV.(io.Seeker)
	if !ok {
		return 0, &FieldError{Field: "strict_ttl", Msg: "needs the recipients counted before anything is written: " +
			"upload a file it can read twice, or give {expected_rows}"}
	}
	start, err := seeker.Seek(0, io.SeekCurrent)
	if err != nil {
		return 0, fmt.Errorf("strict_ttl: %w", err)
	}
	dry := opts
	dry.DryRun, dry.StrictTTL, dry.Rate = true, false, 0
	dry.Rejects, dry.Preview, dry.Progress = nil, nil, nil
	sum, err := New(nil, nil).Run(ctx, dry)
	if err != nil {
		return 0, err
	}
	if _, err := seeker.Seek(start, io.SeekStart); err != nil {
		return 0, fmt.Errorf("strict_ttl: %w", err)
	}
	return sum.Enqueued, nil
}
