package sinchsim

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/sinch-dispatch/sinch-dispatch/internal/sinch"
)

// Headers of a signed callback, as Sinch sends them.
const (
	HeaderSignature          = sinch.HeaderWebhookSignature
	HeaderSignatureTimestamp = sinch.HeaderWebhookSignatureTimestamp
	HeaderSignatureNonce     = sinch.HeaderWebhookSignatureNonce
	HeaderSignatureAlgorithm = sinch.HeaderWebhookSignatureAlgorithm
	SignatureAlgorithm       = sinch.WebhookSignatureAlgorithm
)

// Sign returns the x-sinch-webhook-signature of a callback (see
// sinch.SignWebhook: the simulator and the receiver share one
// implementation, tested against an independent one in internal/webhook).
func Sign(secret string, body []byte, nonce, timestamp string) string {
	return sinch.SignWebhook(secret, body, nonce, timestamp)
}

// Verify reports whether h carries a valid signature of body made with
// secret. It does not check the timestamp's age; receivers should.
func Verify(secret string, h http.Header, body []byte) bool {
	return sinch.ValidWebhookSignature(secret, body, h.Get(HeaderSignatureNonce), h.Get(HeaderSignatureTimestamp), h.Get(HeaderSignature))
}

// deliveryReceipt is a MESSAGE_DELIVERY callback.
type deliveryReceipt struct {
	AppID           string         `json:"app_id"`
	AcceptedTime    string         `json:"accepted_time"`
	EventTime       string         `json:"event_time"`
	ProjectID       string         `json:"project_id"`
	MessageMetadata string         `json:"message_metadata"`
	CorrelationID   string         `json:"correlation_id"`
	Report          deliveryReport `json:"message_delivery_report"`
}

type deliveryReport struct {
	MessageID       string          `json:"message_id"`
	ConversationID  string          `json:"conversation_id"`
	Status          string          `json:"status"`
	ChannelIdentity channelIdentity `json:"channel_identity"`
	ContactID       string          `json:"contact_id"`
	Reason          *failureReason  `json:"reason,omitempty"`
	Metadata        string          `json:"metadata"`
	ProcessingMode  string          `json:"processing_mode"`
}

// inboundEvent is a MESSAGE_INBOUND callback (a contact message).
type inboundEvent struct {
	AppID        string      `json:"app_id"`
	AcceptedTime string      `json:"accepted_time"`
	EventTime    string      `json:"event_time"`
	ProjectID    string      `json:"project_id"`
	Message      messageJSON `json:"message"`
	// MessageMetadata carries the conversation_metadata and CorrelationID
	// the correlation_id of the last message sent to the contact.
	MessageMetadata string `json:"message_metadata"`
	CorrelationID   string `json:"correlation_id"`
}

// callbackJob is one POST, signed with secret unless it is empty; next
// (if any) follows it after next.delay, so a message's callbacks arrive in
// order and hold one queue slot.
type callbackJob struct {
	url    string
	secret string
	delay  time.Duration
	body   func(now time.Time) any
	next   *callbackJob
	// redelivered counts the times the receiver asked for this callback
	// again (Retry-After).
	redelivered int
}

// A receiver that answers a callback with Retry-After (a 503 or 429: our
// webhook's "not recorded yet") gets it again after that wait, as Sinch
// delivers it again, at most maxRedeliveries times and waiting at most
// maxRedeliveryWait. Other failures are counted and not retried. The
// chain's later callbacks wait for it.
const (
	maxRedeliveries   = 5
	maxRedeliveryWait = 30 * time.Second
)

// scheduleCallbacks queues m's delivery receipts (its deliverySteps:
// QUEUED_ON_CHANNEL once it leaves the app's queue, maybe
// SWITCHING_CHANNEL, then the final status) and, after them, the inbound
// event of the recipient's answer. Receipts go to the message's own callback_url, signed with the
// app's secret for overridden callback URLs, else to the app's webhook.
func (s *Server) scheduleCallbacks(req *sendRequest, m, answer *message) {
	url, secret := s.cfg.CallbackURL, s.cfg.WebhookSecret
	if req.callbackURL != "" {
		url, secret = req.callbackURL, s.cfg.OverrideCallbackSecret
	}
	if url == "" {
		return
	}
	receipt := func(st deliveryStep) func(time.Time) any {
		return func(now time.Time) any {
			return deliveryReceipt{
				AppID:           m.appID,
				AcceptedTime:    formatTime(m.acceptTime),
				EventTime:       formatTime(now),
				ProjectID:       s.cfg.ProjectID,
				MessageMetadata: m.metadata,
				CorrelationID:   req.correlationID,
				Report: deliveryReport{
					MessageID:       m.id,
					ConversationID:  m.conversationID,
					Status:          st.status,
					ChannelIdentity: st.identity,
					ContactID:       m.contactID,
					Reason:          st.reason,
					Metadata:        m.metadata,
					ProcessingMode:  m.mode,
				},
			}
		}
	}
	// One receipt per step, each after the wait from the one before (the
	// first: from acceptance, so it includes the turn in the app's queue),
	// then the recipient's answer; built from the last, as a chain.
	var chain *callbackJob
	if answer != nil {
		chain = s.inboundJob(answer, string(req.conversationMetadata), req.correlationID)
	}
	for i := len(m.steps) - 1; i >= 0; i-- {
		prev := m.acceptTime
		if i > 0 {
			prev = m.steps[i-1].at
		}
		chain = &callbackJob{url: url, secret: secret, delay: m.steps[i].at.Sub(prev), body: receipt(m.steps[i]), next: chain}
	}
	s.callbacks.submit(chain)
}

