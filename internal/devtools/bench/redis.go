package bench

import (
	"context"
	"strconv"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/sinch-dispatch/sinch-dispatch/internal/devtools/procs"
)

// The benchmarks run on a private redis-server (procs.StartRedis), so that
// FLUSHALL and INFO memory see only what a measurement did, and other users
// of the machine's Redis are not disturbed.

// fresh empties the server before a measurement.
func fresh(ctx context.Context, s *procs.Redis) error {
	return s.Client.FlushAll(ctx).Err()
}

// usedMemory is INFO memory's used_memory in bytes.
// It first waits (up to a minute) for Redis to finish freeing what was
// unlinked (an upload's seen set), so that memory is not counted.
func usedMemory(ctx context.Context, s *procs.Redis) (int64, error) {
	for deadline := time.Now().Add(time.Minute); time.Now().Before(deadline); {
		if v, err := s.Info(ctx, "memory", "lazyfree_pending_objects"); err != nil || v == "0" {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	v, err := s.Info(ctx, "memory", "used_memory")
	if err != nil {
		return 0, err
	}
	return strconv.ParseInt(v, 10, 64)
}

// commands is INFO stats' total_commands_processed, or -1 when unreadable.
func commands(s *procs.Redis) int64 {
	v, err := s.Info(context.Background(), "stats", "total_commands_processed")
	if err != nil {
		return -1
	}
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil {
		return -1
	}
	return n
}

// meanPing is the mean PING round trip to addr over n calls on one connection.
func meanPing(ctx context.Context, addr string, n int) (time.Duration, error) {
	c := redis.NewClient(&redis.Options{Addr: addr, PoolSize: 1})
	defer c.Close()
	if err := c.Ping(ctx).Err(); err != nil { // connect outside the timing
		return 0, err
	}
	start := time.Now()
	for range n {
		if err := c.Ping(ctx).Err(); err != nil {
			return 0, err
		}
	}
	return time.Since(start) / time.Duration(n), nil
}
