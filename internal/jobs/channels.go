package jobs

import (
	"slices"

	"github.com/sinch-dispatch/sinch-dispatch/internal/sinch"
)

// Channel fallback: a payload with Channels is sent with
// channel_priority_order in that order and one channel identity per
// listed channel, so Sinch tries the next channel when one fails.

// sendsOn reports whether the message may be sent on ch, first or as a
// fallback.
func (p SendPayload) sendsOn(ch sinch.Channel) bool {
	return p.Channel == ch || slices.Contains(p.Channels, ch)
}

// recipient is the request's identified_by: one identity per channel, in
// the fallback order.
func (p SendPayload) recipient() sinch.Recipient {
	if len(p.Channels) == 0 {
		return sinch.Recipient{IdentifiedBy: &sinch.IdentifiedBy{
			ChannelIdentities: []sinch.ChannelIdentity{{Channel: p.Channel, Identity: p.Identity}},
		}}
	}
	ids := make([]sinch.ChannelIdentity, len(p.Channels))
	for i, ch := range p.Channels {
		id, ok := p.Identities[ch]
		if !ok {
			id = p.Identity
		}
		ids[i] = sinch.ChannelIdentity{Channel: ch, Identity: id}
	}
	return sinch.Recipient{IdentifiedBy: &sinch.IdentifiedBy{ChannelIdentities: ids}}
}

// priorityOrder is the request's channel_priority_order (nil for one channel).
func (p SendPayload) priorityOrder() []sinch.Channel {
	if len(p.Channels) < 2 {
		return nil
	}
	return p.Channels
}
