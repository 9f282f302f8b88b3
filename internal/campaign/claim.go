package campaign

import (
	"context"
	"encoding/json"
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

// claimScript checks status and campaign control and takes a short lock
// for each of a few recipients of one campaign, in one round trip on the
// hot path (a chunk claims the recipients it is about to send together).
// KEYS: status, def, counters, attempts, then one lock per recipient.
// ARGV: lock TTL in ms, retention TTL in seconds (the attempts hash is
// written only here; see retainLua and Store.retention), "1" to refuse a
// failed recipient, then each recipient's key and lock token.
// It returns each recipient's claim and attempt number, flattened.
var claimScript = redis.NewScript(retainLua + `
local ctl = redis.call('HGET', KEYS[2], 'control')
local out, locked = {}, 0
for i = 1, #KEYS - 4 do
  local rk, token = ARGV[2*i + 2], ARGV[2*i + 3]
  local st = redis.call('HGET', KEYS[1], rk)
  local c, n = 'ok', 0
  if st == 'sent' then c = 'sent'
  elseif st == 'cancelled' then c = 'cancelled'
  elseif st == 'failed' and ARGV[3] == '1' then c = 'failed'
  elseif ctl == 'cancelled' then c = 'cancelled'
  elseif ctl == 'paused' then c = 'paused'
  elseif not redis.call('SET', KEYS[4 + i], token, 'NX', 'PX', ARGV[1]) then c = 'busy'
  else
    n = redis.call('HINCRBY', KEYS[4], rk, 1)
    locked = locked + 1
  end
  out[2*i - 1], out[2*i] = c, n
end
if locked > 0 then
  redis.call('HINCRBY', KEYS[3], 'attempts', locked)
  retain(KEYS[4], ARGV[2])
end
return out
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

// sentScript is what sends accepted by Sinch cost Redis, for a few
// recipients of one campaign in one round trip: mark each recipient sent
// (as transition does), drop its claim lock (release), and feed the fresh
// outcomes to the auto-pause window (count_successes). What the recipients
// share (the status counters, the per-second count, last_sent, the TTLs,
// the window) is written once for all of them, not once each: the
// script's calls into Redis, not the work they do, are most of its cost.
// KEYS: status, records, counters, message IDs, sent per second,
// auto-pause window, def, then one lock per recipient.
// ARGV: count_final's A[2..5], the statuses a recipient may be sent from
// (transition's A[4]), now (unix seconds), the retention TTL (retainLua),
// then per recipient its key, record JSON, message ID, SMS segments, SMS
// cost and lock token. It returns per recipient {applied, old status,
// paused, reason}, flattened.
var sentScript = redis.NewScript(retainLua + countFinalLua + countSuccessesLua + releaseLua + `
local from, now, ttl = ',' .. ARGV[5] .. ',', ARGV[6], ARGV[7]
local out, moved, fresh, segs, cost, last = {}, {}, 0, 0, 0, 0
for i = 1, #KEYS - 7 do
  local b = 7 + 6 * (i - 1)
  local rk = ARGV[b+1]
  local old = redis.call('HGET', KEYS[1], rk)
  if not old and redis.call('HEXISTS', KEYS[2], rk) == 1 then old = 'pending' end
  local o = old or '-'
  local applied = 0
  if string.find(from, ',' .. o .. ',', 1, true) then
    applied = 1
    redis.call('HSET', KEYS[2], rk, ARGV[b+2])
    redis.call('HSET', KEYS[1], rk, 'sent')
    if old then moved[old] = (moved[old] or 0) + 1 end
    if ARGV[b+3] ~= '' then redis.call('HSET', KEYS[4], ARGV[b+3], rk) end
    segs, cost = segs + tonumber(ARGV[b+4]), cost + tonumber(ARGV[b+5])
    fresh = fresh + 1
    last = i
  end
  release(KEYS[7 + i], ARGV[b+6])
  local o4 = 4 * (i - 1)
  out[o4+1], out[o4+2], out[o4+3], out[o4+4] = applied, o, 0, ''
end
if fresh > 0 then
  for st, n in pairs(moved) do redis.call('HINCRBY', KEYS[3], 'st:' .. st, -n) end
  redis.call('HINCRBY', KEYS[3], 'st:sent', fresh)
  if segs ~= 0 then redis.call('HINCRBY', KEYS[3], 'sms_segments', segs) end
  if cost ~= 0 then redis.call('HINCRBY', KEYS[3], 'sms_cost', cost) end
  redis.call('HINCRBY', KEYS[5], now, fresh)
  retain(KEYS[1], ttl)
  retain(KEYS[4], ttl)
  retain(KEYS[5], ttl)
  -- first_sent and last_sent are written together, so only a campaign
  -- without last_sent can lack first_sent.
  local ls = redis.call('HGET', KEYS[3], 'last_sent')
  if not ls then redis.call('HSETNX', KEYS[3], 'first_sent', now) end
  if tonumber(ls or '0') < tonumber(now) then redis.call('HSET', KEYS[3], 'last_sent', now) end
  local p = count_successes({KEYS[6], KEYS[3], KEYS[7]}, {'0', ARGV[1], ARGV[2], ARGV[3], ARGV[4]}, fresh)
  if p[1] == 1 then out[4 * (last - 1) + 3], out[4 * (last - 1) + 4] = 1, p[2] end
end
return out
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
	return s.claimOne(ctx, id, rk, token, ttl, "0")
}

// ClaimChunkSend is ClaimSend for a recipient of a chunk task: a failed
// recipient is ClaimFailed, not sent again.
func (s *Store) ClaimChunkSend(ctx context.Context, id, rk, token string, ttl time.Duration) (Claim, int, error) {
	return s.claimOne(ctx, id, rk, token, ttl, "1")
}

func (s *Store) claimOne(ctx context.Context, id, rk, token string, ttl time.Duration, skipFailed string) (Claim, int, error) {
	res, err := s.claim(ctx, id, []Lock{{Key: rk, Token: token}}, ttl, skipFailed)
	if err != nil {
		return "", 0, err
	}
	return res[0].Claim, res[0].Attempt, nil
}

// Lock is one recipient to claim: its key and the token of this attempt's
// lock.
type Lock struct{ Key, Token string }

// Claimed is the claim of one recipient of ClaimChunkSends.
type Claimed struct {
	Claim   Claim
	Attempt int
}

// ClaimChunkSends is ClaimChunkSend for several recipients of campaign id
// in one round trip, answered in their order.
func (s *Store) ClaimChunkSends(ctx context.Context, id string, locks []Lock, ttl time.Duration) ([]Claimed, error) {
	return s.claim(ctx, id, locks, ttl, "1")
}

func (s *Store) claim(ctx context.Context, id string, locks []Lock, ttl time.Duration, skipFailed string) ([]Claimed, error) {
	k := s.keys(id)
	keys := make([]string, 4, 4+len(locks))
	keys[0], keys[1], keys[2], keys[3] = k.Status, k.Def, k.Counters, k.Attempts
	args := make([]any, 3, 3+2*len(locks))
	args[0], args[1], args[2] = ttl.Milliseconds(), s.retention(id, claimTTL), skipFailed
	for _, l := range locks {
		keys = append(keys, k.Lock(l.Key))
		args = append(args, l.Key, l.Token)
	}
	var res []any
	var err error
	if s.replicaWait > 0 {
		res, err = s.claimDurably(ctx, keys, args)
	} else {
		res, err = claimScript.Run(ctx, s.rdb, keys, args...).Slice()
	}
	if err == nil && len(res) != 2*len(locks) {
		err = fmt.Errorf("claim script returned %d values for %d recipients", len(res), len(locks))
	}
	if err != nil {
		if len(locks) == 1 {
			return nil, fmt.Errorf("claim recipient %s: %w", locks[0].Key, err)
		}
		return nil, fmt.Errorf("claim %d recipients of campaign %s: %w", len(locks), id, err)
	}
	out := make([]Claimed, len(locks))
	for i := range out {
		c, _ := res[2*i].(string)
		n, _ := res[2*i+1].(int64)
		out[i] = Claimed{Claim: Claim(c), Attempt: int(n)}
	}
	return out, nil
}

// claimDurably is the claim script followed by WAIT (runDurably).
func (s *Store) claimDurably(ctx context.Context, keys []string, args []any) ([]any, error) {
	res, acked, err := s.runDurably(ctx, claimScript, keys, args)
	if err == nil && !acked {
		for i := 0; i < len(res); i += 2 {
			if res[i] == string(ClaimOK) {
				res[i] = string(ClaimUnreplicated)
			}
		}
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
	out, err := s.FinishSents(ctx, id, []Accepted{{Lock: Lock{Key: rk, Token: token}, Record: rec}})
	if err != nil {
		return Sent{}, err
	}
	return out[0], nil
}

// Accepted is a send Sinch accepted, to record: the recipient, the token
// of its claim, and its record.
type Accepted struct {
	Lock
	Record Record
}

// FinishSents is FinishSent for several recipients of campaign id in one
// round trip, answered in their order. When the fresh sends trip the
// auto-pause, the last of them says so.
func (s *Store) FinishSents(ctx context.Context, id string, sends []Accepted) ([]Sent, error) {
	k := s.keys(id)
	apKeys, apArgs := countFinalArgs(k, "0")
	keys := append(make([]string, 0, 7+len(sends)), k.Status, k.Records, k.Counters, k.MessageIDs, k.SentPerSecond, apKeys[0], apKeys[2])
	args := append(make([]any, 0, len(apArgs)+2+6*len(sends)), apArgs[1:]...)
	args = append(args, sentFromList, s.now().Unix(), s.retention(id, sentTTL))
	for _, a := range sends {
		b, err := json.Marshal(&a.Record)
		if err != nil {
			return nil, err
		}
		keys = append(keys, k.Lock(a.Key))
		args = append(args, a.Key, b, a.Record.MessageID, a.Record.Segments, int64(a.Record.Cost), a.Token)
	}
	what := func() string {
		if len(sends) == 1 {
			return fmt.Sprintf("recipient %s -> %s", sends[0].Key, StatusSent)
		}
		return fmt.Sprintf("%d recipients of campaign %s -> %s", len(sends), id, StatusSent)
	}
	var res []any
	var err error
	acked := true
	if s.replicaWait > 0 {
		// A send Sinch accepted whose record a failover drops is sent again
		// when Sinch's list cannot show it (dispatch retention 0).
		res, acked, err = s.runDurably(ctx, sentScript, keys, args)
	} else {
		res, err = sentScript.Run(ctx, s.rdb, keys, args...).Slice()
	}
	if err == nil && len(res) != 4*len(sends) {
		err = fmt.Errorf("sent script returned %d values for %d recipients", len(res), len(sends))
	}
	if err != nil {
		return nil, fmt.Errorf("%s: %w", what(), err)
	}
	if !acked {
		return nil, fmt.Errorf("%s: %w", what(), ErrUnreplicated)
	}
	out := make([]Sent, len(sends))
	for i := range out {
		r := res[4*i : 4*i+4]
		out[i].Fresh, _ = transitionResult(r[:2])
		out[i].Paused, out[i].Reason = countFinalResult(r[2:])
	}
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
