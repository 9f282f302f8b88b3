package campaign

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"
)

// Claim is the answer to "may this worker send to this recipient now?".
type Claim string

const (
	ClaimOK        Claim = "ok"        // locked for this worker: send
	ClaimSent      Claim = "sent"      // already accepted by Sinch: never send again
	ClaimCancelled Claim = "cancelled" // recipient or campaign cancelled: do not send
	ClaimPaused    Claim = "paused"    // campaign paused: try again later, not a failure
	ClaimBusy      Claim = "busy"      // another execution holds the recipient: try later
)

// claimScript checks status and campaign control and takes a short lock, in
// one round trip on the hot path. KEYS: status, def, lock, counters, attempts.
// ARGV: key, lock token, lock TTL in ms, retention TTL in seconds (the
// attempts hash is written only here).
var claimScript = redis.NewScript(`
local st = redis.call('HGET', KEYS[1], ARGV[1])
if st == 'sent' then return {'sent', 0} end
if st == 'cancelled' then return {'cancelled', 0} end
local ctl = redis.call('HGET', KEYS[2], 'control')
if ctl == 'cancelled' then return {'cancelled', 0} end
if ctl == 'paused' then return {'paused', 0} end
if not redis.call('SET', KEYS[3], ARGV[2], 'NX', 'PX', ARGV[3]) then return {'busy', 0} end
redis.call('HINCRBY', KEYS[4], 'attempts', 1)
local n = redis.call('HINCRBY', KEYS[5], ARGV[1], 1)
redis.call('EXPIRE', KEYS[5], ARGV[4])
return {'ok', n}
`)

// releaseLua defines release(lock, token), which drops the lock if token
// still holds it.
const releaseLua = `
local function release(lock, token)
  if redis.call('GET', lock) == token then return redis.call('DEL', lock) end
  return 0
end
`

var releaseScript = redis.NewScript(releaseLua + `return release(KEYS[1], ARGV[1])`)

// sentScript is what a send accepted by Sinch costs Redis, in one round trip
// instead of three: mark the recipient sent (transition), feed the outcome to
// the auto-pause window when the transition applied (count_final), and drop
// the claim lock (release).
// KEYS: transition's five, lock, auto-pause window, def.
// ARGV: transition's seven, lock token, count_final's A[2..5].
var sentScript = redis.NewScript(transitionLua + countFinalLua + releaseLua + `
local t = transition({KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5]}, {ARGV[1], ARGV[2], ARGV[3], ARGV[4], ARGV[5], ARGV[6], ARGV[7]})
release(KEYS[6], ARGV[8])
local p = {0, ''}
if t[1] == 1 then
  p = count_final({KEYS[7], KEYS[3], KEYS[8]}, {'0', ARGV[9], ARGV[10], ARGV[11], ARGV[12]})
end
return {t[1], t[2], p[1], p[2]}
`)

// ClaimSend decides whether a worker may send to recipient rk, and if so
// locks it for ttl and returns this attempt's number (1 for the first).
func (s *Store) ClaimSend(ctx context.Context, id, rk, token string, ttl time.Duration) (Claim, int, error) {
	k := s.keys(id)
	res, err := claimScript.Run(ctx, s.rdb,
		[]string{k.Status, k.Def, k.Lock(rk), k.Counters, k.Attempts},
		rk, token, ttl.Milliseconds(), retentionSeconds).Slice()
	if err != nil {
		return "", 0, fmt.Errorf("claim recipient %s: %w", rk, err)
	}
	c, _ := res[0].(string)
	n, _ := res[1].(int64)
	return Claim(c), int(n), nil
}

// Release drops the lock taken by ClaimSend, if this token still holds it.
func (s *Store) Release(ctx context.Context, id, rk, token string) error {
	return releaseScript.Run(ctx, s.rdb, []string{keysFor(id).Lock(rk)}, token).Err()
}

// Sent is what FinishSent did.
type Sent struct {
	// Fresh is false when the recipient was already sent: the caller must
	// not count or report it twice.
	Fresh bool
	// Paused is true when this outcome tripped the campaign's auto-pause
	// (see CountFinal), with Reason saying why.
	Paused bool
	Reason string
}

// FinishSent records acceptance by Sinch after a ClaimSend with token: it
// is MarkSent, CountFinal of a success (when the recipient was not sent
// already) and Release, in one round trip.
func (s *Store) FinishSent(ctx context.Context, id, rk, token string, rec Record) (Sent, error) {
	keys, args, err := s.transitionArgs(id, rk, StatusSent, &rec, sentFrom...)
	if err != nil {
		return Sent{}, err
	}
	k := s.keys(id)
	apKeys, apArgs := countFinalArgs(k, "0")
	keys = append(keys, k.Lock(rk), apKeys[0], apKeys[2])
	args = append(append(args, token), apArgs[1:]...)
	res, err := sentScript.Run(ctx, s.rdb, keys, args...).Slice()
	if err != nil {
		return Sent{}, fmt.Errorf("recipient %s -> %s: %w", rk, StatusSent, err)
	}
	var out Sent
	out.Fresh, _ = transitionResult(res[:2])
	out.Paused, out.Reason = countFinalResult(res[2:])
	return out, nil
}

// Control values pause or cancel a whole campaign.
const (
	controlPaused    = "paused"
	controlCancelled = "cancelled"
)

// Pause stops workers from sending this campaign's messages; their tasks are
// deferred, not failed. reason is shown in status.
func (s *Store) Pause(ctx context.Context, id, reason string) error {
	return s.setControl(ctx, id, controlPaused, reason)
}

// Resume lets workers send again.
func (s *Store) Resume(ctx context.Context, id string) error {
	if _, err := s.Get(ctx, id); err != nil {
		return err
	}
	k := keysFor(id)
	// A cancelled campaign stays cancelled.
	cur, err := s.rdb.HGet(ctx, k.Def, "control").Result()
	if err != nil && err != redis.Nil {
		return err
	}
	if cur == controlCancelled {
		return fmt.Errorf("campaign %s is cancelled and cannot be resumed", id)
	}
	// Failures from before the pause must not pause it again at once.
	if err := s.resetAutoPause(ctx, id); err != nil {
		return err
	}
	return s.rdb.HDel(ctx, k.Def, "control", "control_reason").Err()
}

// Cancel stops the rest of the campaign: pending recipients become cancelled
// as workers reach them.
func (s *Store) Cancel(ctx context.Context, id, reason string) error {
	return s.setControl(ctx, id, controlCancelled, reason)
}

func (s *Store) setControl(ctx context.Context, id, control, reason string) error {
	if _, err := s.Get(ctx, id); err != nil {
		return err
	}
	return s.rdb.HSet(ctx, keysFor(id).Def, "control", control, "control_reason", reason).Err()
}

// Control returns whether the campaign is paused or cancelled, and why.
func (s *Store) Control(ctx context.Context, id string) (paused, cancelled bool, reason string, err error) {
	vals, err := s.rdb.HMGet(ctx, keysFor(id).Def, "control", "control_reason").Result()
	if err != nil {
		return false, false, "", err
	}
	c, _ := vals[0].(string)
	reason, _ = vals[1].(string)
	return c == controlPaused, c == controlCancelled, reason, nil
}

// Attempts returns how many send attempts a recipient has had.
func (s *Store) Attempts(ctx context.Context, id, rk string) (int, error) {
	v, err := s.rdb.HGet(ctx, keysFor(id).Attempts, rk).Result()
	if err == redis.Nil {
		return 0, nil
	}
	if err != nil {
		return 0, err
	}
	return strconv.Atoi(strings.TrimSpace(v))
}
