// Package campaign stores campaigns and the state of every recipient in Redis,
// so the enqueue CLI, the workers, the campaign CLI and the dashboard all read
// and write one source of truth.
//
// Each recipient has exactly one status at a time. Every status change goes
// through one Lua script that moves the recipient between per-status
// counters atomically, so the counters always add up to the total and a
// recipient that was accepted by Sinch can never be sent again.
package campaign

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"regexp"
	"strconv"
	"time"

	"github.com/sinch-dispatch/sinch-dispatch/internal/sinch"
	"github.com/sinch-dispatch/sinch-dispatch/internal/sms"
)

// Status is where one recipient stands.
type Status string

const (
	StatusPending   Status = "pending"   // queued (or scheduled), not yet accepted
	StatusSent      Status = "sent"      // accepted by Sinch: has a message_id
	StatusFailed    Status = "failed"    // archived after a permanent error or exhausted retries
	StatusCancelled Status = "cancelled" // the campaign was cancelled before it was sent
)

// Statuses lists every recipient status.
var Statuses = []Status{StatusPending, StatusSent, StatusFailed, StatusCancelled}

// State is the campaign's lifecycle state as an operator sees it.
type State string

const (
	StateScheduled State = "scheduled"
	StateRunning   State = "running"
	StatePaused    State = "paused"
	StateCancelled State = "cancelled"
	StateDone      State = "done"
)

// Priority maps to both the Sinch queue and the Asynq queue.
type Priority string

const (
	PriorityNormal Priority = "normal"
	PriorityHigh   Priority = "high"
)

// SinchQueue is the Sinch-side queue for the priority.
func (p Priority) SinchQueue() sinch.Queue {
	if p == PriorityHigh {
		return sinch.QueueHigh
	}
	return sinch.QueueNormal
}

// ParsePriority accepts "high" or "normal".
func ParsePriority(s string) (Priority, error) {
	switch Priority(s) {
	case PriorityHigh, PriorityNormal:
		return Priority(s), nil
	}
	return "", fmt.Errorf("priority must be high or normal, got %q", s)
}

// MaxIDLen keeps correlation IDs (campaign ID + ":" + row) within Sinch's 128 characters.
const MaxIDLen = 64

