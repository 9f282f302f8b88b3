package campaign

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/sinch-dispatch/sinch-dispatch/internal/keyspace"
	"github.com/sinch-dispatch/sinch-dispatch/internal/sms"
)

// Retention is how long a campaign's keys live after its last change.
const Retention = 90 * 24 * time.Hour

// retentionSeconds is Retention as Lua scripts take it.
var retentionSeconds = int64(Retention / time.Second)

// keysFor returns the keys of campaign id (see keyspace.Campaign).
func keysFor(id string) keyspace.Campaign { return keyspace.ForCampaign(id) }

// campaignKeys is one campaign's keys, remembered by Store.keys.
type campaignKeys struct {
	id string
	k  keyspace.Campaign
	// claimTTL and sentTTL are when this Store last had the claim and the
	// sent transition set the retention TTL of the keys each writes (Unix
	// ns); see retention.
	claimTTL, sentTTL atomic.Int64
}

// retainLua defines retain(key, ttl), how the send path's scripts give a
// key the campaign's retention: a ttl of N seconds sets it, −N sets it only
// on a key that has none (EXPIRE NX), so a key the script has just created
// never lives without a TTL while the refresh of the others waits for
// ttlRefresh.
const retainLua = `
local function retain(key, ttl)
  if string.sub(ttl, 1, 1) == '-' then
    redis.call('EXPIRE', key, string.sub(ttl, 2), 'NX')
  else
    redis.call('EXPIRE', key, ttl)
  end
end
`

// ttlRefresh is how often the send path refreshes a campaign's retention
// TTL. The keys live for Retention after their last change; refreshing
// them on every send, hundreds of times a second, changed nothing a
// refresh a second later would not.
const ttlRefresh = time.Second

func claimTTL(c *campaignKeys) *atomic.Int64 { return &c.claimTTL }
func sentTTL(c *campaignKeys) *atomic.Int64  { return &c.sentTTL }

// retention is the TTL argument of a send path script (the claim, or the
// transition to sent; stamp picks which) for campaign id:
// retentionSeconds when this Store has not had that script refresh the
// campaign's keys within ttlRefresh, else 0, which the scripts read as
// "keep the TTL" (−retentionSeconds: see retainLua). Each script's first
// call for a campaign refreshes.
func (s *Store) retention(id string, stamp func(*campaignKeys) *atomic.Int64) int64 {
	s.keys(id)
	c := s.last.Load()
	if c == nil || c.id != id { // another campaign meanwhile: refresh
		return retentionSeconds
	}
	ttlAt := stamp(c)
	now, at := s.now().UnixNano(), ttlAt.Load()
	if at != 0 && now-at < int64(ttlRefresh) && now >= at {
		return -retentionSeconds
	}
	if !ttlAt.CompareAndSwap(at, now) {
		return -retentionSeconds // another call is refreshing it now
	}
	return retentionSeconds
}

// keys is keysFor(id) for the send path, without building a dozen strings
// per call: it remembers the last campaign's keys, and a worker mostly
// sends one campaign at a time.
func (s *Store) keys(id string) keyspace.Campaign {
	if c := s.last.Load(); c != nil && c.id == id {
		return c.k
	}
	k := keysFor(id)
	s.last.Store(&campaignKeys{id: id, k: k})
	return k
}

// Store reads and writes campaigns in Redis.
type Store struct {
	rdb redis.UniversalClient
	now func() time.Time
	// replicaWait, when positive, makes ClaimSend wait that long at most
	// for a replica to hold the claim (see SetReplicaWait).
	replicaWait time.Duration
	// replicaMisses counts claims no replica acknowledged in time;
	// missingSince is when the current run of them began (unix ns, 0: the
	// last claim was acknowledged).
	replicaMisses atomic.Int64
	missingSince  atomic.Int64
	last          atomic.Pointer[campaignKeys] // see keys
}

