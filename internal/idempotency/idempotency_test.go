package idempotency

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/sinch-dispatch/sinch-dispatch/internal/redistest"
	"github.com/sinch-dispatch/sinch-dispatch/internal/testwait"
)

func newStore(t *testing.T, cfg Config) *Store {
	t.Helper()
	r := redistest.New(t)
	if cfg.Prefix == "" {
		cfg.Prefix = "test:idem:"
	}
	s, err := New(r.Client, cfg)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// The three cases of the draft: same key and request → the stored answer;
// same key, other request → mismatch; same key while running → in flight.
func TestSameKeyReplaysMismatchesOrConflicts(t *testing.T) {
	ctx := context.Background()
	s := newStore(t, Config{})
	claim, prev, err := s.Begin(ctx, "alice", "k1")
	if err != nil || claim == nil || prev != nil {
		t.Fatalf("first Begin: got claim %v, prev %v, err %v; want a claim", claim, prev, err)
	}
	if _, _, err := s.Begin(ctx, "alice", "k1"); !errors.Is(err, ErrInFlight) {
		t.Fatalf("Begin while the first runs: got %v, want ErrInFlight", err)
	}
	want := Response{Fingerprint: "fp-a", Status: 201, Location: "/api/campaigns/x", Body: []byte(`{"rows":3}`)}
	if err := claim.Complete(ctx, want); err != nil {
		t.Fatal(err)
	}
	claim2, got, err := s.Begin(ctx, "alice", "k1")
	if err != nil || claim2 != nil || got == nil {
		t.Fatalf("Begin after Complete: got claim %v, prev %v, err %v; want the stored response", claim2, got, err)
	}
	if got.Status != 201 || got.Location != want.Location || string(got.Body) != string(want.Body) {
		t.Errorf("stored response: got %+v, want %+v", got, want)
	}
	if err := got.Matches("fp-a"); err != nil {
		t.Errorf("same fingerprint: got %v, want a match", err)
	}
	if err := got.Matches("fp-b"); !errors.Is(err, ErrMismatch) {
		t.Errorf("other fingerprint: got %v, want ErrMismatch", err)
	}
	// Another client's identical key is another key.
	if c, p, err := s.Begin(ctx, "bob", "k1"); err != nil || c == nil || p != nil {
		t.Errorf("bob's k1: got claim %v, prev %v, err %v; want a fresh claim", c, p, err)
	}
}

func TestReleaseFreesTheKeyAndStaleClaimsCannotWrite(t *testing.T) {
	ctx := context.Background()
	s := newStore(t, Config{Lease: time.Second})
	claim, _, err := s.Begin(ctx, "a", "k")
	if err != nil {
		t.Fatal(err)
	}
	if err := claim.Release(ctx); err != nil {
		t.Fatal(err)
	}
	again, prev, err := s.Begin(ctx, "a", "k")
	if err != nil || again == nil || prev != nil {
		t.Fatalf("Begin after Release: got claim %v, prev %v, err %v; want a new claim", again, prev, err)
	}
	// The released claim no longer owns the key: it cannot complete it.
	if err := claim.Complete(ctx, Response{Fingerprint: "x", Status: 201}); err == nil {
		t.Error("a released claim completed the key")
	}
	if err := again.Complete(ctx, Response{Fingerprint: "y", Status: 200}); err != nil {
		t.Fatal(err)
	}
	if _, prev, _ := s.Begin(ctx, "a", "k"); prev == nil || prev.Fingerprint != "y" {
		t.Errorf("stored response: got %+v, want the second claim's", prev)
	}
}

func TestAClaimLapsesWithoutRenewalAndKeepRenewsIt(t *testing.T) {
	ctx := context.Background()
	s := newStore(t, Config{Lease: time.Second})
	kept, _, err := s.Begin(ctx, "a", "kept")
	if err != nil {
		t.Fatal(err)
	}
	stop := kept.Keep(ctx)
	lapsed, _, err := s.Begin(ctx, "a", "lapsed")
	if err != nil {
		t.Fatal(err)
	}
	// Poll until the unrenewed claim's key is gone (its lease is 1s).
	rk := s.redisKey("a", "lapsed")
	testwait.For(t, 10*time.Second, "the unrenewed claim (1s lease) to lapse", func() bool {
		return s.rdb.Exists(ctx, rk).Val() == 0
	})
	if err := lapsed.Complete(ctx, Response{Fingerprint: "f"}); err == nil {
		t.Error("a lapsed claim completed")
	}
	// The kept claim outlived the same lease.
	if _, _, err := s.Begin(ctx, "a", "kept"); !errors.Is(err, ErrInFlight) {
		t.Errorf("kept claim after the other lapsed: got %v, want ErrInFlight", err)
	}
	stop()
	if err := kept.Complete(ctx, Response{Fingerprint: "f", Status: 201}); err != nil {
		t.Errorf("kept claim: %v", err)
	}
}

func TestCompletedResponsesExpireAfterTheTTL(t *testing.T) {
	ctx := context.Background()
	s := newStore(t, Config{TTL: 24 * time.Hour})
	c, _, _ := s.Begin(ctx, "a", "k")
	if err := c.Complete(ctx, Response{Fingerprint: "f", Status: 201}); err != nil {
		t.Fatal(err)
	}
	ttl := s.rdb.PTTL(ctx, s.redisKey("a", "k")).Val()
	if ttl < 23*time.Hour || ttl > 24*time.Hour {
		t.Errorf("TTL of a stored response: got %v, want about 24h", ttl)
	}
}

func TestBadKeysAndConfig(t *testing.T) {
	s := newStore(t, Config{})
	for _, k := range []string{"", strings.Repeat("a", 256), "tab\there", "é"} {
		if _, _, err := s.Begin(context.Background(), "a", k); !errors.Is(err, ErrBadKey) {
			t.Errorf("key %q: got %v, want ErrBadKey", k, err)
		}
	}
	if _, err := New(nil, Config{}); err == nil {
		t.Error("New without a prefix: got nil, want an error")
	}
	if _, err := New(nil, Config{Prefix: "p", Lease: time.Millisecond}); err == nil {
		t.Error("New with a 1ms lease: got nil, want an error")
	}
}

func TestFingerprintSeparatesParts(t *testing.T) {
	sum := func(parts ...string) string {
		f := NewFingerprint()
		for i := 0; i+1 < len(parts); i += 2 {
			f.Part(parts[i], []byte(parts[i+1]))
		}
		return f.Sum()
	}
	if sum("spec", "ab", "csv", "c") == sum("spec", "a", "csv", "bc") {
		t.Error("moving a byte between parts kept the fingerprint")
	}
	if sum("spec", "x", "csv", "y") != sum("spec", "x", "csv", "y") {
		t.Error("the same parts gave two fingerprints")
	}
}
