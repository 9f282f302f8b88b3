package campaign

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/sinch-dispatch/sinch-dispatch/internal/sinch"
)

// Outcome is what happened to a recipient's message after Sinch accepted
// it, as learnt from the message store (tracking) or from delivery receipts
// (the dashboard's webhook). It is separate from Status: Status says whether
// we sent, Outcome says what Sinch and the recipient did with it.
type Outcome string

// Outcomes, from the weakest evidence to the strongest. An outcome never goes
// backwards: SetOutcome applies a new outcome only if it ranks above the
// recipient's current one, so a late or replayed QUEUED_ON_CHANNEL never hides
// a DELIVERED, and listing the same messages twice changes nothing.
//
// Failed ranks above stored and queued_on_channel but below delivered: a
// delivery failure beats "Sinch has it", while a later DELIVERED or READ
// (channels sometimes report a failure, then succeed after switching
// channel), a reply or an opt-out proves the message arrived and overrides
// it. A failed recipient whose reason was unknown takes the reason of a
// later failure report.
const (
	OutcomeStored    Outcome = "stored"            // listed in Sinch's dispatch store: Sinch has it
	OutcomeQueued    Outcome = "queued_on_channel" // handed to the channel
	OutcomeFailed    Outcome = "failed"            // the channel could not deliver it (see the reason)
	OutcomeDelivered Outcome = "delivered"         // delivered to the handset or app
	OutcomeRead      Outcome = "read"              // read by the recipient (channels that report it)
	OutcomeReplied   Outcome = "replied"           // the recipient answered
	OutcomeOptedOut  Outcome = "opted_out"         // the recipient answered STOP (or another stop keyword)
)

// Outcomes lists every outcome in precedence order, lowest first.
var Outcomes = []Outcome{OutcomeStored, OutcomeQueued, OutcomeFailed, OutcomeDelivered,
	OutcomeRead, OutcomeReplied, OutcomeOptedOut}

// Rank is the outcome's precedence (1 for stored … 7 for opted_out), 0 when
// the outcome is unknown.
func (o Outcome) Rank() int {
	for i, v := range Outcomes {
		if o == v {
			return i + 1
		}
	}
	return 0
}

// Valid reports whether o is one of Outcomes.
func (o Outcome) Valid() bool { return o.Rank() > 0 }

// OutcomeForDelivery maps a Sinch delivery status (a MESSAGE_DELIVERY
// receipt, or a listed message's message_status) to an outcome. It reports
// false for statuses that say nothing final-ish (SWITCHING_CHANNEL, unknown
// values): the caller keeps what it knows.
func OutcomeForDelivery(s sinch.DeliveryStatus) (Outcome, bool) {
	switch s {
	case sinch.StatusQueuedOnChannel:
		return OutcomeQueued, true
	case sinch.StatusDelivered:
		return OutcomeDelivered, true
	case sinch.StatusRead:
		return OutcomeRead, true
	case sinch.StatusFailed:
		return OutcomeFailed, true
	}
	return "", false
}

// DeliveryUpdate is the outcome update a delivery status says, with the
// reason code for FAILED: one mapping for delivery receipts (the webhook)
// and listed messages' message_status (tracking). ok is false when the
// status says nothing (see OutcomeForDelivery). Key is left for the caller.
func DeliveryUpdate(s sinch.DeliveryStatus, reason *sinch.Reason) (u OutcomeUpdate, ok bool) {
	if u.Outcome, ok = OutcomeForDelivery(s); ok && u.Outcome == OutcomeFailed && reason != nil {
		u.Reason = string(reason.Code)
	}
	return u, ok
}

// UnknownReason is the failure reason recorded when a failure names none.
const UnknownReason = "UNKNOWN"

// RecipientOutcome is one recipient's outcome; Reason is set for failed.
// Channel is the channel the message was delivered on, once a delivery
// (or a read, a reply) said which: with channel fallback it is the one
// that reached the recipient.
type RecipientOutcome struct {
	Outcome Outcome       `json:"outcome,omitempty"`
	Reason  string        `json:"reason,omitempty"`
	Channel sinch.Channel `json:"channel,omitempty"`
}

