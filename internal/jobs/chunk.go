package jobs

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hibiken/asynq"

	"github.com/sinch-dispatch/sinch-dispatch/internal/campaign"
	"github.com/sinch-dispatch/sinch-dispatch/internal/keyspace"
	"github.com/sinch-dispatch/sinch-dispatch/internal/sinch"
	"github.com/sinch-dispatch/sinch-dispatch/internal/sinchcall"
	"github.com/sinch-dispatch/sinch-dispatch/internal/sms"
)

// TypeChunk sends one campaign message to each recipient of a chunk. A
// chunk carries what its recipients share once (campaign, queue, TTL,
// window, content type) and per recipient only what differs, so a pending
// recipient costs Redis tens of bytes instead of a whole task. Each
// recipient goes through the same path as a TypeSend task (claim,
// reconcile, rate-limited send, record); one whose send must be tried
// again, or that is archived, becomes its own TypeSend task, so
// per-recipient retries, the archive and `campaign retry` work as for any
// send. The string is a wire contract, and no other type name is a prefix
// of it.
const TypeChunk = "campaign:chunk"

// ChunkPayload is a chunk of one campaign's sends.
type ChunkPayload struct {
	CampaignID string `json:"campaign_id"`
	// Channel is the channel of every recipient that names none.
	Channel    sinch.Channel    `json:"channel"`
	Queue      sinch.Queue      `json:"queue"`
	TTLSeconds int64            `json:"ttl_s"`
	Window     *campaign.Window `json:"window,omitempty"`
	// ContentType is the message_content_type sent ("": none).
	ContentType sinch.ContentType `json:"content_type,omitempty"`
	// Channels is the channel fallback order (SendPayload.Channels), once
	// for the chunk.
	Channels []sinch.Channel `json:"channels,omitempty"`
	// App is the Sinch app every recipient is sent from (SendPayload.App;
	// "": the worker's configured app).
	App string `json:"app,omitempty"`
	// Recipients stays last: encodeChunk writes it after the rest.
	Recipients []ChunkRecipient `json:"r"`
}

// ChunkRecipient is one recipient of a chunk. Its key is derived from
// channel and identity (campaign.RecipientKey), not stored.
type ChunkRecipient struct {
	Row int `json:"n"`
	// Channel is "" when it is the chunk's.
	Channel  sinch.Channel `json:"c,omitempty"`
	Identity string        `json:"i"`
	// Text is the personalised text of a text message; Message is any
	// other message (exactly one of them is set).
	Text         string            `json:"t,omitempty"`
	Message      *sinch.AppMessage `json:"m,omitempty"`
	SegmentPrice sms.Price         `json:"p,omitempty"`
	// Identities are the recipient's fallback identities that are not
	// Identity (SendPayload.Identities).
	Identities map[sinch.Channel]string `json:"x,omitempty"`
}

// ChunkRecipientOf is the chunk entry of the send p (whose campaign-level
// fields must be the chunk's).
func ChunkRecipientOf(p SendPayload, chunkChannel sinch.Channel) ChunkRecipient {
	r := ChunkRecipient{Row: p.Row, Identity: p.Identity, SegmentPrice: p.SegmentPrice, Identities: p.Identities}
	if p.Channel != chunkChannel {
		r.Channel = p.Channel
	}
	if text, ok := p.Message.Text(); ok {
		r.Text = text
	} else {
		m := p.Message
		r.Message = &m
	}
	return r
}

// Send is recipient i of the chunk as a TypeSend payload.
func (c *ChunkPayload) Send(i int) SendPayload {
	r := c.Recipients[i]
	p := SendPayload{
		CampaignID: c.CampaignID, Row: r.Row, Channel: cmpChannel(r.Channel, c.Channel), Identity: r.Identity,
		Queue: c.Queue, TTLSeconds: c.TTLSeconds, Window: c.Window, SegmentPrice: r.SegmentPrice,
		ContentType: c.ContentType, Channels: c.Channels, Identities: r.Identities, App: c.App,
	}
	if r.Message != nil {
		p.Message = *r.Message
	} else {
		p.Message = sinch.AppMessage{TextMessage: &sinch.TextMessage{Text: r.Text}}
	}
	p.Key = campaign.RecipientKey(p.Channel, p.Identity)
	return p
}

