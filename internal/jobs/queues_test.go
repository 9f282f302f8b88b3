package jobs

import (
	"testing"

	"github.com/sinch-dispatch/sinch-dispatch/internal/campaign"
)

func TestSendQueue(t *testing.T) {
	for _, tc := range []struct {
		p    campaign.Priority
		want string
	}{
		{campaign.PriorityHigh, QueueCritical},
		{campaign.PriorityNormal, QueueDefault},
		{"", QueueDefault},
	} {
		if got := SendQueue(tc.p, ""); got != tc.want {
			t.Errorf("SendQueue(%q): got %q, want %q", tc.p, got, tc.want)
		}
		if _, ok := DefaultQueues[SendQueue(tc.p, "")]; !ok {
			t.Errorf("SendQueue(%q) = %q is not served by default", tc.p, SendQueue(tc.p, ""))
		}
		q := SendQueue(tc.p, "app-1")
		if app, ok := QueueApp(q); !ok || app != "app-1" || q != tc.want+"@app-1" {
			t.Errorf("SendQueue(%q, app-1) = %q, QueueApp: %q %v", tc.p, q, app, ok)
		}
		if _, ok := AppQueues("app-1")[q]; !ok {
			t.Errorf("AppQueues(app-1) does not hold %q", q)
		}
	}
	for _, q := range []string{QueueDefault, QueueCritical, QueueLow, ScheduleQueue, "default@", "other@x"} {
		if app, ok := QueueApp(q); ok {
			t.Errorf("QueueApp(%q) = %q, want none", q, app)
		}
	}
}

func TestTrackQueue(t *testing.T) {
	for _, tc := range []struct {
		name   string
		queues map[string]int
		want   string
	}{
		{"defaults", DefaultQueues, QueueLow},
		{"low served at any weight", map[string]int{QueueCritical: 1, QueueLow: 9}, QueueLow},
		{"lightest other queue", map[string]int{QueueCritical: 6, QueueDefault: 3, "bulk": 2}, "bulk"},
		{"equal weights: by name", map[string]int{"b": 1, "a": 1}, "a"},
		{"never the schedule queue", map[string]int{ScheduleQueue: 1, QueueCritical: 6}, QueueCritical},
		{"only the schedule queue", map[string]int{ScheduleQueue: 1}, QueueDefault},
		{"none", nil, QueueDefault},
	} {
		if got := TrackQueue(tc.queues); got != tc.want {
			t.Errorf("%s: got %q, want %q", tc.name, got, tc.want)
		}
	}
}

func TestFormatQueues(t *testing.T) {
	for _, tc := range []struct {
		queues map[string]int
		want   string
	}{
		{DefaultQueues, "critical=6,default=3,low=1"},
		{map[string]int{"b": 2, "a": 2, "c": 5}, "c=5,a=2,b=2"},
		{nil, ""},
	} {
		if got := FormatQueues(tc.queues); got != tc.want {
			t.Errorf("FormatQueues(%v): got %q, want %q", tc.queues, got, tc.want)
		}
	}
}
