package campaign

import (
	"testing"

	"github.com/sinch-dispatch/sinch-dispatch/internal/sinch"
)

// A fallback campaign's recipients are counted by the channel that
// reached them, once each, whatever order receipts arrive in; switches are
// counted per receipt.
func TestDeliveredChannelAndSwitches(t *testing.T) {
	t.Parallel()
	s, ctx := newStore(t)
	create(t, s, ctx, "fb")
	rs := regs(3)
	if _, err := s.Register(ctx, "fb", "run", rs); err != nil {
		t.Fatal(err)
	}
	a, b, c := rs[0].Key, rs[1].Key, rs[2].Key
	steps := []struct {
		u       OutcomeUpdate
		changed bool
		want    RecipientOutcome
	}{
		// a: WhatsApp failed, SMS delivered, then read on SMS.
		{OutcomeUpdate{Key: a, Outcome: OutcomeQueued, Channel: sinch.ChannelWhatsApp}, true, RecipientOutcome{Outcome: OutcomeQueued}},
		{OutcomeUpdate{Key: a, Outcome: OutcomeDelivered, Channel: sinch.ChannelSMS}, true, RecipientOutcome{Outcome: OutcomeDelivered, Channel: sinch.ChannelSMS}},
		{OutcomeUpdate{Key: a, Outcome: OutcomeRead, Channel: sinch.ChannelSMS}, true, RecipientOutcome{Outcome: OutcomeRead, Channel: sinch.ChannelSMS}},
		{OutcomeUpdate{Key: a, Outcome: OutcomeDelivered, Channel: sinch.ChannelWhatsApp}, false, RecipientOutcome{Outcome: OutcomeRead, Channel: sinch.ChannelSMS}},
		// b: a reply seen (no channel) before the DELIVERED receipt: the
		// outcome stays, the channel is learnt.
		{OutcomeUpdate{Key: b, Outcome: OutcomeReplied}, true, RecipientOutcome{Outcome: OutcomeReplied}},
		{OutcomeUpdate{Key: b, Outcome: OutcomeDelivered, Channel: sinch.ChannelWhatsApp}, false, RecipientOutcome{Outcome: OutcomeReplied, Channel: sinch.ChannelWhatsApp}},
		// c: a failure names a channel but records none.
		{OutcomeUpdate{Key: c, Outcome: OutcomeFailed, Reason: "NO_CHANNELS_LEFT", Channel: sinch.ChannelSMS}, true, RecipientOutcome{Outcome: OutcomeFailed, Reason: "NO_CHANNELS_LEFT"}},
	}
	for i, st := range steps {
		got, err := s.SetOutcomes(ctx, "fb", []OutcomeUpdate{st.u})
		if err != nil {
			t.Fatal(err)
		}
		if got[0] != st.changed {
			t.Errorf("step %d: changed %v, want %v", i, got[0], st.changed)
		}
		ocs, err := s.OutcomesOf(ctx, "fb", []string{st.u.Key})
		if err != nil {
			t.Fatal(err)
		}
		if ocs[0] != st.want {
			t.Errorf("step %d: got %+v, want %+v", i, ocs[0], st.want)
		}
	}
	for _, rk := range []string{a, a, c, "not-a-recipient"} {
		if _, err := s.CountSwitch(ctx, "fb", rk); err != nil {
			t.Fatal(err)
		}
	}
	oc, err := s.Outcomes(ctx, "fb")
	if err != nil {
		t.Fatal(err)
	}
	if got := oc.DeliveredByChannel; len(got) != 2 || got[sinch.ChannelSMS] != 1 || got[sinch.ChannelWhatsApp] != 1 {
		t.Errorf("delivered by channel: got %v, want SMS 1, WHATSAPP 1", got)
	}
	if oc.ChannelSwitches != 3 {
		t.Errorf("channel switches: got %d, want 3 (the unknown key not counted)", oc.ChannelSwitches)
	}
	if oc.Read != 1 || oc.Replied != 1 || oc.Failed != 1 || oc.Delivered != 0 || oc.Queued != 0 {
		t.Errorf("outcome counters: got %+v", oc)
	}
}
