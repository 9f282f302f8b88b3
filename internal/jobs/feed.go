package jobs

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"slices"
	"strings"
	"time"

	"github.com/hibiken/asynq"
	"github.com/redis/go-redis/v9"

	"github.com/sinch-dispatch/sinch-dispatch/internal/campaign"
	"github.com/sinch-dispatch/sinch-dispatch/internal/keyspace"
	"github.com/sinch-dispatch/sinch-dispatch/internal/sinch"
)

// The feed. Asynq serves a queue in order, so the chunks of a campaign
// queued behind a big one would wait for all of its chunks, whatever their
// priority. So an upload does not put its chunks in asynq: it appends them
// to its campaign's feed (PushFeed), and one feeder per app (across all
// worker processes, by a lock) keeps only a few of the app's chunks in
// asynq at a time (feedBound), taking them high priority first and, among
// campaigns of one priority, for the campaign with the fewest chunks in
// asynq, the least recently fed first (round robin). A chunk sends a slice of its recipients (SliceRecipients) and
// then gives its unsent rest back to the front of its campaign's feed, so
// its slot goes to whichever campaign's turn it is. Chunks scheduled for
// later still go to asynq's scheduled set (a scheduled upload); their
// first slice runs when they are due, and their rest is fed like any.

// FeedSlice is about how long the chunks of one app take to send a slice
// each, all of them in asynq together (feedBound) sharing the app's rate:
// short enough that a new high-priority campaign sends within a few
// seconds, long enough that feeding costs little. A slice is counted in
// recipients, not time: chunks running at once do not share the budget
// evenly (one may take nearly all of it while the others wait), so a
// slice of time would give campaigns very different shares, where a
// slice of recipients gives each turn the same number of sends.
const FeedSlice = 2 * time.Second

const (
	// feedPoll is how often the active feeder looks at its app's queues
	// while a campaign has a feed; with none it looks less and less often,
	// down to every feedIdlePoll, so an idle worker costs Redis little.
	feedPoll     = 100 * time.Millisecond
	feedIdlePoll = time.Second
	// feedLockTTL bounds how long an app has no feeder after the process
	// holding its lock dies; the holder renews it every third of it.
	feedLockTTL = 5 * time.Second
	// feedStandby is how often a feeder without the lock tries to take it.
	feedStandby = time.Second
	// feedChunk is the recipients of a full chunk (enqueue's batch size).
	feedChunk = 256
	// maxFeedBound caps feedBound (an app of unknown or huge rate).
	maxFeedBound = 256
)

// feedBound is how many chunks of an app the feeder keeps in asynq
// (pending or running): full chunks for the app's rate over a FeedSlice, and
// at least 3, so that one chunk ending its slice leaves others sending
// while the feeder refills.
func feedBound(rate float64) int {
	if !(rate > 0) || math.IsInf(rate, 1) {
		return maxFeedBound
	}
	n := int(math.Ceil(rate * FeedSlice.Seconds() / feedChunk))
	return min(maxFeedBound, max(3, n))
}

// SliceRecipients is how many recipients a chunk of an app sending at
// rate sends before it gives its slot back (HandlerConfig.ChunkSlice): its
// share of the app's rate over a FeedSlice, with feedBound chunks in asynq.
// An app fast enough for (nearly) full chunks is not sliced (0).
func SliceRecipients(rate float64) int {
	n := feedBound(rate)
	s := int(rate*FeedSlice.Seconds()) / n
	if n == maxFeedBound || s >= feedChunk*3/4 {
		return 0
	}
	return max(1, s)
}

// feedRing is the ring (keyspace.Feed.Ring) of a chunk's priority.
func feedRing(q sinch.Queue) string {
	if q == sinch.QueueHigh {
		return string(campaign.PriorityHigh)
	}
	return string(campaign.PriorityNormal)
}

// feedRings are the rings in the order the feeder serves them.
var feedRings = []string{string(campaign.PriorityHigh), string(campaign.PriorityNormal)}

