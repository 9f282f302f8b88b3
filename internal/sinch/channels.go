package sinch

import (
	"encoding/json"
	"strings"
)

// omniText is a text in explicit_channel_omni_message.
type omniText struct {
	TextMessage *TextMessage `json:"text_message,omitempty"`
}

// TextFor is the text the message sends on ch: a text_message set for ch in
// explicit_channel_omni_message, else its own text_message. ok is false
// when what it sends on ch is not a text.
func (m *AppMessage) TextFor(ch Channel) (text string, ok bool) {
	if raw, has := m.ExplicitChannelOmniMessage[ch]; has {
		var o omniText
		if json.Unmarshal(raw, &o) != nil || o.TextMessage == nil {
			return "", false
		}
		return o.TextMessage.Text, true
	}
	if m.TextMessage == nil {
		return "", false
	}
	return m.TextMessage.Text, true
}

// SetTextFor sets the text sent on ch: its explicit_channel_omni_message
// text when it has one or override is set, else the text_message.
func (m *AppMessage) SetTextFor(ch Channel, text string, override bool) {
	if _, has := m.ExplicitChannelOmniMessage[ch]; !has && !override && m.TextMessage != nil {
		m.TextMessage.Text = text
		return
	}
	raw, _ := json.Marshal(omniText{TextMessage: &TextMessage{Text: text}}) // a string always encodes
	if m.ExplicitChannelOmniMessage == nil {
		m.ExplicitChannelOmniMessage = map[Channel]json.RawMessage{}
	}
	m.ExplicitChannelOmniMessage[ch] = raw
}

// JoinChannels writes channels in order with sep between them: a fallback
// order as flags take it ("WHATSAPP,SMS") or as pages show it.
func JoinChannels(chs []Channel, sep string) string {
	names := make([]string, len(chs))
	for i, ch := range chs {
		names[i] = string(ch)
	}
	return strings.Join(names, sep)
}
