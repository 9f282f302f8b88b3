package campaign

import (
	"strings"
	"testing"
	"time"

	"github.com/sinch-dispatch/sinch-dispatch/internal/sinch"
)

func TestOutcomeRanksFollowOutcomes(t *testing.T) {
	t.Parallel()
	for i, o := range Outcomes {
		if o.Rank() != i+1 {
			t.Errorf("%s: got rank %d, want %d", o, o.Rank(), i+1)
		}
	}
	if Outcome("bogus").Valid() {
		t.Error("unknown outcome is valid")
	}
	for _, tc := range []struct {
		in   sinch.DeliveryStatus
		want Outcome
		ok   bool
	}{
		{sinch.StatusQueuedOnChannel, OutcomeQueued, true},
		{sinch.StatusDelivered, OutcomeDelivered, true},
		{sinch.StatusRead, OutcomeRead, true},
		{sinch.StatusFailed, OutcomeFailed, true},
		{sinch.StatusSwitchingChannel, "", false},
		{"SOMETHING_NEW", "", false},
	} {
		if got, ok := OutcomeForDelivery(tc.in); got != tc.want || ok != tc.ok {
			t.Errorf("OutcomeForDelivery(%s): got %q %v, want %q %v", tc.in, got, ok, tc.want, tc.ok)
		}
	}
}

func TestSetOutcomePrecedenceAndExactCounters(t *testing.T) {
	t.Parallel()
	s, ctx := newStore(t)
	create(t, s, ctx, "oc")
	rs := regs(3)
	if _, err := s.Register(ctx, "oc", "run", rs); err != nil {
		t.Fatal(err)
	}
	a, b := rs[0].Key, rs[1].Key
	steps := []struct {
		rk      string
		o       Outcome
		reason  string
		changed bool
		want    string // the recipient's outcome afterwards
	}{
		{a, OutcomeStored, "", true, "stored"},
		{a, OutcomeStored, "", false, "stored"},                                               // idempotent
		{a, OutcomeDelivered, "", true, "delivered"},                                          // forward
		{a, OutcomeQueued, "", false, "delivered"},                                            // a late QUEUED never goes back
		{a, OutcomeFailed, "X", false, "delivered"},                                           // delivered beats failed
		{a, OutcomeReplied, "", true, "replied"},                                              // forward
		{a, OutcomeOptedOut, "", true, "opted_out"},                                           // strongest
		{a, OutcomeRead, "", false, "opted_out"},                                              // never back
		{b, OutcomeQueued, "", true, "queued_on_channel"},                                     // first
		{b, OutcomeFailed, "", true, "failed:UNKNOWN"},                                        // failed beats queued; no reason given
		{b, OutcomeFailed, "RECIPIENT_NOT_REACHABLE", true, "failed:RECIPIENT_NOT_REACHABLE"}, // a reason replaces UNKNOWN
		{b, OutcomeFailed, "OTHER", false, "failed:RECIPIENT_NOT_REACHABLE"},                  // but not another reason
		{b, OutcomeStored, "", false, "failed:RECIPIENT_NOT_REACHABLE"},
		{b, OutcomeDelivered, "", true, "delivered"}, // a later DELIVERED overrides failed
		{"not-a-recipient", OutcomeDelivered, "", false, ""},
	}
	for i, st := range steps {
		changed, err := s.SetOutcome(ctx, "oc", st.rk, st.o, st.reason)
		if err != nil {
			t.Fatalf("step %d: %v", i, err)
		}
		if changed != st.changed {
			t.Errorf("step %d (%s → %s): got changed %v, want %v", i, st.rk[:6], st.o, changed, st.changed)
		}
		got, _ := s.OutcomesOf(ctx, "oc", []string{st.rk})
		if got[0].String() != st.want {
			t.Errorf("step %d: got outcome %q, want %q", i, got[0].String(), st.want)
		}
	}
	c, err := s.Outcomes(ctx, "oc")
	if err != nil {
		t.Fatal(err)
	}
	if c.OptedOut != 1 || c.Delivered != 1 || c.Total() != 2 || c.Failed != 0 || len(c.FailedByReason) != 0 {
		t.Fatalf("got counts %+v, want opted_out 1, delivered 1, nothing failed", c)
	}
	if _, err := s.SetOutcome(ctx, "oc", a, "bogus", ""); err == nil {
		t.Fatal("unknown outcome accepted")
	}
}

