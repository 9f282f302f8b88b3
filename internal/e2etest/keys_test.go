package e2etest

import (
	"context"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/sinch-dispatch/sinch-dispatch/internal/campaign"
	"github.com/sinch-dispatch/sinch-dispatch/internal/keyspace"
	"github.com/sinch-dispatch/sinch-dispatch/internal/sinch/sinchsim"
)

// keptForEver are the only keys of ours that may have no TTL, each with why.
// A key that is not asynq's, has no TTL and is not listed here fails
// TestEveryKeyOfACampaignExpires: add one only with a reason it must
// outlive every campaign.
var keptForEver = map[string]string{
	keyspace.Campaigns: "the index lists campaigns of every age; listing it drops those whose keys expired",
	keyspace.Suppress:  "an opt-out holds across campaigns: whoever answered STOP once must not get the next one",
}

func TestEveryKeyOfACampaignExpires(t *testing.T) {
	// Identities ending in 7 answer STOP (suppressed), those ending in 99
	// are refused for good (failed, with a reason).
	s := newStack(t, sinchsim.Config{ReplySuffix: "7", RejectSuffix: "99"})
	s.enqueue("--campaign", "kept", "--csv", campaignCSV(t, 120, nil, 0), "--text", "Hi {{.first_name}}")
	if c := s.runWorker("kept", 20*time.Second, "--rate", "300", "--track-interval", "0"); c.Sent == 0 || c.Failed == 0 {
		t.Fatalf("got %+v, want some sent and some failed", c)
	}
	// Checked before tracking too: a tracking pass refreshes the TTL of
	// every key of the campaign, and would hide a send-path key without one.
	s.checkKeysExpire("after sending")
	if out := s.mustOps("track", "kept", "--rate", "300"); !strings.Contains(out, "opted_out") {
		t.Fatalf("track: got %q, want opted-out recipients", out)
	}
	s.mustOps("report", "kept", "--out", filepath.Join(t.TempDir(), "report.csv"))
	s.enqueue("--campaign", "halted", "--csv", campaignCSV(t, 10, nil, 0), "--text", "Hi")
	s.mustOps("cancel", "halted")
	// The dashboard writes the audit log; record one action as it would.
	if err := campaign.NewStore(s.redis.Client).AppendAudit(context.Background(), "kept",
		campaign.AuditEntry{At: time.Now(), User: "user:ann", Action: "pause", Status: 200, Result: "ok"}); err != nil {
		t.Fatal(err)
	}
	seen := s.checkKeysExpire("at the end")

	// The scan saw what it is meant to check: every kind of campaign key,
	// and every key kept for ever (a stale entry would hide nothing, but
	// its reason would mislead).
	kept := keyspace.ForCampaign("kept")
	halted := keyspace.ForCampaign("halted")
	for _, key := range append(kept.Retained(), halted.Def, halted.Status, halted.Records, halted.Counters) {
		if !seen[key] {
			t.Errorf("key %s was not written: the check does not cover it", key)
		}
	}
	for key := range keptForEver {
		if !seen[key] {
			t.Errorf("key %s is listed as kept for ever but was not written", key)
		}
	}
}

// checkKeysExpire scans every key that is not asynq's and fails the test
// for a campaign key without a TTL of at most the retention, or another key
// without a TTL that keptForEver does not list. It returns the keys seen.
func (s *stack) checkKeysExpire(step string) map[string]bool {
	t := s.t
	t.Helper()
	ctx := context.Background()
	rdb := s.redis.Client
	seen := map[string]bool{}
	iter := rdb.Scan(ctx, 0, "*", 1000).Iterator()
	for iter.Next(ctx) {
		key := iter.Val()
		if strings.HasPrefix(key, "asynq:") {
			continue // asynq's own keys, expired by asynq
		}
		seen[key] = true
		ttl, err := rdb.TTL(ctx, key).Result()
		if err != nil {
			t.Fatalf("%s: TTL %s: %v", step, key, err)
		}
		id, scoped := keyspace.CampaignOf(key)
		_, allowed := keptForEver[key]
		switch {
		case scoped && (ttl <= 0 || ttl > campaign.Retention):
			t.Errorf("%s: key %s of campaign %s: got TTL %v, want at most the retention %s", step, key, id, ttl, campaign.Retention)
		case !scoped && ttl <= 0 && !allowed:
			t.Errorf("%s: key %s: got no TTL, and it is not among the keys kept for ever", step, key)
		case allowed && ttl > 0:
			t.Errorf("%s: key %s: got TTL %v, but it is listed as kept for ever (%s)", step, key, ttl, keptForEver[key])
		}
	}
	if err := iter.Err(); err != nil {
		t.Fatalf("%s: scan: %v", step, err)
	}
	return seen
}

func TestListDropsACampaignWhoseKeysExpired(t *testing.T) {
	s := newStack(t, sinchsim.Config{})
	s.enqueue("--campaign", "stays", "--csv", campaignCSV(t, 3, nil, 0), "--text", "Hi")
	s.enqueue("--campaign", "lapsed", "--csv", campaignCSV(t, 3, nil, 0), "--text", "Hi")
	ctx := context.Background()
	rdb := s.redis.Client
	// Remove every key of "lapsed", as its retention running out would
	// (the embedded Redis some machines test on does not expire by clock).
	if err := rdb.Del(ctx, keyspace.ForCampaign("lapsed").Retained()...).Err(); err != nil {
		t.Fatal(err)
	}

	list := s.mustOps("list")
	if !strings.Contains(list, "stays") || strings.Contains(list, "lapsed") {
		t.Fatalf("list: got\n%s\nwant stays and not lapsed", list)
	}
	if n := rdb.ZCard(ctx, keyspace.Campaigns).Val(); n != 1 {
		t.Fatalf("campaign index: got %d entries, want 1 (lapsed dropped)", n)
	}
	if _, _, err := s.ops("status", "lapsed"); err == nil || !strings.Contains(err.Error(), "not found") {
		t.Fatalf("status lapsed: got %v, want campaign not found", err)
	}
}