// NewStore returns a Store on rdb.
func NewStore(rdb redis.UniversalClient) *Store {
	return &Store{rdb: rdb, now: time.Now}
}

// Redis returns the underlying client.
func (s *Store) Redis() redis.UniversalClient { return s.rdb }

// Create stores def, with its auto-pause settings, unless a campaign with
// that ID exists, and returns the stored definition and whether it was
// created now.
func (s *Store) Create(ctx context.Context, def Definition) (Definition, bool, error) {
	if err := ValidateID(def.ID); err != nil {
		return Definition{}, false, err
	}
	if def.AutoPause != nil {
		if err := def.AutoPause.Validate(); err != nil {
			return Definition{}, false, err
		}
	}
	if def.CreatedAt.IsZero() {
		def.CreatedAt = s.now().UTC()
	}
	b, err := json.Marshal(def)
	if err != nil {
		return Definition{}, false, err
	}
	k := keysFor(def.ID)
	// The definition and its TTL are written together: a crash in between
	// would leave a key that never expires.
	tx := s.rdb.TxPipeline()
	setDef := tx.HSetNX(ctx, k.Def, "def", b)
	tx.Expire(ctx, k.Def, Retention)
	if _, err := tx.Exec(ctx); err != nil {
		return Definition{}, false, fmt.Errorf("create campaign: %w", err)
	}
	if !setDef.Val() {
		existing, err := s.Get(ctx, def.ID)
		return existing, false, err
	}
	pipe := s.rdb.Pipeline()
	pipe.ZAdd(ctx, keyspace.Campaigns, redis.Z{Score: float64(def.CreatedAt.Unix()), Member: def.ID})
	if a := def.AutoPause; a != nil {
		pipe.HSet(ctx, k.Def, a.fields()...)
	}
	if _, err := pipe.Exec(ctx); err != nil {
		return Definition{}, false, fmt.Errorf("create campaign: %w", err)
	}
	return def, true, nil
}

// Get returns a campaign's definition (ErrCampaignNotFound).
func (s *Store) Get(ctx context.Context, id string) (Definition, error) {
	def, _, err := s.Lookup(ctx, id)
	return def, err
}

// Lookup returns a campaign's definition and control state, read in one
// round trip (ErrCampaignNotFound).
func (s *Store) Lookup(ctx context.Context, id string) (Definition, Control, error) {
	return s.lookup(ctx, s.rdb, id)
}

// lookup is Lookup on r: the client, or a transaction watching the
// definition (see changeControl).
func (s *Store) lookup(ctx context.Context, r redis.Cmdable, id string) (Definition, Control, error) {
	vals, err := r.HMGet(ctx, keysFor(id).Def, "def", "autopause_window", "autopause_threshold", "control", "control_reason").Result()
	if err != nil {
		return Definition{}, Control{}, fmt.Errorf("get campaign: %w", err)
	}
	b, ok := vals[0].(string)
	if !ok {
		return Definition{}, Control{}, campaignNotFound(id)
	}
	var def Definition
	if err := json.Unmarshal([]byte(b), &def); err != nil {
		return Definition{}, Control{}, fmt.Errorf("get campaign %s: corrupt definition: %w", id, err)
	}
	if vals[1] != nil || vals[2] != nil {
		a := autoPauseFrom(vals[1], vals[2])
		def.AutoPause = &a
	}
	control, _ := vals[3].(string)
	reason, _ := vals[4].(string)
	return def, Control{Paused: control == controlPaused, Cancelled: control == controlCancelled, Reason: reason}, nil
}

