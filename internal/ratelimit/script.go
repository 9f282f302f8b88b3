package ratelimit

import "github.com/redis/go-redis/v9"

// The shared state of a budget is one hash at its Config.Key (a reservation
// for an app under its project touches both budgets' keys, which share a
// hash tag on a cluster: NewLevels), times in microseconds of the Redis clock (TIME), the one clock all
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

// statePrelude reads the clock and defines load and save for the budgets a
// script touches: load reads a budget's state and applies the additive
// recovery owed since its last adjustment, lazily, so no process has to run
// a timer.
//
// A budget's Config travels in four ARGV: Rate, MinRate, RecoverStep and
// RecoverInterval (µs); budget(i, j) loads KEYS[i] with those from ARGV[j].
const statePrelude = `
if redis.replicate_commands then redis.replicate_commands() end
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])

local function load(key, maxRate, minRate, step, interval)
  local h = redis.call('HMGET', key, 'tat', 'rate', 'adj', 'dec', 'ceil', 'ws', 'g', 'x')
  local s = {key = key, maxRate = maxRate, minRate = minRate, up = step, interval = interval,
    tat = tonumber(h[1]) or 0, old = tonumber(h[2]) or maxRate, adj = tonumber(h[3]) or now,
    dec = tonumber(h[4]) or 0, ceil = tonumber(h[5]) or 0, ws = tonumber(h[6]) or now,
    g = tonumber(h[7]) or 0, x = tonumber(h[8]) or 0, reason = ''}
  -- The window slides by halves: halving both counts keeps their ratio and
  -- the grant rate, so a cut right after a slide still has its measurement.
  if now - s.ws > 2000000 then
    s.ws = now - 1000000
    s.g = s.g / 2
    s.x = s.x / 2
  end
  local rate = math.min(math.max(s.old, minRate), maxRate)
  if rate ~= s.old then s.reason = 'config' end
  if rate < maxRate then
    local k = math.floor((now - s.adj) / interval)
    if k > 0 then
      s.adj = s.adj + k * interval
      if s.ceil > 0 then
        -- After repeated cuts the rate climbs by step only up to 90% of the
        -- last rate cut, then by 0.5% of that rate per interval (about 10 s
        -- for the last 10%): it settles just under Sinch's real limit instead
        -- of overshooting it (and drawing a Retry-After pause for every
        -- process) every few seconds.
        local zone = s.ceil * 0.9
        if rate < zone then
          local fast = math.min(k, math.ceil((zone - rate) / step))
          rate = math.min(zone, rate + fast * step)
          k = k - fast
        end
        step = s.ceil * 0.005
      end
      rate = math.min(maxRate, rate + k * step)
      s.reason = 'recovered'
    end
    if rate >= maxRate then s.ceil = 0 end
  else
    s.adj = now
    s.ceil = 0
  end
  s.rate = rate
  return s
end

local function budget(i, j)
  return load(KEYS[i], tonumber(ARGV[j]), tonumber(ARGV[j + 1]), tonumber(ARGV[j + 2]), tonumber(ARGV[j + 3]))
end

local function save(s)
  redis.call('HSET', s.key, 'tat', string.format('%.3f', s.tat), 'rate', string.format('%.17g', s.rate),
    'adj', string.format('%.3f', s.adj), 'dec', string.format('%.3f', s.dec), 'ceil', string.format('%.17g', s.ceil),
    'ws', string.format('%.3f', s.ws), 'g', string.format('%.17g', s.g), 'x', string.format('%.17g', s.x))
  -- Keep the state while it still matters: until the last reserved slot and
  -- full recovery have passed, plus a minute.
  local up = s.up
  if s.ceil > 0 then up = s.ceil * 0.005 end
  local ttl = math.max(s.tat - now, 0) + math.ceil((s.maxRate - s.rate) / up) * s.interval + 60000000
  redis.call('PEXPIRE', s.key, string.format('%d', math.ceil(ttl / 1000)))
end
`

