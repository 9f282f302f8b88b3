package ratelimit

import "github.com/redis/go-redis/v9"

// The shared state is one hash at Config.Key (one key, so it also works on a
// cluster), times in microseconds of the Redis clock (TIME), the one clock all
// processes agree on:
//
//	tat   theoretical arrival time: the first slot not yet handed out
//	rate  effective rate in tokens/s (absent: Config.Rate)
//	adj   when the recovery clock last started or stepped
//	dec   when the rate was last decreased
//	ceil  the rate of the last cut made before the rate was back at
//	      Config.Rate: Sinch's real limit is near it (0: none)
//	ws    start of the measurement window (at most 2 s long)
//	g     slots granted from ws on
//	x     429s since ws
//
// TIME inside a script is fine with effects replication (the default since
// Redis 5; replicate_commands turns it on for 3.2 and 4) and on miniredis,
// where the tests run it too. Numbers leave Lua as formatted strings: a Lua
// number returned to Redis is truncated to an integer, and tostring keeps
// only 14 digits.

// statePrelude reads the state and applies the additive recovery owed since
// the last adjustment, lazily, so no process has to run a timer.
//
// ARGV[1] Rate, ARGV[2] MinRate, ARGV[3] RecoverStep, ARGV[4] RecoverInterval (µs).
const statePrelude = `
if redis.replicate_commands then redis.replicate_commands() end
local key = KEYS[1]
local maxRate = tonumber(ARGV[1])
local minRate = tonumber(ARGV[2])
local step = tonumber(ARGV[3])
local interval = tonumber(ARGV[4])

local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local h = redis.call('HMGET', key, 'tat', 'rate', 'adj', 'dec', 'ceil', 'ws', 'g', 'x')
local tat = tonumber(h[1]) or 0
local old = tonumber(h[2]) or maxRate
local adj = tonumber(h[3]) or now
local dec = tonumber(h[4]) or 0
local ceil = tonumber(h[5]) or 0
local ws = tonumber(h[6]) or now
local g = tonumber(h[7]) or 0
local x = tonumber(h[8]) or 0
-- The window slides by halves: halving both counts keeps their ratio and
-- the grant rate, so a cut right after a slide still has its measurement.
if now - ws > 2000000 then
  ws = now - 1000000
  g = g / 2
  x = x / 2
end

local rate = math.min(math.max(old, minRate), maxRate)
local reason = ''
if rate ~= old then reason = 'config' end
if rate < maxRate then
  local k = math.floor((now - adj) / interval)
  if k > 0 then
    adj = adj + k * interval
    if ceil > 0 then
      -- After repeated cuts the rate climbs by step only up to 90% of the
      -- last rate cut, then by 0.5% of that rate per interval (about 10 s
      -- for the last 10%): it settles just under Sinch's real limit instead
      -- of overshooting it (and drawing a Retry-After pause for every
      -- process) every few seconds.
      local zone = ceil * 0.9
      if rate < zone then
        local fast = math.min(k, math.ceil((zone - rate) / step))
        rate = math.min(zone, rate + fast * step)
        k = k - fast
      end
      step = ceil * 0.005
    end
    rate = math.min(maxRate, rate + k * step)
    reason = 'recovered'
  end
  if rate >= maxRate then ceil = 0 end
else
  adj = now
  ceil = 0
end

local function save()
  redis.call('HSET', key, 'tat', string.format('%.3f', tat), 'rate', string.format('%.17g', rate),
    'adj', string.format('%.3f', adj), 'dec', string.format('%.3f', dec), 'ceil', string.format('%.17g', ceil),
    'ws', string.format('%.3f', ws), 'g', string.format('%.17g', g), 'x', string.format('%.17g', x))
  -- Keep the state while it still matters: until the last reserved slot and
  -- full recovery have passed, plus a minute.
  local up = tonumber(ARGV[3])
  if ceil > 0 then up = ceil * 0.005 end
  local ttl = math.max(tat - now, 0) + math.ceil((maxRate - rate) / up) * interval + 60000000
  redis.call('PEXPIRE', key, string.format('%d', math.ceil(ttl / 1000)))
end
`

