package sinchsim

import (
	"encoding/json"
	"sort"
	"sync"
	"time"
)

// Directions of a stored message.
const (
	toContact = "TO_CONTACT" // sent by the app (MT)
	toApp     = "TO_APP"     // sent by the contact (MO)
)

// message is one stored message. It is immutable once stored (deleted is
// guarded by the store's lock), so readers may use it after unlocking.
type message struct {
	seq            uint64
	id             string
	direction      string
	appMessage     json.RawMessage // TO_CONTACT: the request's message, compacted
	contactMessage json.RawMessage // TO_APP
	identity       channelIdentity
	appID          string
	conversationID string
	contactID      string
	metadata       string // message_metadata
	acceptTime     time.Time
	mode           string // ModeConversation or ModeDispatch
	deleted        bool

	// TO_CONTACT only: the simulated delivery, in time order (see
	// deliverySteps). identity is the first channel tried.
	steps []deliveryStep
}

// channelIdentity is a recipient on one channel.
type channelIdentity struct {
	Channel  string `json:"channel"`
	Identity string `json:"identity"`
	AppID    string `json:"app_id"`
}

// failureReason is the reason of a FAILED delivery.
type failureReason struct {
	Code        string `json:"code"`
	Description string `json:"description"`
	SubCode     string `json:"sub_code"`
}

// messageStatus is the deprecated message_status of a listed app message
// of an app that persists message status, in the shape of Sinch's SDKs:
// reason is the failure reason's code, for FAILED only.
type messageStatus struct {
	Status    string `json:"status"`
	EventTime string `json:"event_time"`
	Reason    string `json:"reason,omitempty"`
}

// messageJSON is a ConversationMessage as the API returns it.
type messageJSON struct {
	ID              string          `json:"id"`
	Direction       string          `json:"direction"`
	AppMessage      json.RawMessage `json:"app_message,omitempty"`
	ContactMessage  json.RawMessage `json:"contact_message,omitempty"`
	ChannelIdentity channelIdentity `json:"channel_identity"`
	ConversationID  string          `json:"conversation_id"`
	ContactID       string          `json:"contact_id"`
	Metadata        string          `json:"metadata"`
	AcceptTime      string          `json:"accept_time"`
	SenderID        string          `json:"sender_id,omitempty"` // MO only, where the channel has one

	ProcessingMode string         `json:"processing_mode"`
	Injected       bool           `json:"injected"`
	MessageStatus  *messageStatus `json:"message_status"`
}

// status is the delivery status as of now, nil before the message is
// queued on a channel or for contact messages.
func (m *message) status(now time.Time) *messageStatus {
	st := m.reached(now)
	if st == nil {
		return nil
	}
	ms := &messageStatus{Status: st.status, EventTime: formatTime(st.at)}
	if st.reason != nil {
		ms.Reason = st.reason.Code
	}
	return ms
}

// toJSON renders m as listed or fetched at now. withStatus fills
// message_status (an app that persists it); otherwise it is null.
func (m *message) toJSON(now time.Time, withMetadata, withStatus bool) messageJSON {
	j := messageJSON{
		ID:              m.id,
		Direction:       m.direction,
		AppMessage:      m.appMessage,
		ContactMessage:  m.contactMessage,
		ChannelIdentity: m.identityAt(now),
		ConversationID:  m.conversationID,
		ContactID:       m.contactID,
		AcceptTime:      formatTime(m.acceptTime),
		ProcessingMode:  m.mode,
	}
	if withStatus {
		j.MessageStatus = m.status(now)
	}
	if withMetadata {
		j.Metadata = m.metadata
	}
	return j
}

// store keeps messages in acceptance order, which is accept_time order up
// to concurrent requests racing by microseconds, so listing newest first
// walks the slice backwards and a page token is a position in it.
type store struct {
	mu   sync.RWMutex
	max  int
	seq  uint64
	msgs []*message // ascending seq from head; may hold deleted ones
	head int
	byID map[string]*message
}

func newStore(maxMessages int) *store {
	return &store{max: maxMessages, byID: map[string]*message{}}
}

// add stores m, first evicting messages accepted at or before cutoff
// (expired by retention) and then the oldest beyond the size bound.
func (s *store) add(m *message, cutoff time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for s.head < len(s.msgs) {
		old := s.msgs[s.head]
		if !old.deleted && old.acceptTime.After(cutoff) && len(s.byID) < s.max {
			break
		}
		if !old.deleted {
			delete(s.byID, old.id)
		}
		s.msgs[s.head] = nil
		s.head++
	}
	if s.head > 1024 && s.head*2 > len(s.msgs) {
		s.msgs = s.msgs[:copy(s.msgs, s.msgs[s.head:])]
		s.head = 0
	}
	s.seq++
	m.seq = s.seq
	s.msgs = append(s.msgs, m)
	s.byID[m.id] = m
}

func (s *store) get(id string) *message {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.byID[id]
}

func (s *store) delete(id string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	m, ok := s.byID[id]
	if ok {
		m.deleted = true
		delete(s.byID, id)
	}
	return ok
}

func (s *store) len() int {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return len(s.byID)
}

func (s *store) reset() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.msgs, s.head, s.byID = nil, 0, map[string]*message{}
}

// page returns up to limit messages that keep accepts, newest first,
// starting just below seq before (0: from the newest), and whether more
// match after them.
func (s *store) page(before uint64, limit int, keep func(*message) bool) (out []*message, more bool) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	live := s.msgs[s.head:]
	i := len(live) - 1
	if before > 0 {
		i = sort.Search(len(live), func(k int) bool { return live[k].seq >= before }) - 1
	}
	for ; i >= 0; i-- {
		m := live[i]
		if m.deleted || !keep(m) {
			continue
		}
		if len(out) == limit {
			return out, true
		}
		out = append(out, m)
	}
	return out, false
}

// contacts is the CONVERSATION-mode contact book: Sinch creates a contact
// for each new recipient and a conversation per app and contact.
type contacts struct {
	mu            sync.Mutex
	byIdentity    map[string]string            // channel + "/" + identity → contact ID
	identities    map[string][]channelIdentity // contact ID → identities
	conversations map[string]string            // app ID + "/" + contact ID → conversation ID
}

func newContacts() *contacts {
	c := &contacts{}
	c.reset()
	return c
}

func (c *contacts) reset() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.byIdentity = map[string]string{}
	c.identities = map[string][]channelIdentity{}
	c.conversations = map[string]string{}
}

// resolve returns the contact of ci, or contactID if set, creating the
// contact if needed, and its conversation with app, creating it if needed.
func (c *contacts) resolve(ci channelIdentity, contactID, app string, now time.Time) (string, string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if contactID == "" {
		key := ci.Channel + "/" + ci.Identity
		var ok bool
		if contactID, ok = c.byIdentity[key]; !ok {
			contactID = newID(now)
			c.byIdentity[key] = contactID
			c.identities[contactID] = append(c.identities[contactID], ci)
		}
	}
	key := app + "/" + contactID
	conversationID, ok := c.conversations[key]
	if !ok {
		conversationID = newID(now)
		c.conversations[key] = conversationID
	}
	return contactID, conversationID
}

// lookup returns a contact's channel identities, ok false if it does not exist.
func (c *contacts) lookup(contactID string) ([]channelIdentity, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	ids, ok := c.identities[contactID]
	return ids, ok
}
