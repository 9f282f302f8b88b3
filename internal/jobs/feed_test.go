package jobs

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"testing"
	"time"

	"github.com/hibiken/asynq"
	"github.com/redis/go-redis/v9"

	"github.com/sinch-dispatch/sinch-dispatch/internal/campaign"
	"github.com/sinch-dispatch/sinch-dispatch/internal/keyspace"
	"github.com/sinch-dispatch/sinch-dispatch/internal/redistest"
	"github.com/sinch-dispatch/sinch-dispatch/internal/sinch"
	"github.com/sinch-dispatch/sinch-dispatch/internal/sinch/sinchsim"
)

// feedFixture is one app's feed on real Redis and a feeder keeping one
// chunk in asynq.
type feedFixture struct {
	rdb   redis.UniversalClient
	store *campaign.Store
	insp  *asynq.Inspector
	f     *feeder
}

const feedTestApp = "app-1"

func newFeedFixture(t *testing.T) *feedFixture {
	t.Helper()
	r := redistest.New(t)
	tasks := asynq.NewClientFromRedisClient(r.Client)
	f := newFeeder(r.Client, tasks, feedTestApp, 0, func(string) float64 { return 1 }, slog.New(slog.DiscardHandler))
	f.bound = func() int { return 1 }
	return &feedFixture{rdb: r.Client, store: campaign.NewStore(r.Client), insp: asynq.NewInspectorFromRedisClient(r.Client), f: f}
}

// campaign creates campaign id of priority and feeds n chunks of one
// recipient each ("<id>/<i>").
func (x *feedFixture) campaign(t *testing.T, id string, p campaign.Priority, n int) {
	t.Helper()
	x.campaignIn(t, id, p, n, nil)
}

// campaignIn is campaign with a send window.
func (x *feedFixture) campaignIn(t *testing.T, id string, p campaign.Priority, n int, w *campaign.Window) {
	t.Helper()
	ctx := context.Background()
	if _, _, err := x.store.Create(ctx, campaign.Definition{ID: id, Priority: p, App: feedTestApp, Window: w}); err != nil {
		t.Fatal(err)
	}
	for i := range n {
		c := &ChunkPayload{CampaignID: id, Channel: sinch.ChannelSMS, Queue: p.SinchQueue(), App: feedTestApp,
			Recipients: []ChunkRecipient{{Row: i, Identity: fmt.Sprintf("%s/%d", id, i), Text: "hi"}}}
		if ok, err := PushFeed(ctx, x.rdb, c, SendQueue(p, feedTestApp), false); err != nil || !ok {
			t.Fatalf("push %s/%d: %v, %v", id, i, ok, err)
		}
	}
}

// order feeds max chunks, or until the feed is empty, taking each fed
// chunk out of asynq as a worker would run it, and returns the identities
// in feeding order.
func (x *feedFixture) order(t *testing.T, max int) []string {
	t.Helper()
	ctx := context.Background()
	var got []string
	for range max {
		if _, err := x.f.feed(ctx); err != nil {
			t.Fatal(err)
		}
		var fed []*asynq.TaskInfo
		for _, p := range []campaign.Priority{campaign.PriorityHigh, campaign.PriorityNormal} {
			infos, err := x.insp.ListPendingTasks(SendQueue(p, feedTestApp))
			if err != nil && !errors.Is(err, asynq.ErrQueueNotFound) {
				t.Fatal(err)
			}
			fed = append(fed, infos...)
		}
		if len(fed) == 0 {
			return got
		}
		if len(fed) > 1 {
			t.Fatalf("%d chunks in asynq, want the bound 1", len(fed))
		}
		c, err := DecodeChunk(fed[0].Payload)
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, c.Recipients[0].Identity)
		if err := x.insp.DeleteTask(fed[0].Queue, fed[0].ID); err != nil {
			t.Fatal(err)
		}
	}
	return got
}

