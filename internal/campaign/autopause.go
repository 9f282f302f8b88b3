package campaign

import (
	"context"
	"errors"
	"fmt"
	"strconv"

	"github.com/redis/go-redis/v9"

	"github.com/sinch-dispatch/sinch-dispatch/internal/keyspace"
)

// Auto-pause defaults: a campaign is paused when more than half of its last
// 200 final send outcomes were failures.
const (
	DefaultAutoPauseWindow    = 200
	DefaultAutoPauseThreshold = 0.5
)

// AutoPause is a campaign's error breaker: once the last Window final send
// outcomes (accepted, or failed for good) are known, if more than Threshold
// of them are failures the campaign is paused, with the reason recorded.
// 429s, retries and pauses are not outcomes and never count. A campaign
// smaller than Window never trips it.
type AutoPause struct {
	// Window is how many of the latest final outcomes are looked at; 0
	// disables auto-pause. Defaults to DefaultAutoPauseWindow.
	Window int `json:"window"`
	// Threshold is the failure fraction (0 ≤ Threshold < 1) that must be
	// exceeded. Defaults to DefaultAutoPauseThreshold.
	Threshold float64 `json:"threshold"`
}

// DefaultAutoPause is used for campaigns that set none.
var DefaultAutoPause = AutoPause{Window: DefaultAutoPauseWindow, Threshold: DefaultAutoPauseThreshold}

// Validate checks the settings.
func (a AutoPause) Validate() error {
	switch {
	case a.Window < 0:
		return errors.New("auto-pause window must not be negative (0 disables auto-pause)")
	case a.Window > 100000:
		return errors.New("auto-pause window must be at most 100000")
	case !(a.Threshold >= 0 && a.Threshold < 1):
		return fmt.Errorf("auto-pause threshold must be at least 0 and below 1 (a fraction: 0.5 = 50%%), got %g", a.Threshold)
	}
	return nil
}

func (a AutoPause) String() string {
	if a.Window == 0 {
		return "off"
	}
	return fmt.Sprintf("pause when more than %g%% of the last %d sends fail", a.Threshold*100, a.Window)
}

// SetAutoPause changes a campaign's auto-pause settings. A new campaign
// gets its settings from Definition.AutoPause, written by Create.
func (s *Store) SetAutoPause(ctx context.Context, id string, a AutoPause) error {
	if err := a.Validate(); err != nil {
		return err
	}
	k := keysFor(id).Def
	pipe := s.rdb.Pipeline()
	pipe.HSet(ctx, k, a.fields()...)
	pipe.Expire(ctx, k, Retention)
	_, err := pipe.Exec(ctx)
	return err
}

// AutoPauseOf returns the campaign's auto-pause settings (the defaults when
// it set none).
func (s *Store) AutoPauseOf(ctx context.Context, id string) (AutoPause, error) {
	vals, err := s.rdb.HMGet(ctx, keysFor(id).Def, "autopause_window", "autopause_threshold").Result()
	if err != nil {
		return AutoPause{}, err
	}
	return autoPauseFrom(vals[0], vals[1]), nil
}

// fields are the settings as stored in the definition's hash.
func (a AutoPause) fields() []any {
	return []any{"autopause_window", a.Window, "autopause_threshold", strconv.FormatFloat(a.Threshold, 'g', -1, 64)}
}

func autoPauseFrom(window, threshold any) AutoPause {
	a := DefaultAutoPause
	if str, ok := window.(string); ok {
		if n, err := strconv.Atoi(str); err == nil {
			a.Window = n
		}
	}
	if str, ok := threshold.(string); ok {
		if f, err := strconv.ParseFloat(str, 64); err == nil {
			a.Threshold = f
		}
	}
	return a
}

