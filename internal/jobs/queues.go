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

// QueueApp returns the app of an app's send queue (see SendQueue).
func QueueApp(queue string) (app string, ok bool) {
	for _, base := range []string{QueueCritical, QueueDefault} {
		if a, found := strings.CutPrefix(queue, base+AppQueueSep); found && a != "" {
			return a, true
		}
	}
	return "", false
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