func cmpChannel(ch, def sinch.Channel) sinch.Channel {
	if ch != "" {
		return ch
	}
	return def
}

// encodeChunk writes c as json.Marshal would, with text recipients written
// directly (enqueue encodes every recipient once).
func encodeChunk(c *ChunkPayload) ([]byte, error) {
	head := *c
	head.Recipients = nil
	h, err := json.Marshal(head)
	if err != nil {
		return nil, err
	}
	b := make([]byte, 0, len(h)+len(c.Recipients)*96)
	b = append(b, h[:len(h)-len(`null}`)]...) // ends with "r":null}
	b = append(b, '[')
	for i, r := range c.Recipients {
		if i > 0 {
			b = append(b, ',')
		}
		if r.Message != nil || r.Text == "" || len(r.Identities) > 0 {
			m, err := json.Marshal(r)
			if err != nil {
				return nil, err
			}
			b = append(b, m...)
			continue
		}
		b = append(b, `{"n":`...)
		b = strconv.AppendInt(b, int64(r.Row), 10)
		if r.Channel != "" {
			b = append(b, `,"c":`...)
			b = sinch.AppendJSONString(b, string(r.Channel))
		}
		b = append(b, `,"i":`...)
		b = sinch.AppendJSONString(b, r.Identity)
		b = append(b, `,"t":`...)
		b = sinch.AppendJSONString(b, r.Text)
		if r.SegmentPrice != 0 {
			b = append(b, `,"p":`...)
			b = append(b, r.SegmentPrice.String()...)
		}
		b = append(b, '}')
	}
	return append(b, "]}"...), nil
}

// DecodeChunk reads a TypeChunk payload.
func DecodeChunk(b []byte) (*ChunkPayload, error) {
	var c ChunkPayload
	dec := json.NewDecoder(bytes.NewReader(b))
	if err := dec.Decode(&c); err != nil {
		return nil, fmt.Errorf("decode chunk payload: %w", err)
	}
	if c.CampaignID == "" || c.Channel == "" {
		return nil, errors.New("decode chunk payload: missing campaign_id or channel")
	}
	for i, r := range c.Recipients {
		if r.Identity == "" {
			return nil, fmt.Errorf("decode chunk payload: recipient %d has no identity", i)
		}
	}
	return &c, nil
}

// chunkIDPart starts the recipient part of a chunk's task ID (jobs.TaskID
// of campaign and "chunk.<n>.<hash>"): recipient keys are hex, so no send
// task ID looks like it.
const chunkIDPart = "chunk."

// ChunkTaskID is the task ID of a chunk: the campaign, its recipient
// count (so status counts a chunk's recipients from the ID alone, see
// TaskRecipients) and a hash of its recipients, so re-running an upload
// builds the same chunks and asynq refuses them as already queued.
func ChunkTaskID(c *ChunkPayload) string {
	h := sha256.New()
	for i := range c.Recipients {
		r := &c.Recipients[i]
		h.Write([]byte(cmpChannel(r.Channel, c.Channel)))
		h.Write([]byte{0})
		h.Write([]byte(r.Identity))
		h.Write([]byte{0})
	}
	return TaskID(c.CampaignID, chunkIDPart+strconv.Itoa(len(c.Recipients))+"."+hex.EncodeToString(h.Sum(nil)[:8]))
}

// TaskRecipients is how many recipients the send or chunk task taskID of
// campaignID carries, read from the ID, and whether it is a chunk.
func TaskRecipients(campaignID, taskID string) (n int64, chunk bool) {
	rest, ok := strings.CutPrefix(taskID, TaskID(campaignID, chunkIDPart))
	if !ok {
		return 1, false
	}
	count, _, _ := strings.Cut(rest, ".")
	n, err := strconv.ParseInt(count, 10, 64)
	if err != nil || n < 1 {
		return 1, true
	}
	return n, true
}

