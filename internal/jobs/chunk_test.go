package jobs

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/hibiken/asynq"

	"github.com/sinch-dispatch/sinch-dispatch/internal/campaign"
	"github.com/sinch-dispatch/sinch-dispatch/internal/sinch"
	"github.com/sinch-dispatch/sinch-dispatch/internal/sinch/sinchsim"
)

// chunkOf registers n recipients of campaign "c" (identities
// +336120000<i>) and returns their chunk.
func (f *fixture) chunkOf(t *testing.T, n int) *ChunkPayload {
	t.Helper()
	ctx := context.Background()
	c := &ChunkPayload{CampaignID: "c", Channel: sinch.ChannelSMS, Queue: sinch.QueueNormal, TTLSeconds: 3600}
	var regs []campaign.Registration
	for i := range n {
		p := SendPayload{CampaignID: "c", Row: 10 + i, Channel: sinch.ChannelSMS, Identity: fmt.Sprintf("+3361200%04d", i),
			Message: sinch.AppMessage{TextMessage: &sinch.TextMessage{Text: fmt.Sprintf("hi %d", i)}}}
		c.Recipients = append(c.Recipients, ChunkRecipientOf(p, c.Channel))
		regs = append(regs, campaign.Registration{Key: campaign.RecipientKey(p.Channel, p.Identity),
			Record: campaign.Record{Row: p.Row, Channel: p.Channel, Identity: p.Identity}})
	}
	if _, err := f.store.Register(ctx, "c", "chunk", regs); err != nil {
		t.Fatal(err)
	}
	return c
}

