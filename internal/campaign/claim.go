package campaign

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/sinch-dispatch/sinch-dispatch/internal/keyspace"
)

// Claim is the answer to "may this worker send to this recipient now?".
type Claim string

const (
	ClaimOK        Claim = "ok"        // locked for this worker: send
	ClaimSent      Claim = "sent"      // already accepted by Sinch: never send again
	ClaimCancelled Claim = "cancelled" // recipient or campaign cancelled: do not send
	ClaimPaused    Claim = "paused"    // campaign paused: try again later, not a failure
	ClaimBusy      Claim = "busy"      // another execution holds the recipient: try later
	// ClaimFailed: archived as failed; only ClaimChunkSend answers it (a
	// chunk run again must not resend a recipient it gave up on: campaign
	// retry does that, through the recipient's own archived task).
	ClaimFailed Claim = "failed"
	// ClaimUnreplicated: locked, but no replica acknowledged the claim within
	// the replica wait (see SetReplicaWait): do not send now. The lock is
	// held; the caller releases it.
	ClaimUnreplicated Claim = "unreplicated"
)

// claimScript checks status and campaign control and takes a short lock, in
// one round trip on the hot path. KEYS: status, def, lock, counters, attempts.
// ARGV: key, lock token, lock TTL in ms, retention TTL in seconds (the
// attempts hash is written only here; see retainLua and Store.retention),
// "1" to refuse a failed recipient.
var claimScript = redis.NewScript(retainLua + `
local st = redis.call('HGET', KEYS[1], ARGV[1])
if st == 'sent' then return {'sent', 0} end
if st == 'cancelled' then return {'cancelled', 0} end
if st == 'failed' and ARGV[5] == '1' then return {'failed', 0} end
local ctl = redis.call('HGET', KEYS[2], 'control')
if ctl == 'cancelled' then return {'cancelled', 0} end
if ctl == 'paused' then return {'paused', 0} end
if not redis.call('SET', KEYS[3], ARGV[2], 'NX', 'PX', ARGV[3]) then return {'busy', 0} end
redis.call('HINCRBY', KEYS[4], 'attempts', 1)
local n = redis.call('HINCRBY', KEYS[5], ARGV[1], 1)
retain(KEYS[5], ARGV[4])
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
// ARGV: transition's nine, lock token, count_final's A[2..5].
var sentScript = redis.NewScript(transitionLua + countFinalLua + releaseLua + `
local t = transition({KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5]}, {ARGV[1], ARGV[2], ARGV[3], ARGV[4], ARGV[5], ARGV[6], ARGV[7], ARGV[8], ARGV[9]})
release(KEYS[6], ARGV[10])
local p = {0, ''}
if t[1] == 1 then
  p = count_final({KEYS[7], KEYS[3], KEYS[8]}, {'0', ARGV[11], ARGV[12], ARGV[13], ARGV[14]})
