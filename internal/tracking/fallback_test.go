package tracking

import (
	"context"
	"testing"

	"github.com/sinch-dispatch/sinch-dispatch/internal/campaign"
	"github.com/sinch-dispatch/sinch-dispatch/internal/sinch"
	"github.com/sinch-dispatch/sinch-dispatch/internal/sinch/sinchsim"
)

// A STOP written on another channel than the recipient's first (a
// fallback campaign's WhatsApp recipient answering on SMS, or here the
// reverse) suppresses both identities.
func TestStopOnAnotherChannelSuppressesBoth(t *testing.T) {
	t.Parallel()
	e := newEnv(t, sinchsim.Config{})
	ctx := context.Background()
	e.store.Create(ctx, campaign.Definition{ID: "c", Channel: sinch.ChannelSMS, Priority: campaign.PriorityNormal})
	_, rec := e.send(t, ctx, "c", "+33612340008", 2)
	if _, err := e.sim.AddContactMessage(sinchsim.ContactMessage{Channel: sinch.ChannelWhatsApp, Identity: "33612340008",
		Text: "STOP", ReplyTo: rec.MessageID}); err != nil {
		t.Fatal(err)
	}
	rep, err := e.tracker.Track(ctx, "c")
	if err != nil {
		t.Fatal(err)
	}
	if rep.SuppressedAdded != 2 {
		t.Errorf("got %d identities suppressed, want 2 (SMS and WHATSAPP)", rep.SuppressedAdded)
	}
	on, err := e.store.Suppressed(ctx, []sinch.Channel{sinch.ChannelSMS, sinch.ChannelWhatsApp, sinch.ChannelRCS},
		[]string{"+33612340008", "+33612340008", "+33612340008"})
	if err != nil {
		t.Fatal(err)
	}
	if !on[0] || !on[1] || on[2] {
		t.Errorf("suppressed on SMS, WHATSAPP, RCS: got %v, want true, true, false", on)
	}
}