// FeedEntry is one chunk in a feed: its task ID and queue (SendShard), so
// feeding it again after a crash offers asynq the same task, which asynq
// refuses as a duplicate, and its payload.
type FeedEntry struct {
	TaskID, Queue string
	Payload       []byte
}

// Task IDs and queue names hold no newline, and the payload is JSON
// (encodeChunk), whose strings escape theirs.
func (e FeedEntry) encode() string { return e.TaskID + "\n" + e.Queue + "\n" + string(e.Payload) }

func decodeFeedEntry(s string) (FeedEntry, error) {
	id, rest, ok1 := strings.Cut(s, "\n")
	queue, payload, ok2 := strings.Cut(rest, "\n")
	if !ok1 || !ok2 || id == "" || queue == "" {
		return FeedEntry{}, errors.New("decode feed entry: malformed")
	}
	return FeedEntry{TaskID: id, Queue: queue, Payload: []byte(payload)}, nil
}

// task is the asynq task of the entry, as NewChunkTask would build it.
func (e FeedEntry) task() *asynq.Task {
	return asynq.NewTask(TypeChunk, e.Payload, chunkOptions(e.TaskID, e.Queue)...)
}

// pushFeedScript adds an entry to a campaign's feed unless its task ID is
// there already, and puts the campaign on its ring (a campaign new to the
// ring counts as fed now). Every key lives as long as a campaign.
// KEYS: feed list, IDs set, ring. ARGV: entry, task ID, "1" for the front,
// now (ms), TTL (ms), campaign ID.
var pushFeedScript = redis.NewScript(`
if redis.call('SADD', KEYS[2], ARGV[2]) == 0 then return 0 end
if ARGV[3] == '1' then redis.call('LPUSH', KEYS[1], ARGV[1]) else redis.call('RPUSH', KEYS[1], ARGV[1]) end
redis.call('ZADD', KEYS[3], 'NX', ARGV[4], ARGV[6])
for i = 1, 3 do redis.call('PEXPIRE', KEYS[i], ARGV[5]) end
return 1
`)

// PushFeed adds chunk c, bound for queue (SendShard of its ChunkTaskID),
// to the back of its campaign's feed, or with front to its front (the rest
// of a chunk that used its slice, which goes on before the chunks behind
// it). It returns false when the chunk is in the feed already.
func PushFeed(ctx context.Context, rdb redis.UniversalClient, c *ChunkPayload, queue string, front bool) (bool, error) {
	b, err := encodeChunk(c)
	if err != nil {
		return false, fmt.Errorf("encode chunk payload: %w", err)
	}
	e := FeedEntry{TaskID: ChunkTaskID(c), Queue: queue, Payload: b}
	k := keyspace.ForFeed(c.App)
	f := "0"
	if front {
		f = "1"
	}
	n, err := pushFeedScript.Run(ctx, rdb, []string{k.Campaign(c.CampaignID), k.IDs(c.CampaignID), k.Ring(feedRing(c.Queue))},
		e.encode(), e.TaskID, f, time.Now().UnixMilli(), campaign.Retention.Milliseconds(), c.CampaignID).Int()
	if err != nil {
		return false, fmt.Errorf("redis: feed a chunk: %w", err)
	}
	return n == 1, nil
}

// NoteFeedApp records that app ("": the configured one) has a feed, so
// workers start its feeder and its asynq server (Run).
func NoteFeedApp(ctx context.Context, rdb redis.UniversalClient, app string) error {
	_, err := rdb.TxPipelined(ctx, func(p redis.Pipeliner) error {
		p.SAdd(ctx, keyspace.FeedApps, app)
		p.PExpire(ctx, keyspace.FeedApps, campaign.Retention)
		return nil
	})
	if err != nil {
		return fmt.Errorf("redis: note the app's feed: %w", err)
	}
	return nil
}

// FeedApps lists the apps that have had a feed.
func FeedApps(ctx context.Context, rdb redis.UniversalClient) ([]string, error) {
	return rdb.SMembers(ctx, keyspace.FeedApps).Result()
}

