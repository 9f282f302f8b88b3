package campaign

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/sinch-dispatch/sinch-dispatch/internal/redistest"
	"github.com/sinch-dispatch/sinch-dispatch/internal/sinch"
)

func newStore(t *testing.T) (*Store, context.Context) {
	t.Helper()
	r := redistest.New(t)
	return NewStore(r.Client), context.Background()
}

func create(t *testing.T, s *Store, ctx context.Context, id string) {
	t.Helper()
	if _, _, err := s.Create(ctx, Definition{ID: id, Priority: PriorityNormal, Channel: sinch.ChannelSMS}); err != nil {
		t.Fatal(err)
	}
}

func regs(n int) []Registration {
	out := make([]Registration, n)
	for i := range out {
		id := fmt.Sprintf("+1555000%04d", i)
		out[i] = Registration{Key: RecipientKey(sinch.ChannelSMS, id), Record: Record{Row: i + 2, Channel: sinch.ChannelSMS, Identity: id}}
	}
	return out
}

func TestCreateKeepsTheFirstDefinition(t *testing.T) {
	t.Parallel()
	s, ctx := newStore(t)
	_, created, err := s.Create(ctx, Definition{ID: "c1", Priority: PriorityHigh})
	if err != nil || !created {
		t.Fatalf("first create: created=%v err=%v, want created", created, err)
	}
	got, created, err := s.Create(ctx, Definition{ID: "c1", Priority: PriorityNormal})
	if err != nil || created {
		t.Fatalf("second create: created=%v err=%v, want existing", created, err)
	}
	if got.Priority != PriorityHigh {
		t.Fatalf("got priority %s, want the stored %s", got.Priority, PriorityHigh)
	}
	if _, err := s.Get(ctx, "nope"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("got %v, want ErrNotFound", err)
	}
	if _, _, err := s.Create(ctx, Definition{ID: "bad id!"}); err == nil {
		t.Fatal("invalid ID accepted")
	}
	ids, _ := s.IDs(ctx)
	if len(ids) != 1 || ids[0] != "c1" {
		t.Fatalf("got IDs %v, want [c1]", ids)
	}
}

func TestRegisterTellsNewDuplicateAndKnown(t *testing.T) {
	t.Parallel()
	s, ctx := newStore(t)
	create(t, s, ctx, "c")
	rs := regs(3)
	batch := append(append([]Registration{}, rs...), rs[1]) // rs[1] repeated in the same upload
	res, err := s.Register(ctx, "c", "run1", batch)
	if err != nil {
		t.Fatal(err)
	}
	want := []RegisterResult{RegisteredNew, RegisteredNew, RegisteredNew, RegisteredDuplicate}
	if fmt.Sprint(res) != fmt.Sprint(want) {
		t.Fatalf("got %v, want %v", res, want)
	}
	if ok, err := s.MarkSent(ctx, "c", rs[0].Key, Record{MessageID: "m0"}); !ok || err != nil {
		t.Fatalf("mark sent: %v %v", ok, err)
	}
	// A second upload sees the recipients of the first as known, with status.
	res, err = s.Register(ctx, "c", "run2", rs)
	if err != nil {
		t.Fatal(err)
	}
	st0, known0 := res[0].Existing()
	st1, known1 := res[1].Existing()
	if !known0 || st0 != StatusSent || !known1 || st1 != StatusPending {
		t.Fatalf("got %v, want [sent pending pending]", res)
	}
	c, _ := s.Counters(ctx, "c")
	if c.Total() != 3 || c.Sent != 1 || c.Pending != 2 {
		t.Fatalf("got counters %+v, want total 3, sent 1, pending 2", c)
	}
}

