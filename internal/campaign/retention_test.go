package campaign

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/sinch-dispatch/sinch-dispatch/internal/keyspace"
	"github.com/sinch-dispatch/sinch-dispatch/internal/sinch"
)

// wantRetention fails unless each key exists with a TTL of about Retention.
func wantRetention(t *testing.T, s *Store, ctx context.Context, step string, keys ...string) {
	t.Helper()
	for _, key := range keys {
		ttl, err := s.rdb.TTL(ctx, key).Result()
		if err != nil || ttl <= Retention-time.Minute || ttl > Retention {
			t.Errorf("%s: TTL of %s: got %v (%v), want about %s", step, key, ttl, err, Retention)
		}
	}
}

// The send path writes the message ID, per-second and attempts hashes
// itself: they get the retention there, even when no upload refreshes
// the campaign afterwards.
func TestSendPathKeysCarryTheRetention(t *testing.T) {
	s, ctx := newStore(t)
	create(t, s, ctx, "c")
	rs := regs(3)
	if _, err := s.Register(ctx, "c", "r", rs); err != nil {
		t.Fatal(err)
	}
	k := keysFor("c")
	// An upload that dies before EndUpload leaves nothing without a TTL.
	wantRetention(t, s, ctx, "after Register", k.Def, k.Records, k.Counters)

	if c, _, err := s.ClaimSend(ctx, "c", rs[0].Key, "tok", time.Minute); err != nil || c != ClaimOK {
		t.Fatalf("ClaimSend: got %s (%v), want ok", c, err)
	}
	wantRetention(t, s, ctx, "after ClaimSend", k.Attempts)
	if _, err := s.FinishSent(ctx, "c", rs[0].Key, "tok", Record{MessageID: "m0"}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.MarkSent(ctx, "c", rs[1].Key, Record{MessageID: "m1"}); err != nil {
		t.Fatal(err)
	}
	wantRetention(t, s, ctx, "after sends", k.Status, k.MessageIDs, k.SentPerSecond, k.AutoPause)

	if _, err := s.SetOutcome(ctx, "c", rs[0].Key, OutcomeDelivered, ""); err != nil {
		t.Fatal(err)
	}
	if err := s.SetTrackInfo(ctx, "c", TrackInfo{Pages: 1}); err != nil {
		t.Fatal(err)
	}
	if err := s.AppendAudit(ctx, "c", AuditEntry{Action: "pause", User: "user:ann"}); err != nil {
		t.Fatal(err)
	}
	// Every retained key now exists, and all carry the retention.
	wantRetention(t, s, ctx, "after tracking", k.Retained()...)
}

// A refresh (EndUpload, a tracking pass) gives every key of the campaign
// the whole retention again, so they expire together.
func TestRefreshRestoresTheRetentionOfEveryKey(t *testing.T) {
	s, ctx := newStore(t)
	sentOne(t, s, ctx, "c")
	k := keysFor("c")
	tests := []struct {
		name    string
		refresh func() error
	}{
		{"EndUpload", func() error { return s.EndUpload(ctx, "c", "r") }},
		{"SetTrackInfo", func() error { return s.SetTrackInfo(ctx, "c", TrackInfo{}) }},
	}
	for _, tt := range tests {
		for _, key := range []string{k.Def, k.Status, k.MessageIDs, k.SentPerSecond} {
			s.rdb.Expire(ctx, key, time.Hour)
		}
		if err := tt.refresh(); err != nil {
			t.Fatalf("%s: %v", tt.name, err)
		}
		wantRetention(t, s, ctx, tt.name, k.Def, k.Status, k.MessageIDs, k.SentPerSecond)
	}
}

func TestIDsDropsCampaignsWhoseKeysExpired(t *testing.T) {
	s, ctx := newStore(t)
	base := time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC)
	for i, id := range []string{"old", "gone", "new"} {
		def := Definition{ID: id, Priority: PriorityNormal, Channel: sinch.ChannelSMS, CreatedAt: base.Add(time.Duration(i) * time.Hour)}
		if _, _, err := s.Create(ctx, def); err != nil {
			t.Fatal(err)
		}
		if _, err := s.Register(ctx, id, "r", regs(2)); err != nil {
			t.Fatal(err)
		}
	}
	// Remove every key of "gone", as its retention running out would (the
	// embedded Redis some machines test on does not expire by clock).
	if err := s.rdb.Del(ctx, keysFor("gone").Retained()...).Err(); err != nil {
		t.Fatal(err)
	}

	ids, err := s.IDs(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"new", "old"}; !slices.Equal(ids, want) {
		t.Fatalf("IDs: got %v, want %v", ids, want)
	}
	if err := s.rdb.ZScore(ctx, keyspace.Campaigns, "gone").Err(); !errors.Is(err, redis.Nil) {
		t.Fatalf("index entry of the expired campaign: got %v, want it removed", err)
	}
	recent, err := s.RecentlySent(ctx, time.Time{})
	if err != nil || slices.Contains(recent, "gone") {
		t.Fatalf("RecentlySent: got %v (%v), want no expired campaign", recent, err)
	}
}

