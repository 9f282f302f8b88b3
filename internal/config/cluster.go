package config

import (
	"errors"
	"fmt"
	"net"
	"net/url"
	"strings"
	"time"

	"github.com/hibiken/asynq"
)

// ClusterScheme is the REDIS_URL scheme of a Redis Cluster:
// redis-cluster://[[user]:password@]host1:port1,host2:port2,... (asynq's
// own parser has no scheme for it). The hosts are seed nodes: the client
// learns the rest of the cluster from them.
const ClusterScheme = "redis-cluster"

// parseClusterURL parses a redis-cluster:// URL. Its errors name
// REDIS_URL and never quote the URL, which may hold a password.
func parseClusterURL(raw string) (asynq.RedisClusterClientOpt, error) {
	bad := func(reason string) (asynq.RedisClusterClientOpt, error) {
		return asynq.RedisClusterClientOpt{}, fmt.Errorf("REDIS_URL (--redis-url) is not a valid %s:// URL: %s", ClusterScheme, reason)
	}
	// Parsed by hand: net/url reads one host, and this authority lists many.
	rest := strings.TrimPrefix(raw, ClusterScheme+"://")
	rest, query, _ := strings.Cut(rest, "?")
	hosts, path, _ := strings.Cut(rest, "/")
	var opt asynq.RedisClusterClientOpt
	if at := strings.LastIndex(hosts, "@"); at >= 0 {
		user, pass, _ := strings.Cut(hosts[:at], ":")
		var uerr, perr error
		opt.Username, uerr = url.PathUnescape(user)
		opt.Password, perr = url.PathUnescape(pass)
		if uerr != nil || perr != nil {
			return bad("the user or password is not valid percent-encoding")
		}
		hosts = hosts[at+1:]
	}
	if path != "" && path != "0" {
		return bad("a cluster has only database 0, so the URL takes no /<db> path")
	}
	if query != "" {
		return bad("no query parameters are supported")
	}
	if hosts == "" {
		return bad("it lists no host:port")
	}
	for _, addr := range strings.Split(hosts, ",") {
		host, port, err := net.SplitHostPort(addr)
		if err != nil || host == "" || port == "" {
			return bad(fmt.Sprintf("node %d is not host:port", len(opt.Addrs)+1))
		}
		opt.Addrs = append(opt.Addrs, addr)
	}
	return opt, nil
}

// IsCluster reports whether opt connects to a Redis Cluster.
func IsCluster(opt asynq.RedisConnOpt) bool {
	_, ok := opt.(asynq.RedisClusterClientOpt)
	return ok
}

// DefaultReplicaWait is how long a worker under Sentinel waits, per claim,
// for a replica to hold it (campaign.Store.SetReplicaWait): replication on
// a LAN takes well under a millisecond, and a replica that is down costs
// each claim this long, so it stays short.
const DefaultReplicaWait = 100 * time.Millisecond

// ReplicaWait reads the worker's --replica-wait for the Redis of opt:
// "auto" is DefaultReplicaWait under Sentinel (redis-sentinel://) and off
// otherwise, "off" or 0 is off, a duration is that. A Redis Cluster takes
// none: WAIT has no key to route it to the claim's node.
func ReplicaWait(v string, opt asynq.RedisConnOpt) (time.Duration, error) {
	_, sentinel := opt.(asynq.RedisFailoverClientOpt)
	switch v = strings.TrimSpace(v); v {
	case "auto", "":
		if sentinel {
			return DefaultReplicaWait, nil
		}
		return 0, nil
	case "off":
		return 0, nil
	}
	d, err := time.ParseDuration(v)
	if err != nil || d < 0 {
		return 0, fmt.Errorf("--replica-wait must be auto, off or a duration such as 100ms, got %q", v)
	}
	if d > 0 && IsCluster(opt) {
		return 0, errors.New("--replica-wait: not supported on a Redis Cluster (REDIS_URL redis-cluster://); use auto or off")
	}
	return d, nil
}
