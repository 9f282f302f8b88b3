package campaign

import (
	"context"
	"fmt"

	"github.com/redis/go-redis/v9"
)

// cancelPendingScript moves the given recipients (keys of records) from
// pending to cancelled, each only if it is still pending (no status, or an
// explicit "pending"), keeping the status counters exact (the same
// bookkeeping as transitionScript). KEYS: status, counters. ARGV: the
// retention TTL in seconds (the status hash may be written first here),
// then recipient keys. Returns how many moved.
var cancelPendingScript = redis.NewScript(`
local n = 0
for i = 2, #ARGV do
  local st = redis.call('HGET', KEYS[1], ARGV[i])
  if not st or st == 'pending' then
    redis.call('HSET', KEYS[1], ARGV[i], 'cancelled')
    n = n + 1
  end
end
if n > 0 then
  redis.call('HINCRBY', KEYS[2], 'st:pending', -n)
  redis.call('HINCRBY', KEYS[2], 'st:cancelled', n)
  redis.call('EXPIRE', KEYS[1], ARGV[1])
end
return n
`)

// CancelPending marks every recipient still pending as cancelled, at once,
// so that sent + failed + cancelled = total as soon as Cancel returns. Call
// it after Cancel: a task a worker picks up afterwards sees the cancelled
// status and sends nothing; a send already in flight that Sinch accepts
// still moves its recipient from cancelled to sent, so the counts stay
// exact. It returns how many recipients it cancelled.
func (s *Store) CancelPending(ctx context.Context, id string) (int64, error) {
	k := keysFor(id)
	var total int64
	var cursor uint64
	for {
		// The records list every recipient; the script tells the pending.
		kv, next, err := s.rdb.HScan(ctx, k.Records, cursor, "", 1000).Result()
		if err != nil {
			return total, fmt.Errorf("cancel pending: %w", err)
		}
		rks := []any{retentionSeconds}
		for i := 0; i+1 < len(kv); i += 2 {
			rks = append(rks, kv[i])
		}
		if len(rks) > 1 {
			n, err := cancelPendingScript.Run(ctx, s.rdb, []string{k.Status, k.Counters}, rks...).Int64()
			if err != nil {
				return total, fmt.Errorf("cancel pending: %w", err)
			}
			total += n
		}
		if cursor = next; cursor == 0 {
			return total, nil
		}
	}
}
