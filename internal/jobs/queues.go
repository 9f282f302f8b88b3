package jobs

import (
	"cmp"
	"maps"
	"slices"
	"strconv"
	"strings"

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