// IDs lists campaign IDs, newest first. The index has no TTL of its own:
// listing is what sweeps it, dropping every campaign whose definition has
// expired (the worker lists campaigns at each tracking check, see
// RecentlySent, so the index stays swept without anyone running list).
func (s *Store) IDs(ctx context.Context) ([]string, error) {
	ids, err := s.rdb.ZRevRange(ctx, keyspace.Campaigns, 0, -1).Result()
	if err != nil {
		return nil, fmt.Errorf("list campaigns: %w", err)
	}
	gone, err := s.expired(ctx, ids)
	if err != nil {
		return nil, err
	}
	if len(gone) == 0 {
		return ids, nil
	}
	dropped, err := s.unindex(ctx, gone)
	if err != nil {
		return nil, err
	}
	return slices.DeleteFunc(ids, func(id string) bool { return dropped[id] }), nil
}

// indexBatch bounds one pipeline over the campaign index.
const indexBatch = 500

// expired returns the campaigns among ids whose definition no longer exists.
func (s *Store) expired(ctx context.Context, ids []string) ([]string, error) {
	var gone []string
	for start := 0; start < len(ids); start += indexBatch {
		batch := ids[start:min(start+indexBatch, len(ids))]
		pipe := s.rdb.Pipeline()
		cmds := make([]*redis.IntCmd, len(batch))
		for i, id := range batch {
			cmds[i] = pipe.Exists(ctx, keysFor(id).Def)
		}
		if _, err := pipe.Exec(ctx); err != nil {
			return nil, fmt.Errorf("list campaigns: %w", err)
		}
		for i, c := range cmds {
			if c.Val() == 0 {
				gone = append(gone, batch[i])
			}
		}
	}
	return gone, nil
}

// unindex removes campaigns whose definition expired from the index, and
// returns those it removed. The index and a definition live in different
// cluster slots, so no script can check and remove at once: a campaign
// created again under the same ID between the check and the removal would
// lose its entry. Create writes the definition before indexing it, so
// looking again after the removal finds every such campaign, and puts it
// back.
func (s *Store) unindex(ctx context.Context, ids []string) (map[string]bool, error) {
	members := make([]any, len(ids))
	for i, id := range ids {
		members[i] = id
	}
	if err := s.rdb.ZRem(ctx, keyspace.Campaigns, members...).Err(); err != nil {
		return nil, fmt.Errorf("drop expired campaigns from the index: %w", err)
	}
	dropped := make(map[string]bool, len(ids))
	for _, id := range ids {
		def, err := s.Get(ctx, id)
		switch {
		case errors.Is(err, ErrNotFound):
			dropped[id] = true
		case err != nil:
			return nil, err
		default:
			z := redis.Z{Score: float64(def.CreatedAt.Unix()), Member: id}
			if err := s.rdb.ZAdd(ctx, keyspace.Campaigns, z).Err(); err != nil {
				return nil, fmt.Errorf("re-index campaign %s: %w", id, err)
			}
		}
	}
	return dropped, nil
}

// Counters returns a campaign's counts.
func (s *Store) Counters(ctx context.Context, id string) (Counters, error) {
	m, err := s.rdb.HGetAll(ctx, keysFor(id).Counters).Result()
	if err != nil {
		return Counters{}, fmt.Errorf("campaign counters: %w", err)
	}
	n := func(k string) int64 { v, _ := strconv.ParseInt(m[k], 10, 64); return v }
	return Counters{
		Rows: n("rows"), Enqueued: n("enqueued"), AlreadyEnqueued: n("already_enqueued"),
		Duplicates: n("duplicates"), Rejected: n("rejected"), Suppressed: n("suppressed"),
		Pending: n("st:pending"), Sent: n("st:sent"), Failed: n("st:failed"), Cancelled: n("st:cancelled"),
		Attempts: n("attempts"), RateLimited: n("rate_limited"),
		SMSSegments: n("sms_segments"), SMSCost: sms.Price(n("sms_cost")),
	}, nil
}

// Upload is what one enqueue run adds to the upload counters.
type Upload struct {
	Rows, Enqueued, AlreadyEnqueued, Duplicates, Rejected, Suppressed int64
}