// CampaignFeed lists the chunks waiting in the feed of campaign def, next
// first.
func CampaignFeed(ctx context.Context, rdb redis.UniversalClient, def campaign.Definition) ([]FeedEntry, error) {
	raw, err := rdb.LRange(ctx, keyspace.ForFeed(def.App).Campaign(def.ID), 0, -1).Result()
	if err != nil {
		return nil, err
	}
	out := make([]FeedEntry, 0, len(raw))
	for _, s := range raw {
		e, err := decodeFeedEntry(s)
		if err != nil {
			return nil, err
		}
		out = append(out, e)
	}
	return out, nil
}

// FeedRecipients counts the recipients of the chunks waiting in the feed
// of campaign def, read from their task IDs (TaskRecipients) in its IDs
// set: no payload is read.
func FeedRecipients(ctx context.Context, rdb redis.UniversalClient, def campaign.Definition) (int64, error) {
	var n int64
	iter := rdb.SScan(ctx, keyspace.ForFeed(def.App).IDs(def.ID), 0, "", 1000).Iterator()
	for iter.Next(ctx) {
		k, _ := TaskRecipients(def.ID, iter.Val())
		n += k
	}
	if err := iter.Err(); err != nil {
		return 0, fmt.Errorf("redis: count the campaign's feed: %w", err)
	}
	return n, nil
}

// dropFeedScript removes a campaign's feed. KEYS: feed list, IDs set, ring
// of each priority. ARGV: campaign ID.
var dropFeedScript = redis.NewScript(`
redis.call('DEL', KEYS[1], KEYS[2])
redis.call('ZREM', KEYS[3], ARGV[1])
redis.call('ZREM', KEYS[4], ARGV[1])
return 1
`)

// DropFeed removes the chunks of campaign id of app from the feed (a
// cancelled campaign's: its recipients are cancelled already).
func DropFeed(ctx context.Context, rdb redis.UniversalClient, app, id string) error {
	k := keyspace.ForFeed(app)
	if err := dropFeedScript.Run(ctx, rdb, []string{k.Campaign(id), k.IDs(id), k.Ring(feedRings[0]), k.Ring(feedRings[1])}, id).Err(); err != nil {
		return fmt.Errorf("redis: drop the feed of campaign %s: %w", id, err)
	}
	return nil
}

// takeFeedScript moves a campaign's next entry to the app's feeding list
// and puts the campaign last on its ring, fed now or, when the last one
// was fed in the same millisecond, just after it (off the ring once its
// feed is empty). KEYS: feed list, feeding list, ring. ARGV: campaign ID,
// now (ms), TTL (ms).
var takeFeedScript = redis.NewScript(`
local e = redis.call('LPOP', KEYS[1])
if not e then redis.call('ZREM', KEYS[3], ARGV[1]) return false end
redis.call('RPUSH', KEYS[2], e)
redis.call('PEXPIRE', KEYS[2], ARGV[3])
if redis.call('LLEN', KEYS[1]) == 0 then
  redis.call('ZREM', KEYS[3], ARGV[1])
else
  local score = tonumber(ARGV[2])
  local last = redis.call('ZRANGE', KEYS[3], -1, -1, 'WITHSCORES')
  if last[2] and tonumber(last[2]) >= score then score = tonumber(last[2]) + 1 end
  redis.call('ZADD', KEYS[3], 'XX', score, ARGV[1])
end
return e
`)

// fedScript forgets an entry asynq holds now. KEYS: feeding list, IDs set
// of its campaign. ARGV: entry, task ID.
var fedScript = redis.NewScript(`
redis.call('LREM', KEYS[1], 1, ARGV[1])
redis.call('SREM', KEYS[2], ARGV[2])
return 1
`)

// renewLockScript extends a lock its holder still holds. KEYS: lock.
// ARGV: token, TTL (ms).
var renewLockScript = redis.NewScript(`
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
redis.call('PEXPIRE', KEYS[1], ARGV[2])
return 1
`)

// releaseLockScript deletes a lock its holder still holds. KEYS: lock.
// ARGV: token.
var releaseLockScript = redis.NewScript(`
if redis.call('GET', KEYS[1]) == ARGV[1] then redis.call('DEL', KEYS[1]) end
return 1
`)

