// Package jobs owns the Asynq task types, their payloads and handlers, and
// the one place (classify) that decides retry, defer or fail.
package jobs

import (
	"bytes"
	"encoding/json"
	"fmt"
	"time"

	"github.com/hibiken/asynq"

	"github.com/sinch-dispatch/sinch-dispatch/internal/campaign"
	"github.com/sinch-dispatch/sinch-dispatch/internal/sinch"
	"github.com/sinch-dispatch/sinch-dispatch/internal/sms"
)

// TypeSend sends one campaign message to one recipient. The string is a wire
// contract: renaming it orphans tasks already queued.
const TypeSend = "campaign:send"

// queueMaxRetry is the Asynq retry budget of a send task. It is deliberately
// huge: Asynq archives a task whose budget is spent before asking IsFailure,
// so a 429 on a last attempt would be archived. The handler decides instead,
// counting real failures against the worker's --max-retry.
const queueMaxRetry = 1 << 20

// TaskRetention keeps a finished task (and so its TaskID) for a day, so a
// re-run of the same enqueue command conflicts on the TaskID and adds
// nothing. Re-runs after that are still no-ops: the campaign store records
// every sent, failed and cancelled recipient and enqueue skips them. Keeping
// completed tasks longer would cost Redis hundreds of MB per million sends.
const TaskRetention = 24 * time.Hour

// taskTimeout bounds one execution: rate-limit wait plus one HTTP call.
const taskTimeout = 2 * time.Minute

// SendPayload is everything a worker needs to send one message without
// reading the CSV again. The message is rendered at enqueue time.
type SendPayload struct {
	CampaignID string           `json:"campaign_id"`
	Key        string           `json:"key"` // campaign.RecipientKey
	Row        int              `json:"row"`
	Channel    sinch.Channel    `json:"channel"`
	Identity   string           `json:"identity"`
	Message    sinch.AppMessage `json:"message"`
	Queue      sinch.Queue      `json:"queue"`
	TTLSeconds int64            `json:"ttl_s"`
	// Window is the campaign's send window, if any. It travels with the task
	// so the handler enforces quiet hours without reading the campaign.
	Window *campaign.Window `json:"window,omitempty"`
	// SegmentPrice is the estimated price of one SMS segment to this
	// recipient, from the upload's prices (0: none given), so the sent
	// message's cost is counted without reading the campaign.
	SegmentPrice sms.Price `json:"segment_price,omitempty"`
	// App is the Sinch app the message is sent from ("": the worker's
	// configured app).
	App string `json:"app,omitempty"`
	// ContentType is the message_content_type sent ("": none).
	ContentType sinch.ContentType `json:"content_type,omitempty"`
	// Archive, when set, is why the recipient failed for good: the task was
	// made by a chunk for its failed recipient, and archives itself at once
	// with this reason (see TypeChunk). campaign retry clears it.
	Archive string `json:"archive,omitempty"`
	// Channels, for a campaign with channel fallback, is the order the
	// channels are tried in (channel_priority_order); Channel is its
	// first. Identities holds the identity of each listed channel that is
	// not Identity (a MESSENGER ID next to a phone number); the others
	// reach Identity. Both empty for one channel (see channels.go).
	Channels   []sinch.Channel          `json:"channels,omitempty"`
	Identities map[sinch.Channel]string `json:"identities,omitempty"`
}

// smsRecord fills in what rec says about an SMS text: its encoding and
// segments (measured again from the text sent, as enqueue measured it) and
// estimated cost.
func (p SendPayload) smsRecord(rec *campaign.Record) {
	text, ok := p.Message.TextFor(sinch.ChannelSMS)
	if !ok || !p.sendsOn(sinch.ChannelSMS) {
		return
	}
	c := sms.Measure(text)
	rec.Encoding, rec.Segments = string(c.Encoding), c.Segments
	rec.Cost = p.SegmentPrice * sms.Price(c.Segments)
}