// String is "delivered", "failed:RECIPIENT_NOT_REACHABLE", or "" when
// nothing is known. The channel is not part of it (see Channel).
func (r RecipientOutcome) String() string {
	if r.Outcome == OutcomeFailed {
		return string(r.Outcome) + ":" + r.Reason
	}
	return string(r.Outcome)
}

// parseRecipientOutcome reads a stored outcome: outcome[:reason][/CHANNEL]
// (reasons are normalised without a '/', see normalizeReason).
func parseRecipientOutcome(v string) RecipientOutcome {
	v, ch, _ := strings.Cut(v, "/")
	o, reason, _ := strings.Cut(v, ":")
	return RecipientOutcome{Outcome: Outcome(o), Reason: reason, Channel: sinch.Channel(ch)}
}

// OutcomeUpdate is one outcome observed for one recipient.
type OutcomeUpdate struct {
	Key     string // recipient key (RecipientKey)
	Outcome Outcome
	Reason  string // failure reason code for OutcomeFailed; ignored otherwise
	// Channel is the channel the update was observed on ("": not known).
	// It is recorded as the recipient's delivery channel by the first
	// update of delivered or above that names one (see DeliveredOn).
	Channel sinch.Channel
}

// DeliveredOn is the lowest outcome that says on which channel a message
// reached its recipient: a failure names the channel that failed, not the
// one that delivered.
const DeliveredOn = OutcomeDelivered

// OutcomeCounts are a campaign's recipients by outcome. The per-outcome counts
// are exact (kept by the same script that changes outcomes); FailedByReason
// adds up to Failed. Recipients with no outcome yet are not counted.
type OutcomeCounts struct {
	Stored         int64            `json:"stored"`
	Queued         int64            `json:"queued_on_channel"`
	Failed         int64            `json:"failed"`
	Delivered      int64            `json:"delivered"`
	Read           int64            `json:"read"`
	Replied        int64            `json:"replied"`
	OptedOut       int64            `json:"opted_out"`
	FailedByReason map[string]int64 `json:"failed_by_reason"`
	// DeliveredByChannel counts the recipients reached on each channel
	// (those whose delivery channel is known, see RecipientOutcome.Channel).
	DeliveredByChannel map[sinch.Channel]int64 `json:"delivered_by_channel"`
	// ChannelSwitches counts SWITCHING_CHANNEL receipts: each is a message
	// falling back from one channel to the next of its
	// channel_priority_order.
	ChannelSwitches int64 `json:"channel_switches"`
}

// Get returns the count of one outcome.
func (c OutcomeCounts) Get(o Outcome) int64 {
	if f := c.field(o); f != nil {
		return *f
	}
	return 0
}

func (c *OutcomeCounts) set(o Outcome, n int64) {
	if f := c.field(o); f != nil {
		*f = n
	}
}

// field is the counter of outcome o, or nil for an unknown outcome.
func (c *OutcomeCounts) field(o Outcome) *int64 {
	switch o {
	case OutcomeStored:
		return &c.Stored
	case OutcomeQueued:
		return &c.Queued
	case OutcomeFailed:
		return &c.Failed
	case OutcomeDelivered:
		return &c.Delivered
	case OutcomeRead:
		return &c.Read
	case OutcomeReplied:
		return &c.Replied
	case OutcomeOptedOut:
		return &c.OptedOut
	}
	return nil
}

// Total is the number of recipients with a known outcome.
func (c OutcomeCounts) Total() int64 {
	var n int64
	for _, o := range Outcomes {
		n += c.Get(o)
	}
	return n
}

