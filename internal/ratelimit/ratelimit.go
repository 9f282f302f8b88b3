// Package ratelimit is a rate limiter shared through Redis by any number of
// processes, so that together they send at most Config.Rate requests per
// second to one API budget, and as close to that rate as demand allows.
//
// The algorithm is GCRA used for reservation. Redis holds the theoretical
// arrival time (TAT) of the budget on the Redis clock; a Lua script reserves n
// tokens by returning the start s of the contiguous slots s, s+1/rate, …,
// s+(n−1)/rate and moving TAT to s+n/rate. Slots never overlap, so the union
// over all processes is paced at the rate. After an idle period s may lag now
// by (Burst−1)/(2×Rate): that is the burst.
//
// To keep Redis off the hot path a process reserves a lease of several slots
// per round trip (sized by its recent grant rate and its waiting callers, at
// most Config.Lease and 50ms worth) and hands the tokens out locally, each no
// earlier than its slot, released together on a shared 20ms grid (fewer
// wakeups: releaseAt): Redis times are placed on the local clock through
// bounds kept from past round trips. A token more than (Burst−1)/Rate past its
// slot is dropped, never sent, so any window of length w holds at most
// Rate×w + Burst tokens. Reservations reaching more than 100ms ahead are
// refused, so no process hoards the future.
//
// The effective rate adapts AIMD-style and is shared in the same hash: a
// throttled request (HTTP 429) multiplies it by DecreaseFactor (at most once
// per DecreaseCooldown, so a burst of 429s counts once), or, when the last
// few seconds measured what Sinch accepted while the budget was saturated,
// sets it just under that; a cut voids the leased tokens of the process
// that drew the 429 and gives their slots not yet due back to the timeline,
// so the next lease starts at once at the new rate; a Retry-After moves TAT
// past it, pausing every process; each RecoverInterval without a 429 adds
// RecoverStep back, up to Rate. Recovery is computed lazily by the
// scripts, so there are no background goroutines and nothing to close.
package ratelimit

import (
	"context"
	"errors"
	"fmt"
	"math"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"
)

// horizon is how far ahead of now a reservation may reach.
const horizon = 2 * MaxLeaseWindow

// demandDecay is the time constant of the grant-rate estimate that sizes leases.
const demandDecay = 100 * time.Millisecond

// Limiter hands out tokens from a budget shared through Redis. It is safe for
// concurrent use.
type Limiter struct {
	rdb redis.UniversalClient
	cfg Config
	// within is the budget each reservation also draws from, in the same
	// round trip (an app's project: NewLevels); nil for none.
	within *Limiter

	lateness time.Duration // how late a token may still be used: (Burst−1)/Rate
	lookback time.Duration // how far behind now an idle timeline restarts

	rate         atomic.Uint64 // float64 bits of the effective rate last seen
	reservations atomic.Int64  // Redis round trips made by reserve, for tests and benchmarks
	dropped      atomic.Int64  // leased tokens dropped as too late, for tests
	givenBack    atomic.Int64  // leased slots given back by rate cuts, for tests

	mu          sync.Mutex
	gen         uint64        // bumped when leased tokens become void
	next        time.Time     // release time of the next leased token
	step        time.Duration // between two leased tokens
	left        int           // leased tokens not yet taken
	joint       bool          // the lease drew within's tokens too
	slack       time.Duration // how long after its release a leased token stays usable
	pausedUntil time.Time     // set by Throttled with a Retry-After
	mark        leaseMark     // where this process's last leases sit on the shared timelines
	// throttling counts Throttled calls in flight; a token due meanwhile
	// is held until throttled is closed, since the call may void it and
	// give its slot back.
	throttling int
	throttled  chan struct{}
	waiting    int       // tokens wanted by callers that hold none
	demand     float64   // tokens/s granted here, exponentially decayed
	demandAt   time.Time // when demand was last updated
	fetching   bool      // a caller is reserving (or waiting until a reservation fits)
	// parked are the callers waiting for the reservation in flight, in
	// arrival order. When it ends, only as many are woken as it brought
	// tokens (one when it failed), not all of them: with hundreds of sends
	// waiting at the rate, waking all for each lease of a dozen tokens cost
	// more CPU than the rest of the limiter.
	parked []chan struct{}
	// tatAt is the local instant by which the shared timeline is reserved
	// up to, as of this process's last grant: a reservation fits no earlier
	// than its end minus horizon, so asking before then would be refused.
	tatAt time.Time
	clock clockMap // Redis TIME on the local clock

	seenMu sync.Mutex // orders observe
	seenAt int64      // Redis time (µs) of the newest reply observed
}

