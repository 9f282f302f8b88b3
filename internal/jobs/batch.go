package jobs

import (
	"context"
	"crypto/rand"
	"sync"
	"time"

	"github.com/sinch-dispatch/sinch-dispatch/internal/campaign"
)

// A chunk sends its recipients in batches: the recipients it is about to
// start are claimed in one Redis round trip (Store.ClaimChunkSends), and
// the sends Sinch accepts are recorded together (Store.FinishSents). At the
// rate limit the round trips, not the work in them, are what a send costs
// the worker and Redis: the syscalls, wakeups and script calls of two
// round trips per recipient were most of its CPU.
//
// Records are grouped by when their calls to Sinch started, never by the
// rate limit: the calls of one campaign that start within cohortWindow of
// each other form a cohort, and when the last of them has ended and the
// window has closed, the cohort's accepted sends are recorded in one round
// trip. The limiter releases
// tokens together on a shared grid (20 ms apart at most), so a cohort is
// the sends of one release, answered by Sinch a moment apart; a send waits
// for its record no longer than for the slowest call of its cohort.

// Batch sizes. maxBatch bounds a claim script and the sends a crash would
// leave claimed but unsent (in doubt, reconciled on their next attempt: no
// more than the concurrency slots they hold anyway); batchSpan sizes a
// batch to what its app's rate sends in that time, so a slow app's stays
// small. batchGather is how long a chunk waits for more free slots once it
// has one: a cohort's slots come free together, a moment apart.
const (
	maxBatch     = 32
	batchSpan    = 100 * time.Millisecond
	batchGather  = 2 * time.Millisecond
	cohortWindow = 2 * time.Millisecond
)

// batchSize is how many recipients of app a chunk claims together.
func (h *SendHandler) batchSize(app string) int {
	rate, ok := h.caller(SendPayload{App: app}).Rate()
	if !ok {
		return 1
	}
	return max(1, min(maxBatch, int(rate*batchSpan.Seconds())))
}

// batch records the accepted sends of one campaign's chunk recipients in
// this process, by cohort: every chunk of the campaign running here shares
// one (SendHandler.batchFor). A nil *batch is a send on its own: it records
// at once.
type batch struct {
	campaignID string
	users      int           // chunks running with it (SendHandler.batches)
	window     time.Duration // a cohort's: cohortWindow

	mu   sync.Mutex
	open *cohort // the cohort calls starting now join
}

// cohort is the calls of a batch that started together.
type cohort struct {
	start   time.Time
	calls   int  // calling Sinch now
	timed   bool // a flush is due when the cohort's window closes
	waiting []*waitingRecord
}

type waitingRecord struct {
	send campaign.Accepted
	done chan recorded
}

type recorded struct {
	sent campaign.Sent
	err  error
}

// calling marks a member's call to Sinch as started and returns its
// cohort.
func (b *batch) calling() *cohort {
	if b == nil {
		return nil
	}
	now := time.Now()
	b.mu.Lock()
	defer b.mu.Unlock()
	c := b.open
	if c == nil || now.Sub(c.start) > b.window {
		c = &cohort{start: now}
		b.open = c
	}
	c.calls++
	return c
}

// called marks a member's call in cohort c as ended without a send to
// record.
func (b *batch) called(h *SendHandler, c *cohort) {
	if b == nil {
		return
	}
	b.mu.Lock()
	c.calls--
	b.flushLocked(h, c)
}

// record records the send of p Sinch accepted, made under the claim of
// token: at once without a batch, else with the other accepted sends of
// its cohort c once the cohort's last call has ended.
func (b *batch) record(ctx context.Context, h *SendHandler, c *cohort, p SendPayload, token string, rec campaign.Record) (campaign.Sent, error) {
	if b == nil {
		return h.recordAccepted(ctx, p, token, rec)
	}
	p.smsRecord(&rec)
	w := &waitingRecord{send: campaign.Accepted{Lock: campaign.Lock{Key: p.Key, Token: token}, Record: rec}, done: make(chan recorded, 1)}
	b.mu.Lock()
	c.calls--
	c.waiting = append(c.waiting, w)
	b.flushLocked(h, c)
	r := <-w.done
	return r.sent, r.err
}

// flushLocked records cohort c's waiting sends once none of its calls is
// in flight and no more can join it; it is called with b.mu held and
// releases it.
func (b *batch) flushLocked(h *SendHandler, c *cohort) {
	if c.calls > 0 || len(c.waiting) == 0 {
		b.mu.Unlock()
		return
	}
	if b.open == c {
		// Calls of the same release may still start within the window:
		// when Sinch answers faster than a release's callers wake (the
		// simulator, a nearby region), the first answers would otherwise
		// be recorded before the last calls start, a round trip each.
		if wait := b.window - time.Since(c.start); wait > 0 {
			if !c.timed {
				c.timed = true
				time.AfterFunc(wait, func() {
					b.mu.Lock()
					b.flushLocked(h, c)
				})
			}
			b.mu.Unlock()
			return
		}
		b.open = nil // calls starting now form a cohort of their own
	}
	ws := c.waiting
	c.waiting = nil
	b.mu.Unlock()
	sends := make([]campaign.Accepted, len(ws))
	for i, w := range ws {
		sends[i] = w.send
	}
	out, err := h.recordAll(context.Background(), b.campaignID, sends)
	for i, w := range ws {
		var r recorded
		if err != nil {
			r.err = err
		} else {
			r.sent = out[i]
		}
		w.done <- r
	}
}

// batchFor is the batch of campaign id's chunks running in this process;
// the chunk gives it back with doneBatch.
func (h *SendHandler) batchFor(id string) *batch {
	h.batchMu.Lock()
	defer h.batchMu.Unlock()
	b := h.batches[id]
	if b == nil {
		b = &batch{campaignID: id, window: cohortWindow}
		h.batches[id] = b
	}
	b.users++
	return b
}

// doneBatch gives b back after its chunk's sends have all ended.
func (h *SendHandler) doneBatch(b *batch) {
	h.batchMu.Lock()
	defer h.batchMu.Unlock()
	if b.users--; b.users == 0 {
		delete(h.batches, b.campaignID)
	}
}

// claimBatch claims recipients from..from+n−1 of chunk c in one round trip
// and returns their payloads, lock tokens and claims; a failed claim is
// every member's error.
func (h *SendHandler) claimBatch(ctx context.Context, c *ChunkPayload, from, n int) ([]SendPayload, []campaign.Lock, []campaign.Claimed, error) {
	ps := make([]SendPayload, n)
	locks := make([]campaign.Lock, n)
	for j := range n {
		ps[j] = c.Send(from + j)
		locks[j] = campaign.Lock{Key: ps[j].Key, Token: rand.Text()}
	}
	claims, err := h.store.ClaimChunkSends(ctx, c.CampaignID, locks, h.lockTTL)
	return ps, locks, claims, err
}
