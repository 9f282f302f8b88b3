package config

import (
	"flag"
	"io"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/hibiken/asynq"
	"github.com/redis/go-redis/v9"
)

func load(t *testing.T, url string) (*Settings, error) {
	t.Helper()
	fs := flag.NewFlagSet("t", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	s := Register(fs)
	if err := fs.Parse(nil); err != nil {
		t.Fatal(err)
	}
	return s, s.Load(func(k string) string {
		if k == "REDIS_URL" {
			return url
		}
		return ""
	})
}

func TestClusterURL(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		url  string
		want asynq.RedisClusterClientOpt
	}{
		{"redis-cluster://127.0.0.1:7101", asynq.RedisClusterClientOpt{Addrs: []string{"127.0.0.1:7101"}}},
		{"redis-cluster://:s3cret@10.0.0.1:6379,10.0.0.2:6380,[::1]:6381/",
			asynq.RedisClusterClientOpt{Addrs: []string{"10.0.0.1:6379", "10.0.0.2:6380", "[::1]:6381"}, Password: "s3cret"}},
		{"redis-cluster://app:pw@a:1,b:2/0", asynq.RedisClusterClientOpt{Addrs: []string{"a:1", "b:2"}, Username: "app", Password: "pw"}},
	} {
		s, err := load(t, tc.url)
		if err != nil {
			t.Fatalf("%s: %v", tc.url, err)
		}
		opt, _ := s.RedisOpt()
		if !reflect.DeepEqual(opt, tc.want) || !IsCluster(opt) {
			t.Errorf("%s: got %+v, want %+v", tc.url, opt, tc.want)
		}
		c, err := s.RedisClient()
		if err != nil {
			t.Fatal(err)
		}
		if _, ok := c.(*redis.ClusterClient); !ok {
			t.Errorf("%s: RedisClient is a %T, want a *redis.ClusterClient", tc.url, c)
		}
		c.Close()
	}
}

func TestClusterURLErrors(t *testing.T) {
	t.Parallel()
	for url, want := range map[string]string{
		"redis-cluster://":                     "lists no host:port",
		"redis-cluster://:hunter2@a:1,b":       "node 2 is not host:port",
		"redis-cluster://:hunter2@a:1,:2":      "node 2 is not host:port",
		"redis-cluster://:hunter2@a:1/3":       "only database 0",
		"redis-cluster://:hunter2@a:1?x=y":     "no query parameters",
		"redis-cluster://:hunter2%zz@a:1,b:2/": "percent-encoding",
	} {
		_, err := load(t, url)
		if err == nil {
			t.Errorf("%s: accepted", url)
			continue
		}
		msg := err.Error()
		if !strings.Contains(msg, "REDIS_URL") || !strings.Contains(msg, want) || strings.Contains(msg, "hunter2") {
			t.Errorf("%s: got %q, want it to name REDIS_URL, say %q and hide the password", url, msg, want)
		}
	}
}

func TestSentinelURL(t *testing.T) {
	t.Parallel()
	s, err := load(t, "redis-sentinel://:pw@127.0.0.1:27201,127.0.0.1:27202?master=mymaster")
	if err != nil {
		t.Fatal(err)
	}
	opt, _ := s.RedisOpt()
	f, ok := opt.(asynq.RedisFailoverClientOpt)
	if !ok || f.MasterName != "mymaster" || len(f.SentinelAddrs) != 2 || IsCluster(opt) {
		t.Fatalf("got %#v, want a failover option on 2 sentinels for mymaster", opt)
	}
	if _, err := load(t, "redis-sentinel://127.0.0.1:27201"); err == nil || !strings.Contains(err.Error(), "REDIS_URL") {
		t.Errorf("sentinel URL without master: got %v, want an error naming REDIS_URL", err)
	}
}

func TestReplicaWait(t *testing.T) {
	t.Parallel()
	sentinel := asynq.RedisFailoverClientOpt{MasterName: "m", SentinelAddrs: []string{"a:1"}}
	plain := asynq.RedisClientOpt{Addr: "a:1"}
	cluster := asynq.RedisClusterClientOpt{Addrs: []string{"a:1"}}
	for _, tc := range []struct {
		v    string
		opt  asynq.RedisConnOpt
		want time.Duration
		err  string
	}{
		{"auto", sentinel, DefaultReplicaWait, ""},
		{"auto", plain, 0, ""},
		{"auto", cluster, 0, ""},
		{"off", sentinel, 0, ""},
		{"250ms", plain, 250 * time.Millisecond, ""},
		{"0", cluster, 0, ""},
		{"10ms", cluster, 0, "not supported on a Redis Cluster"},
		{"soon", sentinel, 0, "--replica-wait must be auto, off or a duration"},
		{"-1s", sentinel, 0, "--replica-wait must be"},
	} {
		got, err := ReplicaWait(tc.v, tc.opt)
		if (err == nil) != (tc.err == "") || (err != nil && !strings.Contains(err.Error(), tc.err)) || got != tc.want {
			t.Errorf("ReplicaWait(%q, %T): got %s, %v; want %s, %q", tc.v, tc.opt, got, err, tc.want, tc.err)
		}
	}
}