// New returns a Limiter drawing from the budget at cfg.Key. It does not
// contact Redis.
func New(rdb redis.UniversalClient, cfg Config) (*Limiter, error) {
	if rdb == nil {
		return nil, errors.New("ratelimit: nil Redis client")
	}
	cfg = cfg.WithDefaults()
	if err := cfg.validate(); err != nil {
		return nil, fmt.Errorf("ratelimit: invalid config: %w", err)
	}
	lateness := time.Duration(float64(cfg.Burst-1) / cfg.Rate * float64(time.Second))
	l := &Limiter{rdb: rdb, cfg: cfg, lateness: lateness, lookback: lateness / 2}
	l.rate.Store(math.Float64bits(cfg.Rate))
	return l, nil
}

// Rate returns the effective rate in tokens per second as of this process's
// last Redis call (Config.Rate before the first): an idle process does not
// see changes made meanwhile.
func (l *Limiter) Rate() float64 {
	return math.Float64frombits(l.rate.Load())
}

// Wait blocks until the caller may send one request. It returns ctx.Err() as
// soon as ctx is done, and an error when Redis cannot be reached: the limiter
// fails closed.
func (l *Limiter) Wait(ctx context.Context) error {
	_, err := l.wait(ctx, 1)
	return err
}

// WaitN blocks until the caller may spend n tokens, taking them one slot
// after another; it returns when the last is due. On error the tokens already
// taken are spent.
func (l *Limiter) WaitN(ctx context.Context, n int) error {
	if n < 1 {
		return fmt.Errorf("ratelimit: WaitN: n must be at least 1, got %d", n)
	}
	for i := range n {
		if _, err := l.wait(ctx, n-i); err != nil {
			return err
		}
	}
	return nil
}

