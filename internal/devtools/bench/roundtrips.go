package bench

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"sync"

	"github.com/redis/go-redis/v9"

	"github.com/sinch-dispatch/sinch-dispatch/internal/devtools/procs"
)

// roundTrips is a go-redis hook counting the round trips a client makes, by
// command (a pipeline counts once, as "pipeline"). It shows what the send
// path costs Redis in calls, apart from what Asynq does on its own client.
type roundTrips struct {
	mu sync.Mutex
	n  map[string]int64
}

func newRoundTrips() *roundTrips { return &roundTrips{n: map[string]int64{}} }

func (r *roundTrips) add(name string) {
	r.mu.Lock()
	r.n[name]++
	r.mu.Unlock()
}

func (r *roundTrips) DialHook(next redis.DialHook) redis.DialHook { return next }

func (r *roundTrips) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		r.add(strings.ToUpper(cmd.Name()))
		return next(ctx, cmd)
	}
}

func (r *roundTrips) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error {
		r.add("pipeline")
		return next(ctx, cmds)
	}
}

// perItem renders the round trips per item, most frequent first, e.g.
// "2.00 round trips per send (EVALSHA 2.00)".
func (r *roundTrips) perItem(n int, item string) string {
	r.mu.Lock()
	defer r.mu.Unlock()
	var total int64
	names := make([]string, 0, len(r.n))
	for k, v := range r.n {
		total += v
		names = append(names, k)
	}
	sort.Slice(names, func(i, j int) bool { return r.n[names[i]] > r.n[names[j]] })
	parts := make([]string, len(names))
	for i, k := range names {
		parts[i] = fmt.Sprintf("%s %.2f", k, float64(r.n[k])/float64(max(n, 1)))
	}
	return fmt.Sprintf("%.2f round trips per %s (%s)", float64(total)/float64(max(n, 1)), item, strings.Join(parts, ", "))
}

// countedClient is a new client of the bench's Redis whose round trips are
// counted by rt.
func countedClient(s *procs.Redis, rt *roundTrips) *redis.Client {
	c := redis.NewClient(&redis.Options{Addr: s.Addr, PoolSize: 64})
	c.AddHook(rt)
	return c
}
