package sinchsim

import (
	"errors"
	"time"

	"github.com/sinch-dispatch/sinch-dispatch/internal/sinch"
)

// ContactMessage is an inbound (MO) text message for AddContactMessage.
type ContactMessage struct {
	// Channel the contact wrote on. Defaults to SMS.
	Channel sinch.Channel
	// Identity of the contact on Channel, e.g. an MSISDN. Required.
	Identity string
	// Text of the message. Required.
	Text string
	// ReplyTo is the ID of the app message this answers, if any. The
	// message then joins that message's store, conversation and app.
	ReplyTo string
	// App is the app written to, when it replies to nothing. Defaults to
	// the first app (Config.AppID).
	App string
}

// AddContactMessage simulates a contact writing to the app: the message is
// stored as TO_APP (in the dispatch store when the app is in DISPATCH mode
// or it replies to a dispatch message, and retention allows) and posted
// as a MESSAGE_INBOUND callback to Config.CallbackURL. It returns the
// message ID.
func (s *Server) AddContactMessage(cm ContactMessage) (string, error) {
	if cm.Channel == "" {
		cm.Channel = sinch.ChannelSMS
	}
	switch {
	case !cm.Channel.Valid():
		return "", errors.New("sinchsim: invalid channel " + string(cm.Channel))
	case cm.Identity == "":
		return "", errors.New("sinchsim: contact message needs an Identity")
	case cm.Text == "":
		return "", errors.New("sinchsim: contact message needs a Text")
	}
	ap := s.defaultApp()
	if cm.App != "" {
		if ap = s.lookupApp(cm.App); ap == nil {
			return "", errors.New("sinchsim: contact message to unknown app " + cm.App)
		}
	}
	now := s.now().UTC().Truncate(time.Microsecond)
	content := contactContent{Text: &textMessage{Text: cm.Text}}
	m := &message{
		id:         newID(now),
		direction:  toApp,
		identity:   channelIdentity{Channel: string(cm.Channel), Identity: cm.Identity},
		appID:      ap.ID,
		acceptTime: now,
		mode:       s.cfg.ProcessingMode,
	}
	if cm.ReplyTo != "" {
		orig := s.conv.get(cm.ReplyTo)
		if orig == nil {
			orig = s.dispatch.get(cm.ReplyTo)
		}
		if orig == nil {
			return "", errors.New("sinchsim: no stored message " + cm.ReplyTo + " to reply to")
		}
		m.mode, m.conversationID, m.contactID, m.appID = orig.mode, orig.conversationID, orig.contactID, orig.appID
		content.ReplyTo = &replyTo{MessageID: cm.ReplyTo}
	} else if m.mode == ModeConversation {
		m.contactID, m.conversationID = s.contacts.resolve(m.identity, "", m.appID, now)
	}
	m.contactMessage = marshalJSON(content)
	s.store(m)
	if j := s.inboundJob(m, "", ""); j != nil {
		j.delay = 0
		s.callbacks.submit(j)
	}
	return m.id, nil
}
