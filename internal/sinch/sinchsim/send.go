package sinchsim

import (
	"encoding/base64"
	"encoding/binary"
	"errors"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// maxBodyBytes bounds a messages:send body.
const maxBodyBytes = 1 << 20

// conversationRetention is the app's retention_policy (CONVERSATION mode).
const conversationRetention = 180 * 24 * time.Hour

// sendResponse is the 200 body of messages:send.
type sendResponse struct {
	MessageID    string `json:"message_id"`
	AcceptedTime string `json:"accepted_time"`
}

// recipient is where an accepted message goes.
type recipient struct {
	identity       channelIdentity   // the first of route
	route          []channelIdentity // the channels tried, in order
	contactID      string            // CONVERSATION mode only: known, or set on acceptance
	conversationID string            // CONVERSATION mode only: set on acceptance
	mode           string
}

// handleSend serves POST messages:send.
func (s *Server) handleSend(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		methodNotAllowed(w, http.MethodPost)
		return
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxBodyBytes))
	if err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			writeError(w, http.StatusRequestEntityTooLarge, "request body is larger than 1 MiB")
			return
		}
		noResponse(w) // the client went away mid-body
		return
	}
	req, err := parseSend(body, s.cfg.ProcessingMode == ModeDispatch)
	if err != nil {
		writeInvalid(w, err)
		return
	}
	ap := s.lookupApp(req.appID)
	if ap == nil {
		writeInvalid(w, invalid("app_id", "app %s not found in project %s", req.appID, s.cfg.ProjectID))
		return
	}
	rcpt, err := s.resolveRecipient(req, ap)
	if err != nil {
		writeInvalid(w, err)
		return
	}
	if s.cfg.RejectSuffix != "" && strings.HasSuffix(rcpt.identity.Identity, s.cfg.RejectSuffix) {
		writeInvalid(w, invalid("recipient.identified_by.channel_identities", "the channel refuses this recipient (RejectSuffix)"))
		return
	}
	// Faults come after validation so that invalid requests always get
	// their 400 and a "lost" message is always one that could be accepted;
	// a lost message is counted once the queue has taken it.
	f := s.faults.draw()
	if f != faultNone && f != faultLost {
		s.stats.countFault(f)
	}
	switch f {
	case fault500:
		writeError(w, http.StatusInternalServerError, "internal error (injected by sinchsim)")
		return
	case fault503:
		writeError(w, http.StatusServiceUnavailable, "service unavailable (injected by sinchsim)")
		return
	case faultReset:
		dropConnection(w)
		return
	}
	// The app's MT queue is Sinch's per-app limit: a send it cannot hold
	// is refused, however few requests per second the project makes.
	now := s.now().UTC().Truncate(time.Microsecond)
	leave, ok, wait := ap.enqueue(now)
	if !ok {
		ap.queueFull.Add(1)
		w.Header().Set("Retry-After", retryAfter(wait))
		writeError(w, http.StatusTooManyRequests, "app "+ap.ID+" outbound queue is full ("+
			strconv.Itoa(ap.QueueSize)+" messages): too many messages for the app's outbound rate")
		return
	}
	m := s.accept(req, rcpt, ap, now, leave)
	if f == faultLost {
		s.stats.countFault(f)
		dropConnection(w)
		return
	}
	writeJSON(w, http.StatusOK, sendResponse{MessageID: m.id, AcceptedTime: formatTime(m.acceptTime)})
}

// resolveRecipient picks the channel identities the message is tried on
// (see route); in CONVERSATION mode a contact_id must name a known
// contact. It creates nothing: a request that then fails must leave no
// trace.
func (s *Server) resolveRecipient(req *sendRequest, ap *app) (recipient, error) {
	rc := recipient{contactID: req.contactID, mode: ModeConversation}
	if req.dispatchOnly || s.cfg.ProcessingMode == ModeDispatch {
		rc.contactID, rc.mode = "", ModeDispatch
	}
	ids := req.identities
	if rc.contactID != "" {
		var ok bool
		if ids, ok = s.contacts.lookup(req.contactID); !ok {
			return recipient{}, invalid("recipient.contact_id", "contact %s not found", req.contactID)
		}
	}
	rt, err := route(ids, req.priority, ap, rc.contactID == "")
	if err != nil {
		return recipient{}, err
	}
	rc.route, rc.identity = rt, rt[0]
	return rc, nil
}