// chunkTimeout bounds one execution of a chunk: all its recipients at the
// rate limit, shared with every other chunk in flight. A chunk cut short
// runs again and skips the recipients already sent.
const chunkTimeout = time.Hour

// NewChunkTask builds the task for c in queue (SendShard of the chunk's
// ChunkTaskID, so a re-run of the upload picks the same queue and its task
// ID conflicts there), to run
// at processAt (zero: now). A finished chunk is not retained: its
// recipients' statuses say what a re-run must not send again.
func NewChunkTask(c *ChunkPayload, queue string, processAt time.Time) (*asynq.Task, error) {
	b, err := encodeChunk(c)
	if err != nil {
		return nil, fmt.Errorf("encode chunk payload: %w", err)
	}
	opts := chunkOptions(ChunkTaskID(c), queue)
	if !processAt.IsZero() {
		opts = append(opts, processAtOption(processAt))
	}
	return asynq.NewTask(TypeChunk, b, opts...), nil
}

// chunkOptions are the asynq options of chunk task id in queue (a fed
// chunk's too, see FeedEntry).
func chunkOptions(id, queue string) []asynq.Option {
	return []asynq.Option{
		asynq.TaskID(id),
		asynq.Queue(queue),
		asynq.MaxRetry(queueMaxRetry),
		asynq.Timeout(chunkTimeout),
	}
}

// processChunk sends every recipient of a chunk, up to h.inFlight at once
// across all the chunks this process runs. A recipient that is sent,
// cancelled or failed already is skipped (the claim says so), so a chunk
// delivered again after a crash sends only what is left. A pause, quiet
// hours, a failed claim or one no Redis replica acknowledged defer the
// whole chunk; any other reason to try a recipient later makes it its own
// TypeSend task. Recipients are claimed and recorded in batches (batch.go).
// With a slice (HandlerConfig.ChunkSlice)
// it sends that many and gives the rest back to the feed (giveBack).
func (h *SendHandler) processChunk(ctx context.Context, t *asynq.Task) error {
	c, err := DecodeChunk(t.Payload())
	if err != nil {
		return fmt.Errorf("%w: %v", asynq.SkipRetry, err)
	}
	if c.Window != nil {
		if wait := c.Window.Until(h.now()); wait > 0 {
			return &deferred{err: errQuietHours, delay: wait}
		}
	}
	var (
		paused  atomic.Bool
		wg      sync.WaitGroup
		errMu   sync.Mutex
		spawnEr error
		// againEr makes the whole chunk run again (see below).
		again   atomic.Bool
		againEr error
	)
	// The app's budget gates each recipient before it takes a slot: the
	// slots are shared by every app's chunks, and recipients of a slow app
	// waiting for their tokens must not hold the slots of a fast one.
	limiter := h.caller(SendPayload{App: c.App})
	slice, rest := h.sliceOf(c.App), -1
	size := h.batchSize(c.App)
	b := h.batchFor(c.CampaignID)
	defer h.doneBatch(b) // after wg.Wait: every member has recorded
	for i := 0; i < len(c.Recipients); {
		if paused.Load() || again.Load() || ctx.Err() != nil || h.stopped() {
			break
		}
		if slice > 0 && i == slice {
			if h.othersWaiting(ctx, c) {
				rest = i
				break
			}
			// No one else waits for the app: giving the slot back would
			// only leave the app idle until the feeder and asynq bring
			// the rest back (up to a second). Go on for another slice.
			slice += h.sliceOf(c.App)
		}
		// Only the batch's first member asks: the others add at most
		// batchSpan of the app's rate to its wait.
		if !waitForApp(ctx, limiter) {
			break
		}
		end := len(c.Recipients)
		if slice > 0 {
			end = min(end, slice) // a batch ends where the slice does
		}
		n := h.takeSlots(ctx, min(size, end-i))
		if n == 0 {
			break
		}
		ps, locks, claims, claimErr := h.claimBatch(ctx, c, i, n)
		for j := range n {
			wg.Add(1)
			go func(p SendPayload, token string, j int) {
				held := true // this process's concurrency slot
				defer func() {
					if held {
						<-h.inFlight
					}
					wg.Done()
				}()
				err := error(&deferred{err: claimErr, failure: true})
				if claimErr == nil {
					err = h.sendClaimed(ctx, p, token, claims[j], 0, true, b)
				}
				if wait, ok := retryHere(err); ok {
					err, held = h.sendAgainAfter(ctx, limiter, p, err, wait)
				}
				switch {
				case err == nil:
					return
				case errors.Is(err, errPaused):
					paused.Store(true)
					return
				case ctx.Err() != nil:
					return // shutting down: the chunk runs again
				case claimErr != nil || errors.Is(err, errUnreplicated):
					// Not claimed, or claimed on a master that may be
					// failing over: a task of its own, queued now, could
					// be lost with that master's last writes, and the
					// recipient with it. The chunk, which Asynq holds,
					// runs again instead.
					errMu.Lock()
					againEr = cmpErr(againEr, err)
					errMu.Unlock()
					again.Store(true)
					return
				}
				if err := h.spawn(ctx, p, err); err != nil {
					errMu.Lock()
					spawnEr = cmpErr(spawnEr, err)
					errMu.Unlock()
				}
			}(ps[j], locks[j].Token, j)
		}
		i += n
	}
	wg.Wait()
	switch {
	case paused.Load():
		return &deferred{err: errPaused, delay: h.pausedDelay}
	case againEr != nil:
		return againEr
	case spawnEr != nil:
		return &deferred{err: spawnEr, failure: true}
	case ctx.Err() != nil:
		return &deferred{err: ctx.Err(), delay: time.Second}
	case h.stopped():
		return &deferred{err: errStopping, delay: time.Second}
	case rest >= 0:
		return h.giveBack(ctx, c, rest)
	}
	return nil
}