// A campaign created again under an expired ID between IDs' check and its
// removal from the index is put back.
func TestUnindexKeepsACampaignThatExists(t *testing.T) {
	s, ctx := newStore(t)
	created := time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC)
	if _, _, err := s.Create(ctx, Definition{ID: "again", CreatedAt: created}); err != nil {
		t.Fatal(err)
	}
	dropped, err := s.unindex(ctx, []string{"again", "never"})
	if err != nil {
		t.Fatal(err)
	}
	if dropped["again"] || !dropped["never"] {
		t.Fatalf("dropped: got %v, want only never", dropped)
	}
	score, err := s.rdb.ZScore(ctx, keyspace.Campaigns, "again").Result()
	if err != nil || int64(score) != created.Unix() {
		t.Fatalf("index score of again: got %v (%v), want its creation time %d", score, err, created.Unix())
	}
}

// sentOne creates campaign id with one recipient, sent as message m0.
func sentOne(t *testing.T, s *Store, ctx context.Context, id string) []Registration {
	t.Helper()
	create(t, s, ctx, id)
	rs := regs(1)
	if _, err := s.Register(ctx, id, "r", rs); err != nil {
		t.Fatal(err)
	}
	if _, err := s.MarkSent(ctx, id, rs[0].Key, Record{MessageID: "m0"}); err != nil {
		t.Fatal(err)
	}
	return rs
}

// The send path sets the retention once per ttlRefresh and campaign, not
// on every send: a send within the second leaves the TTLs as they are, the
// first send after it gives them the whole retention again.
func TestSendPathRefreshesTheRetentionOncePerSecond(t *testing.T) {
	s, ctx := newStore(t)
	create(t, s, ctx, "c")
	rs := regs(3)
	if _, err := s.Register(ctx, "c", "r", rs); err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	s.now = func() time.Time { return now }
	k := keysFor("c")
	send := func(i int) {
		t.Helper()
		tok := fmt.Sprint("tok", i)
		if c, _, err := s.ClaimSend(ctx, "c", rs[i].Key, tok, time.Minute); err != nil || c != ClaimOK {
			t.Fatalf("ClaimSend: got %s (%v), want ok", c, err)
		}
		if _, err := s.FinishSent(ctx, "c", rs[i].Key, tok, Record{MessageID: fmt.Sprint("m", i)}); err != nil {
			t.Fatal(err)
		}
	}
	keys := []string{k.Attempts, k.MessageIDs, k.SentPerSecond}
	send(0)
	wantRetention(t, s, ctx, "after the first send", keys...)
	for _, key := range keys {
		s.rdb.Expire(ctx, key, time.Hour)
	}
	now = now.Add(ttlRefresh / 2)
	send(1)
	for _, key := range keys {
		if ttl := s.rdb.TTL(ctx, key).Val(); ttl > time.Hour {
			t.Errorf("TTL of %s after a send within %s: got %v, want the hour left as it was", key, ttlRefresh, ttl)
		}
	}
	now = now.Add(ttlRefresh)
	send(2)
	wantRetention(t, s, ctx, "after a send a second later", keys...)
}