// wait takes one token; want is how many the caller still needs, which sizes
// the lease. joint says the token is within's too.
func (l *Limiter) wait(ctx context.Context, want int) (joint bool, err error) {
	l.mu.Lock()
	l.waiting += want
	defer func() { // runs with l.mu held
		l.waiting -= want
		if err != nil && !l.fetching {
			// Parked callers wait for a reservation that no one is making
			// now: the turn goes to the first of them.
			l.wakeParked(1)
		}
		l.mu.Unlock()
	}()

	for {
		if err := ctx.Err(); err != nil {
			return false, err
		}
		now := time.Now()
		l.dropExpired(now)

		if l.left > 0 {
			release, deadline, gen := l.releaseAt(l.next, l.slack), l.next.Add(l.slack), l.gen
			joint = l.joint
			l.next = l.next.Add(l.step)
			l.left--
			l.waiting -= want
			l.mu.Unlock()
			err := sleepUntil(ctx, release)
			l.mu.Lock()
			l.waiting += want
			if err != nil {
				return false, err
			}
			for l.throttling > 0 && l.gen == gen {
				if err := l.awaitThrottle(ctx); err != nil {
					return false, err
				}
			}
			if now := time.Now(); l.gen == gen && !now.After(deadline) {
				l.decayDemand(now)
				l.demand += 1 / demandDecay.Seconds()
				return joint, nil
			}
			if l.gen == gen {
				l.dropped.Add(1)
			}
			continue // voided by Throttled, or too late: that slot passes unused
		}

		if l.throttling > 0 {
			// A lease reserved now could be at the old rate, or move the
			// timeline past the slots the cut gives back.
			if err := l.awaitThrottle(ctx); err != nil {
				return false, err
			}
			continue
		}

		if now.Before(l.pausedUntil) {
			until := l.pausedUntil
			l.mu.Unlock()
			err := sleepUntil(ctx, until)
			l.mu.Lock()
			if err != nil {
				return false, err
			}
			continue
		}

		if l.fetching { // another caller is reserving: wait for its lease
			wake := make(chan struct{}, 1)
			l.parked = append(l.parked, wake)
			l.mu.Unlock()
			select {
			case <-ctx.Done():
			case <-wake:
			}
			l.mu.Lock()
			if i := slices.Index(l.parked, wake); i >= 0 {
				l.parked = slices.Delete(l.parked, i, i+1)
			}
			continue
		}

		l.fetching = true
		l.decayDemand(now)
		// Lease what the recent grant rate will use within one lease (Lease
		// tokens at full Rate), but at least what callers wait for now.
		n := max(l.waiting, int(math.Ceil(float64(l.cfg.Lease)*l.demand/l.cfg.Rate)))
		gen := l.gen
		l.mu.Unlock()
		err := l.reserve(ctx, n, gen)
		l.mu.Lock()
		l.fetching = false
		if err != nil {
			return false, err // the next parked caller tries its own reservation
		}
		// This caller takes one token and the woken the others; the one
		// woken past the last finds none and reserves next. With no tokens
		// (refused, or voided meanwhile) this caller reserves again itself.
		l.wakeParked(l.left)
	}
}

// awaitThrottle waits until the Throttled calls in flight have their
// answer or ctx is done. Call with l.mu held; it is held again on return.
func (l *Limiter) awaitThrottle(ctx context.Context) error {
	done := l.throttled
	l.mu.Unlock()
	select {
	case <-ctx.Done():
	case <-done:
	}
	l.mu.Lock()
	return ctx.Err()
}

// wakeParked wakes the first n parked callers. Call with l.mu held.
func (l *Limiter) wakeParked(n int) {
	n = min(n, len(l.parked))
	for _, wake := range l.parked[:n] {
		wake <- struct{}{} // buffered, and each is woken once
	}
	l.parked = slices.Delete(l.parked, 0, n)
}

// maxReleaseQuantum bounds how long a token may be held past its slot so
// that tokens are released together.
const maxReleaseQuantum = 20 * time.Millisecond

// maxQuantizedRate is the highest rate whose tokens are held to the grid.
// Above it (ten times Sinch's project limit: benchmarks and tests
// unthrottled) tokens are dense enough to share wakeups anyway, and holding
// them would let each caller send at most once a quantum.
const maxQuantizedRate = 5000

// releaseAt is when a token of slot may go out: the slot rounded up to a
// grid of min(maxReleaseQuantum, lateness/2), the same for every caller and
// process of the budget, unless that leaves less than wakeMargin of its
// slack (a lease drawn on the project's timeline too has less: see
// reserveScript). Tokens released at one instant wake their callers
// together, and their sends and Redis round trips share the scheduler's
// wakeups: at 500/s that cuts the worker's CPU per send by about half, most
// of which was its threads sleeping and waking for one token every 2 ms. It
// keeps the limiter's bound: a token may be used up to lateness after its
// slot anyway, and any window of length w holds at most Rate×w + Burst
// tokens however late within that they go.
func (l *Limiter) releaseAt(slot time.Time, slack time.Duration) time.Time {
	q := int64(min(maxReleaseQuantum, l.lateness/2))
	if q <= int64(time.Millisecond) || l.cfg.Rate > maxQuantizedRate {
		return slot
	}
	n := slot.UnixNano()
	if grid := time.Unix(0, (n+q-1)/q*q); !grid.After(slot.Add(slack - min(wakeMargin, slack/2))) {
		return grid
	}
	return slot // held to the grid, its caller could wake too late to use it
}