func TestTransitionsKeepCountersExactAndNeverResendSent(t *testing.T) {
	t.Parallel()
	s, ctx := newStore(t)
	create(t, s, ctx, "c")
	rs := regs(4)
	if _, err := s.Register(ctx, "c", "r", rs); err != nil {
		t.Fatal(err)
	}
	steps := []struct {
		name string
		do   func() (bool, error)
		want bool
	}{
		{"sent", func() (bool, error) { return s.MarkSent(ctx, "c", rs[0].Key, Record{MessageID: "m0"}) }, true},
		{"sent again", func() (bool, error) { return s.MarkSent(ctx, "c", rs[0].Key, Record{MessageID: "m0b"}) }, false},
		{"failed after sent", func() (bool, error) { return s.MarkFailed(ctx, "c", rs[0].Key, Record{Error: "x"}) }, false},
		{"cancel after sent", func() (bool, error) { return s.MarkCancelled(ctx, "c", rs[0].Key) }, false},
		{"failed", func() (bool, error) { return s.MarkFailed(ctx, "c", rs[1].Key, Record{Error: "400"}) }, true},
		{"retry failed", func() (bool, error) { return s.MarkPending(ctx, "c", rs[1].Key, StatusFailed) }, true},
		{"cancelled", func() (bool, error) { return s.MarkCancelled(ctx, "c", rs[2].Key) }, true},
		{"retry pending as failed", func() (bool, error) { return s.MarkPending(ctx, "c", rs[3].Key, StatusFailed) }, false},
	}
	for _, st := range steps {
		got, err := st.do()
		if err != nil || got != st.want {
			t.Fatalf("%s: got %v (err %v), want %v", st.name, got, err, st.want)
		}
	}
	c, _ := s.Counters(ctx, "c")
	if c.Sent != 1 || c.Pending != 2 || c.Failed != 0 || c.Cancelled != 1 || c.Total() != 4 {
		t.Fatalf("got %+v, want sent 1 pending 2 failed 0 cancelled 1", c)
	}
	rec, err := s.Record(ctx, "c", rs[0].Key)
	if err != nil || rec.MessageID != "m0" {
		t.Fatalf("got record %+v (err %v), want the first message ID kept", rec, err)
	}
	if rk, _ := s.KeyForMessage(ctx, "c", "m0"); rk != rs[0].Key {
		t.Fatalf("got key %q for m0, want %q", rk, rs[0].Key)
	}
	per, _ := s.SentPerSecond(ctx, "c", 60)
	var sum int64
	for _, v := range per {
		sum += v
	}
	if sum != 1 {
		t.Fatalf("got %d sends in the last minute, want 1", sum)
	}
}