// High priority goes first; campaigns of one priority take turns, a
// campaign that joins later included; a paused one waits and a cancelled
// one's feed is dropped.
func TestFeederFeedsHighFirstThenCampaignsInTurn(t *testing.T) {
	t.Parallel()
	x := newFeedFixture(t)
	ctx := context.Background()
	x.campaign(t, "a", campaign.PriorityNormal, 3)
	x.campaign(t, "b", campaign.PriorityNormal, 2)
	x.campaign(t, "p", campaign.PriorityNormal, 2)
	x.campaign(t, "x", campaign.PriorityNormal, 2)
	if err := x.store.Pause(ctx, "p", "test"); err != nil {
		t.Fatal(err)
	}
	if _, err := x.store.Cancel(ctx, "x", "test"); err != nil {
		t.Fatal(err)
	}
	// a first: it was fed before b and the others joined.
	got := x.order(t, 1)
	time.Sleep(2 * time.Millisecond)
	x.campaign(t, "h", campaign.PriorityHigh, 2)
	time.Sleep(2 * time.Millisecond)
	x.campaign(t, "c", campaign.PriorityNormal, 1)
	got = append(got, x.order(t, 20)...)
	if n := len(x.order(t, 1)); n != 0 {
		t.Fatalf("fed %d more, want the paused campaign's to wait", n)
	}
	want := []string{"a/0", "h/0", "h/1", "b/0", "a/1", "c/0", "b/1", "a/2"}
	if !slices.Equal(got, want) {
		t.Fatalf("feeding order: got %v, want %v", got, want)
	}
	k := keyspace.ForFeed(feedTestApp)
	if n := x.rdb.LLen(ctx, k.Campaign("p")).Val(); n != 2 {
		t.Errorf("paused campaign: %d chunks left in its feed, want 2", n)
	}
	if n := x.rdb.Exists(ctx, k.Campaign("x"), k.IDs("x")).Val(); n != 0 {
		t.Errorf("cancelled campaign: %d of its feed keys left, want none", n)
	}
	if err := x.store.Resume(ctx, "p"); err != nil {
		t.Fatal(err)
	}
	x.f.control = map[string]feedControl{} // no wait for the cache
	if got := x.order(t, 5); !slices.Equal(got, []string{"p/0", "p/1"}) {
		t.Fatalf("resumed campaign: got %v, want p/0, p/1", got)
	}
	for _, key := range []string{k.Ring("high"), k.Ring("normal"), k.Feeding, k.IDs("a")} {
		if n := x.rdb.Exists(ctx, key).Val(); n != 0 {
			t.Errorf("key %s left after everything was fed", key)
		}
	}
}

// inAsynq lists the identities of the chunks in asynq, sorted.
func (x *feedFixture) inAsynq(t *testing.T) []string {
	t.Helper()
	var got []string
	for _, p := range []campaign.Priority{campaign.PriorityHigh, campaign.PriorityNormal} {
		infos, err := x.insp.ListPendingTasks(SendQueue(p, feedTestApp))
		if err != nil && !errors.Is(err, asynq.ErrQueueNotFound) {
			t.Fatal(err)
		}
		for _, info := range infos {
			c, _ := DecodeChunk(info.Payload)
			got = append(got, c.Recipients[0].Identity)
		}
	}
	slices.Sort(got)
	return got
}

// done takes the chunk of identity out of asynq, as a worker ending it.
func (x *feedFixture) done(t *testing.T, p campaign.Priority, identity string) {
	t.Helper()
	infos, _ := x.insp.ListPendingTasks(SendQueue(p, feedTestApp))
	for _, info := range infos {
		if c, _ := DecodeChunk(info.Payload); c.Recipients[0].Identity == identity {
			if err := x.insp.DeleteTask(info.Queue, info.ID); err != nil {
				t.Fatal(err)
			}
			return
		}
	}
	t.Fatalf("chunk %s not in asynq", identity)
}

