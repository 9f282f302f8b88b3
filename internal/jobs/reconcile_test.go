package jobs

import (
	"context"
	"errors"
	"net"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hibiken/asynq"
	"github.com/redis/go-redis/v9"

	"github.com/sinch-dispatch/sinch-dispatch/internal/campaign"
	"github.com/sinch-dispatch/sinch-dispatch/internal/keyspace"
	"github.com/sinch-dispatch/sinch-dispatch/internal/sinch"
	"github.com/sinch-dispatch/sinch-dispatch/internal/sinch/sinchsim"
)

// killMidSend leaves the state a worker killed right after its request
// reached Sinch leaves behind: an attempt claimed, no result recorded.
// accepted says whether the request got through.
func (f *fixture) killMidSend(t *testing.T, accepted bool) string {
	t.Helper()
	ctx := context.Background()
	claim, _, err := f.store.ClaimSend(ctx, "c", f.payload.Key, "dead-worker", time.Minute)
	if err != nil || claim != campaign.ClaimOK {
		t.Fatalf("claim: %v %v", claim, err)
	}
	f.store.Release(ctx, "c", f.payload.Key, "dead-worker") // the lock has expired by the time of the retry
	if !accepted {
		return ""
	}
	resp, err := f.handler.sender.SendMessage(ctx, f.handler.request(f.payload))
	if err != nil {
		t.Fatal(err)
	}
	return resp.MessageID
}

func TestSendAcceptedByAKilledWorkerIsRecordedNotSentAgain(t *testing.T) {
	t.Parallel()
	f := newFixture(t, sinchsim.Config{})
	ctx := context.Background()
	first := f.killMidSend(t, true)
	if err := f.handler.ProcessTask(ctx, f.task(t)); err != nil {
		t.Fatal(err)
	}
	st := f.sim.Stats()
	rec, _ := f.store.Record(ctx, "c", f.payload.Key)
	status, _ := f.store.Status(ctx, "c", f.payload.Key)
	if st.Accepted != 1 || st.Duplicates != 0 || status != campaign.StatusSent || rec.MessageID != first {
		t.Fatalf("got %d accepted, %d duplicates, status %s, message %q; want 1, 0, sent, %q", st.Accepted, st.Duplicates, status, rec.MessageID, first)
	}
	if c, _ := f.store.Counters(ctx, "c"); c.Sent != 1 || c.Pending != 0 {
		t.Fatalf("got counters %+v, want 1 sent, 0 pending", c)
	}
}

func TestInDoubtSendThatSinchNeverGotIsSent(t *testing.T) {
	t.Parallel()
	f := newFixture(t, sinchsim.Config{})
	f.killMidSend(t, false)
	if err := f.handler.ProcessTask(context.Background(), f.task(t)); err != nil {
		t.Fatal(err)
	}
	if st := f.sim.Stats(); st.Accepted != 1 {
		t.Fatalf("simulator accepted %d, want 1", st.Accepted)
	}
}

func TestResponseLostAfterAcceptanceIsReconciledOnRetry(t *testing.T) {
	t.Parallel()
	f := newFixture(t, sinchsim.Config{FaultLostAfterAccept: 1})
	ctx := context.Background()
	if err := f.handler.ProcessTask(ctx, f.task(t)); err == nil {
		t.Fatal("first attempt: got nil, want the lost response's error")
	}
	if err := f.handler.ProcessTask(ctx, f.task(t)); err != nil {
		t.Fatalf("retry: %v", err)
	}
	st := f.sim.Stats()
	status, _ := f.store.Status(ctx, "c", f.payload.Key)
	if st.Accepted != 1 || st.Duplicates != 0 || status != campaign.StatusSent {
		t.Fatalf("got %d accepted, %d duplicates, status %s; want 1, 0, sent", st.Accepted, st.Duplicates, status)
	}
}

func TestAnsweredFailureIsRetriedWithoutListing(t *testing.T) {
	t.Parallel()
	f := newFixture(t, sinchsim.Config{FaultRate500: 1})
	ctx := context.Background()
	for i := range 2 {
		if err := f.handler.ProcessTask(ctx, f.task(t)); err == nil {
			t.Fatalf("attempt %d: got nil, want the 500", i+1)
		}
	}
	// Two sends and nothing else: a 500 is a definite "not accepted".
	if st := f.sim.Stats(); st.Requests-st.TokenRequests != 2 {
		t.Fatalf("got %d API requests, want the 2 sends only (by status %v)", st.Requests-st.TokenRequests, st.ByStatus)
	}
}

func TestWithoutDispatchRetentionAnInDoubtSendGoesOutAgain(t *testing.T) {
	t.Parallel()
	// Sinch stores nothing: the check finds nothing and must not block.
	f := newFixture(t, sinchsim.Config{DispatchRetentionDays: sinchsim.RetentionNone})
	f.killMidSend(t, true)
	if err := f.handler.ProcessTask(context.Background(), f.task(t)); err != nil {
		t.Fatal(err)
	}
	if st := f.sim.Stats(); st.Accepted != 2 || st.Duplicates != 1 {
		t.Fatalf("got %d accepted, %d duplicates; want 2 and 1 (the documented limit)", st.Accepted, st.Duplicates)
	}
}

