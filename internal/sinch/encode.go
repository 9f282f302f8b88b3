package sinch

import (
	"encoding/json"
	"strconv"
	"time"
)

// A worker encodes one SendMessageRequest per send. Through encoding/json's
// reflection (and its re-validation of AppMessage's and TTL's MarshalJSON
// output) that was about 7 % of the worker's CPU per send at the rate
// limit (BENCHMARKS.md, figure 3), so the common request is written field
// by field: appendJSON writes exactly the bytes json.Marshal writes, and
// any field outside the common shapes goes through json.Marshal itself.
// TestSendRequestJSONIsJSONMarshal compares the two.

// appendJSON appends json.Marshal(r) to b.
func (r *SendMessageRequest) appendJSON(b []byte) ([]byte, error) {
	b = append(b, `{"app_id":`...)
	b = AppendJSONString(b, r.AppID)
	b = append(b, `,"recipient":`...)
	b, err := r.Recipient.appendJSON(b)
	if err != nil {
		return nil, err
	}
	b = append(b, `,"message":`...)
	if text, ok := r.Message.Text(); ok {
		b = append(b, `{"text_message":{"text":`...)
		b = AppendJSONString(b, text)
		b = append(b, `}}`...)
	} else if b, err = appendMarshal(b, r.Message); err != nil {
		return nil, err
	}
	b = appendOptString(b, `,"callback_url":`, r.CallbackURL)
	if len(r.ChannelPriorityOrder) > 0 {
		b = append(b, `,"channel_priority_order":[`...)
		for i, ch := range r.ChannelPriorityOrder {
			if i > 0 {
				b = append(b, ',')
			}
			b = AppendJSONString(b, string(ch))
		}
		b = append(b, ']')
	}
	if len(r.ChannelProperties) > 0 {
		b = append(b, `,"channel_properties":`...)
		if b, err = appendMarshal(b, r.ChannelProperties); err != nil { // sorted keys
			return nil, err
		}
	}
	b = appendOptString(b, `,"message_metadata":`, r.MessageMetadata)
	if len(r.ConversationMetadata) > 0 {
		b = append(b, `,"conversation_metadata":`...)
		if b, err = appendMarshal(b, r.ConversationMetadata); err != nil { // compacted, or refused when invalid
			return nil, err
		}
	}
	b = appendOptString(b, `,"queue":`, string(r.Queue))
	if r.TTL != 0 {
		b = append(b, `,"ttl":"`...)
		b = strconv.AppendInt(b, int64(time.Duration(r.TTL)/time.Second), 10)
		b = append(b, `s"`...)
	}
	b = appendOptString(b, `,"processing_strategy":`, string(r.ProcessingStrategy))
	b = appendOptString(b, `,"correlation_id":`, r.CorrelationID)
	b = appendOptString(b, `,"conversation_metadata_update_strategy":`, string(r.ConversationMetadataUpdateStrategy))
	b = appendOptString(b, `,"message_content_type":`, string(r.MessageContentType))
	return append(b, '}'), nil
}

// appendJSON appends json.Marshal(r) to b.
func (r Recipient) appendJSON(b []byte) ([]byte, error) {
	if r.IdentifiedBy == nil || r.ContactID != "" {
		return appendMarshal(b, r)
	}
	b = append(b, `{"identified_by":{"channel_identities":`...)
	if r.IdentifiedBy.ChannelIdentities == nil {
		b = append(b, "null"...)
	} else {
		b = append(b, '[')
		for i, id := range r.IdentifiedBy.ChannelIdentities {
			if i > 0 {
				b = append(b, ',')
			}
			b = append(b, `{"channel":`...)
			b = AppendJSONString(b, string(id.Channel))
			b = append(b, `,"identity":`...)
			b = AppendJSONString(b, id.Identity)
			b = appendOptString(b, `,"app_id":`, id.AppID)
			b = append(b, '}')
		}
		b = append(b, ']')
	}
	return append(b, `}}`...), nil
}

// Text returns the text of a message that is a text message and nothing
// else.
func (m AppMessage) Text() (string, bool) {
	if m.TextMessage == nil || m.TemplateMessage != nil || m.MediaMessage != nil || m.ChoiceMessage != nil ||
		m.CardMessage != nil || m.LocationMessage != nil || len(m.ExplicitChannelMessage) > 0 ||
		len(m.ExplicitChannelOmniMessage) > 0 || len(m.ChannelSpecificMessage) > 0 || m.Agent != nil ||
		len(m.Other) > 0 {
		return "", false
	}
	return m.TextMessage.Text, true
}

// AppendJSONString appends s as encoding/json writes it: printable ASCII
// other than the quote, the backslash and the characters it HTML-escapes
// (<, >, &) as is; anything else through encoding/json.
func AppendJSONString(b []byte, s string) []byte {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c > 0x7e || c == '"' || c == '\\' || c == '<' || c == '>' || c == '&' {
			q, _ := json.Marshal(s) // a string always encodes
			return append(b, q...)
		}
	}
	b = append(b, '"')
	b = append(b, s...)
	return append(b, '"')
}

// appendOptString appends key and s unless s is empty (omitempty).
func appendOptString(b []byte, key, s string) []byte {
	if s == "" {
		return b
	}
	return AppendJSONString(append(b, key...), s)
}

func appendMarshal(b []byte, v any) ([]byte, error) {
	m, err := json.Marshal(v)
	if err != nil {
		return nil, err
	}
	return append(b, m...), nil
}
