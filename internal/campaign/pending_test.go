package campaign

import (
	"testing"

	"github.com/sinch-dispatch/sinch-dispatch/internal/sinch"
)

// A registered recipient costs Redis its compact record and nothing in the
// status hash; every reader still sees it as pending, and it moves on and
// back like any other.
func TestPendingIsImplicitAndCompact(t *testing.T) {
	t.Parallel()
	s, ctx := newStore(t)
	create(t, s, ctx, "c")
	rs := regs(3)
	if _, err := s.Register(ctx, "c", "r", rs); err != nil {
		t.Fatal(err)
	}
	k := keysFor("c")
	if n := s.rdb.HLen(ctx, k.Status).Val(); n != 0 {
		t.Fatalf("status hash has %d entries after Register, want none (pending is implicit)", n)
	}
	raw := s.rdb.HGet(ctx, k.Records, rs[0].Key).Val()
	if raw != "2|SMS|+15550000000" {
		t.Fatalf("registered record stored as %q, want the compact row|channel|identity", raw)
	}
	if st, err := s.Status(ctx, "c", rs[0].Key); err != nil || st != StatusPending {
		t.Fatalf("Status: got %q (%v), want pending", st, err)
	}
	if rec, err := s.Record(ctx, "c", rs[0].Key); err != nil || rec != rs[0].Record {
		t.Fatalf("Record: got %+v (%v), want %+v", rec, err, rs[0].Record)
	}
	if _, err := s.Status(ctx, "c", "nobody"); err == nil {
		t.Fatal("Status of an unknown recipient: got no error")
	}
	// A re-run sees the recipients as pending from an earlier upload.
	res, err := s.Register(ctx, "c", "r2", rs[:1])
	if err != nil || len(res) != 1 || res[0] != RegisterResult(StatusPending) {
		t.Fatalf("re-register: got %v (%v), want [pending]", res, err)
	}
	// Moves: an attempt stays pending with a JSON record; a failure and a
	// retry's MarkPending go there and back; cancel reaches the rest.
	if err := s.NoteAttempt(ctx, "c", rs[0].Key, Record{Row: 2, Channel: sinch.ChannelSMS, Identity: rs[0].Record.Identity, Attempts: 1, Error: "503 x"}); err != nil {
		t.Fatal(err)
	}
	if ok, err := s.MarkFailed(ctx, "c", rs[1].Key, rs[1].Record); err != nil || !ok {
		t.Fatalf("MarkFailed: %v %v", ok, err)
	}
	if ok, err := s.MarkPending(ctx, "c", rs[1].Key, StatusFailed); err != nil || !ok {
		t.Fatalf("MarkPending: %v %v", ok, err)
	}
	if n := s.rdb.HLen(ctx, k.Status).Val(); n != 0 {
		t.Fatalf("status hash has %d entries with every recipient pending, want none", n)
	}
	c, _ := s.Counters(ctx, "c")
	if c.Pending != 3 || c.Failed != 0 {
		t.Fatalf("counters %+v, want 3 pending", c)
	}
	seen := map[string]Status{}
	if err := s.ScanReport(ctx, "c", func(r ReportRow) error { seen[r.Key] = r.Status; return nil }); err != nil {
		t.Fatal(err)
	}
	if len(seen) != 3 || seen[rs[2].Key] != StatusPending {
		t.Fatalf("report saw %v, want 3 pending recipients", seen)
	}
	if ok, err := s.MarkSent(ctx, "c", rs[2].Key, Record{MessageID: "m"}); err != nil || !ok {
		t.Fatalf("MarkSent: %v %v", ok, err)
	}
	n, err := s.CancelPending(ctx, "c")
	if err != nil || n != 2 {
		t.Fatalf("CancelPending: got %d (%v), want 2", n, err)
	}
	c, _ = s.Counters(ctx, "c")
	if c.Pending != 0 || c.Cancelled != 2 || c.Sent != 1 {
		t.Fatalf("counters after cancel %+v, want 2 cancelled, 1 sent", c)
	}
}

func TestRecordCodecRoundTrips(t *testing.T) {
	t.Parallel()
	for _, rec := range []Record{
		{Row: 7, Channel: sinch.ChannelSMS, Identity: "+33612345678"},
		{Row: 8, Channel: "MESSENGER", Identity: "a|b|c"},
		{Row: 9, Channel: sinch.ChannelSMS, Identity: "+1", Attempts: 2, Error: "x"},
	} {
		b, err := encodeRecord(rec)
		if err != nil {
			t.Fatal(err)
		}
		var got Record
		if err := decodeRecord(b, &got); err != nil || got != rec {
			t.Fatalf("%+v: stored %q, read back %+v (%v)", rec, b, got, err)
		}
	}
	if err := decodeRecord([]byte("garbage"), &Record{}); err == nil {
		t.Fatal("decodeRecord accepted garbage")
	}
}