// setOutcomesScript applies outcome updates with precedence, keeping the
// per-outcome, per-reason and per-channel counters exact. KEYS: records
// (every recipient has one), outcomes, outcome counters. ARGV[1]: key TTL
// in seconds; ARGV[2]: the "unknown" reason; ARGV[3]: the rank of
// DeliveredOn; then quadruples (recipient key, outcome, reason, channel).
// A stored outcome is outcome[:reason][/CHANNEL]; the channel, once set,
// stays. Recipients unknown to the campaign are ignored. Returns one 1
// (outcome applied) or 0 per quadruple.
var setOutcomesScript = redis.NewScript(`
local rank = {stored=1, queued_on_channel=2, failed=3, delivered=4, read=5, replied=6, opted_out=7}
local unknown = ARGV[2]
local onRank = tonumber(ARGV[3])
local out = {}
for i = 4, #ARGV, 4 do
  local rk, new, reason, newch = ARGV[i], ARGV[i+1], ARGV[i+2], ARGV[i+3]
  local applied = 0
  if redis.call('HEXISTS', KEYS[1], rk) == 1 then
    local cur = redis.call('HGET', KEYS[2], rk)
    local co, cr, cch, cv = nil, '', '', nil
    if cur then
      cv = cur
      local s = string.find(cur, '/', 1, true)
      if s then cch = string.sub(cur, s + 1); cv = string.sub(cur, 1, s - 1) end
      local p = string.find(cv, ':', 1, true)
      if p then co = string.sub(cv, 1, p - 1); cr = string.sub(cv, p + 1) else co = cv end
    end
    local apply = (not co) or (rank[new] > (rank[co] or 0))
    if not apply and co == 'failed' and new == 'failed' and cr == unknown and reason ~= unknown then
      apply = true
    end
    local ch = cch
    if ch == '' and newch ~= '' and rank[new] >= onRank then
      ch = newch
      redis.call('HINCRBY', KEYS[3], 'd:' .. ch, 1)
    end
    if apply then
      if co then
        redis.call('HINCRBY', KEYS[3], 'o:' .. co, -1)
        if co == 'failed' and redis.call('HINCRBY', KEYS[3], 'r:' .. cr, -1) <= 0 then
          redis.call('HDEL', KEYS[3], 'r:' .. cr)
        end
      end
      cv = new
      if new == 'failed' then
        cv = 'failed:' .. reason
        redis.call('HINCRBY', KEYS[3], 'r:' .. reason, 1)
      end
      redis.call('HINCRBY', KEYS[3], 'o:' .. new, 1)
      applied = 1
    end
    if apply or ch ~= cch then
      if ch ~= '' then cv = cv .. '/' .. ch end
      redis.call('HSET', KEYS[2], rk, cv)
    end
  end
  out[#out + 1] = applied
end
redis.call('EXPIRE', KEYS[2], ARGV[1])
redis.call('EXPIRE', KEYS[3], ARGV[1])
return out
`)

// maxOutcomeBatch bounds one script call, so a huge batch does not block
// Redis for long.
const maxOutcomeBatch = 1000

// SetOutcome records one recipient's outcome, unless it already has one of
// equal or higher precedence (see Outcomes). It reports whether anything
// changed. reason is the failure reason code for OutcomeFailed ("" means
// UnknownReason). A recipient key the campaign does not hold changes
// nothing. Safe to call from several processes at once, and idempotent:
// the dashboard's delivery-receipt webhook and the tracker may both report
// the same DELIVERED.
func (s *Store) SetOutcome(ctx context.Context, id, rk string, o Outcome, reason string) (bool, error) {
	res, err := s.SetOutcomes(ctx, id, []OutcomeUpdate{{Key: rk, Outcome: o, Reason: reason}})
	if err != nil {
		return false, err
	}
	return res[0], nil
}

