package campaign

import (
	"errors"
	"sync"
	"testing"
)

func TestLookupsSayNotFoundTheSameWay(t *testing.T) {
	s, ctx := newStore(t)
	create(t, s, ctx, "c")
	if _, err := s.Register(ctx, "c", "r", regs(1)); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		call func() error
		want error
	}{
		{"Get", func() error { _, err := s.Get(ctx, "ghost"); return err }, ErrCampaignNotFound},
		{"Lookup", func() error { _, _, err := s.Lookup(ctx, "ghost"); return err }, ErrCampaignNotFound},
		{"Control", func() error { _, _, _, err := s.Control(ctx, "ghost"); return err }, ErrCampaignNotFound},
		{"Summary", func() error { _, err := s.Summary(ctx, "ghost", nil); return err }, ErrCampaignNotFound},
		{"Pause", func() error { return s.Pause(ctx, "ghost", "x") }, ErrCampaignNotFound},
		{"Resume", func() error { return s.Resume(ctx, "ghost") }, ErrCampaignNotFound},
		{"Cancel", func() error { _, err := s.Cancel(ctx, "ghost", "x"); return err }, ErrCampaignNotFound},
		{"Status", func() error { _, err := s.Status(ctx, "c", "nobody"); return err }, ErrRecipientNotFound},
		{"Record", func() error { _, err := s.Record(ctx, "c", "nobody"); return err }, ErrRecipientNotFound},
		{"KeyForMessage", func() error { _, err := s.KeyForMessage(ctx, "c", "no-such-message"); return err }, ErrRecipientNotFound},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.call()
			if !errors.Is(err, tc.want) || !errors.Is(err, ErrNotFound) {
				t.Fatalf("got %v, want %v (an ErrNotFound)", err, tc.want)
			}
		})
	}
	// Pause, Resume and Cancel of a missing campaign write nothing.
	if n, _ := s.rdb.Exists(ctx, keysFor("ghost").Def).Result(); n != 0 {
		t.Fatalf("got %d definition keys for the missing campaign, want none written", n)
	}
}

func TestACancelledCampaignStaysCancelled(t *testing.T) {
	s, ctx := newStore(t)
	create(t, s, ctx, "c")
	def, err := s.Cancel(ctx, "c", "wrong list")
	if err != nil || def.ID != "c" || def.Priority != PriorityNormal {
		t.Fatalf("cancel: got %+v, %v; want the definition of c", def, err)
	}
	tests := []struct {
		name string
		call func() error
	}{
		{"pause", func() error { return s.Pause(ctx, "c", "x") }},
		{"resume", func() error { return s.Resume(ctx, "c") }},
		{"retry", func() error { _, c, err := s.Lookup(ctx, "c"); return errors.Join(err, c.NotCancelled("retry", "c")) }},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.call()
			if !errors.Is(err, ErrCancelled) {
				t.Fatalf("got %v, want ErrCancelled", err)
			}
			if want := "cannot " + tc.name + " campaign c: campaign is cancelled"; err.Error() != want {
				t.Fatalf("got message %q, want %q", err, want)
			}
			if _, c, _ := s.Lookup(ctx, "c"); !c.Cancelled || c.Paused || c.Reason != "wrong list" {
				t.Fatalf("after a refused %s: got %+v, want still cancelled (wrong list)", tc.name, c)
			}
		})
	}
	// Cancelling again is allowed: it only changes the reason.
	if _, err := s.Cancel(ctx, "c", "again"); err != nil {
		t.Fatalf("second cancel: got %v, want nil", err)
	}
	if _, c, _ := s.Lookup(ctx, "c"); !c.Cancelled || c.Reason != "again" {
		t.Fatalf("got %+v, want cancelled (again)", c)
	}
}

// Pauses and resumes racing a cancel never undo it: each looks the campaign
// up and writes in one transaction.
func TestPauseAndResumeRacingACancelNeverUndoIt(t *testing.T) {
	s, ctx := newStore(t)
	create(t, s, ctx, "c")
	var wg sync.WaitGroup
	errs := make(chan error, 41)
	for i := range 40 {
		wg.Go(func() {
			var err error
			if i%2 == 0 {
				err = s.Pause(ctx, "c", "x")
			} else {
				err = s.Resume(ctx, "c")
			}
			if err != nil && !errors.Is(err, ErrCancelled) {
				errs <- err
			}
		})
		if i == 20 {
			wg.Go(func() {
				if _, err := s.Cancel(ctx, "c", "stop"); err != nil {
					errs <- err
				}
			})
		}
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Errorf("got %v, want only ErrCancelled refusals", err)
	}
	if _, c, err := s.Lookup(ctx, "c"); err != nil || !c.Cancelled || c.Reason != "stop" {
		t.Fatalf("got %+v (%v), want cancelled (stop)", c, err)
	}
}

// Batch lookups say which items exist with found, as RecordsOf does.
func TestKeysForMessagesSaysWhichAreFound(t *testing.T) {
	s, ctx := newStore(t)
	rs := sentOne(t, s, ctx, "c")
	rks, found, err := s.KeysForMessages(ctx, "c", []string{"other", "m0"})
	if err != nil || len(rks) != 2 || found[0] || !found[1] || rks[1] != rs[0].Key {
		t.Fatalf("got %q %v (%v), want only m0 found, as %s", rks, found, err, rs[0].Key)
	}
}
