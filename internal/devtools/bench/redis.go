package bench

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"strconv"
	"strings"
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

// cmdStat is one command's line of INFO commandstats. Commands run inside
// scripts are counted under their own names as well as under the script's
// EVALSHA, whose usec includes theirs.
type cmdStat struct{ calls, usec int64 }

// commandStats reads INFO commandstats; nil when unreadable.
func commandStats(s *procs.Redis) map[string]cmdStat {
	info, err := s.Client.Info(context.Background(), "commandstats").Result()
	if err != nil {
		return nil
	}
	out := map[string]cmdStat{}
	for line := range strings.SplitSeq(info, "\n") {
		name, rest, ok := strings.Cut(strings.TrimSpace(line), ":")
		name, isCmd := strings.CutPrefix(name, "cmdstat_")
		if !ok || !isCmd {
			continue
		}
		var st cmdStat
		for kv := range strings.SplitSeq(rest, ",") {
			k, v, _ := strings.Cut(kv, "=")
			n, _ := strconv.ParseInt(v, 10, 64)
			switch k {
			case "calls":
				st.calls = n
			case "usec":
				st.usec = n
			}
		}
		out[name] = st
	}
	return out
}

// statsSince is what each command did between two readings.
func statsSince(a, b map[string]cmdStat) map[string]cmdStat {
	if a == nil || b == nil {
		return nil
	}
	d := map[string]cmdStat{}
	for name, sb := range b {
		sa := a[name]
		if calls := sb.calls - sa.calls; calls > 0 {
			d[name] = cmdStat{calls: calls, usec: sb.usec - sa.usec}
		}
	}
	if info, ok := d["info"]; ok { // less the INFO of the second reading
		info.calls--
		d["info"] = info
	}
	return d
}

// perSend renders commands per send, the total first, then each command
// of at least 0.005 per send by calls, with its time ("EVALSHA 4.00 (21.0 µs)").
func perSend(d map[string]cmdStat, n int) string {
	if d == nil {
		return "Redis commands per send: unknown"
	}
	var total int64
	names := make([]string, 0, len(d))
	for name, st := range d {
		if name != "evalsha" && name != "eval" { // their commands are counted by name
			total += st.calls
		}
		names = append(names, name)
	}
	slices.SortFunc(names, func(x, y string) int {
		return cmp.Or(cmp.Compare(d[y].calls, d[x].calls), strings.Compare(x, y))
	})
	per := func(v int64) float64 { return float64(v) / float64(max(n, 1)) }
	parts := make([]string, 0, len(names))
	for _, name := range names {
		if per(d[name].calls) < 0.005 {
			break
		}
		parts = append(parts, fmt.Sprintf("%s %.2f (%.1f µs)", strings.ToUpper(name), per(d[name].calls), per(d[name].usec)))
	}
	return fmt.Sprintf("Redis commands per send %.2f, scripts' inner commands included: %s", per(total), strings.Join(parts, ", "))
}
