package jobs

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/hibiken/asynq"

	"github.com/sinch-dispatch/sinch-dispatch/internal/campaign"
	"github.com/sinch-dispatch/sinch-dispatch/internal/ratelimit"
	"github.com/sinch-dispatch/sinch-dispatch/internal/redistest"
	"github.com/sinch-dispatch/sinch-dispatch/internal/sinch"
	"github.com/sinch-dispatch/sinch-dispatch/internal/sinch/sinchsim"
	"github.com/sinch-dispatch/sinch-dispatch/internal/sinch/sinchsim/sinchsimtest"
	"github.com/sinch-dispatch/sinch-dispatch/internal/sinchcall"
)

type fixture struct {
	sim     *sinchsim.Server
	client  *sinch.Client
	limiter *ratelimit.Limiter
	store   *campaign.Store
	handler *SendHandler
	payload SendPayload
}

func newFixture(t *testing.T, simCfg sinchsim.Config) *fixture {
	t.Helper()
	r := redistest.New(t)
	sim, url := sinchsimtest.Serve(t, simCfg)
	client, err := sinch.New(sinchsim.ClientConfig(url))
	if err != nil {
		t.Fatal(err)
	}
	lim, err := ratelimit.New(r.Client, ratelimit.Config{Key: "test", Rate: 1000})
	if err != nil {
		t.Fatal(err)
	}
	store := campaign.NewStore(r.Client)
	ctx := context.Background()
	store.Create(ctx, campaign.Definition{ID: "c", Priority: campaign.PriorityNormal})
	p := SendPayload{CampaignID: "c", Row: 2, Channel: sinch.ChannelSMS, Identity: "+33612345678",
		Message: sinch.AppMessage{TextMessage: &sinch.TextMessage{Text: "hi"}}, Queue: sinch.QueueNormal, TTLSeconds: 3600}
	p.Key = campaign.RecipientKey(p.Channel, p.Identity)
	store.Register(ctx, "c", "run", []campaign.Registration{{Key: p.Key, Record: campaign.Record{Row: 2, Channel: p.Channel, Identity: p.Identity}}})
	h, err := NewSendHandler(client, store, sinchcall.One(lim), HandlerConfig{AppID: sinchsim.DefaultAppID})
	if err != nil {
		t.Fatal(err)
	}
	return &fixture{sim: sim, client: client, limiter: lim, store: store, handler: h, payload: p}
}