// inboundJob is the MESSAGE_INBOUND callback of contact message m, sent to
// the app's webhook (Config.CallbackURL); nil when there is none.
func (s *Server) inboundJob(m *message, metadata, correlationID string) *callbackJob {
	if s.cfg.CallbackURL == "" {
		return nil
	}
	return &callbackJob{url: s.cfg.CallbackURL, secret: s.cfg.WebhookSecret, delay: s.cfg.CallbackDelay, body: func(now time.Time) any {
		return inboundEvent{
			AppID:           m.appID,
			AcceptedTime:    formatTime(m.acceptTime),
			EventTime:       formatTime(now),
			ProjectID:       s.cfg.ProjectID,
			Message:         m.toJSON(now, true, false),
			MessageMetadata: metadata,
			CorrelationID:   correlationID,
		}
	}}
}

// callbackPool delivers callbacks with a fixed number of workers. At most
// limit chains are pending (waiting for their delay, queued or being
// sent); more are dropped and counted, so memory stays bounded whatever
// the receiver does.
type callbackPool struct {
	client  *http.Client
	now     func() time.Time
	stats   *stats
	jobs    chan *callbackJob // capacity limit: sends never block
	pending atomic.Int64
	limit   int64
	closed  atomic.Bool
	ctx     context.Context // cancelled by close, aborting in-flight POSTs
	cancel  context.CancelFunc
	wg      sync.WaitGroup
}

func newCallbackPool(cfg Config, st *stats) *callbackPool {
	transport := http.DefaultTransport.(*http.Transport).Clone()
	transport.MaxIdleConnsPerHost = cfg.CallbackWorkers
	p := &callbackPool{
		client: &http.Client{Transport: transport, Timeout: cfg.CallbackTimeout},
		now:    cfg.Clock,
		stats:  st,
		jobs:   make(chan *callbackJob, cfg.CallbackQueueSize),
		limit:  int64(cfg.CallbackQueueSize),
	}
	p.ctx, p.cancel = context.WithCancel(context.Background())
	for range cfg.CallbackWorkers {
		p.wg.Add(1)
		go p.work()
	}
	return p
}

// submit takes a queue slot for the chain starting at j, or drops it.
func (p *callbackPool) submit(j *callbackJob) {
	if p.closed.Load() {
		p.drop(j)
		return
	}
	if p.pending.Add(1) > p.limit {
		p.pending.Add(-1)
		p.drop(j)
		return
	}
	p.enqueue(j)
}

// drop counts every callback of j's chain as dropped.
func (p *callbackPool) drop(j *callbackJob) {
	for ; j != nil; j = j.next {
		p.stats.cbDropped.Add(1)
	}
}

// enqueue hands j to the workers after its delay; j's chain holds a slot.
func (p *callbackPool) enqueue(j *callbackJob) { p.enqueueAfter(j, j.delay) }

func (p *callbackPool) enqueueAfter(j *callbackJob, d time.Duration) {
	if d <= 0 {
		p.jobs <- j
		return
	}
	time.AfterFunc(d, func() { p.jobs <- j })
}

func (p *callbackPool) work() {
	defer p.wg.Done()
	for {
		select {
		case <-p.ctx.Done():
			return
		case j := <-p.jobs:
			if again, ok := p.deliver(j); ok && j.redelivered < maxRedeliveries && !p.closed.Load() {
				j.redelivered++
				p.enqueueAfter(j, again)
				continue
			}
			if j.next != nil && !p.closed.Load() {
				p.enqueue(j.next)
			} else {
				p.pending.Add(-1)
			}
		}
	}
}

// deliver POSTs one callback, signed when it has a secret. again is the
// receiver's Retry-After when it asked for the callback again.
func (p *callbackPool) deliver(j *callbackJob) (again time.Duration, retry bool) {
	body := marshalJSON(j.body(p.now()))
	req, err := http.NewRequestWithContext(p.ctx, http.MethodPost, j.url, bytes.NewReader(body))
	if err != nil {
		p.stats.cbFailed.Add(1)
		return 0, false
	}
	req.Header.Set("Content-Type", "application/json")
	if j.secret != "" {
		// The timestamp is wall-clock time even with an injected Clock:
		// receivers compare it with their own clock to refuse replays.
		now := time.Now()
		nonce, ts := newID(now), strconv.FormatInt(now.Unix(), 10)
		req.Header.Set(HeaderSignature, Sign(j.secret, body, nonce, ts))
		req.Header.Set(HeaderSignatureTimestamp, ts)
		req.Header.Set(HeaderSignatureNonce, nonce)
		req.Header.Set(HeaderSignatureAlgorithm, SignatureAlgorithm)
	}
	resp, err := p.client.Do(req)
	if err != nil {
		p.stats.cbFailed.Add(1)
		return 0, false
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10)) // lets the connection be reused
	_ = resp.Body.Close()
	if resp.StatusCode/100 == 2 {
		p.stats.cbSent.Add(1)
		return 0, false
	}
	p.stats.cbFailed.Add(1)
	secs, err := strconv.Atoi(resp.Header.Get("Retry-After"))
	if err != nil || secs < 0 {
		return 0, false
	}
	return min(time.Duration(secs)*time.Second, maxRedeliveryWait), true
}

// close stops the workers and waits for them; pending callbacks are dropped.
func (p *callbackPool) close() {
	p.closed.Store(true)
	p.cancel()
	p.wg.Wait()
	p.client.CloseIdleConnections()
}