// AddUpload adds one enqueue run's counts.
func (s *Store) AddUpload(ctx context.Context, id string, u Upload) error {
	k := keysFor(id)
	pipe := s.rdb.Pipeline()
	for f, v := range map[string]int64{"rows": u.Rows, "enqueued": u.Enqueued,
		"already_enqueued": u.AlreadyEnqueued, "duplicates": u.Duplicates, "rejected": u.Rejected,
		"suppressed": u.Suppressed} {
		if v != 0 {
			pipe.HIncrBy(ctx, k.Counters, f, v)
		}
	}
	pipe.Expire(ctx, k.Counters, Retention)
	_, err := pipe.Exec(ctx)
	return err
}

// incr adds to a counter that is not a status count (attempts, rate_limited).
func (s *Store) incr(ctx context.Context, id, field string, by int64) error {
	return s.rdb.HIncrBy(ctx, keysFor(id).Counters, field, by).Err()
}

// CountAttempt counts one send attempt.
func (s *Store) CountAttempt(ctx context.Context, id string) error {
	return s.incr(ctx, id, "attempts", 1)
}

// CountRateLimited counts one 429 answer.
func (s *Store) CountRateLimited(ctx context.Context, id string) error {
	return s.incr(ctx, id, "rate_limited", 1)
}

// RegisterResult says what Register found for one recipient.
type RegisterResult string

const (
	RegisteredNew       RegisterResult = "new"       // first time in this campaign: now pending
	RegisteredDuplicate RegisterResult = "duplicate" // repeated within this upload
)

// Existing reports whether r names a status the recipient already had from an
// earlier upload, and which.
func (r RegisterResult) Existing() (Status, bool) {
	switch Status(r) {
	case StatusPending, StatusSent, StatusFailed, StatusCancelled:
		return Status(r), true
	}
	return "", false
}

// Registration is one recipient offered by an upload.
type Registration struct {
	Key    string // recipient key (see RecipientKey)
	Record Record
}

// registerScript adds recipients as pending unless known. A pending
// recipient is one with a record and no entry in the status hash (pending
// is implicit: the status hash holds only recipients that moved on, which
// keeps a pending recipient's cost in Redis to its record). KEYS: status,
// records, counters, and the upload's set of keys seen, which tells a
// repeat inside this CSV from a recipient of an earlier run. ARGV: the seen
// set's TTL and the retention TTL in seconds, then pairs of (key, record).
// The pending counter moves once per batch, and the batch sets the
// campaign's retention on what it wrote, so an upload that dies before
// EndUpload leaves nothing behind for ever.
var registerScript = redis.NewScript(`
local out = {}
local added = 0
for i = 3, #ARGV, 2 do
  local rk = ARGV[i]
  if redis.call('SADD', KEYS[4], rk) == 0 then
    out[#out+1] = 'duplicate'
  elseif redis.call('HSETNX', KEYS[2], rk, ARGV[i+1]) == 1 then
    added = added + 1
    out[#out+1] = 'new'
  else
    out[#out+1] = redis.call('HGET', KEYS[1], rk) or 'pending'
  end
end
if added > 0 then redis.call('HINCRBY', KEYS[3], 'st:pending', added) end
redis.call('EXPIRE', KEYS[4], ARGV[1])
for i = 1, 3 do redis.call('EXPIRE', KEYS[i], ARGV[2]) end
return out
`)

// seenTTL bounds the life of an upload's seen set if EndUpload never runs.
const seenTTL = 24 * time.Hour