// maxRetryHere is the longest Retry-After a chunk's recipient waits out
// in the chunk before it is sent once more; a longer one makes it a task
// of its own. Sinch answers 429 with 1 s when its token bucket refills in
// milliseconds. As a task the recipient would come back only after the
// forwarder's interval and a server's poll as well, up to another second,
// and a campaign whose last recipients drew 429s would end that much
// later.
const maxRetryHere = time.Second

// retryHere reports whether a recipient's send that ended with err (a 429
// whose Retry-After is at most maxRetryHere) is sent again in the chunk,
// and after how long.
func retryHere(err error) (time.Duration, bool) {
	d, ok := errors.AsType[*deferred](err)
	if !ok || classify(err) != ClassRateLimited || d.delay > maxRetryHere {
		return 0, false
	}
	return d.delay, true
}

// sendAgainAfter sends recipient p of a chunk once more after wait, its
// first send having ended with err: it gives its concurrency slot back
// meanwhile, so a recipient waiting out a 429 holds none, and takes one
// again for the send. When the app is busy by then, it gives up and
// returns err, so that p becomes a task of its own. held says whether it
// returns holding a slot.
func (h *SendHandler) sendAgainAfter(ctx context.Context, limiter sinchcall.Caller, p SendPayload, err error, wait time.Duration) (_ error, held bool) {
	<-h.inFlight
	t := time.NewTimer(wait)
	select {
	case <-t.C:
	case <-ctx.Done():
		t.Stop()
		return ctx.Err(), false
	}
	if _, busy := limiter.Busy(maxHold); busy || h.stopped() {
		return err, false
	}
	if h.takeSlots(ctx, 1) == 0 {
		return ctx.Err(), false
	}
	return h.send(ctx, p, 0, true), true
}

// takeSlots takes up to want of the process's concurrency slots for the
// next batch: it waits for one, then takes those free now and those that
// come free within batchGather. It returns 0 when ctx ended first.
func (h *SendHandler) takeSlots(ctx context.Context, want int) int {
	// One chunk gathers at a time: slots come free together, and chunks
	// gathering side by side would each take one of them.
	h.slotMu.Lock()
	defer h.slotMu.Unlock()
	select {
	case h.inFlight <- struct{}{}:
	case <-ctx.Done():
		return 0
	}
	n := 1
	for ; n < want; n++ {
		select {
		case h.inFlight <- struct{}{}:
			continue
		default:
		}
		break
	}
	if n == want {
		return n
	}
	t := time.NewTimer(batchGather)
	defer t.Stop()
	for ; n < want; n++ {
		select {
		case h.inFlight <- struct{}{}:
		case <-t.C:
			return n
		case <-ctx.Done():
			return n
		}
	}
	return n
}