// feeder moves one app's chunks from their campaigns' feeds into asynq.
type feeder struct {
	rdb    redis.UniversalClient
	store  *campaign.Store
	tasks  *asynq.Client
	app    string
	keys   keyspace.Feed
	queues []string   // every send queue of the app, each shard
	bound  func() int // feedBound of the app's rate
	logger *slog.Logger
	token  string
	// control caches each campaign's pause and cancel for a moment: the
	// feeder looks every feedPoll.
	control map[string]feedControl
	// dirty: the feeding list may hold entries (a failed enqueue), fed
	// again before anything new.
	dirty bool
}

type feedControl struct {
	at             time.Time
	paused, remove bool
	window         *campaign.Window // the campaign's send window (nil: any hour)
}

// waits reports whether the campaign's feed waits: paused, or outside its
// send window. A chunk fed outside the window would only be put off to
// its opening, and while high-priority chunks cycle so no normal ones are
// fed.
func (c feedControl) waits(now time.Time) bool {
	return c.paused || c.window != nil && c.window.Until(now) > 0
}

// feedControlFor is how long the feeder trusts a campaign's control: a
// pause stops its feeding within about this.
const feedControlFor = 500 * time.Millisecond

func newFeeder(rdb redis.UniversalClient, tasks *asynq.Client, app string, shards int, rate func(app string) float64, logger *slog.Logger) *feeder {
	f := &feeder{
		rdb: rdb, store: campaign.NewStore(rdb), tasks: tasks, app: app, keys: keyspace.ForFeed(app),
		logger: logger.With("app", app), token: rand.Text(), control: map[string]feedControl{},
	}
	for _, p := range []campaign.Priority{campaign.PriorityHigh, campaign.PriorityNormal} {
		f.queues = append(f.queues, SendQueues(campaign.Definition{Priority: p, App: app, QueueShards: shards})...)
	}
	f.bound = func() int {
		if rate == nil {
			return maxFeedBound
		}
		return feedBound(rate(app))
	}
	return f
}

// run feeds while it holds the app's feeder lock, and stands by for it
// otherwise, until ctx is done.
func (f *feeder) run(ctx context.Context) {
	held, poll := false, feedPoll
	var renewed time.Time
	defer func() {
		if held {
			releaseLockScript.Run(context.WithoutCancel(ctx), f.rdb, []string{f.keys.Lock}, f.token)
		}
	}()
	for ctx.Err() == nil {
		switch {
		case !held:
			ok, err := f.rdb.SetNX(ctx, f.keys.Lock, f.token, feedLockTTL).Result()
			if err != nil || !ok {
				sleepCtx(ctx, feedStandby)
				continue
			}
			held, renewed, f.dirty = true, time.Now(), true // a feeder before this one may have died mid-feed
			f.logger.Info("feeding the app's campaigns")
		case time.Since(renewed) >= feedLockTTL/3:
			ok, err := renewLockScript.Run(ctx, f.rdb, []string{f.keys.Lock}, f.token, feedLockTTL.Milliseconds()).Int()
			if err != nil && ctx.Err() == nil {
				f.logger.Warn("renew the feeder lock", "err", err)
			}
			if err == nil && ok == 0 {
				held = false
				f.logger.Warn("lost the feeder lock; standing by")
				continue
			}
			if err == nil {
				renewed = time.Now()
			}
		}
		idle, err := f.feed(ctx)
		if err != nil && ctx.Err() == nil {
			f.logger.Warn("feed chunks to asynq", "err", err)
		}
		if idle {
			poll = min(2*poll, feedIdlePoll)
		} else {
			poll = feedPoll
		}
		sleepCtx(ctx, poll)
	}
}

func sleepCtx(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
	case <-ctx.Done():
	}
}

