package ratelimit

import "time"

// maxDrift is how fast the Redis clock may drift from this process's clock,
// NTP slewing included (Linux slews at most 500ppm).
const maxDrift = 500e-6

// clockMap places instants of the Redis clock (TIME, µs) on this process's
// monotonic clock. A reply reading Redis time R, to a request sent at local
// time s and received at v, says R happened within [s, v]. Intersecting these
// intervals over replies (each widened by maxDrift as it ages) bounds the
// offset by the fastest recent round trip rather than the current one, so a
// slow reply does not shrink the usable life of its lease.
type clockMap struct {
	set  bool
	base int64     // Redis time of the first reply; later ones are relative to it
	lo   time.Time // earliest local instant at which Redis time base can have been
	hi   time.Time // latest local instant at which Redis time base can have been
	at   time.Time // when lo and hi were last narrowed
}

// update narrows the offset with a reply that read Redis time now (µs)
// between sent and received.
func (c *clockMap) update(now int64, sent, received time.Time) {
	if !c.set {
		c.set, c.base = true, now
	}
	r := time.Duration(now-c.base) * time.Microsecond
	lo, hi := sent.Add(-r), received.Add(-r)
	if !c.at.IsZero() {
		widen := time.Duration(float64(received.Sub(c.at)) * maxDrift)
		if old := c.lo.Add(-widen); old.After(lo) {
			lo = old
		}
		if old := c.hi.Add(widen); old.Before(hi) {
			hi = old
		}
		if lo.After(hi) { // the Redis clock was stepped: start over
			lo, hi = sent.Add(-r), received.Add(-r)
		}
	}
	c.lo, c.hi, c.at = lo, hi, received
}

// bounds returns the earliest and latest local instants at which Redis time
// t (µs) can happen, t being expressed as now (µs) plus offset.
func (c *clockMap) bounds(now int64, offset time.Duration) (earliest, latest time.Time) {
	r := time.Duration(now-c.base)*time.Microsecond + offset
	return c.lo.Add(r), c.hi.Add(r)
}