// wakeMargin is the part of a token's slack the release grid leaves for its
// caller to wake up (at most half the slack): a caller woken later than the
// slack drops the token, and its slot passes unused.
const wakeMargin = 5 * time.Millisecond

// decayDemand brings the demand estimate to now. Call with l.mu held.
func (l *Limiter) decayDemand(now time.Time) {
	if dt := now.Sub(l.demandAt); dt > 0 {
		l.demand *= math.Exp(-dt.Seconds() / demandDecay.Seconds())
		l.demandAt = now
	}
}

// dropExpired discards leased tokens that are already too late to use.
func (l *Limiter) dropExpired(now time.Time) {
	if l.left == 0 {
		return
	}
	late := now.Sub(l.next.Add(l.slack))
	if late <= 0 {
		return
	}
	if l.step <= 0 {
		l.dropped.Add(int64(l.left))
		l.left = 0
		return
	}
	k := min(int(late/l.step)+1, l.left)
	l.dropped.Add(int64(k))
	if k == l.left {
		l.left = 0
		return
	}
	l.next = l.next.Add(time.Duration(k) * l.step)
	l.left -= k
}

// reserve makes one reservation of up to n tokens and installs it as the
// lease, unless Throttled voided leases (gen changed) meanwhile. When the
// reservation is refused it waits until it would fit, then returns so the
// caller tries again.
func (l *Limiter) reserve(ctx context.Context, n int, gen uint64) error {
	n = max(1, min(n, l.cfg.Lease, int(l.Rate()*MaxLeaseWindow.Seconds())))
	l.mu.Lock()
	fits := l.tatAt.Add(time.Duration(n-1)*l.step - horizon)
	l.mu.Unlock()
	// Until then the script would refuse n tokens as past the horizon (no
	// other process can have moved the timeline back): wait here instead
	// of spending a round trip on the refusal.
	if err := sleepUntil(ctx, fits); err != nil {
		return err
	}
	l.reservations.Add(1)
	keys := []string{l.cfg.Key}
	args := append(l.cfg.scriptArgs(), n, l.lookback.Microseconds(), horizon.Microseconds(), MaxLeaseWindow.Microseconds())
	budgets := []*Limiter{l}
	if w := l.within; w != nil {
		keys = append(keys, w.cfg.Key)
		args = append(append(args, w.cfg.scriptArgs()...), w.lookback.Microseconds())
		budgets = append(budgets, w)
	}
	sent := time.Now()
	res, err := reserveScript.Run(ctx, l.rdb, keys, args...).Slice()
	received := time.Now()
	if err != nil {
		if ctxErr := ctx.Err(); ctxErr != nil {
			return ctxErr
		}
		return fmt.Errorf("ratelimit: reserve %q: %w", l.cfg.Key, err)
	}
	var p replyParser
	granted, start, interval, wait, at := p.int(res, 0), p.micros(res, 1), p.micros(res, 2), p.micros(res, 3), p.int(res, 4)
	joint := p.int(res, 5) == 1
	// The lease stays usable as long as no token in it is later than the
	// lateness of a budget it was drawn on.
	slack := l.lateness
	var tats, froms [2]string
	for i, b := range budgets {
		j := 6 + 6*i
		change := rateChange{old: p.float(res, j), rate: p.float(res, j+1), reason: p.str(res, j+2), at: at}
		if i == 0 || joint {
			slack = min(slack, b.lateness-p.micros(res, j+3))
			tats[i], froms[i] = p.str(res, j+4), p.str(res, j+5)
		}
		if p.err != nil {
			return fmt.Errorf("ratelimit: reserve %q: %w", l.cfg.Key, p.err)
		}
		b.observe(change)
	}

	l.mu.Lock()
	l.clock.update(at, sent, received)
	if granted > 0 {
		l.mark.add(at, granted, tats, froms)
		// Release at the latest local instant the slot can be (never early);
		// the deadline counts from the earliest (never late).
		earliest, latest := l.clock.bounds(at, start)
		l.tatAt = latest.Add(time.Duration(granted) * interval)
		if l.gen == gen {
			l.next = latest
			l.step = interval
			l.left = int(granted)
			l.slack = slack - latest.Sub(earliest)
			l.joint = joint
		}
	}
	l.mu.Unlock()
	if granted == 0 {
		return sleepUntil(ctx, received.Add(wait))
	}
	return nil
}