// feed tops the app's chunks in asynq up to the bound; idle when no
// campaign of the app has a feed.
func (f *feeder) feed(ctx context.Context) (idle bool, err error) {
	if f.dirty {
		if err := f.recover(ctx); err != nil {
			return false, err
		}
		f.dirty = false
	}
	return f.topUp(ctx)
}

func (f *feeder) topUp(ctx context.Context) (idle bool, err error) {
	// An idle app costs a round trip a poll, not one per queue.
	var cards []*redis.IntCmd
	if _, err := f.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		for _, ring := range feedRings {
			cards = append(cards, p.ZCard(ctx, f.keys.Ring(ring)))
		}
		return nil
	}); err != nil {
		return false, fmt.Errorf("redis: read the feed rings: %w", err)
	}
	if cards[0].Val()+cards[1].Val() == 0 {
		return true, nil
	}
	in, err := f.inAsynq(ctx)
	if err != nil {
		return false, err
	}
	room := f.bound() - in.total
	for _, ring := range feedRings {
		if room <= 0 {
			return false, nil
		}
		fed, waiting, err := f.feedRing(ctx, ring, room, in.campaigns)
		if err != nil {
			return false, err
		}
		room -= fed
		// High before normal: while high-priority chunks send or wait to
		// be fed, normal ones get no new slot, so the high ones soon have
		// the app's whole rate.
		if ring == feedRings[0] && (waiting || fed > 0 || in.high > 0) {
			return false, nil
		}
	}
	return false, nil
}

// feedRing feeds up to room chunks of the campaigns on ring, each to the
// campaign with the fewest chunks in asynq (in), the least recently fed
// first among equals, so campaigns of one priority share the app's rate
// (round robin, whatever size their chunks' slices leave them). It
// returns how many it fed, and whether a campaign of the ring may still
// be fed.
func (f *feeder) feedRing(ctx context.Context, ring string, room int, in map[string]int) (fed int, waiting bool, err error) {
	ids, err := f.rdb.ZRange(ctx, f.keys.Ring(ring), 0, -1).Result() // least recently fed first
	if err != nil {
		return 0, false, fmt.Errorf("redis: read the feed ring: %w", err)
	}
	var ready []string
	for _, id := range ids {
		c, err := f.controlOf(ctx, id)
		switch {
		case err != nil:
			return 0, false, err
		case c.remove:
			if err := DropFeed(ctx, f.rdb, f.app, id); err != nil {
				return 0, false, err
			}
		case !c.waits(time.Now()): // else its feed waits for the resume or the window
			ready = append(ready, id)
		}
	}
	for fed < room && len(ready) > 0 {
		i := 0
		for j, id := range ready {
			if in[id] < in[ready[i]] {
				i = j
			}
		}
		id := ready[i]
		ok, err := f.take(ctx, ring, id)
		if err != nil {
			return fed, true, err
		}
		if !ok {
			ready = slices.Delete(ready, i, i+1)
			continue
		}
		fed++
		in[id]++
		// Behind its equals now, as the ring has it.
		ready = append(slices.Delete(ready, i, i+1), id)
	}
	return fed, len(ready) > 0, nil
}

// controlOf is whether campaign id is paused, its send window, or whether
// it is to be removed from the feed (cancelled, or its definition gone).
func (f *feeder) controlOf(ctx context.Context, id string) (feedControl, error) {
	now := time.Now()
	if c, ok := f.control[id]; ok && now.Sub(c.at) < feedControlFor {
		return c, nil
	}
	def, ctl, err := f.store.Lookup(ctx, id)
	c := feedControl{at: now, paused: ctl.Paused, remove: ctl.Cancelled, window: def.Window}
	if errors.Is(err, campaign.ErrCampaignNotFound) {
		c, err = feedControl{at: now, remove: true}, nil
	}
	if err != nil {
		return feedControl{}, fmt.Errorf("read the control of campaign %s: %w", id, err)
	}
	for k, old := range f.control {
		if now.Sub(old.at) > time.Minute {
			delete(f.control, k)
		}
	}
	f.control[id] = c
	return c, nil
}

