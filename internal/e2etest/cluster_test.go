package e2etest

import (
	"context"
	"maps"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/hibiken/asynq"
	"github.com/redis/go-redis/v9"

	"github.com/sinch-dispatch/sinch-dispatch/internal/campaign"
	"github.com/sinch-dispatch/sinch-dispatch/internal/jobs"
	"github.com/sinch-dispatch/sinch-dispatch/internal/sinch/sinchsim"
	"github.com/sinch-dispatch/sinch-dispatch/internal/sinch/sinchsim/sinchsimtest"
)

// clusterAddrsEnv lists the seed nodes of a Redis Cluster for tests,
// "host:port,host:port,..." (.ci/run starts a 3-master cluster on loopback).
const clusterAddrsEnv = "REDIS_CLUSTER_TEST_ADDRS"

// newClusterStack is a stack on the Redis Cluster of REDIS_CLUSTER_TEST_ADDRS,
// emptied first: a cluster has one database, so the tests using it run one
// at a time. Without the variable the test is skipped, and fails under CI.
func newClusterStack(t *testing.T, cfg sinchsim.Config) *stack {
	t.Helper()
	addrs := os.Getenv(clusterAddrsEnv)
	if addrs == "" {
		if os.Getenv("CI") == "true" {
			t.Fatalf("%s is unset and CI=true: CI must test on a real Redis Cluster", clusterAddrsEnv)
		}
		t.Skipf("%s is unset: no Redis Cluster to test on", clusterAddrsEnv)
	}
	rdb := redis.NewClusterClient(&redis.ClusterOptions{Addrs: strings.Split(addrs, ",")})
	t.Cleanup(func() { rdb.Close() })
	flush := func() error {
		return rdb.ForEachMaster(context.Background(), func(ctx context.Context, c *redis.Client) error {
			return c.FlushDB(ctx).Err()
		})
	}
	if err := flush(); err != nil {
		t.Fatalf("flush the cluster at %s: %v", addrs, err)
	}
	t.Cleanup(func() { flush() })
	cfg.ProcessingMode = sinchsim.ModeDispatch
	if cfg.OutboundRate == 0 && len(cfg.Apps) == 0 {
		cfg.OutboundRate = stackOutboundRate // as newStack: --rate, not the app, sets the pace
	}
	sim, url := sinchsimtest.Serve(t, cfg)
	return &stack{t: t, rdb: rdb, sim: sim, url: url, env: simEnv(url, "redis-cluster://"+addrs),
		aopt: asynq.RedisClusterClientOpt{Addrs: strings.Split(addrs, ",")}}
}

// On a 3-master Redis Cluster a campaign goes through enqueue, the worker,
// the campaign command and the dashboard: every recipient is sent once,
// and the campaign's sends spread over more than one node.
func TestCampaignOnRedisCluster(t *testing.T) {
	s := newClusterStack(t, sinchsim.Config{})
	// 3000 recipients are 12 chunk tasks: enough that sharded queues put
	// them on more than one of 3 masters (all on one: about 1 in 10^5).
	const n = 3000
	sum := s.enqueue("--campaign", "cluster", "--csv", campaignCSV(t, n, nil, 0), "--text", "Hi {{.first_name}}!")
	if sum.Enqueued != n {
		t.Fatalf("enqueued %d, want %d: %+v", sum.Enqueued, n, sum)
	}
	rdb := s.rdb.(*redis.ClusterClient)
	ctx := context.Background()
	def, err := campaign.NewStore(rdb).Get(ctx, "cluster")
	if err != nil {
		t.Fatal(err)
	}
	if def.QueueShards != jobs.ClusterShards {
		t.Fatalf("campaign on a cluster has %d queue shards, want %d", def.QueueShards, jobs.ClusterShards)
	}
	// Pending sends per master, counted by the recipients of each chunk in
	// the campaign's feed, on the node of the queue it is bound for
	// (SendShard): asynq keeps one queue on one node, so only sharded
	// queues put a campaign's work on several.
	entries, err := jobs.CampaignFeed(ctx, rdb, def)
	if err != nil {
		t.Fatal(err)
	}
	held := map[string]int{}
	pending := 0
	for _, e := range entries {
		node, err := rdb.MasterForKey(ctx, "asynq:{"+e.Queue+"}:pending")
		if err != nil {
			t.Fatal(err)
		}
		k, _ := jobs.TaskRecipients(def.ID, e.TaskID)
		held[node.Options().Addr] += int(k)
		pending += int(k)
	}
	nodes := slices.Sorted(maps.Keys(held))
	if pending != n || len(nodes) < 2 {
		t.Fatalf("%d pending sends on masters %v; want all %d, on more than one node", pending, nodes, n)
	}

	c := s.runWorker("cluster", time.Minute, "--rate", "500")
	if c.Sent != n || c.Failed != 0 {
		t.Fatalf("got %+v, want %d sent", c, n)
	}
	if st := s.sim.Stats(); st.Accepted != n || st.Duplicates != 0 {
		t.Fatalf("simulator: accepted %d, duplicates %d; want %d, 0", st.Accepted, st.Duplicates, n)
	}
	if again := s.enqueue("--campaign", "cluster", "--csv", campaignCSV(t, n, nil, 0), "--text", "Hi {{.first_name}}!"); again.Enqueued != 0 || again.AlreadyEnqueued != n {
		t.Fatalf("re-run on the cluster: %+v, want all %d already enqueued", again, n)
	}
	if st := s.statusJSON("cluster"); st.Sent != n || st.Scheduled != 0 || st.Retrying != 0 {
		t.Fatalf("campaign status: %+v, want %d sent and no task waiting", st, n)
	}
	// A scheduled campaign's tasks wait in every shard's scheduled set:
	// status counts them there, and cancel deletes them there.
	later := s.enqueue("--campaign", "later", "--csv", campaignCSV(t, 50, nil, 0), "--text", "Hi", "--in", "1h", "--priority", "high")
	if st := s.statusJSON("later"); later.Enqueued != 50 || st.Scheduled != 50 {
		t.Fatalf("scheduled campaign: enqueued %d, status counts %d scheduled; want 50, 50", later.Enqueued, st.Scheduled)
	}
	s.mustOps("cancel", "later", "--reason", "test")
	if st := s.statusJSON("later"); st.Scheduled != 0 || st.Cancelled != 50 {
		t.Fatalf("cancelled campaign: %d scheduled, %d cancelled; want 0, 50", st.Scheduled, st.Cancelled)
	}
	base := s.startDashboard(map[string]string{"DASHBOARD_USER": dashUser, "DASHBOARD_PASSWORD": dashPassword}, "--refresh", "10m")
	var api campaign.Summary
	getJSON(t, base+"/api/campaigns/cluster", &api)
	if api.Sent != n {
		t.Fatalf("dashboard API: %d sent, want %d", api.Sent, n)
	}
}
