package campaign

import (
	"context"
	"strings"
	"time"

	"github.com/sinch-dispatch/sinch-dispatch/internal/sinch"
	"github.com/sinch-dispatch/sinch-dispatch/internal/sms"
)

// TaskCounts are a campaign's tasks in the queue's waiting states.
type TaskCounts struct {
	Scheduled int64 // due later (enqueue --at/--in)
	// Retrying tasks run again after a failed attempt (5xx, timeout), a
	// 429 or a busy recipient.
	Retrying int64
	// WaitingWindow tasks were deferred to the send window's next opening;
	// WaitingResume ones wait for the paused campaign to be resumed.
	WaitingWindow, WaitingResume int64
}

// TaskCounter counts a campaign's queued tasks (implemented in internal/jobs,
// which knows the queue). Summary works without one.
type TaskCounter interface {
	// paused says the campaign is paused: its deferred tasks may be
	// waiting for the resume.
	CountTasks(ctx context.Context, def Definition, paused bool) (TaskCounts, error)
}

// Summary is everything `campaign status` and the dashboard show about one
// campaign. Total = Pending + Sent + Failed + Cancelled; Scheduled and
// Retrying are parts of Pending.
type Summary struct {
	CampaignID  string        `json:"campaign_id"`
	State       State         `json:"state"`
	Reason      string        `json:"paused_reason,omitempty"` // why it was paused or cancelled
	CreatedAt   time.Time     `json:"created_at"`
	ScheduledAt time.Time     `json:"scheduled_at,omitzero"`
	Source      string        `json:"source"`
	Channel     sinch.Channel `json:"channel"`
	Priority    Priority      `json:"priority"`
	CSVName     string        `json:"csv_name,omitempty"`
	// Window is the daily send window; nil sends at any hour.
	Window    *Window   `json:"window,omitempty"`
	AutoPause AutoPause `json:"autopause"`
	Counters  Counters  `json:"-"`
	Total     int64     `json:"total"`
	Pending   int64     `json:"pending"`
	Scheduled int64     `json:"scheduled"`
	Retrying  int64     `json:"retrying"`
	// Waiting are the pending sends deferred without an attempt: until the
	// send window opens (WaitingWindow, at WindowOpens) or until the paused
	// campaign is resumed (WaitingResume). Not part of Retrying.
	Waiting       int64     `json:"waiting"`
	WaitingWindow int64     `json:"waiting_window"`
	WaitingResume int64     `json:"waiting_resume"`
	WindowOpens   time.Time `json:"window_opens,omitzero"` // next opening while the window is closed
	Sent          int64     `json:"sent"`
	Failed        int64     `json:"failed"`
	Cancelled     int64     `json:"cancelled"`
	Rejected      int64     `json:"rejected"`   // rows rejected at upload
	Duplicates    int64     `json:"duplicates"` // repeated rows at upload
	Suppressed    int64     `json:"suppressed"` // rows skipped at upload: on the suppression list
	Attempts      int64     `json:"attempts"`
	RateLimited   int64     `json:"rate_limited"`
	// SMSSegments are the segments of the SMS texts sent; SMSCost their
	// estimated cost (only with prices at upload).
	SMSSegments int64     `json:"sms_segments"`
	SMSCost     sms.Price `json:"sms_cost,omitempty"`
	// SendRate is accepted sends per second over the last minute (over the
	// time since the first send, when that is shorter).
	SendRate float64 `json:"send_rate"`
	// ETASeconds is Pending / SendRate; absent when nothing is sending.
	ETASeconds *float64 `json:"eta_seconds,omitempty"`
	// AppRate is the app's outbound rate (messages per second), and AppETA
	// when the pending recipients are sent at it, through the window's open
	// hours (SetAppRate); absent unless the caller knows the rate and the
	// campaign is running or scheduled.
	AppRate       float64       `json:"app_rate,omitempty"`
	AppETA        time.Time     `json:"app_eta,omitzero"`
	AppETASeconds *float64      `json:"app_eta_seconds,omitempty"`
	Outcomes      OutcomeCounts `json:"outcomes"`
	Tracking      TrackInfo     `json:"tracking"`
	FirstSent     time.Time     `json:"first_sent,omitzero"`
	LastSent      time.Time     `json:"last_sent,omitzero"`
	// Channels is the campaign's channel fallback order, if it has one.
	Channels []sinch.Channel `json:"channels,omitempty"`
	// App is the Sinch app the campaign sends from ("": the workers'
	// SINCH_APP_ID).
	App string `json:"app,omitempty"`
	// ContentType is the message_content_type its sends carry ("": none).
	ContentType sinch.ContentType `json:"content_type,omitempty"`
}

