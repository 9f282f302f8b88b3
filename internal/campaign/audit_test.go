package campaign

import (
	"errors"
	"fmt"
	"testing"
	"time"
)

func TestAuditLogIsNewestFirstCappedAndLivesWithItsCampaign(t *testing.T) {
	s, ctx := newStore(t)
	create(t, s, ctx, "c1")
	at := time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)
	for i := range AuditLimit + 5 {
		e := AuditEntry{At: at.Add(time.Duration(i) * time.Second), User: fmt.Sprint("user:u", i), Role: "operator",
			Action: "pause", Addr: "192.0.2.1", Status: 200, Result: "ok"}
		if err := s.AppendAudit(ctx, "c1", e); err != nil {
			t.Fatal(err)
		}
	}
	all, err := s.Audit(ctx, "c1", 0)
	if err != nil {
		t.Fatal(err)
	}
	if len(all) != AuditLimit {
		t.Fatalf("got %d entries, want the newest %d", len(all), AuditLimit)
	}
	if newest, oldest := all[0].User, all[len(all)-1].User; newest != fmt.Sprint("user:u", AuditLimit+4) || oldest != "user:u5" {
		t.Fatalf("got newest %s and oldest %s, want user:u%d and user:u5", newest, oldest, AuditLimit+4)
	}
	if !all[0].At.Equal(at.Add(time.Duration(AuditLimit+4)*time.Second)) || all[0].Addr != "192.0.2.1" || all[0].Result != "ok" {
		t.Fatalf("newest entry %+v lost fields", all[0])
	}
	if page, _ := s.Audit(ctx, "c1", 3); len(page) != 3 || page[0].User != all[0].User {
		t.Fatalf("Audit(3): got %+v, want the 3 newest", page)
	}
	// The log expires with the campaign's definition.
	def, log := s.rdb.PTTL(ctx, keysFor("c1").Def).Val(), s.rdb.PTTL(ctx, keysFor("c1").Audit).Val()
	if def <= 0 || log <= 0 || log > def || def-log > time.Minute {
		t.Fatalf("audit log TTL %s, want the definition's %s", log, def)
	}
	s.rdb.Persist(ctx, keysFor("c1").Def)
	s.AppendAudit(ctx, "c1", AuditEntry{Action: "resume"})
	if ttl := s.rdb.TTL(ctx, keysFor("c1").Audit).Val(); ttl <= Retention-time.Minute || ttl > Retention {
		t.Fatalf("definition without TTL: audit log TTL %s, want Retention %s", ttl, Retention)
	}
}

func TestAuditOfAnUnknownCampaignWritesNothing(t *testing.T) {
	s, ctx := newStore(t)
	if err := s.AppendAudit(ctx, "ghost", AuditEntry{Action: "pause"}); !errors.Is(err, ErrNotFound) {
		t.Fatalf("got %v, want ErrNotFound", err)
	}
	if n := s.rdb.Exists(ctx, keysFor("ghost").Audit).Val(); n != 0 {
		t.Fatal("an audit log was created for a campaign that does not exist")
	}
	if got, err := s.Audit(ctx, "ghost", 0); err != nil || len(got) != 0 {
		t.Fatalf("got %v, %v; want no entries", got, err)
	}
	s.rdb.LPush(ctx, keysFor("ghost").Audit, "{not json")
	if _, err := s.Audit(ctx, "ghost", 0); err == nil {
		t.Fatal("a corrupt entry was read without an error")
	}
}