func TestFailureReasonsAddUpToFailed(t *testing.T) {
	t.Parallel()
	s, ctx := newStore(t)
	create(t, s, ctx, "fr")
	rs := regs(5)
	s.Register(ctx, "fr", "run", rs)
	ups := []OutcomeUpdate{
		{Key: rs[0].Key, Outcome: OutcomeFailed, Reason: "RECIPIENT_NOT_REACHABLE"},
		{Key: rs[1].Key, Outcome: OutcomeFailed, Reason: "RECIPIENT_NOT_REACHABLE"},
		{Key: rs[2].Key, Outcome: OutcomeFailed, Reason: "weird reason: with colon"},
		{Key: rs[3].Key, Outcome: OutcomeDelivered},
		{Key: rs[0].Key, Outcome: OutcomeRead}, // overrides a failure: its reason count drops
	}
	changed, err := s.SetOutcomes(ctx, "fr", ups)
	if err != nil {
		t.Fatal(err)
	}
	for i, c := range changed {
		if !c {
			t.Errorf("update %d not applied", i)
		}
	}
	c, _ := s.Outcomes(ctx, "fr")
	want := map[string]int64{"RECIPIENT_NOT_REACHABLE": 1, "weird_reason_with_colon": 1}
	if c.Failed != 2 || len(c.FailedByReason) != 2 || c.FailedByReason["RECIPIENT_NOT_REACHABLE"] != 1 ||
		c.FailedByReason["weird_reason_with_colon"] != 1 || c.Read != 1 || c.Delivered != 1 {
		t.Fatalf("got %+v, want failed 2 by reasons %v, read 1, delivered 1", c, want)
	}
}

func TestScanReportJoinsStatusRecordAndOutcome(t *testing.T) {
	t.Parallel()
	s, ctx := newStore(t)
	create(t, s, ctx, "rep")
	rs := regs(2500) // several HSCAN pages
	for i := 0; i < len(rs); i += 500 {
		if _, err := s.Register(ctx, "rep", "run", rs[i:i+500]); err != nil {
			t.Fatal(err)
		}
	}
	rec := rs[7].Record
	rec.MessageID, rec.AcceptedTime = "m7", time.Now()
	if ok, err := s.MarkSent(ctx, "rep", rs[7].Key, rec); !ok || err != nil {
		t.Fatalf("mark sent: %v %v", ok, err)
	}
	s.SetOutcome(ctx, "rep", rs[7].Key, OutcomeDelivered, "")
	seen := map[string]int{}
	err := s.ScanReport(ctx, "rep", func(r ReportRow) error {
		seen[r.Key]++
		if r.Key == rs[7].Key {
			if r.Status != StatusSent || r.Record.MessageID != "m7" || r.Outcome.Outcome != OutcomeDelivered {
				t.Errorf("got %+v, want sent m7 delivered", r)
			}
		} else if r.Status != StatusPending || r.Outcome.Outcome != "" || r.Record.Identity == "" {
			t.Errorf("got %+v, want pending with a record and no outcome", r)
		}
		return nil
	})
	if err != nil || len(seen) != len(rs) {
		t.Fatalf("got %d recipients (err %v), want %d", len(seen), err, len(rs))
	}
	first, last, _ := s.SendSpan(ctx, "rep")
	if first.IsZero() || last.Before(first) {
		t.Fatalf("got send span %v..%v, want set after a send", first, last)
	}
	ids, _ := s.RecentlySent(ctx, time.Now().Add(-time.Minute))
	if len(ids) != 1 || ids[0] != "rep" {
		t.Fatalf("got recently sent %v, want [rep]", ids)
	}
}

func TestAutoPauseTripsOnFailuresOnlyWhenTheWindowIsFull(t *testing.T) {
	t.Parallel()
	s, ctx := newStore(t)
	create(t, s, ctx, "ap")
	if err := s.SetAutoPause(ctx, "ap", AutoPause{Window: 10, Threshold: 0.5}); err != nil {
		t.Fatal(err)
	}
	if def, _ := s.Get(ctx, "ap"); def.AutoPause == nil || def.AutoPause.Window != 10 {
		t.Fatalf("got %+v, want the stored auto-pause in the definition", def.AutoPause)
	}
	feed := func(failed bool, n int) (bool, string) {
		t.Helper()
		var paused bool
		var reason string
		for range n {
			p, r, err := s.CountFinal(ctx, "ap", failed)
			if err != nil {
				t.Fatal(err)
			}
			if p {
				paused, reason = true, r
			}
		}
		return paused, reason
	}
	// 5 sent and 4 failures: the window (10) is not full yet.
	feed(false, 5)
	if p, _ := feed(true, 4); p {
		t.Fatal("paused before the window was full")
	}
	// A 5th failure fills it: 5 of 10 is the threshold, not above it.
	if p, _ := feed(true, 1); p {
		t.Fatal("paused at exactly the threshold")
	}
	// A 6th: the oldest (a sent) drops out, 6 of the last 10 failed.
	p, reason := feed(true, 1)
	if !p || !strings.Contains(reason, "6 of the last 10 sends failed") {
		t.Fatalf("got paused %v reason %q, want paused with the reason", p, reason)
	}
	paused, _, got, _ := s.Control(ctx, "ap")
	if !paused || got != reason {
		t.Fatalf("got paused %v reason %q, want paused %q", paused, got, reason)
	}
	// Resume forgets the old outcomes: one failure does not pause again.
	if err := s.Resume(ctx, "ap"); err != nil {
		t.Fatal(err)
	}
	if p, _ := feed(true, 9); p {
		t.Fatal("paused again by failures from before the resume")
	}
	// Disabled.
	s.SetAutoPause(ctx, "ap", AutoPause{Window: 0, Threshold: 0.5})
	if p, _ := feed(true, 50); p {
		t.Fatal("paused with auto-pause disabled")
	}
	for _, bad := range []AutoPause{{Window: -1}, {Window: 5, Threshold: 1}, {Window: 5, Threshold: -0.1}} {
		if err := bad.Validate(); err == nil {
			t.Errorf("%+v accepted", bad)
		}
	}
}