// rateWindow is the span SendRate averages over.
const rateWindow = 60

// Summary reads a campaign's summary. tasks may be nil: Scheduled is then
// all pending recipients while the campaign's start time is in the future,
// and Retrying is 0.
func (s *Store) Summary(ctx context.Context, id string, tasks TaskCounter) (Summary, error) {
	def, ctl, err := s.Lookup(ctx, id)
	if err != nil {
		return Summary{}, err
	}
	c, err := s.Counters(ctx, id)
	if err != nil {
		return Summary{}, err
	}
	paused, cancelled, reason := ctl.Paused, ctl.Cancelled, ctl.Reason
	oc, err := s.Outcomes(ctx, id)
	if err != nil {
		return Summary{}, err
	}
	ti, err := s.TrackInfo(ctx, id)
	if err != nil {
		return Summary{}, err
	}
	perSec, err := s.SentPerSecond(ctx, id, rateWindow)
	if err != nil {
		return Summary{}, err
	}
	first, last, err := s.SendSpan(ctx, id)
	if err != nil {
		return Summary{}, err
	}
	now := s.now()
	sum := Summary{
		CampaignID: id, State: DeriveState(def, c, paused, cancelled, now),
		CreatedAt: def.CreatedAt, ScheduledAt: def.ScheduledAt, Source: def.Source, Channel: def.Channel, Priority: def.Priority,
		CSVName: def.CSVName, Window: def.Window, Counters: c,
		Total: c.Total(), Pending: c.Pending, Sent: c.Sent, Failed: c.Failed, Cancelled: c.Cancelled,
		Rejected: c.Rejected, Duplicates: c.Duplicates, Suppressed: c.Suppressed,
		Attempts: c.Attempts, RateLimited: c.RateLimited, SMSSegments: c.SMSSegments, SMSCost: c.SMSCost,
		Outcomes: oc, Tracking: ti, FirstSent: first, LastSent: last,
	}
	sum.Channels, sum.App, sum.ContentType = def.Channels, def.App, def.ContentType
	if def.AutoPause != nil {
		sum.AutoPause = *def.AutoPause
	} else {
		sum.AutoPause = DefaultAutoPause
	}
	if paused || cancelled {
		sum.Reason = reason
	}
	var sent int64
	for _, n := range perSec {
		sent += n
	}
	span := float64(rateWindow)
	if !first.IsZero() {
		// A campaign that started 10s ago sent for 10s, not 60.
		span = min(span, max(1, float64(now.Unix()-first.Unix()+1)))
	}
	sum.SendRate = float64(sent) / span
	if sum.SendRate > 0 && c.Pending > 0 && sum.State == StateRunning {
		eta := float64(c.Pending) / sum.SendRate
		sum.ETASeconds = &eta
	}
	if def.Window != nil && c.Pending > 0 {
		if wait := def.Window.Until(now); wait > 0 {
			sum.WindowOpens = now.Add(wait).UTC().Truncate(time.Second)
		}
	}
	if tasks != nil && c.Pending > 0 {
		tc, err := tasks.CountTasks(ctx, def, paused)
		if err != nil {
			return Summary{}, err
		}
		sum.Scheduled, sum.Retrying = min(tc.Scheduled, c.Pending), min(tc.Retrying, c.Pending)
		sum.WaitingWindow, sum.WaitingResume = min(tc.WaitingWindow, c.Pending), min(tc.WaitingResume, c.Pending)
		sum.Waiting = min(sum.WaitingWindow+sum.WaitingResume, c.Pending)
	} else if !def.ScheduledAt.IsZero() && now.Before(def.ScheduledAt) {
		sum.Scheduled = c.Pending
	}
	return sum, nil
}

// ContentLabel is a content type as an upload names it: CONTENT_MARKETING
// is "marketing", "" is "".
func ContentLabel(t sinch.ContentType) string {
	return strings.ToLower(strings.TrimPrefix(string(t), "CONTENT_"))
}