// SetOutcomes applies a batch of updates in order (see SetOutcome) and
// reports, for each, whether it changed the recipient's outcome.
func (s *Store) SetOutcomes(ctx context.Context, id string, ups []OutcomeUpdate) ([]bool, error) {
	out := make([]bool, 0, len(ups))
	for start := 0; start < len(ups); start += maxOutcomeBatch {
		batch := ups[start:min(start+maxOutcomeBatch, len(ups))]
		args := make([]any, 0, 3+4*len(batch))
		args = append(args, retentionSeconds, UnknownReason, DeliveredOn.Rank())
		for _, u := range batch {
			if !u.Outcome.Valid() {
				return out, fmt.Errorf("set outcome: unknown outcome %q", u.Outcome)
			}
			reason := ""
			if u.Outcome == OutcomeFailed {
				reason = normalizeReason(u.Reason)
			}
			ch := ""
			if u.Channel.Valid() { // a channel name is safe in the stored value
				ch = string(u.Channel)
			}
			args = append(args, u.Key, string(u.Outcome), reason, ch)
		}
		k := keysFor(id)
		res, err := setOutcomesScript.Run(ctx, s.rdb, []string{k.Records, k.Outcomes, k.OutcomeCounters}, args...).Int64Slice()
		if err != nil {
			return out, fmt.Errorf("set outcomes: %w", err)
		}
		for _, r := range res {
			out = append(out, r == 1)
		}
	}
	return out, nil
}

// normalizeReason keeps reason codes safe as hash fields and CSV cells.
func normalizeReason(r string) string {
	r = strings.Map(func(c rune) rune {
		switch {
		case c >= 'A' && c <= 'Z', c >= 'a' && c <= 'z', c >= '0' && c <= '9', c == '_', c == '-', c == '.':
			return c
		case c == ' ':
			return '_'
		}
		return -1
	}, strings.TrimSpace(r))
	if r == "" {
		return UnknownReason
	}
	return r[:min(len(r), 100)]
}

// Outcomes returns a campaign's recipients counted by outcome and failure reason.
func (s *Store) Outcomes(ctx context.Context, id string) (OutcomeCounts, error) {
	m, err := s.rdb.HGetAll(ctx, keysFor(id).OutcomeCounters).Result()
	if err != nil {
		return OutcomeCounts{}, fmt.Errorf("campaign outcomes: %w", err)
	}
	c := OutcomeCounts{FailedByReason: map[string]int64{}, DeliveredByChannel: map[sinch.Channel]int64{}}
	for f, v := range m {
		n, _ := strconv.ParseInt(v, 10, 64)
		switch {
		case strings.HasPrefix(f, "o:"):
			c.set(Outcome(f[2:]), n)
		case strings.HasPrefix(f, "r:") && n > 0:
			c.FailedByReason[f[2:]] = n
		case strings.HasPrefix(f, "d:") && n > 0:
			c.DeliveredByChannel[sinch.Channel(f[2:])] = n
		case f == switchesField:
			c.ChannelSwitches = n
		}
	}
	return c, nil
}

// switchesField counts SWITCHING_CHANNEL receipts in the outcome counters.
const switchesField = "switches"

// CountSwitch counts one SWITCHING_CHANNEL receipt for a recipient of the
// campaign (OutcomeCounts.ChannelSwitches); a key the campaign does not
// hold counts nothing. It reports whether it counted.
func (s *Store) CountSwitch(ctx context.Context, id, rk string) (bool, error) {
	k := keysFor(id)
	n, err := countSwitchScript.Run(ctx, s.rdb, []string{k.Records, k.OutcomeCounters}, rk, switchesField, retentionSeconds).Int64()
	if err != nil {
		return false, fmt.Errorf("count channel switch: %w", err)
	}
	return n == 1, nil
}

// countSwitchScript: KEYS records (every recipient has one), outcome
// counters; ARGV recipient key,
// counter field, key TTL.
var countSwitchScript = redis.NewScript(`
if redis.call('HEXISTS', KEYS[1], ARGV[1]) == 0 then return 0 end
redis.call('HINCRBY', KEYS[2], ARGV[2], 1)
redis.call('EXPIRE', KEYS[2], ARGV[3])
return 1
`)

// OutcomesOf returns the outcomes of a batch of recipients, in order (the
// zero RecipientOutcome when none is known): one round trip.
func (s *Store) OutcomesOf(ctx context.Context, id string, rks []string) ([]RecipientOutcome, error) {
	out := make([]RecipientOutcome, len(rks))
	if len(rks) == 0 {
		return out, nil
	}
	vals, err := s.rdb.HMGet(ctx, keysFor(id).Outcomes, rks...).Result()
	if err != nil {
		return nil, fmt.Errorf("recipient outcomes: %w", err)
	}
	for i, v := range vals {
		if str, ok := v.(string); ok {
			out[i] = parseRecipientOutcome(str)
		}
	}
	return out, nil
}

