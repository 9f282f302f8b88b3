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

// fallback gives a fallback payload's request its channel_priority_order
// and one identity per channel, in that order; it leaves a one-channel
// request as it is.
func (p SendPayload) fallback(req *sinch.SendMessageRequest) {
	if len(p.Channels) < 2 {
		return
	}
	ids := make([]sinch.ChannelIdentity, len(p.Channels))
	for i, ch := range p.Channels {
		id, ok := p.Identities[ch]
		if !ok {
			id = p.Identity
		}
		ids[i] = sinch.ChannelIdentity{Channel: ch, Identity: id}
	}
	req.Recipient = sinch.Recipient{IdentifiedBy: &sinch.IdentifiedBy{ChannelIdentities: ids}}
	req.ChannelPriorityOrder = p.Channels
}
