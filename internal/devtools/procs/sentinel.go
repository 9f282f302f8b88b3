package procs

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/hibiken/asynq"
	"github.com/redis/go-redis/v9"
)

// SentinelMaster is the master name the sentinels of StartSentinel monitor.
const SentinelMaster = "sd-master"

// Sentinel is a private Sentinel deployment on loopback: a master and one
// replica (both with the AOF on, everysec) and three sentinels (quorum 2).
type Sentinel struct {
	Master, Replica *Redis
	// Client follows the master through failovers (go-redis FailoverClient).
	Client    redis.UniversalClient
	sentinels []*exec.Cmd
	addrs     []string
	dir       string
}

// StartSentinel starts the deployment in dir and waits until the replica is
// in sync and every sentinel knows it.
func StartSentinel(ctx context.Context, dir string) (*Sentinel, error) {
	s := &Sentinel{dir: dir}
	sub := func(name string) (string, error) {
		d := filepath.Join(dir, name)
		return d, os.MkdirAll(d, 0o755)
	}
	mdir, err := sub("master")
	if err != nil {
		return nil, err
	}
	if s.Master, err = StartRedis(ctx, mdir, RedisOptions{AppendOnly: true}); err != nil {
		return nil, err
	}
	rdir, err := sub("replica")
	if err != nil {
		s.Close()
		return nil, err
	}
	if s.Replica, err = StartRedis(ctx, rdir, RedisOptions{AppendOnly: true,
		Args: []string{"--replicaof", "127.0.0.1", strconv.Itoa(s.Master.Port())}}); err != nil {
		s.Close()
		return nil, err
	}
	if err := s.until(ctx, 20*time.Second, "the replica to sync", func() bool {
		return infoField(s.Replica.Client.Info(ctx, "replication").Val(), "master_link_status") == "up"
	}); err != nil {
		s.Close()
		return nil, err
	}
	for i := range 3 {
		if err := s.startSentinel(i); err != nil {
			s.Close()
			return nil, err
		}
	}
	s.Client = redis.NewFailoverClient(&redis.FailoverOptions{MasterName: SentinelMaster, SentinelAddrs: s.addrs, PoolSize: 64})
	for _, a := range s.addrs {
		sc := redis.NewSentinelClient(&redis.Options{Addr: a})
		err := s.until(ctx, 30*time.Second, "sentinel "+a+" to see the replica and the other sentinels", func() bool {
			reps, err1 := sc.Replicas(ctx, SentinelMaster).Result()
			sens, err2 := sc.Sentinels(ctx, SentinelMaster).Result()
			return err1 == nil && err2 == nil && len(reps) == 1 && len(sens) == 2
		})
		sc.Close()
		if err != nil {
			s.Close()
			return nil, err
		}
	}
	return s, nil
}

func (s *Sentinel) startSentinel(i int) error {
	port, err := FreePort()
	if err != nil {
		return err
	}
	d := filepath.Join(s.dir, "sentinel"+strconv.Itoa(i))
	if err := os.MkdirAll(d, 0o755); err != nil {
		return err
	}
	conf := filepath.Join(d, "sentinel.conf")
	body := fmt.Sprintf(`port %d
bind 127.0.0.1
dir %s
logfile %s
sentinel monitor %s 127.0.0.1 %d 2
sentinel down-after-milliseconds %s 1000
sentinel failover-timeout %s 10000
sentinel parallel-syncs %s 1
`, port, d, filepath.Join(d, "sentinel.log"), SentinelMaster, s.Master.Port(), SentinelMaster, SentinelMaster, SentinelMaster)
	if err := os.WriteFile(conf, []byte(body), 0o644); err != nil {
		return err
	}
	cmd := exec.Command("redis-server", conf, "--sentinel")
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("start redis-server --sentinel: %w", err)
	}
	go cmd.Wait()
	s.sentinels = append(s.sentinels, cmd)
	addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
	s.addrs = append(s.addrs, addr)
	return s.until(context.Background(), 10*time.Second, "sentinel "+addr+" to answer", func() bool {
		c := redis.NewSentinelClient(&redis.Options{Addr: addr})
		defer c.Close()
		return c.Ping(context.Background()).Err() == nil
	})
}

func (s *Sentinel) until(ctx context.Context, timeout time.Duration, what string, ok func() bool) error {
	deadline := time.Now().Add(timeout)
	for !ok() {
		if time.Now().After(deadline) || ctx.Err() != nil {
			return fmt.Errorf("sentinel setup: waited %s for %s", timeout, what)
		}
		time.Sleep(50 * time.Millisecond)
	}
	return nil
}

// URL is the redis-sentinel:// URL binaries take in REDIS_URL.
func (s *Sentinel) URL() string {
	return "redis-sentinel://" + strings.Join(s.addrs, ",") + "?master=" + SentinelMaster
}

// AsynqOpt connects asynq through the sentinels.
func (s *Sentinel) AsynqOpt() asynq.RedisFailoverClientOpt {
	return asynq.RedisFailoverClientOpt{MasterName: SentinelMaster, SentinelAddrs: s.addrs, PoolSize: 64}
}

// Failover has the first sentinel fail the master over (SENTINEL
// FAILOVER) and waits until the sentinels name the replica as master.
func (s *Sentinel) Failover(ctx context.Context) error {
	sc := redis.NewSentinelClient(&redis.Options{Addr: s.addrs[0]})
	defer sc.Close()
	if err := sc.Failover(ctx, SentinelMaster).Err(); err != nil {
		return fmt.Errorf("SENTINEL FAILOVER: %w", err)
	}
	return s.until(ctx, 30*time.Second, "the replica to be promoted", func() bool {
		a, err := sc.GetMasterAddrByName(ctx, SentinelMaster).Result()
		return err == nil && len(a) == 2 && a[1] == strconv.Itoa(s.Replica.Port())
	})
}

// Close stops the sentinels and both servers.
func (s *Sentinel) Close() {
	for _, c := range s.sentinels {
		c.Process.Kill()
	}
	if s.Client != nil {
		s.Client.Close()
	}
	for _, r := range []*Redis{s.Master, s.Replica} {
		if r != nil && r.cmd != nil {
			select {
			case <-r.done:
				r.Client.Close()
			default:
				r.Close()
			}
		}
	}
}