// TaskID is the Asynq task ID of a recipient's send: derived from campaign
// and recipient, so enqueueing the same CSV twice creates nothing new.
func TaskID(campaignID, key string) string { return taskIDPrefix + campaignID + ":" + key }

// taskIDPrefix starts every send and chunk task ID; the campaign ID that
// follows holds no ':' (campaign.ValidateID).
const taskIDPrefix = "send:"

// NewSendTask builds the task for p in Asynq queue (SendShard of its
// campaign), to run at processAt (zero: now).
func NewSendTask(p SendPayload, queue string, processAt time.Time) (*asynq.Task, error) {
	b, err := encodeSend(p)
	if err != nil {
		return nil, fmt.Errorf("encode send payload: %w", err)
	}
	opts := []asynq.Option{
		asynq.TaskID(TaskID(p.CampaignID, p.Key)),
		asynq.Queue(queue),
		asynq.MaxRetry(queueMaxRetry),
		asynq.Retention(TaskRetention),
		asynq.Timeout(taskTimeout),
	}
	if !processAt.IsZero() {
		opts = append(opts, processAtOption(processAt))
	}
	return asynq.NewTask(TypeSend, b, opts...), nil
}

// processAtOption schedules a task at t rounded up to a whole second.
// Asynq scores scheduled tasks by the Unix second and forwards those whose
// second has begun, so a task due at 09:00:02.9 would run from 09:00:02.0:
// rounded up, no send of a scheduled campaign goes before its time.
func processAtOption(t time.Time) asynq.Option {
	if r := t.Truncate(time.Second); !r.Equal(t) {
		t = r.Add(time.Second)
	}
	return asynq.ProcessAt(t)
}

// sendWire is SendPayload as read by decodeSend's fallback: the message
// stays raw until AppMessage.UnmarshalJSON reads it.
type sendWire struct {
	SendPayload
	Message json.RawMessage `json:"message"`
}

// sendTyped is SendPayload with the message's typed fields only: what
// enqueue writes, decoded in one pass.
type sendTyped struct {
	SendPayload
	Message typedMessage `json:"message"`
}

// typedMessage is sinch.AppMessage without its methods: decoding into it
// fills the typed fields in one pass.
type typedMessage sinch.AppMessage

// decodeSend decodes a payload in one pass when it has only known fields,
// as every payload enqueue writes does. AppMessage's own UnmarshalJSON
// decodes twice (typed fields, then a map for the other kinds it keeps in
// Other); it is the fallback for a payload with fields of other kinds.
func decodeSend(b []byte) (SendPayload, error) {
	var p SendPayload
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	var t sendTyped
	if err := dec.Decode(&t); err == nil && len(bytes.TrimSpace(b[dec.InputOffset():])) == 0 {
		p = t.SendPayload
		p.Message = sinch.AppMessage(t.Message)
	} else {
		var w sendWire
		if err := json.Unmarshal(b, &w); err != nil {
			return w.SendPayload, fmt.Errorf("decode send payload: %w", err)
		}
		p = w.SendPayload
		if len(w.Message) > 0 {
			if err := json.Unmarshal(w.Message, &p.Message); err != nil {
				return p, fmt.Errorf("decode send payload: message: %w", err)
			}
		}
	}
	if p.CampaignID == "" || p.Key == "" || p.Identity == "" || p.Channel == "" {
		return p, fmt.Errorf("decode send payload: missing campaign_id, key, channel or identity")
	}
	return p, nil
}

// ResendTask decodes a send task's payload and builds a fresh task for it:
// the same ID and payload, with a new retry budget (campaign retry
// replaces archived sends with these) in queue, the one the task was in.
func ResendTask(payload []byte, queue string) (SendPayload, *asynq.Task, error) {
	p, err := decodeSend(payload)
	if err != nil {
		return p, nil, err
	}
	p.Archive = ""
	task, err := NewSendTask(p, queue, time.Time{})
	return p, task, err
}