// A full window of successes is not pushed again (nothing would change):
// failures after many successes still count from a full window, and the
// window keeps its expiry.
func TestAutoPauseAfterAFullWindowOfSuccesses(t *testing.T) {
	t.Parallel()
	s, ctx := newStore(t)
	create(t, s, ctx, "ap")
	if err := s.SetAutoPause(ctx, "ap", AutoPause{Window: 10, Threshold: 0.5}); err != nil {
		t.Fatal(err)
	}
	count := func(failed bool, n int) (paused bool, reason string) {
		t.Helper()
		for range n {
			p, r, err := s.CountFinal(ctx, "ap", failed)
			if err != nil {
				t.Fatal(err)
			}
			if p {
				paused, reason = true, r
			}
		}
		return paused, reason
	}
	count(false, 25)
	if l, _ := s.rdb.LLen(ctx, keysFor("ap").AutoPause).Result(); l != 10 {
		t.Fatalf("window holds %d outcomes, want 10", l)
	}
	if ttl, _ := s.rdb.TTL(ctx, keysFor("ap").AutoPause).Result(); ttl <= Retention-time.Minute {
		t.Fatalf("window TTL %s, want about %s", ttl, Retention)
	}
	if p, _ := count(true, 5); p {
		t.Fatal("paused at exactly the threshold")
	}
	// A success in between pushes out a success, not a failure.
	if p, _ := count(false, 1); p {
		t.Fatal("paused by a success")
	}
	p, reason := count(true, 1)
	if !p || !strings.Contains(reason, "6 of the last 10 sends failed") {
		t.Fatalf("got paused %v reason %q, want paused: 6 of the last 10", p, reason)
	}
}

func TestCancelPendingLeavesSentAndKeepsCountsExact(t *testing.T) {
	t.Parallel()
	s, ctx := newStore(t)
	create(t, s, ctx, "cx")
	rs := regs(1500)
	s.Register(ctx, "cx", "run", rs[:750])
	s.Register(ctx, "cx", "run", rs[750:])
	for _, r := range rs[:10] {
		rec := r.Record
		rec.MessageID = "m-" + r.Key
		s.MarkSent(ctx, "cx", r.Key, rec)
	}
	s.MarkFailed(ctx, "cx", rs[10].Key, rs[10].Record)
	if _, err := s.Cancel(ctx, "cx", "test"); err != nil {
		t.Fatal(err)
	}
	n, err := s.CancelPending(ctx, "cx")
	if err != nil || n != 1489 {
		t.Fatalf("got %d cancelled (err %v), want 1489", n, err)
	}
	c, _ := s.Counters(ctx, "cx")
	if c.Pending != 0 || c.Sent != 10 || c.Failed != 1 || c.Cancelled != 1489 || c.Total() != 1500 {
		t.Fatalf("got %+v, want 10 sent, 1 failed, 1489 cancelled, none pending", c)
	}
	// An in-flight send accepted after the cancel still counts as sent.
	rec := rs[20].Record
	rec.MessageID = "late"
	if ok, _ := s.MarkSent(ctx, "cx", rs[20].Key, rec); !ok {
		t.Fatal("late acceptance not recorded")
	}
	c, _ = s.Counters(ctx, "cx")
	if c.Sent != 11 || c.Cancelled != 1488 || c.Total() != 1500 {
		t.Fatalf("got %+v after a late acceptance, want 11 sent, 1488 cancelled", c)
	}
}