// giveBack puts the recipients of c from rest on, which it did not try,
// back at the front of its campaign's feed as a chunk of their own (its
// own task ID, in the same queue), and ends the task, so its slot goes to
// the campaign whose turn it is. Should the process die before the task
// ends, asynq runs the whole chunk again while its rest is fed too: each
// recipient's claim lets only one of them send it, and skips the sent.
func (h *SendHandler) giveBack(ctx context.Context, c *ChunkPayload, rest int) error {
	r := *c
	r.Recipients = c.Recipients[rest:]
	if _, err := PushFeed(context.WithoutCancel(ctx), h.store.Redis(), &r, taskQueue(ctx, c.Queue, c.App), true); err != nil {
		// Run again later, whole: the claims skip the recipients sent.
		return &deferred{err: err, failure: true}
	}
	return nil
}

// othersWaiting reports whether another campaign waits in the feed of c's
// app for the slot c holds: one of high priority, or, for a normal chunk,
// another normal one. When Redis cannot tell, it says yes: the slot goes
// back, as without the check.
func (h *SendHandler) othersWaiting(ctx context.Context, c *ChunkPayload) bool {
	k := keyspace.ForFeed(c.App)
	// The rings served before c's, and c's own (feedRings is high first).
	rings := feedRings[:slices.Index(feedRings, feedRing(c.Queue))+1]
	for _, ring := range rings {
		ids, err := h.store.Redis().ZRange(ctx, k.Ring(ring), 0, 1).Result()
		if err != nil {
			return true
		}
		for _, id := range ids {
			if id != c.CampaignID {
				return true
			}
		}
	}
	return false
}

// waitForApp waits, holding no slot, until a recipient of limiter's app
// would get its token within maxHold (sinchcall.Caller.Busy); false when
// ctx ended first.
func waitForApp(ctx context.Context, limiter sinchcall.Caller) bool {
	for {
		wait, busy := limiter.Busy(maxHold)
		if !busy {
			return true
		}
		t := time.NewTimer(wait)
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			return false
		}
	}
}

func cmpErr(a, b error) error {
	if a != nil {
		return a
	}
	return b
}

// spawn makes recipient p of a chunk its own TypeSend task, because its
// send ended with err: due again after the delay Asynq would have given
// the task, or, for a recipient archived as failed (already recorded so),
// a task that archives itself at once with the reason, so the archive and
// `campaign retry` find it as they find any failed send.
func (h *SendHandler) spawn(ctx context.Context, p SendPayload, err error) error {
	processAt := h.now().Add(retryDelay(0, err, nil))
	if a, ok := errors.AsType[*archived](err); ok {
		p.Archive, processAt = a.reason, time.Time{}
	}
	task, terr := NewSendTask(p, taskQueue(ctx, p.Queue, p.App), processAt)
	if terr != nil {
		return terr
	}
	_, eerr := h.tasks.EnqueueContext(context.WithoutCancel(ctx), task)
	if eerr == nil || errors.Is(eerr, asynq.ErrTaskIDConflict) || errors.Is(eerr, asynq.ErrDuplicateTask) {
		return nil // a task of this recipient exists already: it sends
	}
	return fmt.Errorf("queue the send of recipient %s on its own: %w", p.Key, eerr)
}

// taskQueue is the queue of the chunk task running in ctx: its shard, on a
// cluster (SendShard); else the send queue of its Sinch queue and app.
func taskQueue(ctx context.Context, q sinch.Queue, app string) string {
	if queue, ok := asynq.GetQueueName(ctx); ok {
		return queue
	}
	priority := campaign.PriorityNormal
	if q == sinch.QueueHigh {
		priority = campaign.PriorityHigh
	}
	return SendQueue(priority, app)
}