func TestInDoubtFollowsTheRecordedReason(t *testing.T) {
	t.Parallel()
	answered := reason(decide(&sinch.APIError{StatusCode: 503, Status: "UNAVAILABLE", Message: "x"}, 0, 10),
		&sinch.APIError{StatusCode: 503, Status: "UNAVAILABLE", Message: "x"}, 1)
	transport := reason(decide(errors.New("connection reset by peer"), 0, 10), errors.New("connection reset by peer"), 1)
	limited := &sinch.APIError{StatusCode: 429, Status: "RESOURCE_EXHAUSTED", Message: "slow down"}
	rateLimited := reason(decide(limited, 0, 10), limited, 1)
	cases := []struct {
		name    string
		rec     campaign.Record
		found   bool
		attempt int
		want    bool
	}{
		{"first attempt", campaign.Record{}, false, 1, false},
		{"no record", campaign.Record{}, false, 2, true},
		{"last attempt left no result", campaign.Record{Attempts: 1, Error: answered}, true, 3, true},
		{"last attempt answered by sinch", campaign.Record{Attempts: 1, Error: answered}, true, 2, false},
		{"last attempt lost on the network", campaign.Record{Attempts: 1, Error: transport}, true, 2, true},
		{"last attempt refused with 429", campaign.Record{Attempts: 1, Error: rateLimited}, true, 2, false},
		{"last attempt never sent", campaign.Record{Attempts: 1, Error: notSentReason + "waiting for the rate limit: context deadline exceeded"}, true, 2, false},
	}
	for _, c := range cases {
		if got := inDoubt(c.rec, c.found, c.attempt); got != c.want {
			t.Errorf("%s (%q): got %v, want %v", c.name, c.rec.Error, got, c.want)
		}
	}
}

// flakyRedis points the fixture's store at the same Redis through
// connections that fail while down is set, as during a Redis restart.
func (f *fixture) flakyRedis(t *testing.T) *atomic.Bool {
	t.Helper()
	var down atomic.Bool
	opts := *f.store.Redis().(*redis.Client).Options()
	opts.MaxRetries = -1 // no client-side retries: the outage is seen at once
	opts.Dialer = func(ctx context.Context, network, addr string) (net.Conn, error) {
		if down.Load() {
			return nil, errors.New("redis is restarting (test)")
		}
		c, err := (&net.Dialer{}).DialContext(ctx, network, addr)
		return flakyConn{c, &down}, err
	}
	client := redis.NewClient(&opts)
	t.Cleanup(func() { client.Close() })
	f.store = campaign.NewStore(client)
	f.handler.store = f.store
	return &down
}

type flakyConn struct {
	net.Conn
	down *atomic.Bool
}

func (c flakyConn) Write(b []byte) (int, error) {
	if c.down.Load() {
		c.Conn.Close()
		return 0, errors.New("redis is restarting (test)")
	}
	return c.Conn.Write(b)
}

// redisDownAfterSend takes Redis away as soon as Sinch has accepted a send,
// for outage (0: until the test brings it back).
type redisDownAfterSend struct {
	*sinch.Client
	down   *atomic.Bool
	outage time.Duration
}

func (s redisDownAfterSend) SendMessage(ctx context.Context, req *sinch.SendMessageRequest) (*sinch.SendMessageResponse, error) {
	resp, err := s.Client.SendMessage(ctx, req)
	if err == nil && !s.down.Swap(true) && s.outage > 0 {
		time.AfterFunc(s.outage, func() { s.down.Store(false) })
	}
	return resp, err
}

func TestAcceptedSendIsRecordedAcrossAShortRedisOutage(t *testing.T) {
	t.Parallel()
	f := newFixture(t, sinchsim.Config{})
	down := f.flakyRedis(t)
	f.handler.sender = redisDownAfterSend{f.handler.sender.(*sinch.Client), down, time.Second}
	ctx := context.Background()
	if err := f.handler.ProcessTask(ctx, f.task(t)); err != nil {
		t.Fatal(err)
	}
	status, _ := f.store.Status(ctx, "c", f.payload.Key)
	if st := f.sim.Stats(); st.Accepted != 1 || status != campaign.StatusSent {
		t.Fatalf("got %d accepted, status %q; want 1 and sent (an accepted send must not stay pending)", st.Accepted, status)
	}
}

func TestAcceptedSendNotRecordedIsRetriedAndReconciledNotResent(t *testing.T) {
	t.Parallel()
	f := newFixture(t, sinchsim.Config{})
	f.handler.recordFor = 100 * time.Millisecond
	down := f.flakyRedis(t)
	f.handler.sender = redisDownAfterSend{f.handler.sender.(*sinch.Client), down, 0}
	ctx := context.Background()
	err := f.handler.ProcessTask(ctx, f.task(t))
	if err == nil || errors.Is(err, asynq.SkipRetry) {
		t.Fatalf("with Redis away: got %v, want an error that makes Asynq run the task again", err)
	}
	down.Store(false) // Redis is back; Asynq runs the task again
	// By then the recipient lock the first run could not release has expired.
	f.store.Redis().Del(ctx, keyspace.ForCampaign("c").Lock(f.payload.Key))
	if err := f.handler.ProcessTask(ctx, f.task(t)); err != nil {
		t.Fatal(err)
	}
	st := f.sim.Stats()
	c, _ := f.store.Counters(ctx, "c")
	if st.Accepted != 1 || st.Duplicates != 0 || c.Sent != 1 || c.Pending != 0 {
		t.Fatalf("got %d accepted, %d duplicates, counters %+v; want 1 accepted, no duplicate, 1 sent", st.Accepted, st.Duplicates, c)
	}
}