// KeysForMessages is KeyForMessage for a batch: the recipient key of each
// Sinch message ID, in order; found says which IDs are this campaign's (as
// RecordsOf does).
func (s *Store) KeysForMessages(ctx context.Context, id string, messageIDs []string) (rks []string, found []bool, err error) {
	rks, found = make([]string, len(messageIDs)), make([]bool, len(messageIDs))
	if len(messageIDs) == 0 {
		return rks, found, nil
	}
	vals, err := s.rdb.HMGet(ctx, keysFor(id).MessageIDs, messageIDs...).Result()
	if err != nil {
		return nil, nil, fmt.Errorf("message keys: %w", err)
	}
	for i, v := range vals {
		rks[i], found[i] = v.(string)
	}
	return rks, found, nil
}

// RecordsOf returns the records of a batch of recipients, in order; found
// says which exist.
func (s *Store) RecordsOf(ctx context.Context, id string, rks []string) (recs []Record, found []bool, err error) {
	recs, found = make([]Record, len(rks)), make([]bool, len(rks))
	if len(rks) == 0 {
		return recs, found, nil
	}
	vals, err := s.rdb.HMGet(ctx, keysFor(id).Records, rks...).Result()
	if err != nil {
		return nil, nil, fmt.Errorf("recipient records: %w", err)
	}
	for i, v := range vals {
		str, ok := v.(string)
		if !ok {
			continue
		}
		if err := decodeRecord([]byte(str), &recs[i]); err != nil {
			return nil, nil, fmt.Errorf("recipient %s: corrupt record: %w", rks[i], err)
		}
		found[i] = true
	}
	return recs, found, nil
}

// ReportRow is one recipient as `campaign report` writes it.
type ReportRow struct {
	Key     string
	Status  Status
	Record  Record
	Outcome RecipientOutcome
}

// ScanReport calls fn for every recipient with its status, record and
// outcome, a page of up to 1000 at a time (two Redis round trips per
// page), without loading the campaign into memory. It scans the records,
// which every recipient has (a pending one has no status entry). Order is
// unspecified; as with any HSCAN, a recipient added while the scan runs
// may be missed or, rarely, seen twice.
func (s *Store) ScanReport(ctx context.Context, id string, fn func(ReportRow) error) error {
	k := keysFor(id)
	var cursor uint64
	for {
		kv, next, err := s.rdb.HScan(ctx, k.Records, cursor, "", 1000).Result()
		if err != nil {
			return fmt.Errorf("scan recipients: %w", err)
		}
		if len(kv) > 0 {
			rks := make([]string, 0, len(kv)/2)
			for i := 0; i < len(kv); i += 2 {
				rks = append(rks, kv[i])
			}
			pipe := s.rdb.Pipeline()
			stCmd := pipe.HMGet(ctx, k.Status, rks...)
			ocCmd := pipe.HMGet(ctx, k.Outcomes, rks...)
			if _, err := pipe.Exec(ctx); err != nil && !errors.Is(err, redis.Nil) {
				return fmt.Errorf("scan recipients: %w", err)
			}
			sts, ocs := stCmd.Val(), ocCmd.Val()
			for i, rk := range rks {
				row := ReportRow{Key: rk, Status: StatusPending}
				if str, ok := sts[i].(string); ok {
					row.Status = Status(str)
				}
				if err := decodeRecord([]byte(kv[2*i+1]), &row.Record); err != nil {
					return fmt.Errorf("recipient %s: corrupt record: %w", rk, err)
				}
				if str, ok := ocs[i].(string); ok {
					row.Outcome = parseRecipientOutcome(str)
				}
				if err := fn(row); err != nil {
					return err
				}
			}
		}
		if cursor = next; cursor == 0 {
			return nil
		}
	}
}