// A free slot goes to the campaign with the fewest chunks in asynq, before
// one fed less recently; while a high-priority chunk is in asynq, no
// normal one is fed.
func TestFeederGivesASlotToTheCampaignWithTheFewestChunksInAsynq(t *testing.T) {
	t.Parallel()
	x := newFeedFixture(t)
	ctx := context.Background()
	x.f.bound = func() int { return 2 }
	x.campaign(t, "a", campaign.PriorityNormal, 3)
	x.campaign(t, "b", campaign.PriorityNormal, 3)
	if _, err := x.f.feed(ctx); err != nil {
		t.Fatal(err)
	}
	if got, want := x.inAsynq(t), []string{"a/0", "b/0"}; !slices.Equal(got, want) {
		t.Fatalf("in asynq: got %v, want %v", got, want)
	}
	time.Sleep(2 * time.Millisecond)
	x.campaign(t, "c", campaign.PriorityNormal, 1)
	// b ends its chunk: a was fed less recently, but has one in asynq.
	x.done(t, campaign.PriorityNormal, "b/0")
	if _, err := x.f.feed(ctx); err != nil {
		t.Fatal(err)
	}
	if got, want := x.inAsynq(t), []string{"a/0", "b/1"}; !slices.Equal(got, want) {
		t.Fatalf("in asynq: got %v, want %v (b had none in asynq)", got, want)
	}
	x.campaign(t, "h", campaign.PriorityHigh, 1)
	x.done(t, campaign.PriorityNormal, "a/0")
	x.done(t, campaign.PriorityNormal, "b/1")
	if _, err := x.f.feed(ctx); err != nil {
		t.Fatal(err)
	}
	if got, want := x.inAsynq(t), []string{"h/0"}; !slices.Equal(got, want) {
		t.Fatalf("in asynq: got %v, want only the high-priority chunk %v", got, want)
	}
	x.done(t, campaign.PriorityHigh, "h/0")
	if _, err := x.f.feed(ctx); err != nil {
		t.Fatal(err)
	}
	// None in asynq: the two fed least recently, b fed last waits.
	if got, want := x.inAsynq(t), []string{"a/1", "c/0"}; !slices.Equal(got, want) {
		t.Fatalf("in asynq: got %v, want %v", got, want)
	}
}

// The feed of a campaign outside its send window waits for the window: a
// high-priority one holds back no normal campaign meanwhile.
func TestFeederFeedsNoCampaignOutsideItsWindow(t *testing.T) {
	t.Parallel()
	x := newFeedFixture(t)
	now := time.Now().UTC()
	closed, err := campaign.ParseWindow(now.Add(2*time.Hour).Format("15:04")+"-"+now.Add(3*time.Hour).Format("15:04"), time.UTC)
	if err != nil {
		t.Fatal(err)
	}
	open, err := campaign.ParseWindow(now.Add(-time.Hour).Format("15:04")+"-"+now.Add(time.Hour).Format("15:04"), time.UTC)
	if err != nil {
		t.Fatal(err)
	}
	x.campaignIn(t, "night", campaign.PriorityHigh, 2, closed)
	x.campaignIn(t, "day", campaign.PriorityNormal, 2, open)
	if got, want := x.order(t, 5), []string{"day/0", "day/1"}; !slices.Equal(got, want) {
		t.Fatalf("fed %v, want only the campaign inside its window: %v", got, want)
	}
	if n, _ := FeedRecipients(context.Background(), x.rdb, campaign.Definition{ID: "night", App: feedTestApp}); n != 2 {
		t.Fatalf("%d recipients left in the closed campaign's feed, want 2", n)
	}
}

// A chunk offered twice (a re-run of the upload) is fed once.
func TestPushFeedRefusesAChunkInTheFeedAlready(t *testing.T) {
	t.Parallel()
	x := newFeedFixture(t)
	x.campaign(t, "a", campaign.PriorityNormal, 1)
	c := &ChunkPayload{CampaignID: "a", Channel: sinch.ChannelSMS, Queue: sinch.QueueNormal, App: feedTestApp,
		Recipients: []ChunkRecipient{{Row: 0, Identity: "a/0", Text: "hi"}}}
	if ok, err := PushFeed(context.Background(), x.rdb, c, SendQueue(campaign.PriorityNormal, feedTestApp), false); err != nil || ok {
		t.Fatalf("second push: got %v, %v; want false", ok, err)
	}
}

