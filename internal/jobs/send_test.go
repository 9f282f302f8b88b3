package jobs

import (
	"context"
	"encoding/json"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/sinch-dispatch/sinch-dispatch/internal/campaign"
	"github.com/sinch-dispatch/sinch-dispatch/internal/keyspace"
	"github.com/sinch-dispatch/sinch-dispatch/internal/sinch"
	"github.com/sinch-dispatch/sinch-dispatch/internal/sinch/sinchsim"
)

func TestDecodeSendKeepsEveryMessageField(t *testing.T) {
	t.Parallel()
	base := SendPayload{CampaignID: "c", Key: "SMS:+33612345678", Row: 7, Channel: sinch.ChannelSMS,
		Identity: "+33612345678", Queue: sinch.QueueHigh, TTLSeconds: 60}
	for name, msg := range map[string]sinch.AppMessage{
		"text":     {TextMessage: &sinch.TextMessage{Text: "hello"}},
		"template": {TemplateMessage: &sinch.TemplateMessage{OmniTemplate: &sinch.TemplateReference{TemplateID: "t", Version: "1", Parameters: map[string]string{"name": "Ann"}}}},
		"media":    {MediaMessage: &sinch.MediaMessage{URL: "https://example.com/a.png"}},
		// A kind without a typed field takes AppMessage's own decoder.
		"other kind": {Other: map[string]json.RawMessage{"carousel_message": json.RawMessage(`{"choices":[]}`)}},
		"typed and other": {TextMessage: &sinch.TextMessage{Text: "hi"},
			Other: map[string]json.RawMessage{"list_message": json.RawMessage(`{"title":"x"}`)}},
	} {
		t.Run(name, func(t *testing.T) {
			p := base
			p.Message = msg
			b, err := json.Marshal(p)
			if err != nil {
				t.Fatal(err)
			}
			got, err := decodeSend(b)
			if err != nil {
				t.Fatalf("decodeSend: %v", err)
			}
			if !reflect.DeepEqual(got, p) {
				t.Fatalf("got %+v\nwant %+v", got, p)
			}
		})
	}
	t.Run("bad message", func(t *testing.T) {
		b := []byte(`{"campaign_id":"c","key":"k","channel":"SMS","identity":"+33612345678","message":{"text_message":7}}`)
		if _, err := decodeSend(b); err == nil || !strings.Contains(err.Error(), "message") {
			t.Fatalf("got %v, want an error about the message", err)
		}
	})
}

// storeCalls counts the round trips that touch a campaign's keys.
type storeCalls struct{ n atomic.Int64 }

func (c *storeCalls) DialHook(next redis.DialHook) redis.DialHook { return next }
func (c *storeCalls) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error {
		c.n.Add(1)
		return next(ctx, cmds)
	}
}
func (c *storeCalls) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		err := next(ctx, cmd)
		// An EVALSHA of a script the server has not loaded yet (a fresh
		// Redis) is answered NOSCRIPT and replayed as EVAL: count the replay.
		if slices.ContainsFunc(cmd.Args(), isCampaignCKey) && (err == nil || !strings.HasPrefix(err.Error(), "NOSCRIPT")) {
			c.n.Add(1)
		}
		return err
	}
}

// isCampaignCKey reports whether a command argument is a key of campaign "c".
func isCampaignCKey(arg any) bool {
	s, _ := arg.(string)
	id, _ := keyspace.CampaignOf(s)
	return id == "c"
}

func TestAcceptedSendCostsTwoStoreRoundTripsAndReleasesTheLock(t *testing.T) {
	t.Parallel()
	f := newFixture(t, sinchsim.Config{})
	ctx := context.Background()
	var calls storeCalls
	rdb := f.store.Redis().(*redis.Client)
	rdb.AddHook(&calls)
	if err := f.handler.ProcessTask(ctx, f.task(t)); err != nil {
		t.Fatalf("ProcessTask: %v", err)
	}
	// ClaimSend, then FinishSent (mark sent, auto-pause count, release).
	if got := calls.n.Load(); got != 2 {
		t.Errorf("campaign store round trips for one send: got %d, want 2", got)
	}
	if st, _ := f.store.Status(ctx, "c", f.payload.Key); st != campaign.StatusSent {
		t.Errorf("status: got %q, want sent", st)
	}
	locks, err := rdb.Keys(ctx, keyspace.ForCampaign("c").Lock("*")).Result()
	if err != nil || len(locks) != 0 {
		t.Errorf("locks left after the send: got %v (%v), want none", locks, err)
	}
}

