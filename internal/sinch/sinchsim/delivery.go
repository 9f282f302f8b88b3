package sinchsim

import (
	"fmt"
	"strings"
	"time"
)

// Delivery statuses of the receipts the simulator sends.
const (
	statusQueued    = "QUEUED_ON_CHANNEL"
	statusSwitching = "SWITCHING_CHANNEL"
	statusDelivered = "DELIVERED"
	statusFailed    = "FAILED"

	// reasonExpired fails a message whose ttl passed before delivery.
	reasonExpired = "MESSAGE_EXPIRED"
)

// deliveryStep is one state of an app message on one channel: a delivery
// receipt and, where the app persists it, the message_status from then on.
type deliveryStep struct {
	at       time.Time
	status   string
	identity channelIdentity
	reason   *failureReason
}

// route is the channel identities Sinch tries, in order, for a recipient
// with identities ids sent by app ap: with channel_priority_order, its
// channels (each must be one the app has, as the reference says) that
// the recipient has an identity on, at least one; else the identities as
// listed. Identities given in the request must be on the app's channels;
// a contact's identities on other channels are passed over.
func route(ids []channelIdentity, priority []string, ap *app, fromRequest bool) ([]channelIdentity, error) {
	if fromRequest {
		for i, id := range ids {
			if !ap.hasChannel(id.Channel) {
				return nil, invalid(fmt.Sprintf("recipient.identified_by.channel_identities[%d].channel", i),
					"channel %s is not configured in app %s", id.Channel, ap.ID)
			}
		}
	}
	var out []channelIdentity
	if len(priority) == 0 {
		for _, id := range ids {
			if ap.hasChannel(id.Channel) {
				out = append(out, id)
			}
		}
		if len(out) == 0 {
			return nil, invalid("recipient.contact_id", "the contact has no channel identity on a channel of app %s", ap.ID)
		}
		return out, nil
	}
	for i, ch := range priority {
		if !ap.hasChannel(ch) {
			return nil, invalid(fmt.Sprintf("channel_priority_order[%d]", i), "channel %s is not configured in app %s", ch, ap.ID)
		}
		for _, id := range ids {
			if id.Channel == ch {
				out = append(out, id)
				break
			}
		}
	}
	if len(out) == 0 {
		return nil, invalid("channel_priority_order", "the recipient has no channel identity on any of %s", strings.Join(priority, ", "))
	}
	return out, nil
}

// unreachable is the reason of a delivery that failed on id's channel.
func unreachable(id channelIdentity) *failureReason {
	return &failureReason{
		Code:        "RECIPIENT_NOT_REACHABLE",
		Description: "the recipient is not reachable on " + id.Channel + " (simulated)",
		SubCode:     "UNSPECIFIED_SUB_CODE",
	}
}

// deliverySteps plans the delivery of a message accepted at now that
// leaves its app's queue at leave, along its route, one CallbackDelay per
// step: QUEUED_ON_CHANNEL, then DELIVERED or FAILED; where the first
// channel fails (FailFirstChannel) and another follows, SWITCHING_CHANNEL
// and the same again on the next channel. A ttl that passes in the queue
// fails the message where it is (MESSAGE_EXPIRED), and one that passes
// before the switch stops the failover, as Sinch does not fail over
// expired messages.
func (s *Server) deliverySteps(rt []channelIdentity, ttl time.Duration, now, leave time.Time) []deliveryStep {
	expired := func(t time.Time) bool { return ttl > 0 && t.Sub(now) >= ttl }
	if expired(leave) {
		return []deliveryStep{{at: now.Add(ttl), status: statusFailed, identity: rt[0], reason: &failureReason{
			Code:        reasonExpired,
			Description: "the message's ttl passed while it waited in the app's outbound queue (simulated)",
			SubCode:     "UNSPECIFIED_SUB_CODE",
		}}}
	}
	d := s.cfg.CallbackDelay
	t := leave.Add(d)
	steps := []deliveryStep{{at: t, status: statusQueued, identity: rt[0]}}
	if s.failFirst != nil && s.failFirst.MatchString(rt[0].Identity) {
		t = t.Add(d)
		if len(rt) == 1 || expired(t) {
			return append(steps, deliveryStep{at: t, status: statusFailed, identity: rt[0], reason: unreachable(rt[0])})
		}
		steps = append(steps, deliveryStep{at: t, status: statusSwitching, identity: rt[0], reason: unreachable(rt[0])},
			deliveryStep{at: t.Add(d), status: statusQueued, identity: rt[1]})
		t = t.Add(d)
	}
	last := steps[len(steps)-1].identity
	final := deliveryStep{at: t.Add(d), status: statusDelivered, identity: last}
	if s.cfg.FailSuffix != "" && strings.HasSuffix(last.Identity, s.cfg.FailSuffix) {
		final.status, final.reason = statusFailed, unreachable(last)
	}
	return append(steps, final)
}

// reached is the last of m's steps at or before now, nil before the
// first (and for contact messages, which have none).
func (m *message) reached(now time.Time) *deliveryStep {
	var last *deliveryStep
	for i := range m.steps {
		if m.steps[i].at.After(now) {
			break
		}
		last = &m.steps[i]
	}
	return last
}

// identityAt is the channel identity m is on at now: the one its latest
// step reached (after a channel switch, the new one), else the first.
func (m *message) identityAt(now time.Time) channelIdentity {
	if st := m.reached(now); st != nil {
		return st.identity
	}
	return m.identity
}

// final is m's last planned step.
func (m *message) final() deliveryStep { return m.steps[len(m.steps)-1] }