end
return {t[1], t[2], p[1], p[2]}
`)

// SetReplicaWait makes every ClaimSend wait up to timeout for one replica
// to acknowledge the claim (Redis WAIT 1 on the claim's connection) before
// the worker sends; 0 turns it off. Call it before the store is shared.
//
// Under Sentinel a failover promotes a replica, and the writes the old
// master had not replicated are gone. Without the wait, a claim and the
// record of a send Sinch accepted can both vanish: the new master sees a
// first attempt and the worker sends again. With it, the claim, and with it
// everything Redis wrote before it (asynq's dequeue of the task included),
// is on the replica before the request leaves, so a send whose record was
// lost comes back as a second attempt, in doubt, reconciled with Sinch's
// message list instead of sent again. The wait shares the claim's round
// trip (one pipeline) and costs the replication delay. A claim no replica
// acknowledged in time is counted (ReplicaMisses) and, for the first
// ReplicaGrace of a run of such claims, answered ClaimUnreplicated: it may
// live only on a master that has just been replaced (its writes after the
// promotion are lost), so the send waits for the clients to move to the
// new master. Past the grace, the replica is taken to be gone (e.g. the
// old master was the only other node and is dead) and claims are ClaimOK
// again, as without the wait: a campaign does not stop for want of a
// replica, and with no replica there is no failover to lose writes to.
func (s *Store) SetReplicaWait(timeout time.Duration) { s.replicaWait = timeout }

// ReplicaGrace is how long claims no replica acknowledges are held back
// before sends go on without one: longer than clients take to follow a
// promotion (Sentinel tells them at once), short enough not to stall a
// campaign on a deployment that lost its only replica.
const ReplicaGrace = 10 * time.Second

// ReplicaMisses counts the claims no replica acknowledged within the
// SetReplicaWait timeout.
func (s *Store) ReplicaMisses() int64 { return s.replicaMisses.Load() }

// ClaimSend decides whether a worker may send to recipient rk, and if so
// locks it for ttl and returns this attempt's number (1 for the first).
func (s *Store) ClaimSend(ctx context.Context, id, rk, token string, ttl time.Duration) (Claim, int, error) {
	return s.claim(ctx, id, rk, token, ttl, "0")
}

// ClaimChunkSend is ClaimSend for a recipient of a chunk task: a failed
// recipient is ClaimFailed, not sent again.
func (s *Store) ClaimChunkSend(ctx context.Context, id, rk, token string, ttl time.Duration) (Claim, int, error) {
	return s.claim(ctx, id, rk, token, ttl, "1")
}

func (s *Store) claim(ctx context.Context, id, rk, token string, ttl time.Duration, skipFailed string) (Claim, int, error) {
	k := s.keys(id)
	keys := []string{k.Status, k.Def, k.Lock(rk), k.Counters, k.Attempts}
	args := []any{rk, token, ttl.Milliseconds(), s.retention(id, claimTTL), skipFailed}
	var res []any
	var err error
	if s.replicaWait > 0 {
		res, err = s.claimDurably(ctx, keys, args)
	} else {
		res, err = claimScript.Run(ctx, s.rdb, keys, args...).Slice()
	}
	if err != nil {
		return "", 0, fmt.Errorf("claim recipient %s: %w", rk, err)
	}
	c, _ := res[0].(string)
	n, _ := res[1].(int64)
	return Claim(c), int(n), nil
}

// claimDurably is the claim script followed by WAIT (runDurably).
func (s *Store) claimDurably(ctx context.Context, keys []string, args []any) ([]any, error) {
	res, acked, err := s.runDurably(ctx, claimScript, keys, args)
	if err == nil && !acked && len(res) > 0 && res[0] == string(ClaimOK) {
		res[0] = string(ClaimUnreplicated)
	}
	return res, err
}

// runDurably runs script and WAIT 1 in one pipeline (WAIT waits for the
// writes of its own connection, so it must follow the script on the same
// one). acked is false when no replica acknowledged in time and the
// current run of such misses is younger than ReplicaGrace.
func (s *Store) runDurably(ctx context.Context, script *redis.Script, keys []string, args []any) (res []any, acked bool, err error) {
	for try := 0; ; try++ {
		pipe := s.rdb.Pipeline()
		run := script.EvalSha(ctx, pipe, keys, args...)
		wait := pipe.Do(ctx, "WAIT", 1, s.replicaWait.Milliseconds())
		_, _ = pipe.Exec(ctx)
		if err := run.Err(); err != nil {
			if try == 0 && redis.HasErrorPrefix(err, "NOSCRIPT") {
				if err := script.Load(ctx, s.rdb).Err(); err != nil {
					return nil, false, err
				}
				continue
			}
			return nil, false, err
		}
		res, err := run.Slice()
		if err != nil {
			return nil, false, err
		}
		if n, werr := wait.Int(); werr == nil && n >= 1 {
			s.missingSince.Store(0)
			return res, true, nil
		}
		s.replicaMisses.Add(1)
		now := s.now().UnixNano()
		s.missingSince.CompareAndSwap(0, now)
		return res, now-s.missingSince.Load() >= int64(ReplicaGrace), nil
	}
}

// ErrUnreplicated is FinishSent's answer when the record reached Redis but
// no replica acknowledged it within the replica wait: it may be lost in a
// failover under way, so the caller writes it again (to the new master).
var ErrUnreplicated = errors.New("no Redis replica acknowledged the write within the replica wait")

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
	var res []any
	acked := true
	if s.replicaWait > 0 {
		// A send Sinch accepted whose record a failover drops is sent again
		// when Sinch's list cannot show it (dispatch retention 0).
		res, acked, err = s.runDurably(ctx, sentScript, keys, args)
	} else {
		res, err = sentScript.Run(ctx, s.rdb, keys, args...).Slice()
	}
	if err != nil {
		return Sent{}, fmt.Errorf("recipient %s -> %s: %w", rk, StatusSent, err)
	}
	if !acked {
		return Sent{}, fmt.Errorf("recipient %s -> %s: %w", rk, StatusSent, ErrUnreplicated)
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

// Control is whether a campaign is paused or cancelled, and why.
type Control struct {
	Paused, Cancelled bool
	Reason            string
}

// NotCancelled is the one place the rule "a cancelled campaign stays
// cancelled" is checked: pause, resume and retry call it, and get
// ErrCancelled (naming the action and the campaign) for a cancelled one.
func (c Control) NotCancelled(action, id string) error {
	if c.Cancelled {
		return fmt.Errorf("cannot %s campaign %s: %w", action, id, ErrCancelled)
	}
	return nil
}

// Pause stops workers from sending this campaign's messages; their tasks are
// deferred, not failed. reason is shown in status. A cancelled campaign is
// refused (ErrCancelled).
func (s *Store) Pause(ctx context.Context, id, reason string) error {
	_, err := s.changeControl(ctx, id, "pause", func(pipe redis.Pipeliner, k keyspace.Campaign) {
		pipe.HSet(ctx, k.Def, "control", controlPaused, "control_reason", reason)
	})
	return err
}

// Resume lets workers send again. A cancelled campaign is refused
// (ErrCancelled).
func (s *Store) Resume(ctx context.Context, id string) error {
	_, err := s.changeControl(ctx, id, "resume", func(pipe redis.Pipeliner, k keyspace.Campaign) {
		resetAutoPause(ctx, pipe, id)
		pipe.HDel(ctx, k.Def, "control", "control_reason")
	})
	return err
}

// Cancel stops the rest of the campaign: pending recipients become cancelled
// as workers reach them. It returns the campaign's definition (its queue is
// where its tasks are).
func (s *Store) Cancel(ctx context.Context, id, reason string) (Definition, error) {
	return s.changeControl(ctx, id, "cancel", func(pipe redis.Pipeliner, k keyspace.Campaign) {
		pipe.HSet(ctx, k.Def, "control", controlCancelled, "control_reason", reason)
	})
}

// maxControlAttempts bounds changeControl's tries.
const maxControlAttempts = 100

// changeControl looks the campaign up and queues write in one transaction
// under WATCH of the definition, so a change made meanwhile (a cancel
// during a resume) makes it look again rather than undo that change.
// Actions other than cancel refuse a cancelled campaign (cancelling again
// only changes the reason).
func (s *Store) changeControl(ctx context.Context, id, action string, write func(redis.Pipeliner, keyspace.Campaign)) (Definition, error) {
	k := keysFor(id)
	var def Definition
	txn := func(tx *redis.Tx) error {
		d, c, err := s.lookup(ctx, tx, id)
		if err != nil {
			return err
		}
		if action != "cancel" {
			if err := c.NotCancelled(action, id); err != nil {
				return err
			}
		}
		def = d
		_, err = tx.TxPipelined(ctx, func(pipe redis.Pipeliner) error {
			write(pipe, k)
			return nil
		})
		if err != nil && !errors.Is(err, redis.TxFailedErr) {
			return fmt.Errorf("%s campaign %s: %w", action, id, err)
		}
		return err
	}
	// Each failed attempt means another change went through, so operators
	// clicking at once all get theirs in well within this bound.
	for range maxControlAttempts {
		switch err := s.rdb.Watch(ctx, txn, k.Def); {
		case err == nil:
			return def, nil
		case !errors.Is(err, redis.TxFailedErr):
			return Definition{}, err
		}
	}
	return Definition{}, fmt.Errorf("%s campaign %s: it kept changing meanwhile; try again", action, id)
}

// Control returns whether the campaign is paused or cancelled, and why
// (ErrCampaignNotFound for an unknown campaign).
func (s *Store) Control(ctx context.Context, id string) (paused, cancelled bool, reason string, err error) {
	_, c, err := s.Lookup(ctx, id)
	return c.Paused, c.Cancelled, c.Reason, err
}