// A chunk claims the recipients it starts together and records the sends
// Sinch accepts together: far fewer store round trips than two per
// recipient, and each recipient still sent once, recorded and unlocked.
func TestChunkClaimsAndRecordsItsRecipientsInBatches(t *testing.T) {
	t.Parallel()
	f := newFixture(t, sinchsim.Config{})
	ctx := context.Background()
	const n = 2 * maxBatch // the fixture's 1000/s makes full batches
	c := f.chunkOf(t, n)
	var calls storeCalls
	rdb := f.store.Redis().(*redis.Client)
	rdb.AddHook(&calls)
	if err := f.handler.ProcessTask(ctx, f.chunkTask(t, c)); err != nil {
		t.Fatalf("ProcessTask: %v", err)
	}
	st := f.sim.Stats()
	if st.Accepted != n || st.Duplicates != 0 {
		t.Fatalf("simulator accepted %d (%d duplicates), want %d once each", st.Accepted, st.Duplicates, n)
	}
	if cnt, _ := f.store.Counters(ctx, "c"); cnt.Sent != n {
		t.Fatalf("sent: got %d, want %d", cnt.Sent, n)
	}
	// Two claims of maxBatch (64 slots free), and the records of sends
	// whose calls overlapped, a 20 ms release grid apart at most.
	got := calls.n.Load()
	t.Logf("%d campaign store round trips for %d sends", got, n)
	if got >= n {
		t.Errorf("campaign store round trips for %d sends: got %d, want fewer than one per send (2 claims and grouped records)", n, got)
	}
	locks, err := rdb.Keys(ctx, keyspace.ForCampaign("c").Lock("*")).Result()
	if err != nil || len(locks) != 0 {
		t.Errorf("locks left after the chunk: got %v (%v), want none", locks, err)
	}
}

// The calls of a cohort that start within its window are recorded in one
// round trip even when Sinch answers the first before the last starts
// (the simulator does, and so may a nearby region): the record waits for
// the window to close.
func TestCohortRecordsCallsStartedWithinItsWindowTogether(t *testing.T) {
	t.Parallel()
	f := newFixture(t, sinchsim.Config{})
	ctx := context.Background()
	c := f.chunkOf(t, 2)
	ps, locks, claims, err := f.handler.claimBatch(ctx, c, 0, 2)
	if err != nil || claims[0].Claim != campaign.ClaimOK || claims[1].Claim != campaign.ClaimOK {
		t.Fatalf("claims %+v (%v), want both ok", claims, err)
	}
	var calls storeCalls
	f.store.Redis().(*redis.Client).AddHook(&calls)
	// A window wide enough for a busy machine: the second call starts
	// well within it.
	b := &batch{campaignID: "c", window: 300 * time.Millisecond}
	rec := func(i int) campaign.Record {
		return campaign.Record{Row: ps[i].Row, Channel: ps[i].Channel, Identity: ps[i].Identity, Attempts: 1, MessageID: fmt.Sprintf("m%d", i)}
	}
	first := b.calling()
	done := make(chan error, 1)
	go func() { // Sinch answered the first call
		_, err := b.record(ctx, f.handler, first, ps[0], locks[0].Token, rec(0))
		done <- err
	}()
	for waiting := 0; waiting == 0; time.Sleep(time.Millisecond) {
		select {
		case err := <-done:
			t.Fatalf("the first call's send was recorded (%v) before the cohort's window closed", err)
		default:
		}
		b.mu.Lock()
		waiting = len(first.waiting)
		b.mu.Unlock()
	}
	second := b.calling()
	if second != first {
		t.Fatal("a call starting within the window began a cohort of its own")
	}
	if _, err := b.record(ctx, f.handler, second, ps[1], locks[1].Token, rec(1)); err != nil {
		t.Fatal(err)
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if got := calls.n.Load(); got != 1 {
		t.Errorf("store round trips for the cohort's two records: got %d, want 1", got)
	}
	for _, p := range ps {
		if st, _ := f.store.Status(ctx, "c", p.Key); st != campaign.StatusSent {
			t.Errorf("recipient %d: status %q, want sent", p.Row, st)
		}
	}
}