// take moves the next chunk of campaign id (on ring) into asynq, through the feeding
// list: a feeder that dies between the move and the enqueue leaves the
// entry there for the next one (recover). false: its feed was empty.
func (f *feeder) take(ctx context.Context, ring, id string) (bool, error) {
	s, err := takeFeedScript.Run(ctx, f.rdb, []string{f.keys.Campaign(id), f.keys.Feeding, f.keys.Ring(ring)},
		id, time.Now().UnixMilli(), campaign.Retention.Milliseconds()).Text()
	if errors.Is(err, redis.Nil) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("redis: take a chunk from the feed: %w", err)
	}
	// Taken: finish the move even when the worker is stopping.
	if err := f.enqueue(context.WithoutCancel(ctx), id, s); err != nil {
		f.dirty = true
		return false, err
	}
	return true, nil
}

// enqueue puts the feeding entry s of campaign id into asynq and forgets
// it. A task ID asynq holds already is the same chunk fed before a crash.
func (f *feeder) enqueue(ctx context.Context, id, s string) error {
	e, err := decodeFeedEntry(s)
	if err != nil {
		// Unreadable: nothing can send it, and it must not block the list.
		f.logger.Error("dropping an unreadable feed entry", "campaign", id, "err", err)
		return f.rdb.LRem(ctx, f.keys.Feeding, 1, s).Err()
	}
	_, err = f.tasks.EnqueueContext(ctx, e.task())
	if err != nil && !errors.Is(err, asynq.ErrTaskIDConflict) && !errors.Is(err, asynq.ErrDuplicateTask) {
		return fmt.Errorf("redis: enqueue a fed chunk: %w", err)
	}
	if err := fedScript.Run(ctx, f.rdb, []string{f.keys.Feeding, f.keys.IDs(id)}, s, e.TaskID).Err(); err != nil {
		return fmt.Errorf("redis: forget a fed chunk: %w", err)
	}
	return nil
}

// recover enqueues what a feeder left in the feeding list.
func (f *feeder) recover(ctx context.Context) error {
	left, err := f.rdb.LRange(ctx, f.keys.Feeding, 0, -1).Result()
	if err != nil {
		return fmt.Errorf("redis: read the feeding list: %w", err)
	}
	for _, s := range left {
		var id string // its campaign's IDs set; "" for an unreadable entry
		if e, err := decodeFeedEntry(s); err == nil {
			if c, err := DecodeChunk(e.Payload); err == nil {
				id = c.CampaignID
			}
		}
		if err := f.enqueue(ctx, id, s); err != nil {
			return err
		}
	}
	if len(left) > 0 {
		f.logger.Info("fed again the chunks a feeder left", "chunks", len(left))
	}
	return nil
}

// queued is what inAsynq counts.
type queued struct {
	total, high int            // tasks; of high priority
	campaigns   map[string]int // tasks by campaign
}

// inAsynq counts the app's tasks pending or running in asynq, read from
// asynq's lists asynq:{queue}:pending and :active (its storage layout, as
// campaignctl reads its sets): their members are task IDs (TaskID), which
// name their campaign. A list longer than the read is beyond any bound.
func (f *feeder) inAsynq(ctx context.Context) (queued, error) {
	type list struct {
		high bool
		cmd  *redis.StringSliceCmd
	}
	var lists []list
	_, err := f.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		for _, q := range f.queues {
			high := strings.HasPrefix(q, QueueCritical)
			for _, state := range []string{"pending", "active"} {
				lists = append(lists, list{high, p.LRange(ctx, "asynq:{"+q+"}:"+state, 0, maxFeedBound)})
			}
		}
		return nil
	})
	if err != nil {
		return queued{}, fmt.Errorf("redis: read the app's tasks in asynq: %w", err)
	}
	in := queued{campaigns: map[string]int{}}
	for _, l := range lists {
		for _, id := range l.cmd.Val() {
			in.total++
			if l.high {
				in.high++
			}
			if rest, ok := strings.CutPrefix(id, taskIDPrefix); ok {
				c, _, _ := strings.Cut(rest, ":")
				in.campaigns[c]++
			}
		}
	}
	return in, nil
}
