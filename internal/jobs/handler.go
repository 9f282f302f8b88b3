package jobs

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/hibiken/asynq"

	"github.com/sinch-dispatch/sinch-dispatch/internal/campaign"
	"github.com/sinch-dispatch/sinch-dispatch/internal/sinch"
	"github.com/sinch-dispatch/sinch-dispatch/internal/sinchcall"
)

// Sender sends one message (implemented by *sinch.Client).
type Sender interface {
	SendMessage(ctx context.Context, req *sinch.SendMessageRequest) (*sinch.SendMessageResponse, error)
}

// Observer receives one call per send attempt, for metrics. result is
// "sent" or a Class name.
type Observer interface {
	ObserveSend(result string, latency time.Duration)
}

// SendHandler processes TypeSend tasks.
type SendHandler struct {
	sender      Sender
	store       *campaign.Store
	budgets     sinchcall.Budgets // every Sinch call: the reconciling list and the send
	appID       string            // of campaigns that name none
	callbackURL string
	maxRetry    int
	lockTTL     time.Duration
	pausedDelay time.Duration
	logger      *slog.Logger
	observer    Observer
	now         func() time.Time
	recordFor   time.Duration        // how long an accepted send's record is retried (reconcile.go)
	stopping    <-chan struct{}      // HandlerConfig.Stopping
	inFlight    chan struct{}        // one token per chunk recipient being sent (chunk.go)
	tasks       taskEnqueuer         // queues a chunk's recipient as its own task (chunk.go)
	sliceOf     func(app string) int // HandlerConfig.ChunkSlice

	slotMu  sync.Mutex // held by the chunk taking slots (takeSlots)
	batchMu sync.Mutex
	batches map[string]*batch // by campaign, of the chunks running here (batch.go)
}

// taskEnqueuer queues tasks (implemented by *asynq.Client).
type taskEnqueuer interface {
	EnqueueContext(ctx context.Context, task *asynq.Task, opts ...asynq.Option) (*asynq.TaskInfo, error)
}

// HandlerConfig configures a SendHandler.
type HandlerConfig struct {
	AppID string // Sinch app ID of campaigns that name none (SINCH_APP_ID); required
	// CallbackURL overrides the app's delivery-receipt URL when set.
	CallbackURL string
	// MaxRetry is how many failed attempts (5xx, timeouts, resets) a send may
	// have before it is archived. 429s and pauses never count. Defaults to 10.
	MaxRetry int
	// HTTPTimeout is the Sinch client's timeout; the per-recipient lock lasts
	// longer than one wait plus one call. Defaults to 10s.
	HTTPTimeout time.Duration
	// PausedDelay is how long a paused campaign's task waits before it looks
	// again. Defaults to 1s, so resume takes effect within about a second.
	PausedDelay time.Duration
	Logger      *slog.Logger
	Observer    Observer // optional
	// Now is the clock that decides whether a send is inside its campaign's
	// window. Defaults to time.Now.
	Now func() time.Time
	// Stopping is closed when the worker begins to shut down (its run
	// context's Done): a chunk then starts no new send and goes back to the
	// queue, so the sends in flight finish and are recorded within the
	// shutdown timeout. Nil: never.
	Stopping <-chan struct{}
	// ChunkConcurrency is how many recipients of chunk tasks this process
	// sends at once, across all its chunks (the worker's --concurrency).
	// Defaults to 64.
	ChunkConcurrency int
	// ChunkSlice, when set, is how many recipients of app a chunk sends
	// (SliceRecipients) before it puts the rest back at the front of its
	// campaign's feed and frees its slot (feed.go): the worker's feeder
	// then gives the slot to the campaign whose turn it is. Nil or 0: a
	// chunk sends to its end (a handler served with no feeder).
	ChunkSlice func(app string) int
}

// DefaultMaxRetry is the default failure budget of one send.
const DefaultMaxRetry = 10

// maxLimiterWait bounds each wait for a token (the reconciling list, the
// send) while holding a recipient lock.
const maxLimiterWait = time.Minute

// maxHold is how long a send may wait in this process for its app's next
// token while holding a concurrency slot. Asynq fetches tasks in queue
// order whatever their app, so sends of a 20/s app waiting their turn would
// otherwise fill every slot and starve a 200/s app behind them; a send
// whose app is further behind than this goes back to Asynq to come back
// when its app can take it (see ratelimit.Levels.Defer). It is twice
// ForwardInterval, so the sends waiting here last until those turned away
// are back in the queue: a 20/s app keeps up to 20 waiting per process.
const maxHold = 2 * ForwardInterval