// reserveScript reserves up to n tokens: n contiguous slots on the timeline
// of KEYS[1] and, given KEYS[2] (an app's budget under its project's), n on
// that one's too, in one round trip. The tokens go out at the slower
// budget's pace, from the first instant both budgets have a slot free; the
// faster budget's slots, contiguous at its own pace, fall behind them by a
// growing drift, so the lease is cut short where that would pass half the
// budget's look-back. Each budget's slots start as early as its timeline
// allows but no more than that (drift included) before they are used: what
// a token is late on either budget stays within a quarter of its lateness,
// the rest being left to the release grid, the wake-up and the round trip.
//
// The second budget is drawn only when its timeline reaches the lease's
// start: a lease starting further ahead (its app's own timeline is) would
// move the project's timeline past the slots between, and the tokens of
// the project's other apps behind them. Such a lease is the first budget's
// alone, and its callers take the project's tokens when theirs are due.
//
// ARGV[1..4] the first budget's Config, ARGV[5] n wanted, ARGV[6] its
// look-back (µs): how far behind now an idle timeline may start again (the
// burst), ARGV[7] horizon (µs): no token goes out later than now+horizon,
// ARGV[8] MaxLeaseWindow (µs); ARGV[9..12] the second budget's Config and
// ARGV[13] its look-back.
//
// It returns {granted, start−now (µs), token interval (µs), wait (µs), now
// (µs), 1 when the second budget was drawn else 0} and for each budget
// {old rate, rate, reason, late (µs): how long after its slot the last
// token goes out, tat after the lease, its first slot (µs)}; the last two,
// as stored, let a rate cut give the lease's unused slots back
// (throttleScript). granted is n or 0: a lease that does not fit within
// the horizon is refused, and wait says how long until it would.
var reserveScript = redis.NewScript(statePrelude + `
local horizon = tonumber(ARGV[7])
local window = tonumber(ARGV[8])

-- plan sizes a lease on budgets bs (look-backs lbs): its tokens, their
-- interval and the first one's instant.
local function plan(bs, lbs)
  local n, slowest = tonumber(ARGV[5]), math.huge
  for _, s in ipairs(bs) do
    n = math.min(n, math.floor(s.rate * window / 1000000))
    slowest = math.min(slowest, s.rate)
  end
  n = math.max(1, n)
  local interval = 1000000 / slowest
  local start = -math.huge
  for i, s in ipairs(bs) do
    local d = interval - 1000000 / s.rate
    if d > 0 then n = math.max(1, math.min(n, 1 + math.floor(lbs[i] / 2 / d))) end
    start = math.max(start, s.tat, now - lbs[i])
  end
  return n, interval, start
end

local b, lookback = {budget(1, 1)}, {tonumber(ARGV[6])}
local p, joint = nil, 0
if KEYS[2] then
  local lb = tonumber(ARGV[13])
  p = budget(2, 9)
  local n, interval, start = plan({b[1], p}, {lookback[1], lb})
  if start + (n - 1) * (interval - 1000000 / p.rate) - lb / 2 <= math.max(p.tat, now - lb) then
    b[2], lookback[2], joint = p, lb, 1
  end
end
local n, interval, start = plan(b, lookback)
local last = start + (n - 1) * interval
local granted, wait, late, from = 0, 0, {}, {}
if last <= now + horizon then
  granted = n
  for i, s in ipairs(b) do
    local iv = 1000000 / s.rate
    local drift = (n - 1) * (interval - iv)
    -- Stored as save writes it, so that throttleScript can tell this
    -- lease's end from what it reads back.
    from[i] = tonumber(string.format('%.3f', math.max(s.tat, now - lookback[i], start + drift - lookback[i] / 2)))
    late[i] = start - from[i] + drift
    s.tat = tonumber(string.format('%.3f', from[i] + n * iv))
    -- g counts slots from ws on, whenever they were granted; an empty
    -- window starts at its first slot (a burst reaches back before now).
    if s.g == 0 and s.x == 0 and now >= s.ws and from[i] < s.ws then s.ws = from[i] end
    local skip = math.max(0, math.ceil((s.ws - from[i]) / iv))
    if skip < n then s.g = s.g + n - skip end
  end
else
  wait = last - now - horizon
end
for _, s in ipairs(b) do save(s) end
if p and joint == 0 then b[2] = p end -- reported, not drawn
local out = {granted, string.format('%.3f', start - now), string.format('%.3f', interval),
  string.format('%.3f', wait), string.format('%.0f', now), joint}
for i, s in ipairs(b) do
  for _, v in ipairs({string.format('%.17g', s.old), string.format('%.17g', s.rate), s.reason,
      string.format('%.3f', late[i] or 0), string.format('%.3f', s.tat), string.format('%.3f', from[i] or 0)}) do
    out[#out + 1] = v
  end
end
return out
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
// A cut (or a Retry-After) voids the calling process's leased tokens,
// which would go out at the old rate. Their slots not yet due are given
// back when nothing was reserved after them (the budget's tat is still
// where the process's last leases, back to back, ended): the next lease
// starts now at the new rate instead of after slots no one sends in.
// Without that, each cut left up to a horizon (100 ms) of the timeline
// unused, a gap in the sends of every process. The caller holds its
// tokens while this runs, so none of them goes out in a slot given back.
// Slots before now are kept: tokens are released no earlier than their
// slot, so those may have gone out. Joint leases (KEYS[2], the project's
// budget) are given back on that timeline too.
//
// ARGV[5] DecreaseFactor, ARGV[6] DecreaseCooldown (µs), ARGV[7] Retry-After
// (µs), ARGV[8] the slots of the process's last leases on KEYS[1], back to
// back (0: none), ARGV[9] and ARGV[10] their tat and first slot as
// reserveScript returned them; with KEYS[2], ARGV[11..14] that budget's
// Config and ARGV[15..17] the same for its timeline.
//
// It returns {old rate, rate, reason, now (µs), slots given back on KEYS[1]}.
var throttleScript = redis.NewScript(statePrelude + `
local factor = tonumber(ARGV[5])
local cooldown = tonumber(ARGV[6])
local retry = tonumber(ARGV[7])
local s = budget(1, 1)

-- giveBack returns the slots from now on of n leased from from to tat to
-- budget b, keeping the grid of their slots, and uncounts those the
-- measurement window counted.
local function giveBack(b, n, tat, from)
  if n < 1 or b.tat ~= tat or tat <= now then return 0 end
  local iv = (tat - from) / n
  local kept = math.max(0, math.ceil((now - from) / iv))
  if kept >= n then return 0 end
  b.tat = from + kept * iv
  local counted = n - math.max(kept, math.max(0, math.ceil((b.ws - from) / iv)))
  if counted > 0 then b.g = math.max(0, b.g - counted) end
  return n - kept
end

local cutting = now - s.dec >= cooldown and s.rate > s.minRate
local returned = 0
if cutting or retry > 0 then
  returned = giveBack(s, tonumber(ARGV[8]), tonumber(ARGV[9]), tonumber(ARGV[10]))
  if KEYS[2] then
    local p = budget(2, 11)
    if giveBack(p, tonumber(ARGV[15]), tonumber(ARGV[16]), tonumber(ARGV[17])) > 0 then save(p) end
  end
end

if now >= s.ws then s.x = s.x + 1 end
if cutting then
  local cut = s.rate * factor
  local span = (now - s.ws) / 1000000
  -- Slots granted but still ahead (leases reach up to the horizon) were
  -- not sent yet.
  local sent = s.g - math.max(0, s.tat - now) * s.rate / 1000000
  -- Only a saturated window measures Sinch: with fewer sends than half
  -- the rate, demand set the pace, not the limit. Ten accepted requests
  -- keep the count's own error near 10%.
  if s.x >= 3 and sent - s.x >= 10 and span > 0 and sent / span >= s.rate / 2 then
    local accepted = math.min(s.rate, (sent - s.x) / span)
    cut = accepted * 0.95
    s.ceil = accepted
    -- The answers of the first moments after this cut are to requests
    -- granted before it: the next measurement starts half a cooldown
    -- later, when those are back.
    s.ws, s.g, s.x = now + cooldown / 2, 0, 0
  elseif s.rate < s.maxRate then
    -- A cut before the rate is back at Config.Rate means the 429s are not
    -- a passing bunch-up: Sinch's limit is below the configured rate,
    -- near here. Within the last tenth below the last cut the rate is
    -- probing that limit: a small step back is enough.
    if s.ceil > 0 and s.rate >= s.ceil * 0.9 then cut = s.rate * 0.95 end
    s.ceil = s.rate
  end
  s.rate = math.max(s.minRate, cut)
  s.dec = now
  s.reason = 'throttled'
end
s.adj = now
if retry > 0 then
  -- Nothing is sent during the pause: no recovery is owed for it, and the
  -- measurement starts when sending does.
  s.tat = math.max(s.tat, now + retry)
  s.adj = now + retry
  s.ws, s.g, s.x = now + retry, 0, 0
end
save(s)
return {string.format('%.17g', s.old), string.format('%.17g', s.rate), s.reason, string.format('%.0f', now), returned}
`)