// Register records a batch of recipients of one upload (runID) as pending and
// reports, for each, whether it is new, a repeat within this upload, or
// already known with some status. It is one round trip.
func (s *Store) Register(ctx context.Context, id, runID string, regs []Registration) ([]RegisterResult, error) {
	if len(regs) == 0 {
		return nil, nil
	}
	k := keysFor(id)
	args := make([]any, 0, 2+2*len(regs))
	args = append(args, int64(seenTTL/time.Second), retentionSeconds)
	for _, r := range regs {
		b, err := encodeRecord(r.Record)
		if err != nil {
			return nil, err
		}
		args = append(args, r.Key, b)
	}
	res, err := registerScript.Run(ctx, s.rdb, []string{k.Status, k.Records, k.Counters, k.Run(runID)}, args...).StringSlice()
	if err != nil {
		return nil, fmt.Errorf("register recipients: %w", err)
	}
	out := make([]RegisterResult, len(res))
	for i, r := range res {
		out[i] = RegisterResult(r)
	}
	return out, nil
}

// EndUpload drops the upload's set of seen keys and refreshes the
// campaign's retention. The set is unlinked, not deleted: Redis frees it
// in the background, where a DEL of a 10,000,000-member set would block
// it for seconds (and time out this very call).
func (s *Store) EndUpload(ctx context.Context, id, runID string) error {
	k := keysFor(id)
	pipe := s.rdb.Pipeline()
	pipe.Unlink(ctx, k.Run(runID))
	retain(ctx, pipe, k)
	_, err := pipe.Exec(ctx)
	return err
}

// retain queues an EXPIRE of Retention on every key of the campaign that
// lives as long as it (keyspace.Campaign.Retained; a key that does not
// exist yet is skipped by Redis and gets its TTL when first written), so
// they expire together, Retention after the last upload or tracking pass.
func retain(ctx context.Context, pipe redis.Pipeliner, k keyspace.Campaign) {
	for _, key := range k.Retained() {
		pipe.Expire(ctx, key, Retention)
	}
}

// transitionLua defines transition(K, A), which moves one recipient to a new
// status if its current status is one of the allowed ones, keeping the
// per-status counters exact. A recipient with a record and no status is
// pending (see registerScript), and moving one to pending drops its status
// entry again. It returns {applied (0 or 1), old status or "-"}.
// K: status, records, counters, message IDs, sends per second.
// A: key, new status, record JSON or "", allowed old statuses
// (comma-separated, "-" for absent), message ID or "", unix second,
// retention TTL in seconds, then for a send the SMS segments and estimated
// cost (Price units) it adds to the counters ("0" for none). The status,
// message ID and per-second keys are written only here (and by cancel) and
// get the campaign's retention when they are.
const transitionLua = retainLua + `
local function transition(K, A)
  local old = redis.call('HGET', K[1], A[1])
  if not old and redis.call('HEXISTS', K[2], A[1]) == 1 then old = 'pending' end
  local o = old or '-'
  if not string.find(',' .. A[4] .. ',', ',' .. o .. ',', 1, true) then
    return {0, o}
  end
  if A[3] ~= '' then redis.call('HSET', K[2], A[1], A[3]) end
  if A[2] == 'pending' and (A[3] ~= '' or old) then
    redis.call('HDEL', K[1], A[1])
  else
    redis.call('HSET', K[1], A[1], A[2])
    retain(K[1], A[7]) -- the upload writes no status entry
  end
  if old then redis.call('HINCRBY', K[3], 'st:' .. old, -1) end
  redis.call('HINCRBY', K[3], 'st:' .. A[2], 1)
  if A[5] ~= '' then
    redis.call('HSET', K[4], A[5], A[1])
    retain(K[4], A[7])
  end
  if A[2] == 'sent' then
    if A[8] ~= '0' then redis.call('HINCRBY', K[3], 'sms_segments', A[8]) end
    if A[9] ~= '0' then redis.call('HINCRBY', K[3], 'sms_cost', A[9]) end
    redis.call('HINCRBY', K[5], A[6], 1)
    retain(K[5], A[7])
    -- first_sent and last_sent are written together, so only a campaign
    -- without last_sent can lack first_sent.
    local last = redis.call('HGET', K[3], 'last_sent')
    if not last then redis.call('HSETNX', K[3], 'first_sent', A[6]) end
    if tonumber(last or '0') < tonumber(A[6]) then
      redis.call('HSET', K[3], 'last_sent', A[6])
    end
  end
  return {1, o}
end
`