func TestClaimSend(t *testing.T) {
	t.Parallel()
	s, ctx := newStore(t)
	create(t, s, ctx, "c")
	rs := regs(2)
	s.Register(ctx, "c", "r", rs)
	claim := func(rk, token string) Claim {
		t.Helper()
		c, _, err := s.ClaimSend(ctx, "c", rk, token, time.Minute)
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	if c := claim(rs[0].Key, "a"); c != ClaimOK {
		t.Fatalf("got %s, want ok", c)
	}
	if c := claim(rs[0].Key, "b"); c != ClaimBusy {
		t.Fatalf("second claim while locked: got %s, want busy", c)
	}
	s.Release(ctx, "c", rs[0].Key, "b") // not the holder: no effect
	if c := claim(rs[0].Key, "b"); c != ClaimBusy {
		t.Fatalf("release by a non-holder freed the lock")
	}
	s.Release(ctx, "c", rs[0].Key, "a")
	_, n, _ := s.ClaimSend(ctx, "c", rs[0].Key, "b", time.Minute)
	if n != 2 {
		t.Fatalf("got attempt %d, want 2", n)
	}
	s.MarkSent(ctx, "c", rs[0].Key, Record{MessageID: "m"})
	if c := claim(rs[0].Key, "c"); c != ClaimSent {
		t.Fatalf("got %s, want sent", c)
	}
	if err := s.Pause(ctx, "c", "operator"); err != nil {
		t.Fatal(err)
	}
	if c := claim(rs[1].Key, "x"); c != ClaimPaused {
		t.Fatalf("got %s, want paused", c)
	}
	s.Resume(ctx, "c")
	s.Cancel(ctx, "c", "operator")
	if c := claim(rs[1].Key, "y"); c != ClaimCancelled {
		t.Fatalf("got %s, want cancelled", c)
	}
	if err := s.Resume(ctx, "c"); err == nil {
		t.Fatal("resumed a cancelled campaign")
	}
}

func TestScanRecipientsVisitsEveryone(t *testing.T) {
	t.Parallel()
	s, ctx := newStore(t)
	create(t, s, ctx, "c")
	rs := regs(2500)
	for i := 0; i < len(rs); i += 500 {
		if _, err := s.Register(ctx, "c", "r", rs[i:i+500]); err != nil {
			t.Fatal(err)
		}
	}
	seen := map[string]bool{}
	err := s.ScanRecipients(ctx, "c", func(rk string, st Status, rec Record) error {
		if st != StatusPending || rec.Identity == "" {
			return fmt.Errorf("recipient %s: got status %q identity %q", rk, st, rec.Identity)
		}
		seen[rk] = true
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(seen) != len(rs) {
		t.Fatalf("got %d recipients, want %d", len(seen), len(rs))
	}
}

func TestValidateIDAndState(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		id string
		ok bool
	}{{"spring-sale_2026.1", true}, {"", false}, {"-x", false}, {"a b", false}, {string(make([]byte, 65)), false}} {
		if err := ValidateID(tc.id); (err == nil) != tc.ok {
			t.Errorf("ValidateID(%q): got err %v, want ok=%v", tc.id, err, tc.ok)
		}
	}
	now := time.Now()
	future := Definition{ScheduledAt: now.Add(time.Hour)}
	for _, tc := range []struct {
		def               Definition
		c                 Counters
		paused, cancelled bool
		want              State
	}{
		{future, Counters{Pending: 3}, false, false, StateScheduled},
		{Definition{}, Counters{Pending: 3, Sent: 1}, false, false, StateRunning},
		{Definition{}, Counters{Pending: 3}, true, false, StatePaused},
		{Definition{}, Counters{Pending: 1}, false, true, StateCancelled},
		{Definition{}, Counters{Sent: 2, Failed: 1}, false, false, StateDone},
	} {
		if got := DeriveState(tc.def, tc.c, tc.paused, tc.cancelled, now); got != tc.want {
			t.Errorf("DeriveState(%+v): got %s, want %s", tc.c, got, tc.want)
		}
	}
}

func TestSuppressionList(t *testing.T) {
	t.Parallel()
	s, ctx := newStore(t)
	added, err := s.Suppress(ctx, Suppression{Channel: sinch.ChannelSMS, Identity: "+33612345678", Reason: "replied STOP"})
	if err != nil || !added {
		t.Fatalf("got added=%v err=%v, want added", added, err)
	}
	if again, _ := s.Suppress(ctx, Suppression{Channel: sinch.ChannelSMS, Identity: "+33612345678", Reason: "x"}); again {
		t.Fatal("suppressed twice")
	}
	got, err := s.Suppressed(ctx, []sinch.Channel{sinch.ChannelSMS, sinch.ChannelWhatsApp, sinch.ChannelSMS},
		[]string{"+33612345678", "+33612345678", "+33600000000"})
	if err != nil || fmt.Sprint(got) != "[true false false]" {
		t.Fatalf("got %v (err %v), want [true false false]: suppression is per channel", got, err)
	}
	var list []Suppression
	s.ScanSuppressed(ctx, func(sup Suppression) error { list = append(list, sup); return nil })
	if len(list) != 1 || list[0].Reason != "replied STOP" || list[0].At.IsZero() {
		t.Fatalf("got %+v, want the first reason with a time", list)
	}
	if removed, _ := s.Unsuppress(ctx, sinch.ChannelSMS, "+33612345678"); !removed {
		t.Fatal("unsuppress found nothing")
	}
	if got, _ := s.Suppressed(ctx, []sinch.Channel{sinch.ChannelSMS}, []string{"+33612345678"}); got[0] {
		t.Fatal("still suppressed after removal")
	}
}

func TestFinishSentMarksCountsAndReleasesInOneCall(t *testing.T) {
	t.Parallel()
	s, ctx := newStore(t)
	create(t, s, ctx, "c")
	if err := s.SetAutoPause(ctx, "c", AutoPause{Window: 2, Threshold: 0.4}); err != nil {
		t.Fatal(err)
	}
	rs := regs(2)
	s.Register(ctx, "c", "r", rs)
	if c, _, err := s.ClaimSend(ctx, "c", rs[0].Key, "a", time.Minute); c != ClaimOK || err != nil {
		t.Fatalf("claim: %s %v", c, err)
	}
	got, err := s.FinishSent(ctx, "c", rs[0].Key, "a", Record{Row: 2, MessageID: "m0", Attempts: 1})
	if err != nil || !got.Fresh || got.Paused {
		t.Fatalf("FinishSent: got %+v %v, want fresh, not paused", got, err)
	}
	if st, _ := s.Status(ctx, "c", rs[0].Key); st != StatusSent {
		t.Fatalf("status: got %s, want sent", st)
	}
	if rk, _ := s.KeyForMessage(ctx, "c", "m0"); rk != rs[0].Key {
		t.Fatalf("message ID maps to %q, want %q", rk, rs[0].Key)
	}
	n, _ := s.Counters(ctx, "c")
	if n.Sent != 1 || n.Pending != 1 {
		t.Fatalf("counters: got sent %d pending %d, want 1 and 1", n.Sent, n.Pending)
	}
	// The lock is gone: another token can claim (and is told it is sent).
	if c, _, _ := s.ClaimSend(ctx, "c", rs[0].Key, "b", time.Minute); c != ClaimSent {
		t.Fatalf("claim after FinishSent: got %s, want sent (lock released)", c)
	}
	// A second acceptance is not fresh and changes no count, nor the
	// auto-pause window.
	got, err = s.FinishSent(ctx, "c", rs[0].Key, "a", Record{MessageID: "m0-again"})
	if err != nil || got.Fresh {
		t.Fatalf("second FinishSent: got %+v %v, want not fresh", got, err)
	}
	if n, _ := s.Counters(ctx, "c"); n.Sent != 1 {
		t.Fatalf("sent after a second acceptance: got %d, want 1", n.Sent)
	}
	if l, _ := s.rdb.LLen(ctx, keysFor("c").AutoPause).Result(); l != 1 {
		t.Fatalf("auto-pause window: got %d outcomes, want 1", l)
	}
	// FinishSent does not drop a lock held by another token.
	if c, _, _ := s.ClaimSend(ctx, "c", rs[1].Key, "x", time.Minute); c != ClaimOK {
		t.Fatalf("claim: got %s, want ok", c)
	}
	if _, err := s.FinishSent(ctx, "c", rs[1].Key, "not-x", Record{MessageID: "m1"}); err != nil {
		t.Fatal(err)
	}
	if ok, _ := s.rdb.Exists(ctx, keysFor("c").Lock(rs[1].Key)).Result(); ok != 1 {
		t.Fatal("FinishSent with another token released the lock")
	}
	// The outcome it counts can trip auto-pause: a failure then this
	// success fills the window of 2 with 1 failure of 2 (above 0.4).
	s.rdb.Del(ctx, keysFor("c").AutoPause)
	s.rdb.HDel(ctx, keysFor("c").Counters, "ap_fail")
	if _, _, err := s.CountFinal(ctx, "c", true); err != nil {
		t.Fatal(err)
	}
	s.Register(ctx, "c", "r2", regs(3)[2:])
	got, err = s.FinishSent(ctx, "c", regs(3)[2].Key, "", Record{MessageID: "m2"})
	if err != nil || !got.Fresh || !got.Paused || !strings.Contains(got.Reason, "1 of the last 2 sends failed") {
		t.Fatalf("FinishSent filling the window: got %+v %v, want fresh and paused with the reason", got, err)
	}
}

func TestRegisterCountsPendingAndBoundsTheSeenSet(t *testing.T) {
	t.Parallel()
	s, ctx := newStore(t)
	create(t, s, ctx, "c")
	rs := regs(5)
	if _, err := s.Register(ctx, "c", "r", append(rs, rs[0])); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Register(ctx, "c", "r", rs[3:]); err != nil { // repeats only
		t.Fatal(err)
	}
	if n, _ := s.Counters(ctx, "c"); n.Pending != 5 {
		t.Errorf("pending: got %d, want 5", n.Pending)
	}
	ttl, err := s.rdb.TTL(ctx, keysFor("c").Run("r")).Result()
	if err != nil || ttl <= 0 || ttl > seenTTL {
		t.Errorf("TTL of the upload's seen set: got %v (%v), want at most %v", ttl, err, seenTTL)
	}
}

// With a replica wait, a claim no replica acknowledges (this Redis has
// none) takes the lock but says ClaimUnreplicated, and is counted; other
// answers are as without the wait; after ReplicaGrace without a replica,
// claims are ok again. The claim script is loaded again after a SCRIPT
// FLUSH.
func TestClaimSendWaitsForReplica(t *testing.T) {
	t.Parallel()
	s, ctx := newStore(t)
	s.SetReplicaWait(20 * time.Millisecond)
	create(t, s, ctx, "c")
	rs := regs(1)
	s.Register(ctx, "c", "r", rs)
	for i, want := range []Claim{ClaimUnreplicated, ClaimBusy} {
		if i == 1 {
			s.Redis().ScriptFlush(ctx)
		}
		c, n, err := s.ClaimSend(ctx, "c", rs[0].Key, fmt.Sprint("tok", i), time.Minute)
		if err != nil || c != want || (want == ClaimUnreplicated && n != 1) {
			t.Fatalf("claim %d: got %s, attempt %d (%v); want %s", i, c, n, err, want)
		}
	}
	if got := s.ReplicaMisses(); got != 2 {
		t.Fatalf("ReplicaMisses: got %d, want 2 (no replica answers either claim)", got)
	}
	// Past ReplicaGrace of unacknowledged claims the replica is taken to be
	// gone, and claims are ClaimOK again.
	s.Release(ctx, "c", rs[0].Key, "tok0")
	start := time.Now()
	s.now = func() time.Time { return start.Add(ReplicaGrace) }
	if c, _, err := s.ClaimSend(ctx, "c", rs[0].Key, "tok2", time.Minute); err != nil || c != ClaimOK {
		t.Fatalf("claim after the grace: got %s (%v), want ok", c, err)
	}
}

// A chunk claims and records several recipients in one round trip each;
// every recipient gets the answer it would get on its own.
func TestClaimChunkSendsAndFinishSentsTakeSeveralRecipients(t *testing.T) {
	t.Parallel()
	s, ctx := newStore(t)
	create(t, s, ctx, "c")
	rs := regs(4)
	s.Register(ctx, "c", "r", rs)
	if _, err := s.MarkSent(ctx, "c", rs[1].Key, Record{MessageID: "m1"}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.MarkFailed(ctx, "c", rs[2].Key, Record{Error: "rejected"}); err != nil {
		t.Fatal(err)
	}
	if c, _, err := s.ClaimSend(ctx, "c", rs[3].Key, "other", time.Minute); c != ClaimOK || err != nil {
		t.Fatalf("claim by another execution: %s %v", c, err)
	}
	locks := []Lock{{rs[0].Key, "t0"}, {rs[1].Key, "t1"}, {rs[2].Key, "t2"}, {rs[3].Key, "t3"}}
	got, err := s.ClaimChunkSends(ctx, "c", locks, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	want := []Claimed{{ClaimOK, 1}, {ClaimSent, 0}, {ClaimFailed, 0}, {ClaimBusy, 0}}
	if !slices.Equal(got, want) {
		t.Fatalf("claims: got %v, want %v", got, want)
	}
	if n, _ := s.Counters(ctx, "c"); n.Attempts != 2 {
		t.Fatalf("attempts: got %d, want 2 (the other execution's and rs[0]'s)", n.Attempts)
	}

	// rs[0] under its claim; rs[3] accepted under a token that is not the
	// lock's (the lock stays).
	sent, err := s.FinishSents(ctx, "c", []Accepted{
		{Lock{rs[0].Key, "t0"}, Record{MessageID: "m0", Attempts: 1, Segments: 2, Cost: 150}},
		{Lock{rs[3].Key, "t3"}, Record{MessageID: "m3", Attempts: 1, Segments: 1, Cost: 75}},
	})
	if err != nil || len(sent) != 2 || !sent[0].Fresh || !sent[1].Fresh {
		t.Fatalf("FinishSents: got %+v %v, want two fresh sends", sent, err)
	}
	for _, i := range []int{0, 3} {
		if st, _ := s.Status(ctx, "c", rs[i].Key); st != StatusSent {
			t.Errorf("recipient %d: status %s, want sent", i, st)
		}
	}
	if ok, _ := s.rdb.Exists(ctx, keysFor("c").Lock(rs[0].Key)).Result(); ok != 0 {
		t.Error("rs[0]'s lock is still held after FinishSents with its token")
	}
	if ok, _ := s.rdb.Exists(ctx, keysFor("c").Lock(rs[3].Key)).Result(); ok != 1 {
		t.Error("FinishSents with another token released rs[3]'s lock")
	}
	if rk, _ := s.KeyForMessage(ctx, "c", "m3"); rk != rs[3].Key {
		t.Errorf("message m3 maps to %q, want %q", rk, rs[3].Key)
	}
	if n, _ := s.Counters(ctx, "c"); n.Sent != 3 || n.Pending != 0 || n.Failed != 1 || n.SMSSegments != 3 || n.SMSCost != 225 {
		t.Fatalf("counters: got sent %d pending %d failed %d, %d segments costing %d; want 3, 0, 1, 3 and 225",
			n.Sent, n.Pending, n.Failed, n.SMSSegments, n.SMSCost)
	}
	if l, _ := s.rdb.LLen(ctx, keysFor("c").AutoPause).Result(); l != 2 {
		t.Fatalf("auto-pause window: got %d outcomes, want 2 (one per fresh send)", l)
	}
	// Recorded again: not fresh, nothing counted twice.
	sent, err = s.FinishSents(ctx, "c", []Accepted{{Lock{rs[0].Key, "t0"}, Record{MessageID: "m0"}}})
	if err != nil || sent[0].Fresh {
		t.Fatalf("second FinishSents: got %+v %v, want not fresh", sent, err)
	}
	if n, _ := s.Counters(ctx, "c"); n.Sent != 3 {
		t.Fatalf("sent after a second acceptance: got %d, want 3", n.Sent)
	}
	// The same recipient twice in one batch counts once, as in two
	// batches; an accepted send of a key no one registered is recorded
	// too (sent from no status).
	extra, unknown := regs(8)[6], regs(9)[8]
	s.Register(ctx, "c", "r3", []Registration{extra})
	sent, err = s.FinishSents(ctx, "c", []Accepted{
		{Lock{extra.Key, ""}, Record{MessageID: "m6"}}, {Lock{extra.Key, ""}, Record{MessageID: "m6b"}},
		{Lock{unknown.Key, ""}, Record{MessageID: "m8"}},
	})
	if err != nil || !sent[0].Fresh || sent[1].Fresh || !sent[2].Fresh {
		t.Fatalf("FinishSents with a recipient twice and an unregistered one: got %+v %v, want the second not fresh", sent, err)
	}
	if n, _ := s.Counters(ctx, "c"); n.Sent != 5 || n.Pending != 0 {
		t.Fatalf("counters after it: got sent %d pending %d, want 5 and 0", n.Sent, n.Pending)
	}
	if rk, _ := s.KeyForMessage(ctx, "c", "m6"); rk != extra.Key {
		t.Errorf("message m6 maps to %q, want %q (the first acceptance's record)", rk, extra.Key)
	}

	// A paused campaign pauses every recipient of the batch that is not
	// final already.
	if err := s.Pause(ctx, "c", "operator"); err != nil {
		t.Fatal(err)
	}
	s.Register(ctx, "c", "r2", regs(6)[4:])
	got, err = s.ClaimChunkSends(ctx, "c", []Lock{{rs[0].Key, "a"}, {regs(6)[4].Key, "b"}, {regs(6)[5].Key, "c"}}, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	if want := []Claimed{{ClaimSent, 0}, {ClaimPaused, 0}, {ClaimPaused, 0}}; !slices.Equal(got, want) {
		t.Fatalf("claims of a paused campaign: got %v, want %v", got, want)
	}
}

// Sends recorded together feed the auto-pause window one by one: a batch
// that fills the window past the threshold pauses the campaign, and says
// so once.
func TestFinishSentsTripsTheAutoPauseOnce(t *testing.T) {
	t.Parallel()
	s, ctx := newStore(t)
	create(t, s, ctx, "c")
	if err := s.SetAutoPause(ctx, "c", AutoPause{Window: 3, Threshold: 0.3}); err != nil {
		t.Fatal(err)
	}
	rs := regs(2)
	s.Register(ctx, "c", "r", rs)
	if _, _, err := s.CountFinal(ctx, "c", true); err != nil {
		t.Fatal(err)
	}
	sent, err := s.FinishSents(ctx, "c", []Accepted{{Lock{rs[0].Key, ""}, Record{MessageID: "m0"}}, {Lock{rs[1].Key, ""}, Record{MessageID: "m1"}}})
	if err != nil {
		t.Fatal(err)
	}
	paused := 0
	for _, r := range sent {
		if r.Paused {
			paused++
			if !strings.Contains(r.Reason, "1 of the last 3 sends failed") {
				t.Errorf("reason %q, want the window's count", r.Reason)
			}
		}
	}
	if paused != 1 {
		t.Fatalf("got %d sends saying they paused the campaign, want 1: %+v", paused, sent)
	}
	if paused, _, _, _ := s.Control(ctx, "c"); !paused {
		t.Fatal("the campaign is not paused")
	}
	if l, _ := s.rdb.LLen(ctx, keysFor("c").AutoPause).Result(); l != 3 {
		t.Fatalf("auto-pause window: got %d outcomes, want 3", l)
	}
}