func (f *fixture) task(t *testing.T) *asynq.Task {
	t.Helper()
	task, err := NewSendTask(f.payload, QueueDefault, time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	return task
}

func TestRedeliveredTaskIsNeverSentTwice(t *testing.T) {
	t.Parallel()
	f := newFixture(t, sinchsim.Config{})
	ctx := context.Background()
	for i := range 3 { // the first delivery and two redeliveries
		if err := f.handler.ProcessTask(ctx, f.task(t)); err != nil {
			t.Fatalf("delivery %d: %v", i+1, err)
		}
	}
	if st := f.sim.Stats(); st.Accepted != 1 {
		t.Fatalf("simulator accepted %d messages, want 1", st.Accepted)
	}
	rec, _ := f.store.Record(ctx, "c", f.payload.Key)
	if rec.MessageID == "" || rec.Attempts != 1 {
		t.Fatalf("got record %+v, want a message ID after 1 attempt", rec)
	}
}

func TestRequestCarriesTheDispatchFields(t *testing.T) {
	t.Parallel()
	f := newFixture(t, sinchsim.Config{})
	req := f.handler.request(f.payload)
	if req.ProcessingStrategy != sinch.ProcessingDispatchOnly || req.Queue != sinch.QueueNormal ||
		time.Duration(req.TTL) != time.Hour || req.CorrelationID != "c:2" || req.MessageMetadata != "c" ||
		req.Recipient.IdentifiedBy == nil || req.Recipient.IdentifiedBy.ChannelIdentities[0].Identity != "+33612345678" {
		t.Fatalf("got request %+v, want DISPATCH_ONLY, NORMAL_PRIORITY, ttl 1h, correlation c:2, metadata c, identified_by", req)
	}
	if err := req.Validate(); err != nil {
		t.Fatalf("request does not validate: %v", err)
	}
}

func TestPoisonPayloadIsArchivedAtOnce(t *testing.T) {
	t.Parallel()
	f := newFixture(t, sinchsim.Config{})
	for _, payload := range []string{"not json", `{"campaign_id":"c"}`, `[]`} {
		err := f.handler.ProcessTask(context.Background(), asynq.NewTask(TypeSend, []byte(payload)))
		if !errors.Is(err, asynq.SkipRetry) {
			t.Fatalf("payload %q: got %v, want SkipRetry", payload, err)
		}
	}
	if st := f.sim.Stats(); st.Requests != 0 {
		t.Fatalf("poison tasks reached the API %d times", st.Requests)
	}
}

func TestPausedCampaignIsDeferredNotFailedAndCancelledIsCounted(t *testing.T) {
	t.Parallel()
	f := newFixture(t, sinchsim.Config{})
	ctx := context.Background()
	f.store.Pause(ctx, "c", "test")
	err := f.handler.ProcessTask(ctx, f.task(t))
	var d *deferred
	if !errors.As(err, &d) || d.failure || isFailure(err) || retryDelay(0, err, nil) != time.Second {
		t.Fatalf("paused: got %v, want a 1s deferral that is not a failure", err)
	}
	f.store.Cancel(ctx, "c", "test")
	if err := f.handler.ProcessTask(ctx, f.task(t)); err != nil {
		t.Fatalf("cancelled: got %v, want the task completed without sending", err)
	}
	c, _ := f.store.Counters(ctx, "c")
	if c.Cancelled != 1 || c.Pending != 0 || f.sim.Stats().Accepted != 0 {
		t.Fatalf("got %+v and %d accepted, want 1 cancelled and nothing sent", c, f.sim.Stats().Accepted)
	}
}

func TestPermanentErrorArchivesWithReason(t *testing.T) {
	t.Parallel()
	f := newFixture(t, sinchsim.Config{RejectSuffix: "678"})
	err := f.handler.ProcessTask(context.Background(), f.task(t))
	var apiErr *sinch.APIError
	if !errors.Is(err, asynq.SkipRetry) || !errors.As(err, &apiErr) || apiErr.StatusCode != 400 {
		t.Fatalf("got %v, want SkipRetry carrying the 400", err)
	}
	st, _ := f.store.Status(context.Background(), "c", f.payload.Key)
	rec, _ := f.store.Record(context.Background(), "c", f.payload.Key)
	if st != campaign.StatusFailed || rec.Error == "" {
		t.Fatalf("got status %s error %q, want failed with a reason", st, rec.Error)
	}
}

func TestRateLimitedSendTellsTheLimiterAndIsDeferredNotFailed(t *testing.T) {
	// 0.25 requests/s, burst 1: once the burst is spent the simulator
	// answers 429 with Retry-After 4s.
	f := newFixture(t, sinchsim.Config{RateLimit: 0.25, RateBurst: 1})
	ctx := context.Background()
	if _, err := f.client.GetApp(ctx); err != nil {
		t.Fatal(err)
	}
	rate := f.limiter.Rate()
	err := f.handler.ProcessTask(ctx, f.task(t))
	var d *deferred
	if !errors.As(err, &d) || d.failure || !sinch.IsRateLimited(err) || d.delay != 4*time.Second {
		t.Fatalf("got %v, want the 429 deferred by its Retry-After (4s), not a failure", err)
	}
	if got := f.limiter.Rate(); got >= rate {
		t.Errorf("got effective rate %v, want below %v: the limiter was not told", got, rate)
	}
	c, _ := f.store.Counters(ctx, "c")
	rec, _ := f.store.Record(ctx, "c", f.payload.Key)
	if c.RateLimited != 1 || !strings.HasPrefix(rec.Error, "429 ") || rec.Attempts != 1 {
		t.Errorf("got %d rate limited, record %+v, want 1 and the 429 noted on attempt 1", c.RateLimited, rec)
	}
}

// A claim no replica acknowledged (this Redis has none) is not sent: it is
// retried later, not counted as a failure, noted as not sent so the next
// attempt needs no reconciliation, and its lock is released.
func TestUnreplicatedClaimIsNotSent(t *testing.T) {
	t.Parallel()
	f := newFixture(t, sinchsim.Config{})
	f.store.SetReplicaWait(10 * time.Millisecond)
	ctx := context.Background()
	err := f.handler.ProcessTask(ctx, f.task(t))
	var d *deferred
	if !errors.As(err, &d) || d.failure || !errors.Is(err, errUnreplicated) {
		t.Fatalf("got %v, want a deferral that is not a failure", err)
	}
	if st := f.sim.Stats(); st.Requests != 0 {
		t.Fatalf("an unreplicated claim reached the API %d times", st.Requests)
	}
	rec, _ := f.store.Record(ctx, "c", f.payload.Key)
	if rec.Attempts != 1 || !strings.HasPrefix(rec.Error, notSentReason) || inDoubt(rec, true, 2) {
		t.Fatalf("record %+v: want attempt 1 noted as not sent, so attempt 2 is not in doubt", rec)
	}
	f.store.SetReplicaWait(0) // a replica answers again
	if err := f.handler.ProcessTask(ctx, f.task(t)); err != nil {
		t.Fatalf("next attempt: %v (the lock must have been released)", err)
	}
	if st := f.sim.Stats(); st.Accepted != 1 {
		t.Fatalf("simulator accepted %d, want 1", st.Accepted)
	}
}