var transitionScript = redis.NewScript(transitionLua + `return transition(KEYS, ARGV)`)

// transition applies one status change; it reports whether it applied and
// the status the recipient had.
func (s *Store) transition(ctx context.Context, id, rk string, to Status, rec *Record, from ...Status) (bool, Status, error) {
	keys, args, err := s.transitionArgs(id, rk, to, rec, from...)
	if err != nil {
		return false, "", err
	}
	res, err := transitionScript.Run(ctx, s.rdb, keys, args...).Slice()
	if err != nil {
		return false, "", fmt.Errorf("recipient %s -> %s: %w", rk, to, err)
	}
	applied, old := transitionResult(res)
	return applied, old, nil
}

// transitionArgs are the KEYS and ARGV of transition() in transitionLua.
func (s *Store) transitionArgs(id, rk string, to Status, rec *Record, from ...Status) ([]string, []any, error) {
	recJSON := ""
	if rec != nil {
		b, err := json.Marshal(rec)
		if err != nil {
			return nil, nil, err
		}
		recJSON = string(b)
	}
	msgID := ""
	if rec != nil && to == StatusSent {
		msgID = rec.MessageID
	}
	var segments, cost int64
	ttl := retentionSeconds // only a transition to sent sets TTLs
	if to == StatusSent {
		ttl = s.retention(id, sentTTL)
	}
	if rec != nil && to == StatusSent {
		segments, cost = int64(rec.Segments), int64(rec.Cost)
	}
	k := s.keys(id)
	return []string{k.Status, k.Records, k.Counters, k.MessageIDs, k.SentPerSecond},
		[]any{rk, string(to), recJSON, statusList(from), msgID, s.now().Unix(), ttl, segments, cost}, nil
}

// transitionResult reads transition()'s {applied, old status}.
func transitionResult(res []any) (bool, Status) {
	applied, _ := res[0].(int64)
	old, _ := res[1].(string)
	if old == "-" {
		old = ""
	}
	return applied == 1, Status(old)
}

// sentFrom are the statuses a recipient may be marked sent from.
var sentFrom = []Status{"", StatusPending, StatusFailed, StatusCancelled}

// statusList is the statuses from as the scripts take them (transition's
// A[4]): comma-separated, "-" for none.
func statusList(from []Status) string {
	s := make([]string, len(from))
	for i, f := range from {
		s[i] = cmp.Or(string(f), "-")
	}
	return strings.Join(s, ",")
}

// sentFromList is statusList(sentFrom), for the hot path.
var sentFromList = statusList(sentFrom)

// MarkSent records acceptance by Sinch. It returns false when the recipient
// was already sent: the caller must not count or report it twice.
func (s *Store) MarkSent(ctx context.Context, id, rk string, rec Record) (bool, error) {
	ok, _, err := s.transition(ctx, id, rk, StatusSent, &rec, sentFrom...)
	return ok, err
}

// MarkFailed records a final failure, unless the recipient was sent meanwhile.
func (s *Store) MarkFailed(ctx context.Context, id, rk string, rec Record) (bool, error) {
	ok, _, err := s.transition(ctx, id, rk, StatusFailed, &rec, "", StatusPending, StatusFailed)
	return ok, err
}

// MarkCancelled records that a pending recipient will not be sent.
func (s *Store) MarkCancelled(ctx context.Context, id, rk string) (bool, error) {
	ok, _, err := s.transition(ctx, id, rk, StatusCancelled, nil, StatusPending)
	return ok, err
}

// MarkPending puts a failed or cancelled recipient back in the queue (retry).
func (s *Store) MarkPending(ctx context.Context, id, rk string, from ...Status) (bool, error) {
	ok, _, err := s.transition(ctx, id, rk, StatusPending, nil, from...)
	return ok, err
}