// accept stores the message accepted at now into app ap's queue, which
// it leaves for the channel at leave; records it, stores the recipient's
// simulated answer and schedules the callbacks.
func (s *Server) accept(req *sendRequest, rc recipient, ap *app, now, leave time.Time) *message {
	if rc.mode == ModeConversation {
		// Sinch creates the contact of a new recipient and the
		// conversation of a new (app, contact) pair on acceptance.
		rc.contactID, rc.conversationID = s.contacts.resolve(rc.identity, rc.contactID, ap.ID, now)
	}
	m := &message{
		id:             newID(now),
		direction:      toContact,
		appMessage:     req.message,
		identity:       rc.identity,
		appID:          ap.ID,
		conversationID: rc.conversationID,
		contactID:      rc.contactID,
		metadata:       req.messageMetadata,
		acceptTime:     now,
		mode:           rc.mode,
		steps:          s.deliverySteps(rc.route, req.ttl, now, leave),
	}
	var answer *message
	switch final := m.final(); {
	case final.reason != nil && final.reason.Code == reasonExpired:
		ap.expired.Add(1)
	case final.status == statusDelivered && s.cfg.ReplySuffix != "" && strings.HasSuffix(final.identity.Identity, s.cfg.ReplySuffix):
		// A failed delivery gets no answer: Sinch reports it only in the
		// FAILED receipt (and message_status where persisted).
		answer = s.contactMessage(m, final.identity, contactContent{Text: &textMessage{Text: s.cfg.ReplyText}})
	}
	s.store(m)
	s.stats.recordAccept(now, req.correlationID, req.contentType)
	ap.accepted.Add(1)
	if answer != nil {
		s.store(answer)
	}
	s.scheduleCallbacks(req, m, answer)
	return m
}

// store keeps m in its mode's store, if that store retains anything.
func (s *Server) store(m *message) {
	if m.mode == ModeConversation {
		s.conv.add(m, m.acceptTime.Add(-conversationRetention))
		return
	}
	if days := s.retentionDays.Load(); days > 0 {
		s.dispatch.add(m, m.acceptTime.Add(-time.Duration(days)*24*time.Hour))
	}
}

// contactContent is a ContactMessage body: a text and reply_to (null
// when it replies to nothing).
type contactContent struct {
	Text    *textMessage `json:"text_message,omitempty"`
	ReplyTo *replyTo     `json:"reply_to"`
}

type textMessage struct {
	Text string `json:"text"`
}

type replyTo struct {
	MessageID string `json:"message_id"`
}

// contactMessage builds the recipient's answer to app message to: a
// TO_APP message on identity (the one that got it), in the same mode and
// conversation.
func (s *Server) contactMessage(to *message, identity channelIdentity, c contactContent) *message {
	c.ReplyTo = &replyTo{MessageID: to.id}
	raw := marshalJSON(c)
	return &message{
		id:             newID(to.acceptTime),
		direction:      toApp,
		contactMessage: raw,
		identity:       identity,
		appID:          to.appID,
		conversationID: to.conversationID,
		contactID:      to.contactID,
		acceptTime:     to.acceptTime,
		mode:           to.mode,
	}
}

// writeInvalid answers 400 INVALID_ARGUMENT. The message names the field;
// the detail carries it as a google.rpc.BadRequest, as Sinch's gateway does.
func writeInvalid(w http.ResponseWriter, err error) {
	var ia *invalidArgument
	if !errors.As(err, &ia) {
		ia = &invalidArgument{reason: err.Error()}
	}
	writeError(w, http.StatusBadRequest, ia.Error(), errorDetail{
		TypeURL: "type.googleapis.com/google.rpc.BadRequest",
		Value:   badRequestProto(ia.field, ia.reason),
	})
}

// badRequestProto encodes google.rpc.BadRequest{field_violations: [{field,
// description}]} in protobuf wire format, base64 as proto JSON renders
// the bytes of an Any.
func badRequestProto(field, description string) string {
	lenField := func(b []byte, num byte, s []byte) []byte {
		b = append(b, num<<3|2) // wire type 2: length-delimited
		b = binary.AppendUvarint(b, uint64(len(s)))
		return append(b, s...)
	}
	violation := lenField(nil, 1, []byte(field))
	violation = lenField(violation, 2, []byte(description))
	return base64.StdEncoding.EncodeToString(lenField(nil, 1, violation))
}

func methodNotAllowed(w http.ResponseWriter, allow ...string) {
	w.Header().Set("Allow", strings.Join(allow, ", "))
	writeError(w, http.StatusMethodNotAllowed, "method not allowed; use "+strings.Join(allow, " or "))
}
