package jobs

import (
	"fmt"
	"maps"
	"slices"
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

func TestSendShard(t *testing.T) {
	one := campaign.Definition{ID: "c1", Priority: campaign.PriorityHigh}
	if got := SendShard(one, "sms:+33612345678"); got != QueueCritical {
		t.Errorf("unsharded: got %q, want %q", got, QueueCritical)
	}
	if got := SendQueues(one); !slices.Equal(got, []string{QueueCritical}) {
		t.Errorf("unsharded SendQueues: got %v", got)
	}
	def := campaign.Definition{ID: "c1", Priority: campaign.PriorityNormal, QueueShards: 4}
	all := SendQueues(def)
	if want := []string{"default:0", "default:1", "default:2", "default:3"}; !slices.Equal(all, want) {
		t.Fatalf("SendQueues: got %v, want %v", all, want)
	}
	served := ShardQueues(DefaultQueues, 4)
	seen := map[string]int{}
	for i := range 400 {
		key := fmt.Sprintf("sms:+336123%05d", i)
		q := SendShard(def, key)
		if again := SendShard(def, key); again != q {
			t.Fatalf("%s: shard %q then %q; the choice must be stable", key, q, again)
		}
		if !slices.Contains(all, q) {
			t.Fatalf("%s: shard %q is not among %v", key, q, all)
		}
		if _, ok := served[q]; !ok {
			t.Fatalf("%s: shard %q is not served by ShardQueues", key, q)
		}
		seen[q]++
	}
	for _, q := range all {
		if seen[q] < 50 {
			t.Errorf("shard %s got %d of 400 recipients; want them spread (%v)", q, seen[q], seen)
		}
	}
}

func TestShardQueues(t *testing.T) {
	if got := ShardQueues(DefaultQueues, 1); !maps.Equal(got, DefaultQueues) {
		t.Errorf("1 shard: got %v, want the queues as given", got)
	}
	got := ShardQueues(map[string]int{QueueCritical: 6, QueueDefault: 3, QueueLow: 1, ScheduleQueue: 6}, 2)
	want := map[string]int{"critical:0": 6, "critical:1": 6, "default:0": 3, "default:1": 3, QueueLow: 2, ScheduleQueue: 12}
	if !maps.Equal(got, want) {
		t.Errorf("2 shards: got %v, want %v (a priority's share unchanged)", got, want)
	}
	if TrackQueue(got) != QueueLow {
		t.Errorf("TrackQueue of sharded queues: got %q, want %q", TrackQueue(got), QueueLow)
	}
}

// A named app's sends on a cluster: the app's queue, then the shard; the
// worker's app server serves exactly those shards, and QueueApp reads the
// app back from any of them.
func TestSendShardOfAnApp(t *testing.T) {
	t.Parallel()
	def := campaign.Definition{ID: "c1", Priority: campaign.PriorityHigh, App: "app-1", QueueShards: 3}
	all := SendQueues(def)
	if want := []string{"critical@app-1:0", "critical@app-1:1", "critical@app-1:2"}; !slices.Equal(all, want) {
		t.Fatalf("SendQueues: got %v, want %v", all, want)
	}
	served := ShardQueues(AppQueues("app-1"), 3)
	if len(served) != 6 || served["default@app-1:2"] != DefaultQueues[QueueDefault] || served["critical@app-1:0"] != DefaultQueues[QueueCritical] {
		t.Errorf("an app's served shards: got %v", served)
	}
	for i := range 30 {
		q := SendShard(def, fmt.Sprintf("sms:+336123%05d", i))
		if !slices.Contains(all, q) {
			t.Fatalf("shard %q is not among %v", q, all)
		}
		if _, ok := served[q]; !ok {
			t.Fatalf("shard %q is not served by the app's server", q)
		}
		if app, ok := QueueApp(q); !ok || app != "app-1" {
			t.Fatalf("QueueApp(%q): %q %v", q, app, ok)
		}
	}
	for q, want := range map[string]bool{"default:2": true, "critical@app-1:0": true, "default@app-1": true, "critical": true, QueueLow: false, ScheduleQueue: false, "low:1": false} {
		if IsSendQueue(q) != want {
			t.Errorf("IsSendQueue(%q): got %v, want %v", q, !want, want)
		}
	}
	if _, ok := QueueApp("default:2"); ok {
		t.Error(`QueueApp("default:2"): a shard of the configured app's queue has no app`)
	}
	unsharded := campaign.Definition{ID: "c1", Priority: campaign.PriorityNormal, App: "app-1"}
	if got := SendShard(unsharded, "sms:+33612345678"); got != "default@app-1" {
		t.Errorf("unsharded: got %q", got)
	}
}