func (f *fixture) chunkTask(t *testing.T, c *ChunkPayload) *asynq.Task {
	t.Helper()
	task, err := NewChunkTask(c, QueueDefault, time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	return task
}

// spawned lists the TypeSend tasks the handler queued on their own.
func (f *fixture) spawned(t *testing.T) (pending, scheduled []*asynq.TaskInfo) {
	t.Helper()
	insp := asynq.NewInspectorFromRedisClient(f.store.Redis())
	pending, err := insp.ListPendingTasks(QueueDefault)
	if err != nil && !errors.Is(err, asynq.ErrQueueNotFound) {
		t.Fatal(err)
	}
	scheduled, err = insp.ListScheduledTasks(QueueDefault)
	if err != nil && !errors.Is(err, asynq.ErrQueueNotFound) {
		t.Fatal(err)
	}
	return pending, scheduled
}

// Every recipient of a chunk is sent once; one Sinch refuses for good is
// failed and becomes an archived send task of its own; delivering the
// chunk again sends nobody twice and does not retry the failed one.
func TestChunkSendsEachRecipientOnceAndArchivesTheFailedOnTheirOwn(t *testing.T) {
	t.Parallel()
	f := newFixture(t, sinchsim.Config{RejectSuffix: "0003"})
	ctx := context.Background()
	c := f.chunkOf(t, 12)
	for i := range 2 { // the first delivery and a redelivery
		if err := f.handler.ProcessTask(ctx, f.chunkTask(t, c)); err != nil {
			t.Fatalf("delivery %d: %v", i+1, err)
		}
	}
	st := f.sim.Stats()
	calls := st.Requests - st.TokenRequests
	if st.Accepted != 11 || calls != 12 || st.Duplicates != 0 {
		t.Fatalf("simulator accepted %d of %d sends, want 11 of 12 (nobody twice, the refused one once)", st.Accepted, calls)
	}
	n, _ := f.store.Counters(ctx, "c")
	if n.Sent != 11 || n.Failed != 1 || n.Pending != 1 { // the fixture's own recipient is pending
		t.Fatalf("counters %+v, want 11 sent and 1 failed", n)
	}
	rec, _ := f.store.Record(ctx, "c", campaign.RecipientKey(sinch.ChannelSMS, "+33612000005"))
	if rec.MessageID == "" || rec.Row != 15 || rec.Attempts != 1 {
		t.Fatalf("record of a sent recipient %+v, want its row, a message ID, 1 attempt", rec)
	}
	pending, _ := f.spawned(t)
	if len(pending) != 1 || pending[0].Type != TypeSend {
		t.Fatalf("got %d tasks queued on their own, want the failed recipient's", len(pending))
	}
	failedKey := campaign.RecipientKey(sinch.ChannelSMS, "+33612000003")
	if pending[0].ID != TaskID("c", failedKey) {
		t.Fatalf("queued task %s, want %s", pending[0].ID, TaskID("c", failedKey))
	}
	// That task archives itself with the reason, without calling Sinch, and
	// campaign retry's ResendTask makes it a real send again.
	err := f.handler.ProcessTask(ctx, asynq.NewTask(TypeSend, pending[0].Payload))
	var a *archived
	if st := f.sim.Stats(); !errors.Is(err, asynq.SkipRetry) || !errors.As(err, &a) || a.reason == "" || st.Requests-st.TokenRequests != 12 {
		t.Fatalf("failed recipient's task: got %v, want it archived with its reason and no call", err)
	}
	p, _, err := ResendTask(pending[0].Payload, QueueDefault)
	if err != nil || p.Archive != "" || p.Key != failedKey {
		t.Fatalf("ResendTask: got %+v (%v), want the send without its archive mark", p, err)
	}
}

// A recipient whose send must be tried again (a 429 here) becomes its own
// TypeSend task, due after the delay the task would have had; the rest of
// the chunk is sent.
func TestChunkRecipientToRetryBecomesItsOwnTask(t *testing.T) {
	t.Parallel()
	// Burst 3 at 0.25/s: the first three are accepted, then 429s.
	f := newFixture(t, sinchsim.Config{RateLimit: 0.25, RateBurst: 3})
	ctx := context.Background()
	c := f.chunkOf(t, 5)
	start := time.Now()
	if err := f.handler.ProcessTask(ctx, f.chunkTask(t, c)); err != nil {
		t.Fatal(err)
	}
	n, _ := f.store.Counters(ctx, "c")
	_, scheduled := f.spawned(t)
	// The fixture's own recipient is pending too. How many the simulator
	// refuses depends on how long the limiter holds the rest back after
	// the first 429 (the bucket refills meanwhile): at least one.
	if n.Sent < 3 || n.Sent+n.Pending-1 != 5 || n.RateLimited < 1 || int64(len(scheduled)) != n.Pending-1 || len(scheduled) == 0 {
		t.Fatalf("counters %+v and %d tasks scheduled, want 3 or more sent and each pending one with its own scheduled task", n, len(scheduled))
	}
	for _, info := range scheduled {
		p, err := decodeSend(info.Payload)
		if err != nil || info.ID != TaskID("c", p.Key) || p.Archive != "" {
			t.Fatalf("scheduled task %s: %+v (%v), want a plain send of its recipient", info.ID, p, err)
		}
		if wait := info.NextProcessAt.Sub(start); wait < 3*time.Second {
			t.Errorf("task %s due %s after the chunk started, want after the 429's Retry-After (4s)", info.ID, wait)
		}
		if s, _ := f.store.Status(ctx, "c", p.Key); s != campaign.StatusPending {
			t.Errorf("recipient of task %s is %s, want pending", info.ID, s)
		}
	}
}

// A recipient refused with a Retry-After of a second (Sinch's answer when
// its bucket refills in milliseconds) is sent again within the chunk once
// that has passed, not queued as a task of its own.
func TestChunkRecipientRefusedForASecondIsSentAgainInTheChunk(t *testing.T) {
	t.Parallel()
	// Burst 3 at 2/s: the first three are accepted, the rest refused with
	// Retry-After 1 s; a second later the bucket holds two again.
	f := newFixture(t, sinchsim.Config{RateLimit: 2, RateBurst: 3})
	ctx := context.Background()
	c := f.chunkOf(t, 5)
	start := time.Now()
	if err := f.handler.ProcessTask(ctx, f.chunkTask(t, c)); err != nil {
		t.Fatal(err)
	}
	took := time.Since(start)
	n, _ := f.store.Counters(ctx, "c")
	pending, scheduled := f.spawned(t)
	if n.Sent != 5 || n.RateLimited < 1 || len(pending)+len(scheduled) != 0 {
		t.Fatalf("counters %+v, %d tasks queued: want all 5 sent after their 429s, none queued on its own", n, len(pending)+len(scheduled))
	}
	if took < time.Second {
		t.Errorf("the chunk took %v: the refused were sent again before their Retry-After (1 s)", took)
	}
	var again int
	for i := range c.Recipients {
		p := c.Send(i)
		rec, _ := f.store.Record(ctx, "c", p.Key)
		if rec.MessageID == "" {
			t.Errorf("recipient %d: no message ID", p.Row)
		}
		if rec.Attempts == 2 {
			again++
		}
	}
	if int64(again) != n.RateLimited {
		t.Errorf("%d recipients sent on their second attempt, want the %d refused", again, n.RateLimited)
	}
}

// A paused campaign's chunk is deferred whole (nothing sent, no task
// queued), and sends everyone once resumed; a cancelled one's recipients
// are cancelled without a call.
func TestChunkPauseResumeAndCancel(t *testing.T) {
	t.Parallel()
	f := newFixture(t, sinchsim.Config{})
	ctx := context.Background()
	c := f.chunkOf(t, 6)
	f.store.Pause(ctx, "c", "test")
	err := f.handler.ProcessTask(ctx, f.chunkTask(t, c))
	if !errors.Is(err, errPaused) || isFailure(err) {
		t.Fatalf("paused: got %v, want the chunk deferred, not failed", err)
	}
	if pending, scheduled := f.spawned(t); f.sim.Stats().Requests != 0 || len(pending)+len(scheduled) != 0 {
		t.Fatalf("paused: %d requests, %d tasks queued; want none", f.sim.Stats().Requests, len(pending)+len(scheduled))
	}
	f.store.Resume(ctx, "c")
	if err := f.handler.ProcessTask(ctx, f.chunkTask(t, c)); err != nil {
		t.Fatal(err)
	}
	if n, _ := f.store.Counters(ctx, "c"); n.Sent != 6 || f.sim.Stats().Accepted != 6 {
		t.Fatalf("resumed: %+v, want all 6 sent", n)
	}

	g := newFixture(t, sinchsim.Config{})
	c = g.chunkOf(t, 4)
	g.store.Cancel(ctx, "c", "test")
	if err := g.handler.ProcessTask(ctx, g.chunkTask(t, c)); err != nil {
		t.Fatal(err)
	}
	// The fixture's own recipient is not in the chunk: still pending.
	if n, _ := g.store.Counters(ctx, "c"); n.Cancelled != 4 || n.Pending != 1 || g.sim.Stats().Requests != 0 {
		t.Fatalf("cancelled: %+v, %d requests; want the chunk's 4 cancelled, no call", n, g.sim.Stats().Requests)
	}
}

// A chunk due outside its campaign's window waits for the opening whole,
// without a Redis call or an attempt.
func TestChunkOutsideItsWindowWaitsForTheOpening(t *testing.T) {
	t.Parallel()
	f := newFixture(t, sinchsim.Config{})
	win, err := campaign.ParseWindow("09:00-17:00", time.UTC)
	if err != nil {
		t.Fatal(err)
	}
	f.handler.now = func() time.Time { return time.Date(2026, 3, 2, 20, 0, 0, 0, time.UTC) }
	c := f.chunkOf(t, 3)
	c.Window = win
	err = f.handler.ProcessTask(context.Background(), f.chunkTask(t, c))
	if !errors.Is(err, errQuietHours) || retryDelay(0, err, nil) != 13*time.Hour {
		t.Fatalf("got %v, want the chunk deferred 13h to the window's opening", err)
	}
	if n, _ := f.store.Counters(context.Background(), "c"); n.Attempts != 0 || f.sim.Stats().Requests != 0 {
		t.Fatalf("got %d attempts, %d requests; want none", n.Attempts, f.sim.Stats().Requests)
	}
}

func TestPoisonChunkIsArchivedAtOnce(t *testing.T) {
	t.Parallel()
	f := newFixture(t, sinchsim.Config{})
	err := f.handler.ProcessTask(context.Background(), asynq.NewTask(TypeChunk, []byte(`{"campaign_id":"c"}`)))
	if !errors.Is(err, asynq.SkipRetry) {
		t.Fatalf("got %v, want SkipRetry", err)
	}
}

// Claims no replica acknowledged (this Redis has none) send nothing and
// queue no task of their own, which a failing master could lose: the
// chunk itself runs again, and then sends everyone once.
func TestChunkWithUnreplicatedClaimsRunsAgainWhole(t *testing.T) {
	t.Parallel()
	f := newFixture(t, sinchsim.Config{})
	ctx := context.Background()
	c := f.chunkOf(t, 5)
	f.store.SetReplicaWait(10 * time.Millisecond)
	err := f.handler.ProcessTask(ctx, f.chunkTask(t, c))
	var d *deferred
	if !errors.As(err, &d) || d.failure || !errors.Is(err, errUnreplicated) {
		t.Fatalf("got %v, want a deferral of the chunk that is not a failure", err)
	}
	if st := f.sim.Stats(); st.Requests != 0 {
		t.Fatalf("unreplicated claims reached the API %d times", st.Requests)
	}
	if pending, scheduled := f.spawned(t); len(pending)+len(scheduled) != 0 {
		t.Fatalf("queued %d tasks of single recipients, want none", len(pending)+len(scheduled))
	}
	f.store.SetReplicaWait(0) // a replica answers again
	if err := f.handler.ProcessTask(ctx, f.chunkTask(t, c)); err != nil {
		t.Fatalf("next run: %v (the locks must have been released)", err)
	}
	if st := f.sim.Stats(); st.Accepted != 5 || st.Duplicates != 0 {
		t.Fatalf("simulator accepted %d (%d duplicates), want 5 once each", st.Accepted, st.Duplicates)
	}
}