// Throttled records that the API answered 429 Too Many Requests. It lowers
// the effective rate shared by every process (once per DecreaseCooldown) and
// restarts the recovery clock; a retryAfter > 0 pauses every process until it
// has passed. A cut voids this process's lease and gives its slots not yet
// due back to the shared timeline (see throttleScript); its tokens due
// meanwhile wait for the answer. This process pauses and drops its leased
// tokens even when Redis cannot be reached, in which case the error is
// returned. Other processes learn of the change at their next reservation:
// tokens they already hold (slots at most 100ms ahead) still go out.
func (l *Limiter) Throttled(ctx context.Context, retryAfter time.Duration) error {
	if l.cfg.OnThrottled != nil {
		l.cfg.OnThrottled()
	}
	l.mu.Lock()
	if retryAfter > 0 {
		l.voidLease()
		if until := time.Now().Add(retryAfter); until.After(l.pausedUntil) {
			l.pausedUntil = until
		}
	}
	mark := l.mark
	if l.throttling++; l.throttling == 1 {
		l.throttled = make(chan struct{})
	}
	l.mu.Unlock()

	change, err := l.throttle(ctx, retryAfter, mark)
	l.mu.Lock()
	// A cut voids the leases reserved before it: their tokens would go out
	// at the old rate, and their slots may have been given back.
	if err == nil && change.reason == "throttled" && l.mark.at < change.at {
		l.voidLease()
	}
	if l.throttling--; l.throttling == 0 {
		close(l.throttled)
	}
	l.mu.Unlock()
	if err != nil {
		return fmt.Errorf("ratelimit: throttled %q: %w", l.cfg.Key, err)
	}
	l.observe(change)
	return nil
}

// throttle runs throttleScript for a 429, offering lease mark's slots back.
func (l *Limiter) throttle(ctx context.Context, retryAfter time.Duration, mark leaseMark) (rateChange, error) {
	keys := []string{l.cfg.Key}
	args := append(l.cfg.scriptArgs(), l.cfg.DecreaseFactor, l.cfg.DecreaseCooldown.Microseconds(),
		max(0, retryAfter.Microseconds()), mark.runs[0].n, mark.runs[0].tat, mark.runs[0].from)
	if w := l.within; w != nil && mark.runs[1].n > 0 {
		keys = append(keys, w.cfg.Key)
		args = append(append(args, w.cfg.scriptArgs()...), mark.runs[1].n, mark.runs[1].tat, mark.runs[1].from)
	}
	res, err := throttleScript.Run(ctx, l.rdb, keys, args...).Slice()
	if err != nil {
		return rateChange{}, err
	}
	var p replyParser
	change := rateChange{old: p.float(res, 0), rate: p.float(res, 1), reason: p.str(res, 2), at: p.int(res, 3)}
	l.givenBack.Add(p.int(res, 4))
	return change, p.err
}

// leaseMark is where this process's last leases were reserved on the
// timelines of the budgets they drew from (the second: within's), as
// reserveScript stored them, for throttleScript to find them again.
type leaseMark struct {
	at   int64 // Redis time of the last reservation, µs
	runs [2]leaseRun
}