// reserveScript reserves up to n contiguous slots on the shared timeline.
//
// ARGV[5] n wanted, ARGV[6] look-back (µs): how far behind now an idle
// timeline may start again (the burst), ARGV[7] horizon (µs): no slot is
// reserved later than now+horizon, ARGV[8] MaxLeaseWindow (µs).
//
// It returns {granted, start−now (µs), slot interval (µs), wait (µs), old
// rate, rate, reason, now (µs)}. granted is n or 0: a lease that does not fit within
// the horizon is refused, and wait says how long until it would.
var reserveScript = redis.NewScript(statePrelude + `
local n = tonumber(ARGV[5])
local lookback = tonumber(ARGV[6])
local horizon = tonumber(ARGV[7])
local window = tonumber(ARGV[8])

local interval = 1000000 / rate
n = math.max(1, math.min(n, math.floor(rate * window / 1000000)))
local start = math.max(tat, now - lookback)
local last = start + (n - 1) * interval
local granted, wait = 0, 0
if last <= now + horizon then
  granted = n
  tat = start + n * interval
  -- g counts slots from ws on, whenever they were granted; an empty
  -- window starts at its first slot (a burst reaches back before now).
  if g == 0 and x == 0 and now >= ws and start < ws then ws = start end
  local from = math.max(0, math.ceil((ws - start) / interval))
  if from < n then g = g + n - from end
else
  wait = last - now - horizon
end
save()
return {granted, string.format('%.3f', start - now), string.format('%.3f', interval),
  string.format('%.3f', wait), string.format('%.17g', old), string.format('%.17g', rate), reason,
  string.format('%.0f', now)}
`)

// throttleScript records a throttled request: it decreases the rate unless it
// was decreased within the cooldown, restarts the recovery clock and, for a
// Retry-After, moves the timeline past it.
//
// The cut is multiplicative (DecreaseFactor) unless the measurement window
// holds enough evidence of what Sinch accepted: at least 20 grants, at
// least half the rate's worth, and 3 429s. Then the rate goes at once to
// 95% of the rate Sinch accepted, (sent−x)/span, and recovery slows near it
// (ceil): a limit far below the configured rate is found in one cut
// instead of a dozen, each with its burst of 429s. The 429s within the
// cooldown after the last cut count too; some answer requests granted
// before it, which only makes the measure cautious.
//
// ARGV[5] DecreaseFactor, ARGV[6] DecreaseCooldown (µs), ARGV[7] Retry-After (µs).
//
// It returns {old rate, rate, reason, now (µs)}.
var throttleScript = redis.NewScript(statePrelude + `
local factor = tonumber(ARGV[5])
local cooldown = tonumber(ARGV[6])
local retry = tonumber(ARGV[7])

if now >= ws then x = x + 1 end
if now - dec >= cooldown and rate > minRate then
  local cut = rate * factor
  local span = (now - ws) / 1000000
  -- Slots granted but still ahead (leases reach up to the horizon) were
  -- not sent yet.
  local sent = g - math.max(0, tat - now) * rate / 1000000
  -- Only a saturated window measures Sinch: with fewer sends than half
  -- the rate, demand set the pace, not the limit. Ten accepted requests
  -- keep the count's own error near 10%.
  if x >= 3 and sent - x >= 10 and span > 0 and sent / span >= rate / 2 then
    local accepted = math.min(rate, (sent - x) / span)
    cut = accepted * 0.95
    ceil = accepted
    -- The answers of the first moments after this cut are to requests
    -- granted before it: the next measurement starts half a cooldown
    -- later, when those are back.
    ws, g, x = now + cooldown / 2, 0, 0
  elseif rate < maxRate then
    -- A cut before the rate is back at Config.Rate means the 429s are not
    -- a passing bunch-up: Sinch's limit is below the configured rate,
    -- near here. Within the last tenth below the last cut the rate is
    -- probing that limit: a small step back is enough.
    if ceil > 0 and rate >= ceil * 0.9 then cut = rate * 0.95 end
    ceil = rate
  end
  rate = math.max(minRate, cut)
  dec = now
  reason = 'throttled'
end
adj = now
if retry > 0 then
  -- Nothing is sent during the pause: no recovery is owed for it, and the
  -- measurement starts when sending does.
  tat = math.max(tat, now + retry)
  adj = now + retry
  ws, g, x = now + retry, 0, 0
end
save()
return {string.format('%.17g', old), string.format('%.17g', rate), reason, string.format('%.0f', now)}
`)