// A feeder that died between taking entries and enqueueing them leaves
// them in the feeding list: the next feeder enqueues each once, also one
// asynq holds already.
func TestFeederRecoversTheEntriesAFeederLeft(t *testing.T) {
	t.Parallel()
	x := newFeedFixture(t)
	ctx := context.Background()
	x.campaign(t, "a", campaign.PriorityNormal, 3)
	k := keyspace.ForFeed(feedTestApp)
	var taken []string
	for range 2 { // taken, then the crash
		s, err := takeFeedScript.Run(ctx, x.rdb, []string{k.Campaign("a"), k.Feeding, k.Ring("normal")}, "a", time.Now().UnixMilli(), 60000).Text()
		if err != nil {
			t.Fatal(err)
		}
		taken = append(taken, s)
	}
	// The second one reached asynq before the crash.
	e, _ := decodeFeedEntry(taken[1])
	if _, err := x.f.tasks.Enqueue(e.task()); err != nil {
		t.Fatal(err)
	}
	x.f.bound = func() int { return 10 }
	x.f.dirty = true // as a feeder that just took the lock
	if _, err := x.f.feed(ctx); err != nil {
		t.Fatal(err)
	}
	infos, err := x.insp.ListPendingTasks(SendQueue(campaign.PriorityNormal, feedTestApp))
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, info := range infos {
		c, _ := DecodeChunk(info.Payload)
		got = append(got, c.Recipients[0].Identity)
	}
	slices.Sort(got)
	if want := []string{"a/0", "a/1", "a/2"}; !slices.Equal(got, want) {
		t.Fatalf("in asynq: got %v, want each chunk once: %v", got, want)
	}
	if n := x.rdb.Exists(ctx, k.Feeding, k.IDs("a"), k.Campaign("a")).Val(); n != 0 {
		t.Errorf("%d feed keys left, want none", n)
	}
}

// Only one feeder of an app feeds; when it stops, one standing by takes
// over.
func TestOneFeederPerAppAndAStandbyTakesOver(t *testing.T) {
	t.Parallel()
	x := newFeedFixture(t)
	ctx := context.Background()
	other := newFeeder(x.rdb, x.f.tasks, feedTestApp, 0, nil, slog.New(slog.DiscardHandler))
	c1, stop1 := context.WithCancel(ctx)
	done1 := make(chan struct{})
	go func() { x.f.run(c1); close(done1) }()
	k := keyspace.ForFeed(feedTestApp)
	waitFor(t, func() bool { return x.rdb.Get(ctx, k.Lock).Val() == x.f.token })
	c2, stop2 := context.WithCancel(ctx)
	defer stop2()
	go other.run(c2)
	time.Sleep(3 * feedPoll)
	if got := x.rdb.Get(ctx, k.Lock).Val(); got != x.f.token {
		t.Fatalf("lock holder changed while the first feeder ran")
	}
	stop1()
	<-done1
	waitFor(t, func() bool { return x.rdb.Get(ctx, k.Lock).Val() == other.token })
}

func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not met within 10s")
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestFeedBoundAndSlice(t *testing.T) {
	for _, tc := range []struct {
		rate         float64
		bound, slice int
	}{{0, maxFeedBound, 0}, {20, 3, 13}, {50, 3, 33}, {200, 3, 133}, {300, 3, 0}, {1000, 8, 0}, {1e9, maxFeedBound, 0}} {
		if got, slice := feedBound(tc.rate), SliceRecipients(tc.rate); got != tc.bound || slice != tc.slice {
			t.Errorf("rate %g: got bound %d, slice %d; want %d, %d", tc.rate, got, slice, tc.bound, tc.slice)
		}
	}
}