// NewSendHandler returns a handler drawing from budgets, the project's and
// its apps' request budgets; cfg is validated.
func NewSendHandler(sender Sender, store *campaign.Store, budgets sinchcall.Budgets, cfg HandlerConfig) (*SendHandler, error) {
	if cfg.AppID == "" {
		return nil, errors.New("jobs: AppID is required")
	}
	if cfg.MaxRetry == 0 {
		cfg.MaxRetry = DefaultMaxRetry
	}
	if cfg.MaxRetry < 1 {
		return nil, errors.New("jobs: MaxRetry must be at least 1 (0 would archive a task on its first 429)")
	}
	if cfg.HTTPTimeout <= 0 {
		cfg.HTTPTimeout = 10 * time.Second
	}
	if cfg.PausedDelay <= 0 {
		cfg.PausedDelay = time.Second
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.ChunkConcurrency <= 0 {
		cfg.ChunkConcurrency = 64
	}
	if cfg.ChunkSlice == nil {
		cfg.ChunkSlice = func(string) int { return 0 }
	}
	return &SendHandler{
		sender: sender, store: store, budgets: budgets,
		appID: cfg.AppID, callbackURL: cfg.CallbackURL, maxRetry: cfg.MaxRetry,
		lockTTL: maxLimiterWait + 3*cfg.HTTPTimeout, pausedDelay: cfg.PausedDelay,
		logger: cfg.Logger, observer: cfg.Observer, now: cfg.Now,
		recordFor: recordAcceptedFor, stopping: cfg.Stopping,
		inFlight: make(chan struct{}, cfg.ChunkConcurrency),
		tasks:    asynq.NewClientFromRedisClient(store.Redis()),
		sliceOf:  cfg.ChunkSlice,
		batches:  make(map[string]*batch),
	}, nil
}

// deferred is returned to Asynq to run a task again later. Failure says
// whether it counts against the retry budget.
type deferred struct {
	err     error
	delay   time.Duration
	failure bool
}

func (d *deferred) Error() string { return d.err.Error() }
func (d *deferred) Unwrap() error { return d.err }

// archived carries the reason recorded for the recipient (shown by Asynq
// as the task's last error) and keeps the Sinch error for errors.As.
type archived struct {
	reason string
	err    error
}

func (a *archived) Error() string { return a.reason }
func (a *archived) Unwrap() error { return a.err }

var (
	errPaused = errors.New("campaign paused")
	// errQuietHours defers a send due outside its campaign's window.
	errQuietHours = errors.New("outside the campaign's send window")
	errBusy       = errors.New("recipient is being sent by another execution")
	// errStopping puts a chunk back when the worker shuts down.
	errStopping = errors.New("worker shutting down")
	// errAppBusy defers a send whose app's budget is booked further ahead
	// than maxHold in this process (see maxHold).
	errAppBusy = errors.New("the app's rate limit is booked ahead")
	// errUnreplicated: a failover may be under way (see
	// campaign.Store.SetReplicaWait).
	errUnreplicated = errors.New("no Redis replica acknowledged the claim within --replica-wait")
)

// app is the Sinch app p is sent from.
func (h *SendHandler) app(p SendPayload) string {
	if p.App != "" {
		return p.App
	}
	return h.appID
}

// caller is the budget of p's app.
func (h *SendHandler) caller(p SendPayload) sinchcall.Caller {
	return sinchcall.New(h.budgets.For(h.app(p)), maxLimiterWait)
}

// ProcessTask sends one message (TypeSend) or a chunk of them (TypeChunk,
// chunk.go). It never sends to a recipient Sinch has already accepted,
// whatever Asynq redelivers.
func (h *SendHandler) ProcessTask(ctx context.Context, t *asynq.Task) error {
	if t.Type() == TypeChunk {
		return h.processChunk(ctx, t)
	}
	p, err := decodeSend(t.Payload())
	if err != nil {
		// A poison payload cannot become valid by retrying.
		return fmt.Errorf("%w: %v", asynq.SkipRetry, err)
	}
	if p.Archive != "" {
		// A chunk's recipient that failed for good (recorded so by the
		// chunk): its own task goes to the archive, as a failed send's does.
		return fmt.Errorf("%w: %w", asynq.SkipRetry, &archived{reason: p.Archive, err: errors.New(p.Archive)})
	}
	// Quiet hours: wait for the next opening. Checked before the claim, so
	// it costs no Redis round trip, no attempt and no retry.
	if p.Window != nil {
		if wait := p.Window.Until(h.now()); wait > 0 {
			return &deferred{err: errQuietHours, delay: wait}
		}
	}
	// A busy app: back to Asynq before the claim, so it costs no Redis
	// round trip and no attempt.
	if wait, busy := h.caller(p).Busy(maxHold); busy {
		return &deferred{err: errAppBusy, delay: wait}
	}
	retried, _ := asynq.GetRetryCount(ctx)
	return h.send(ctx, p, retried, false)
}

// send is one recipient's send, shared by TypeSend tasks and the
// recipients of chunks: claim, reconcile an attempt in doubt, take a token
// from the app's budget, send, record. failuresBefore is the task's retry
// count (0 in a chunk); inChunk makes the claim skip a recipient already
// failed. It returns nil when nothing is left to do, else what Asynq
// should do with a task of this one recipient.
func (h *SendHandler) send(ctx context.Context, p SendPayload, failuresBefore int, inChunk bool) error {
	token := rand.Text()
	claimFn := h.store.ClaimSend
	if inChunk {
		claimFn = h.store.ClaimChunkSend
	}
	claim, attempt, err := claimFn(ctx, p.CampaignID, p.Key, token, h.lockTTL)
	if err != nil {
		return &deferred{err: err, failure: true}
	}
	return h.sendClaimed(ctx, p, token, campaign.Claimed{Claim: claim, Attempt: attempt}, failuresBefore, inChunk, nil)
}

// sendClaimed is send from the claim on: the claim's answer, made with
// token, decides what happens. A send Sinch accepts is recorded on its
// own, or, with a batch b (chunk recipients claimed together), with the
// batch's other accepted sends.
func (h *SendHandler) sendClaimed(ctx context.Context, p SendPayload, token string, c campaign.Claimed, failuresBefore int, inChunk bool, b *batch) error {
	limiter := h.caller(p)
	claim, attempt := c.Claim, c.Attempt
	switch claim {
	case campaign.ClaimFailed:
		return nil
	case campaign.ClaimSent:
		if !inChunk { // a chunk run again skips its sent recipients quietly
			h.logger.InfoContext(ctx, "skip: already accepted by sinch", "campaign_id", p.CampaignID, "recipient", p.Key)
		}
		return nil
	case campaign.ClaimCancelled:
		_, err := h.store.MarkCancelled(ctx, p.CampaignID, p.Key)
		return err
	case campaign.ClaimPaused:
		return &deferred{err: errPaused, delay: h.pausedDelay}
	case campaign.ClaimBusy:
		return &deferred{err: errBusy, delay: 5 * time.Second}
	case campaign.ClaimUnreplicated:
		// Noted as not sent, so the next attempt needs no reconciliation.
		store := context.WithoutCancel(ctx)
		h.store.NoteAttempt(store, p.CampaignID, p.Key, campaign.Record{Row: p.Row, Channel: p.Channel,
			Identity: p.Identity, Attempts: attempt, Error: notSentReason + errUnreplicated.Error()})
		h.store.Release(store, p.CampaignID, p.Key, token)
		return &deferred{err: errUnreplicated, delay: time.Second}
	}
	// FinishSent drops the lock on the hot path; every other way out
	// releases it here.
	released := false
	defer func() {
		if !released {
			h.store.Release(context.WithoutCancel(ctx), p.CampaignID, p.Key, token)
		}
	}()
	if done, err := h.reconcile(ctx, limiter, p, attempt, token); done || err != nil { // reconcile.go
		released = done
		return err
	}

	rec := campaign.Record{Row: p.Row, Channel: p.Channel, Identity: p.Identity, Attempts: attempt}
	store := context.WithoutCancel(ctx)
	var resp *sinch.SendMessageResponse
	var latency time.Duration
	var co *cohort // of b's calls (batch.go)
	err := limiter.Do(ctx, func(ctx context.Context) (err error) {
		co = b.calling()
		start := time.Now()
		resp, err = h.sender.SendMessage(ctx, h.request(p))
		latency = time.Since(start)
		if err != nil {
			b.called(h, co)
		}
		return err
	})
	if err == nil {
		h.observe("sent", latency)
		rec.MessageID, rec.AcceptedTime = resp.MessageID, resp.AcceptedTime
		// One round trip: mark sent, count the outcome, release the lock;
		// retried while Redis restarts (reconcile.go).
		sent, err := b.record(ctx, h, co, p, token, rec)
		released = err == nil
		switch {
		case err != nil:
			// Redis is still away: run the task again; that attempt is in
			// doubt and is reconciled with Sinch, not sent again.
			h.logger.ErrorContext(ctx, "accepted but not recorded", "campaign_id", p.CampaignID, "recipient", p.Key, "err", err)
			return &deferred{err: fmt.Errorf("accepted by sinch but not recorded: %w", err), delay: time.Second}
		case !sent.Fresh:
			h.logger.WarnContext(ctx, "accepted twice", "campaign_id", p.CampaignID, "recipient", p.Key)
		case sent.Paused:
			h.logAutoPause(ctx, p.CampaignID, sent.Reason)
		}
		return nil
	}

	if we, ok := errors.AsType[*sinchcall.WaitError](err); ok {
		// Recorded as not sent, so the next attempt needs no reconciliation.
		rec.Error = notSentReason + "waiting for the rate limit: " + we.Err.Error()
		h.store.NoteAttempt(store, p.CampaignID, p.Key, rec)
		return &deferred{err: err, delay: time.Second}
	}
	d := decide(err, failuresBefore, h.maxRetry)
	h.observe(d.Class.String(), latency)
	rec.Error = reason(d, err, attempt)
	switch {
	case d.Class == ClassRateLimited: // the limiter has been told (sinchcall)
		h.store.CountRateLimited(store, p.CampaignID)
		// Sinch answered, so the next attempt is not in doubt: without this
		// note every 429 would cost a reconciling list call, under the very
		// rate limit that refused it.
		h.store.NoteAttempt(store, p.CampaignID, p.Key, rec)
	case d.Archive:
		failed, merr := h.store.MarkFailed(store, p.CampaignID, p.Key, rec)
		if merr != nil {
			return &deferred{err: merr, failure: true}
		}
		if failed { // not when the recipient was sent meanwhile
			h.countFinal(store, p.CampaignID, true)
		}
		return fmt.Errorf("%w: %w", asynq.SkipRetry, &archived{reason: rec.Error, err: err})
	default:
		h.store.NoteAttempt(store, p.CampaignID, p.Key, rec)
	}
	return &deferred{err: err, delay: d.Delay, failure: d.Failure}
}

// countFinal feeds a final outcome to the campaign's auto-pause breaker
// (429s and retries never get here) and logs when it trips.
func (h *SendHandler) countFinal(ctx context.Context, campaignID string, failed bool) {
	paused, why, err := h.store.CountFinal(ctx, campaignID, failed)
	switch {
	case err != nil:
		h.logger.ErrorContext(ctx, "auto-pause check failed", "campaign_id", campaignID, "err", err)
	case paused:
		h.logAutoPause(ctx, campaignID, why)
	}
}

func (h *SendHandler) logAutoPause(ctx context.Context, campaignID, why string) {
	h.logger.WarnContext(ctx, "campaign auto-paused", "campaign_id", campaignID, "reason", why)
}

func (h *SendHandler) observe(result string, latency time.Duration) {
	if h.observer != nil {
		h.observer.ObserveSend(result, latency)
	}
}

// request builds the messages:send call for one recipient.
func (h *SendHandler) request(p SendPayload) *sinch.SendMessageRequest {
	req := &sinch.SendMessageRequest{
		AppID: h.app(p),
		Recipient: sinch.Recipient{IdentifiedBy: &sinch.IdentifiedBy{
			ChannelIdentities: []sinch.ChannelIdentity{{Channel: p.Channel, Identity: p.Identity}},
		}},
		Message:            p.Message,
		CallbackURL:        h.callbackURL,
		MessageMetadata:    p.CampaignID,
		Queue:              p.Queue,
		TTL:                sinch.TTL(time.Duration(p.TTLSeconds) * time.Second),
		ProcessingStrategy: sinch.ProcessingDispatchOnly,
		CorrelationID:      campaign.CorrelationID(p.CampaignID, p.Row),
		MessageContentType: p.ContentType,
	}
	p.fallback(req) // channels.go
	return req
}

// reason is the error recorded for the recipient and shown in reports.
func reason(d Decision, err error, attempt int) string {
	var apiErr *sinch.APIError
	msg := err.Error()
	if errors.As(err, &apiErr) {
		msg = fmt.Sprintf("%d %s: %s", apiErr.StatusCode, apiErr.Status, apiErr.Message)
	}
	switch {
	case d.Class == ClassRevoked:
		return "credentials rejected by Sinch after a token refresh (check SINCH_KEY_ID/SINCH_KEY_SECRET): " + msg
	case d.Class == ClassPermanent:
		return "rejected by Sinch: " + msg
	case d.Archive:
		return fmt.Sprintf("gave up after %d attempts: %s", attempt, msg)
	}
	return msg
}

// stopped says whether the worker has begun to shut down.
func (h *SendHandler) stopped() bool {
	select {
	case <-h.stopping:
		return true
	default:
		return false
	}
}
