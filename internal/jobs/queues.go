package jobs

import (
	"cmp"
	"hash/fnv"
	"maps"
	"slices"
	"strconv"
	"strings"

	"github.com/redis/go-redis/v9"

	"github.com/sinch-dispatch/sinch-dispatch/internal/campaign"
)

// The Asynq queues. A queue name is a wire contract: tasks already queued
// stay in the queue they were put in, so a renamed queue strands them.
const (
	// QueueCritical holds the sends of high-priority campaigns.
	QueueCritical = "critical"
	// QueueDefault holds the sends of normal-priority campaigns.
	QueueDefault = "default"
	// QueueLow holds background work: tracking passes.
	QueueLow = "low"
	// ScheduleQueue holds the firings of recurring campaigns. Only workers
	// started with a schedules file serve it, so a firing never lands on a
	// worker that does not know the schedule.
	ScheduleQueue = "schedule"
)

// DefaultQueues are the Asynq queues and weights a worker serves.
var DefaultQueues = map[string]int{QueueCritical: 6, QueueDefault: 3, QueueLow: 1}

// SendQueue is the queue of a campaign's sends: QueueCritical or
// QueueDefault for a campaign on the workers' configured app (app ""), and
// for a campaign that names its app that queue's name, AppQueueSep and the
// app ID ("default@01ABC…").
//
// Each app's sends have their own queues because Asynq serves a queue in
// order: behind the sends of a 20/s app, those of a 200/s app would wait
// for the slow app's pace, and the slow app's sends would hold every
// worker slot. A worker runs one Asynq server per app's queues (Run), so
// each app has its own slots and order.
func SendQueue(p campaign.Priority, app string) string {
	q := QueueDefault
	if p == campaign.PriorityHigh {
		q = QueueCritical
	}
	if app != "" {
		q += AppQueueSep + app
	}
	return q
}

// AppQueueSep separates a send queue's priority from its app.
const AppQueueSep = "@"

// AppQueues are the send queues of app, weighted as in DefaultQueues (high
// priority before normal).
func AppQueues(app string) map[string]int {
	return map[string]int{
		SendQueue(campaign.PriorityHigh, app):   DefaultQueues[QueueCritical],
		SendQueue(campaign.PriorityNormal, app): DefaultQueues[QueueDefault],
	}
}

// QueueApp returns the app of an app's send queue or of one of its shards
// (see SendQueue, SendShard). App IDs hold no ':' (sinch.ValidateAppID),
// so the shard suffix is what follows one.
func QueueApp(queue string) (app string, ok bool) {
	for _, base := range []string{QueueCritical, QueueDefault} {
		if a, found := strings.CutPrefix(queue, base+AppQueueSep); found {
			a, _, _ = strings.Cut(a, ":")
			if a != "" {
				return a, true
			}
		}
	}
	return "", false
}

// IsSendQueue reports whether queue holds sends: a send queue of any app
// (SendQueue) or one of its shards (SendShard).
func IsSendQueue(queue string) bool {
	base, _, _ := strings.Cut(queue, ":")
	return isSendQueue(base)
}

// isSendQueue reports whether queue is an unsharded send queue: of the
// configured app (QueueCritical, QueueDefault) or of a named app.
func isSendQueue(queue string) bool {
	if queue == QueueCritical || queue == QueueDefault {
		return true
	}
	_, ok := QueueApp(queue)
	return ok && !strings.Contains(queue, ":")
}

// ClusterShards is how many queues of each priority carry sends on a
// Redis Cluster. Asynq keeps each queue under one hash tag, so one queue
// lives on one node: a campaign's sends spread over the nodes only when
// they spread over queues. Sixteen queues per priority land on every node
// of a cluster of a few masters (slots are hashed, not assigned), and cost
// an idle worker a few more dequeue round trips. It is a constant, not a
// setting, because every enqueuer and every worker must agree on it.
const ClusterShards = 16

// ShardsFor is the campaign.Definition.QueueShards of a new campaign on
// rdb: ClusterShards on a Redis Cluster, else 0, the one queue per
// priority (so a single Redis or Sentinel deployment keeps the queue names
// it always had).
func ShardsFor(rdb redis.UniversalClient) int {
	if _, ok := rdb.(*redis.ClusterClient); ok {
		return ClusterShards
	}
	return 0
}

// SendShard is the queue of one recipient's send or of one chunk (key is
// its campaign.RecipientKey or ChunkTaskID): SendQueue of the campaign's
// priority and app ("default", "default@APP"), or with def.QueueShards > 1
// one of that queue's shards "<queue>:<n>" ("default@APP:3"), chosen by a
// hash of campaign and key. The choice is stable, so a re-upload offers
// the same task ID to the same queue and asynq refuses it as a duplicate.
// Every enqueuer of sends calls it; it is the one place app and shard make
// a queue name.
func SendShard(def campaign.Definition, key string) string {
	q := SendQueue(def.Priority, def.App)
	if def.QueueShards <= 1 {
		return q
	}
	h := fnv.New32a()
	h.Write([]byte(def.ID))
	h.Write([]byte{0})
	h.Write([]byte(key))
	return shardName(q, int(h.Sum32()%uint32(def.QueueShards)))
}

// SendQueues are all the queues that may hold the campaign's sends.
func SendQueues(def campaign.Definition) []string {
	q := SendQueue(def.Priority, def.App)
	if def.QueueShards <= 1 {
		return []string{q}
	}
	out := make([]string, def.QueueShards)
	for i := range out {
		out[i] = shardName(q, i)
	}
	return out
}

func shardName(queue string, i int) string { return queue + ":" + strconv.Itoa(i) }

// ShardQueues is what a worker serves when campaigns have shards send
// queues per priority: each send queue of queues (QueueCritical,
// QueueDefault, or an app's, see AppQueues) becomes its shards as
// SendShard names them, each with the queue's weight, and every other
// queue's weight is multiplied by shards, so a priority's share of the
// worker is what the --queues weights say. shards <= 1 returns queues.
func ShardQueues(queues map[string]int, shards int) map[string]int {
	if shards <= 1 {
		return queues
	}
	out := make(map[string]int, len(queues)+2*shards)
	for q, w := range queues {
		if !isSendQueue(q) {
			out[q] = w * shards
			continue
		}
		for i := range shards {
			out[shardName(q, i)] = w
		}
	}
	return out
}

// TrackQueue is where tracking passes go among the served queues: QueueLow
// when served, else the served queue of lowest weight other than
// ScheduleQueue (passes are background work), else QueueDefault.
func TrackQueue(queues map[string]int) string {
	if _, ok := queues[QueueLow]; ok {
		return QueueLow
	}
	names := slices.SortedFunc(maps.Keys(queues), func(a, b string) int {
		return cmp.Or(cmp.Compare(queues[a], queues[b]), strings.Compare(a, b))
	})
	for _, q := range names {
		if q != ScheduleQueue {
			return q
		}
	}
	return QueueDefault
}

// FormatQueues writes queues and their weights as the worker's --queues
// flag reads them ("critical=6,default=3,low=1"), heaviest first.
func FormatQueues(queues map[string]int) string {
	names := slices.SortedFunc(maps.Keys(queues), func(a, b string) int {
		return cmp.Or(cmp.Compare(queues[b], queues[a]), strings.Compare(a, b))
	})
	parts := make([]string, len(names))
	for i, q := range names {
		parts[i] = q + "=" + strconv.Itoa(queues[q])
	}
	return strings.Join(parts, ",")
}