// countFinalLua defines count_final(K, A), which pushes one final outcome
// ('1' failed, '0' sent) onto the campaign's window of recent outcomes and
// pauses the campaign when the window is full and its failure fraction
// exceeds the threshold. It returns {1 if it paused the campaign else 0,
// reason}. K: window list, counters, def. A: outcome, default window,
// default threshold, TTL seconds, control value for paused.
const countFinalLua = `
local function count_final(K, A)
  local conf = redis.call('HMGET', K[3], 'autopause_window', 'autopause_threshold')
  local win = tonumber(conf[1] or A[2])
  local thr = tonumber(conf[2] or A[3])
  if not win or win <= 0 then return {0, ''} end
  local f = tonumber(redis.call('HGET', K[2], 'ap_fail') or '0')
  if A[1] == '0' and f == 0 and redis.call('LLEN', K[1]) >= win then
    -- A full window of successes stays one: pushing a '0' and popping
    -- a '0' would change nothing (the steady state of a healthy campaign).
    return {0, ''}
  end
  local n = redis.call('LPUSH', K[1], A[1])
  -- The window lives as long as the campaign's other keys: its TTL is set
  -- when it is created (first outcome, or first after a resume).
  if n == 1 then redis.call('EXPIRE', K[1], A[4]) end
  if A[1] == '1' then f = redis.call('HINCRBY', K[2], 'ap_fail', 1) end
  while n > win do
    if redis.call('RPOP', K[1]) == '1' then f = redis.call('HINCRBY', K[2], 'ap_fail', -1) end
    n = n - 1
  end
  if n < win then return {0, ''} end
  if f <= thr * n then return {0, ''} end
  if redis.call('HGET', K[3], 'control') then return {0, ''} end
  local reason = string.format('auto-paused: %d of the last %d sends failed permanently (threshold %g%%); fix the cause, then campaign retry and campaign resume', f, n, thr * 100)
  redis.call('HSET', K[3], 'control', A[5], 'control_reason', reason)
  return {1, reason}
end
`

// countSuccessesLua defines count_successes(K, A, n): count_final of n
// successes (A[1] '0'), which a window full of successes already ignores
// (checked once for all of them).
const countSuccessesLua = `
local function count_successes(K, A, n)
  local win = tonumber(redis.call('HGET', K[3], 'autopause_window') or A[2])
  if not win or win <= 0 then return {0, ''} end
  if tonumber(redis.call('HGET', K[2], 'ap_fail') or '0') == 0 and redis.call('LLEN', K[1]) >= win then
    return {0, ''}
  end
  local p = {0, ''}
  for _ = 1, n do
    local r = count_final(K, A)
    if r[1] == 1 then p = r end
  end
  return p
end
`

var countFinalScript = redis.NewScript(countFinalLua + `return count_final(KEYS, ARGV)`)

// CountFinal feeds one final send outcome (failed, or accepted when failed
// is false) to the campaign's auto-pause window. It reports whether this
// outcome paused the campaign, and why. Call it once per recipient that
// reached a final status; never for 429s or retries.
func (s *Store) CountFinal(ctx context.Context, id string, failed bool) (paused bool, reason string, err error) {
	v := "0"
	if failed {
		v = "1"
	}
	keys, args := countFinalArgs(s.keys(id), v)
	res, err := countFinalScript.Run(ctx, s.rdb, keys, args...).Slice()
	if err != nil {
		return false, "", fmt.Errorf("auto-pause window: %w", err)
	}
	paused, reason = countFinalResult(res)
	return paused, reason, nil
}

// countFinalArgs are the KEYS and ARGV of count_final() in countFinalLua.
func countFinalArgs(k keyspace.Campaign, outcome string) ([]string, []any) {
	return []string{k.AutoPause, k.Counters, k.Def},
		[]any{outcome, DefaultAutoPauseWindow, DefaultAutoPauseThreshold, retentionSeconds, controlPaused}
}

// countFinalResult reads count_final()'s {paused, reason}.
func countFinalResult(res []any) (bool, string) {
	n, _ := res[0].(int64)
	reason, _ := res[1].(string)
	return n == 1, reason
}

// resetAutoPause queues on pipe what forgets the recent outcomes, so a
// resumed campaign is not paused again by failures from before the pause.
func resetAutoPause(ctx context.Context, pipe redis.Pipeliner, id string) {
	pipe.Del(ctx, keysFor(id).AutoPause)
	pipe.HDel(ctx, keysFor(id).Counters, "ap_fail")
}