// leaseRun is a run of leases back to back on one timeline: with callers
// waiting, a process reserves its next lease as the last is taken, and
// its tokens taken but not yet due span several leases up to the horizon.
type leaseRun struct {
	n         int64  // slots
	tat, from string // the timeline's tat after the run, and its first slot
}

// add extends the runs with a lease of n tokens reserved at at, which
// drew on the timelines whose tats and froms are set. A lease that does
// not start where the run ended (another process reserved between)
// starts a new run.
func (m *leaseMark) add(at, n int64, tats, froms [2]string) {
	m.at = at
	for i := range m.runs {
		r := &m.runs[i]
		switch {
		case tats[i] == "":
			continue // not drawn: the run on that timeline still stands
		case r.n > 0 && r.tat == froms[i]:
			r.n += n
		default:
			r.n, r.from = n, froms[i]
		}
		r.tat = tats[i]
	}
}

// voidLease drops the lease and voids tokens already taken but not yet due.
// Call with l.mu held.
func (l *Limiter) voidLease() {
	l.gen++
	l.left = 0
}

// rateChange is the effective rate as a script left it.
type rateChange struct {
	old, rate float64 // before and after the script
	reason    string  // why the script changed it; "" when it did not
	at        int64   // Redis time of the script, µs
}

// observe records the effective rate returned by a script. The process whose
// call changed the rate logs the change at Info, so each change is logged
// once; others log what they see at Debug. A reply older than one already
// seen does not roll Rate back.
func (l *Limiter) observe(c rateChange) {
	if c.reason != "" && c.rate != c.old {
		l.cfg.Logger.Info("rate limit changed", "key", l.cfg.Key, "old", c.old, "new", c.rate, "reason", c.reason)
	}
	l.seenMu.Lock()
	defer l.seenMu.Unlock()
	if c.at < l.seenAt {
		return
	}
	l.seenAt = c.at
	prev := l.Rate()
	if c.rate == prev {
		return
	}
	l.rate.Store(math.Float64bits(c.rate))
	if c.reason == "" {
		l.cfg.Logger.Debug("rate limit changed", "key", l.cfg.Key, "old", prev, "new", c.rate, "reason", "observed")
	}
	if l.cfg.OnRateChange != nil {
		l.cfg.OnRateChange(c.rate)
	}
}

// sleepUntil waits until t or until ctx is done.
func sleepUntil(ctx context.Context, t time.Time) error {
	d := time.Until(t)
	if d <= 0 {
		return nil
	}
	timer := time.NewTimer(d)
	defer timer.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-timer.C:
		return nil
	}
}

// replyParser reads the values of a script reply, keeping the first error.
type replyParser struct{ err error }

func (p *replyParser) str(res []any, i int) string {
	if p.err != nil {
		return ""
	}
	if i >= len(res) {
		p.err = fmt.Errorf("script returned %d values, want more than %d", len(res), i)
		return ""
	}
	if v, ok := res[i].(string); ok {
		return v
	}
	if v, ok := res[i].(int64); ok {
		return strconv.FormatInt(v, 10)
	}
	p.err = fmt.Errorf("script value %d: got %T, want a string or an integer", i, res[i])
	return ""
}

func (p *replyParser) int(res []any, i int) int64 {
	s := p.str(res, i)
	if p.err != nil {
		return 0
	}
	v, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		p.err = fmt.Errorf("script value %d: %w", i, err)
	}
	return v
}

func (p *replyParser) float(res []any, i int) float64 {
	s := p.str(res, i)
	if p.err != nil {
		return 0
	}
	v, err := strconv.ParseFloat(s, 64)
	if err != nil {
		p.err = fmt.Errorf("script value %d: %w", i, err)
	}
	return v
}

// micros reads microseconds, rounded up to the nanosecond.
func (p *replyParser) micros(res []any, i int) time.Duration {
	return time.Duration(math.Ceil(p.float(res, i) * float64(time.Microsecond)))
}