// NoteAttempt updates a pending recipient's record (attempts, last error)
// without changing its status.
func (s *Store) NoteAttempt(ctx context.Context, id, rk string, rec Record) error {
	_, _, err := s.transition(ctx, id, rk, StatusPending, &rec, StatusPending)
	return err
}

// Status returns a recipient's status (ErrRecipientNotFound when the
// campaign has no such recipient).
func (s *Store) Status(ctx context.Context, id, rk string) (Status, error) {
	k := keysFor(id)
	pipe := s.rdb.Pipeline()
	st := pipe.HGet(ctx, k.Status, rk)
	known := pipe.HExists(ctx, k.Records, rk)
	if _, err := pipe.Exec(ctx); err != nil && !errors.Is(err, redis.Nil) {
		return "", fmt.Errorf("recipient status: %w", err)
	}
	switch {
	case st.Err() == nil:
		return Status(st.Val()), nil
	case known.Val():
		return StatusPending, nil // pending is implicit (see registerScript)
	}
	return "", recipientNotFound(id, rk)
}

// Record returns a recipient's record (ErrRecipientNotFound when there is
// none).
func (s *Store) Record(ctx context.Context, id, rk string) (Record, error) {
	var rec Record
	b, err := s.rdb.HGet(ctx, keysFor(id).Records, rk).Bytes()
	if errors.Is(err, redis.Nil) {
		return rec, recipientNotFound(id, rk)
	}
	if err != nil {
		return rec, fmt.Errorf("recipient record: %w", err)
	}
	if err := decodeRecord(b, &rec); err != nil {
		return rec, fmt.Errorf("recipient %s: corrupt record: %w", rk, err)
	}
	return rec, nil
}

// KeyForMessage finds the recipient a Sinch message ID belongs to
// (ErrRecipientNotFound when no recipient of the campaign was sent it).
func (s *Store) KeyForMessage(ctx context.Context, id, messageID string) (string, error) {
	rk, err := s.rdb.HGet(ctx, keysFor(id).MessageIDs, messageID).Result()
	if errors.Is(err, redis.Nil) {
		return "", fmt.Errorf("%w: none was sent message %s in campaign %s", ErrRecipientNotFound, messageID, id)
	}
	if err != nil {
		return "", fmt.Errorf("message recipient: %w", err)
	}
	return rk, nil
}

// SentPerSecond returns accepted sends in each of the last n seconds, oldest first.
func (s *Store) SentPerSecond(ctx context.Context, id string, n int) ([]int64, error) {
	return s.SentPerSecondUntil(ctx, id, s.now(), n)
}

// SentPerSecondUntil returns accepted sends in each of the n seconds ending
// with end's second, oldest first (the dashboard charts a finished
// campaign's last minutes of sending).
func (s *Store) SentPerSecondUntil(ctx context.Context, id string, end time.Time, n int) ([]int64, error) {
	last := end.Unix()
	fields := make([]string, n)
	for i := range fields {
		fields[i] = strconv.FormatInt(last-int64(n-1-i), 10)
	}
	vals, err := s.rdb.HMGet(ctx, keysFor(id).SentPerSecond, fields...).Result()
	if err != nil {
		return nil, err
	}
	out := make([]int64, n)
	for i, v := range vals {
		if str, ok := v.(string); ok {
			out[i], _ = strconv.ParseInt(str, 10, 64)
		}
	}
	return out, nil
}

// ScanRecipients calls fn for every recipient, in batches, without loading
// the campaign into memory (HSCAN). Order is unspecified. It is ScanReport
// without the outcome.
func (s *Store) ScanRecipients(ctx context.Context, id string, fn func(rk string, st Status, rec Record) error) error {
	return s.ScanReport(ctx, id, func(r ReportRow) error { return fn(r.Key, r.Status, r.Record) })
}