// A chunk with a slice sends that many recipients, then puts the rest back
// at the front of its campaign's feed, as a chunk of their own, and ends.
func TestChunkGivesTheRestOfItsRecipientsBackAfterItsSlice(t *testing.T) {
	t.Parallel()
	f := newFixture(t, sinchsim.Config{})
	f.handler.sliceOf = func(string) int { return 2 }
	ctx := context.Background()
	c := f.chunkOf(t, 5)
	rdb := f.store.Redis()
	// Another campaign waits for the app: the slot goes back after each
	// slice.
	other := *c
	other.CampaignID = "other"
	if _, err := PushFeed(ctx, rdb, &other, QueueDefault, false); err != nil {
		t.Fatal(err)
	}
	var sent int
	for range 3 {
		if err := f.handler.ProcessTask(ctx, f.chunkTask(t, c)); err != nil {
			t.Fatal(err)
		}
		cnt, _ := f.store.Counters(ctx, "c")
		entries, err := CampaignFeed(ctx, rdb, campaign.Definition{ID: "c"})
		if err != nil {
			t.Fatal(err)
		}
		if want := min(5, sent+2); int(cnt.Sent) != want {
			t.Fatalf("a slice of 2: %d sent before, %d after; want %d", sent, cnt.Sent, want)
		}
		sent = int(cnt.Sent)
		if sent == 5 {
			if len(entries) != 0 {
				t.Fatalf("all sent, but %d chunks left in the feed", len(entries))
			}
			return
		}
		if len(entries) != 1 {
			t.Fatalf("after a slice: %d chunks in the feed, want the rest as one", len(entries))
		}
		rest, err := DecodeChunk(entries[0].Payload)
		if err != nil || len(rest.Recipients) != 5-sent || entries[0].TaskID != ChunkTaskID(rest) || entries[0].Queue != QueueDefault {
			t.Fatalf("the rest: %+v (%v), want the %d unsent in the chunk's queue", entries[0], err, 5-sent)
		}
		if err := DropFeed(ctx, rdb, "", "c"); err != nil { // as the feeder takes it
			t.Fatal(err)
		}
		c = rest
	}
	t.Fatal("not all sent after 3 slices")
}

// With no other campaign waiting for the app, a chunk goes on past its
// slice: giving the slot back would leave the app idle until the feeder
// and asynq bring the rest back.
func TestChunkAloneOnItsAppGoesOnPastItsSlice(t *testing.T) {
	t.Parallel()
	f := newFixture(t, sinchsim.Config{})
	f.handler.sliceOf = func(string) int { return 2 }
	ctx := context.Background()
	c := f.chunkOf(t, 5)
	if err := f.handler.ProcessTask(ctx, f.chunkTask(t, c)); err != nil {
		t.Fatal(err)
	}
	cnt, _ := f.store.Counters(ctx, "c")
	entries, err := CampaignFeed(ctx, f.store.Redis(), campaign.Definition{ID: "c"})
	if err != nil {
		t.Fatal(err)
	}
	if cnt.Sent != 5 || len(entries) != 0 {
		t.Errorf("one execution alone on the app: %d sent, %d chunks fed back; want 5 and 0", cnt.Sent, len(entries))
	}
}

// A feeder with no campaign to feed says it is idle (and polls less
// often); with one it is not.
func TestFeederIsIdleWithoutAFeed(t *testing.T) {
	t.Parallel()
	x := newFeedFixture(t)
	ctx := context.Background()
	if idle, err := x.f.feed(ctx); err != nil || !idle {
		t.Fatalf("no feed: got idle %v, %v; want idle", idle, err)
	}
	x.campaign(t, "a", campaign.PriorityNormal, 1)
	if idle, err := x.f.feed(ctx); err != nil || idle {
		t.Fatalf("a campaign to feed: got idle %v, %v; want busy", idle, err)
	}
}