var idPattern = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]*$`)

// ValidateID checks a campaign ID: letters, digits, '.', '_', '-', at most MaxIDLen.
func ValidateID(id string) error {
	if id == "" {
		return errors.New("campaign ID is required")
	}
	if len(id) > MaxIDLen {
		return fmt.Errorf("campaign ID must be at most %d characters", MaxIDLen)
	}
	if !idPattern.MatchString(id) {
		return errors.New("campaign ID may contain only letters, digits, '.', '_' and '-', and must start with a letter or digit")
	}
	return nil
}

// Definition is what a campaign was created with. It is fixed at creation:
// re-running enqueue with a different priority would put a recipient's task
// in a second queue.
type Definition struct {
	ID        string        `json:"id"`
	CreatedAt time.Time     `json:"created_at"`
	Source    string        `json:"source"` // e.g. "text", "template:ID", "media"
	Channel   sinch.Channel `json:"channel"`
	// App is the Sinch app the campaign sends from; "" is the worker's
	// configured app (SINCH_APP_ID).
	App         string        `json:"app,omitempty"`
	Priority    Priority      `json:"priority"`
	TTL         time.Duration `json:"ttl"`
	ScheduledAt time.Time     `json:"scheduled_at,omitzero"`
	CSVName     string        `json:"csv_name,omitempty"`
	// Window, when set, is the daily send window: sends due outside it wait
	// for the next opening (see Window).
	Window *Window `json:"window,omitempty"`
	// AutoPause is the campaign's error breaker; nil means
	// DefaultAutoPause. Create writes it next to the definition, where
	// Store.SetAutoPause changes it and Store.Get reads it.
	AutoPause *AutoPause `json:"autopause,omitempty"`
	// QueueShards is how many Asynq queues of its priority the campaign's
	// sends are spread over (0 or 1: the one queue; see jobs.SendShard). It
	// is fixed when the campaign is created, so later uploads and operator
	// actions find its tasks where the first upload put them.
	QueueShards int `json:"queue_shards,omitempty"`
	// Channels is the campaign's ordered channel fallback (two or more;
	// Channel is its first); nil for one channel per recipient.
	Channels []sinch.Channel `json:"channels,omitempty"`
	// ContentType is the message_content_type every send carries ("":
	// none): which of Sinch's opt-out lists applies.
	ContentType sinch.ContentType `json:"content_type,omitempty"`
}

// Record is one recipient's row in reports. The identity is personal data:
// it is stored for reports but never logged.
type Record struct {
	Row          int           `json:"row"`
	Channel      sinch.Channel `json:"channel"`
	Identity     string        `json:"identity"`
	MessageID    string        `json:"message_id,omitempty"`
	AcceptedTime time.Time     `json:"accepted_time,omitzero"`
	Attempts     int           `json:"attempts,omitempty"`
	Error        string        `json:"error,omitempty"`
	// Encoding and Segments describe an SMS text as enqueued (sms.Measure);
	// Cost is its estimated price from the upload's prices, if any.
	Encoding string    `json:"encoding,omitempty"`
	Segments int       `json:"segments,omitempty"`
	Cost     sms.Price `json:"cost,omitempty"`
}

// Counters are a campaign's counts. Upload counters describe the CSV runs
// (Rows = Enqueued + AlreadyEnqueued + Duplicates + Rejected + Suppressed);
// status counters describe recipients now.
type Counters struct {
	Rows            int64 `json:"rows"`
	Enqueued        int64 `json:"enqueued"`
	AlreadyEnqueued int64 `json:"already_enqueued"`
	Duplicates      int64 `json:"duplicates"`
	Rejected        int64 `json:"rejected"`
	Suppressed      int64 `json:"suppressed"` // on the suppression list or the upload's --suppress file

	Pending   int64 `json:"pending"`
	Sent      int64 `json:"sent"`
	Failed    int64 `json:"failed"`
	Cancelled int64 `json:"cancelled"`

	Attempts    int64 `json:"attempts"`     // send attempts that reached Sinch or failed trying
	RateLimited int64 `json:"rate_limited"` // 429 answers (never failures)

	// SMSSegments are the segments of the SMS texts sent, and SMSCost
	// their estimated cost from the upload's prices (0 without prices).
	SMSSegments int64     `json:"sms_segments,omitempty"`
	SMSCost     sms.Price `json:"sms_cost,omitempty"`
}

// Total is the number of distinct recipients in the campaign.
func (c Counters) Total() int64 { return c.Pending + c.Sent + c.Failed + c.Cancelled }

// RecipientKey identifies a recipient within a campaign without exposing the
// phone number: task IDs and log lines carry this key, never the identity.
func RecipientKey(ch sinch.Channel, identity string) string {
	h := sha256.Sum256([]byte(string(ch) + "\x00" + identity))
	return hex.EncodeToString(h[:12])
}

// CorrelationID is the Sinch correlation_id of a recipient's message: unique
// per recipient (campaign + CSV row) and traceable back to the CSV.
func CorrelationID(campaignID string, row int) string {
	return campaignID + ":" + strconv.Itoa(row)
}

// DeriveState tells the campaign's state from its counters and flags.
func DeriveState(def Definition, c Counters, paused, cancelled bool, now time.Time) State {
	switch {
	case cancelled:
		return StateCancelled
	case c.Total() > 0 && c.Pending == 0:
		return StateDone
	case paused:
		return StatePaused
	case !def.ScheduledAt.IsZero() && now.Before(def.ScheduledAt) && c.Sent+c.Failed == 0:
		return StateScheduled
	}
	return StateRunning
}
