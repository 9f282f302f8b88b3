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

// SendQueue is the queue of a campaign's sends.
func SendQueue(p campaign.Priority) string {
	if p == campaign.PriorityHigh {
		return QueueCritical
	}
	return QueueDefault
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

// SendShard is the queue of one recipient's send (key is its
// campaign.RecipientKey): SendQueue of the campaign's priority, or with
// def.QueueShards > 1 one of its shards "<queue>:<n>", chosen by a hash of
// campaign and recipient. The choice is stable, so a re-upload offers the
// same task ID to the same queue and asynq refuses it as a duplicate.
// Every enqueuer of sends calls it.
func SendShard(def campaign.Definition, key string) string {
	q := SendQueue(def.Priority)
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
	q := SendQueue(def.Priority)
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
// queues per priority: each send queue (QueueCritical, QueueDefault) of
// queues becomes its shards, each with the queue's weight, and every other
// queue's weight is multiplied by shards, so a priority's share of the
// worker is what the --queues weights say. shards <= 1 returns queues.
func ShardQueues(queues map[string]int, shards int) map[string]int {
	if shards <= 1 {
		return queues
	}
	out := make(map[string]int, len(queues)+2*shards)
	for q, w := range queues {
		if q != QueueCritical && q != QueueDefault {
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