// SendSpan returns when the campaign's first and last sends were accepted
// (by this system's clock, to the second); zero times before any send.
func (s *Store) SendSpan(ctx context.Context, id string) (first, last time.Time, err error) {
	vals, err := s.rdb.HMGet(ctx, keysFor(id).Counters, "first_sent", "last_sent").Result()
	if err != nil {
		return first, last, fmt.Errorf("campaign send span: %w", err)
	}
	unix := func(v any) time.Time {
		str, _ := v.(string)
		n, err := strconv.ParseInt(str, 10, 64)
		if err != nil || n == 0 {
			return time.Time{}
		}
		return time.Unix(n, 0).UTC()
	}
	return unix(vals[0]), unix(vals[1]), nil
}

// RecentlySent returns the campaigns whose last send was accepted at or
// after since, newest campaigns first.
func (s *Store) RecentlySent(ctx context.Context, since time.Time) ([]string, error) {
	ids, err := s.IDs(ctx)
	if err != nil {
		return nil, fmt.Errorf("list campaigns: %w", err)
	}
	var out []string
	for start := 0; start < len(ids); start += 500 {
		batch := ids[start:min(start+500, len(ids))]
		pipe := s.rdb.Pipeline()
		cmds := make([]*redis.StringCmd, len(batch))
		for i, id := range batch {
			cmds[i] = pipe.HGet(ctx, keysFor(id).Counters, "last_sent")
		}
		if _, err := pipe.Exec(ctx); err != nil && !errors.Is(err, redis.Nil) {
			return nil, fmt.Errorf("list active campaigns: %w", err)
		}
		for i, c := range cmds {
			if n, err := c.Int64(); err == nil && n >= since.Unix() {
				out = append(out, batch[i])
			}
		}
	}
	return out, nil
}

// TrackInfo describes a campaign's last tracking pass.
type TrackInfo struct {
	At       time.Time `json:"at,omitzero"`
	Pages    int64     `json:"pages"`
	Messages int64     `json:"messages"`
	// Warning is set when the pass could not track (e.g. the app stores
	// nothing in DISPATCH mode); status shows it.
	Warning string `json:"warning,omitempty"`
}

// SetTrackInfo records the last tracking pass.
func (s *Store) SetTrackInfo(ctx context.Context, id string, ti TrackInfo) error {
	if ti.At.IsZero() {
		ti.At = s.now().UTC()
	}
	k := keysFor(id)
	pipe := s.rdb.Pipeline()
	pipe.HSet(ctx, k.OutcomeCounters, "tracked_at", ti.At.Unix(), "track_pages", ti.Pages, "track_messages", ti.Messages,
		"track_warning", ti.Warning)
	retain(ctx, pipe, k)
	_, err := pipe.Exec(ctx)
	return err
}

// TrackInfo returns the last tracking pass; the zero value before any.
func (s *Store) TrackInfo(ctx context.Context, id string) (TrackInfo, error) {
	vals, err := s.rdb.HMGet(ctx, keysFor(id).OutcomeCounters, "tracked_at", "track_pages", "track_messages", "track_warning").Result()
	if err != nil {
		return TrackInfo{}, err
	}
	n := func(v any) int64 { str, _ := v.(string); x, _ := strconv.ParseInt(str, 10, 64); return x }
	var ti TrackInfo
	if at := n(vals[0]); at > 0 {
		ti.At = time.Unix(at, 0).UTC()
	}
	ti.Pages, ti.Messages = n(vals[1]), n(vals[2])
	ti.Warning, _ = vals[3].(string)
	return ti, nil
}

// LockTracking takes the campaign's tracking lock for ttl, so two passes
// (two workers, or a worker and `campaign track`) do not list the same
// messages at once. It returns a release func, or ok false when held.
func (s *Store) LockTracking(ctx context.Context, id string, ttl time.Duration) (release func(), ok bool, err error) {
	key, token := keysFor(id).TrackLock, rand.Text()
	ok, err = s.rdb.SetNX(ctx, key, token, ttl).Result()
	if err != nil || !ok {
		return func() {}, false, err
	}
	return func() { releaseScript.Run(context.WithoutCancel(ctx), s.rdb, []string{key}, token) }, true, nil
}
