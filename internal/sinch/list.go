package sinch

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"iter"
	"net/http"
	"net/url"
	"strconv"
	"time"
)

const (
	// MaxPageSize is the largest page_size the API accepts.
	MaxPageSize = 1000
	// BulkPageSize is the page_size Pages and Messages ask for when
	// ListMessagesParams.PageSize is 0 (the API's own default is 10).
	BulkPageSize = MaxPageSize
)

// ListMessagesParams are the query parameters of GET /v1/projects/{project_id}/messages.
// Zero fields are not sent. ConversationID and ContactID work only with
// SourceConversation.
type ListMessagesParams struct {
	ConversationID  string
	ContactID       string
	AppID           string
	ChannelIdentity string    // e.g. an MSISDN; it is never logged
	StartTime       time.Time // accept_time after this
	EndTime         time.Time // accept_time before this
	PageSize        int       // 1..MaxPageSize; 0 lets the API default (10)
	PageToken       string
	View            View
	MessagesSource  MessagesSource
	// OnlyRecipientOriginated, when not nil, is sent as true or false.
	OnlyRecipientOriginated *bool
	Channel                 Channel
	Direction               Direction
}

// Validate checks ranges and enum values.
func (p ListMessagesParams) Validate() error {
	var e problems
	e.check(p.PageSize >= 0 && p.PageSize <= MaxPageSize, "page_size",
		fmt.Sprintf("must be between 0 (the API default) and %d, got %d", MaxPageSize, p.PageSize))
	e.check(p.StartTime.IsZero() || p.EndTime.IsZero() || p.StartTime.Before(p.EndTime),
		"start_time", "must be before end_time")
	e.check(p.View == "" || p.View.Valid(), "view", notInEnum(p.View))
	e.check(p.MessagesSource == "" || p.MessagesSource.Valid(), "messages_source", notInEnum(p.MessagesSource))
	e.check(p.Channel == "" || p.Channel.Valid(), "channel", notInEnum(p.Channel))
	e.check(p.Direction == "" || p.Direction.Valid(), "direction", notInEnum(p.Direction))
	return e.err()
}

// query encodes the set fields. Times are sent in UTC, RFC 3339.
func (p ListMessagesParams) query() url.Values {
	q := url.Values{}
	set := func(key, value string) {
		if value != "" {
			q.Set(key, value)
		}
	}
	setTime := func(key string, t time.Time) {
		if !t.IsZero() {
			q.Set(key, t.UTC().Format(time.RFC3339Nano))
		}
	}
	set("conversation_id", p.ConversationID)
	set("contact_id", p.ContactID)
	set("app_id", p.AppID)
	set("channel_identity", p.ChannelIdentity)
	setTime("start_time", p.StartTime)
	setTime("end_time", p.EndTime)
	if p.PageSize != 0 {
		q.Set("page_size", strconv.Itoa(p.PageSize))
	}
	set("page_token", p.PageToken)
	set("view", string(p.View))
	set("messages_source", string(p.MessagesSource))
	if p.OnlyRecipientOriginated != nil {
		q.Set("only_recipient_originated", strconv.FormatBool(*p.OnlyRecipientOriginated))
	}
	set("channel", string(p.Channel))
	set("direction", string(p.Direction))
	return q
}

// ListMessagesResponse is one page of messages, newest first.
type ListMessagesResponse struct {
	Messages []ConversationMessage `json:"messages"`
	// NextPageToken fetches the next page; empty on the last one.
	NextPageToken string `json:"next_page_token"`
}

// ConversationMessage is a stored message: from the app (AppMessage set) or
// from the contact (ContactMessage set).
type ConversationMessage struct {
	ID              string           `json:"id"`
	Direction       Direction        `json:"direction,omitempty"`
	AppMessage      *AppMessage      `json:"app_message,omitempty"`
	ContactMessage  *ContactMessage  `json:"contact_message,omitempty"`
	ChannelIdentity *ChannelIdentity `json:"channel_identity,omitempty"`
	ContactID       string           `json:"contact_id,omitempty"`
	ConversationID  string           `json:"conversation_id,omitempty"`
	Metadata        string           `json:"metadata,omitempty"`
	AcceptTime      time.Time        `json:"accept_time,omitzero"`
	SenderID        string           `json:"sender_id,omitempty"`
	ProcessingMode  ProcessingMode   `json:"processing_mode,omitempty"`
	Injected        bool             `json:"injected,omitempty"`
	// MessageStatus is deprecated by Sinch and null unless the app persists
	// message status (App.PersistMessageStatus).
	MessageStatus *MessageStatus `json:"message_status,omitempty"`
}

// MessageStatus is the deprecated message_status of a stored message, set
// only for apps that persist message status. The spec does not describe
// it; Sinch's SDKs type it {status, event_time, reason} with reason a
// string. It is read leniently, a bare string or an object with "status"
// and a reason that is a string (the code) or a Reason object, and kept
// raw: an unexpected shape must not fail a whole page.
type MessageStatus struct {
	Status DeliveryStatus
	Reason *Reason // nil unless the status names one (FAILED)
	Raw    json.RawMessage
}

// UnmarshalJSON never fails; see MessageStatus.
func (s *MessageStatus) UnmarshalJSON(b []byte) error {
	s.Raw = append(json.RawMessage(nil), b...)
	var str string
	if json.Unmarshal(b, &str) == nil {
		s.Status = DeliveryStatus(str)
		return nil
	}
	var obj struct {
		Status DeliveryStatus  `json:"status"`
		Reason json.RawMessage `json:"reason"`
	}
	if json.Unmarshal(b, &obj) != nil {
		return nil
	}
	s.Status = obj.Status
	var code string
	var r Reason
	switch {
	case json.Unmarshal(obj.Reason, &code) == nil && code != "":
		s.Reason = &Reason{Code: ReasonCode(code)}
	case json.Unmarshal(obj.Reason, &r) == nil && r != (Reason{}):
		s.Reason = &r
	}
	return nil
}

// MarshalJSON writes back what was read, or else the status as a string.
func (s MessageStatus) MarshalJSON() ([]byte, error) {
	if len(s.Raw) > 0 {
		return s.Raw, nil
	}
	return json.Marshal(string(s.Status))
}

// ContactMessage is a message from a contact: one kind plus an optional reply_to.
type ContactMessage struct {
	TextMessage           *TextMessage           `json:"text_message,omitempty"`
	MediaMessage          *MediaMessage          `json:"media_message,omitempty"`
	ChoiceResponseMessage *ChoiceResponseMessage `json:"choice_response_message,omitempty"`
	FallbackMessage       *FallbackMessage       `json:"fallback_message,omitempty"`
	LocationMessage       *LocationMessage       `json:"location_message,omitempty"`
	MediaCardMessage      *MediaCardMessage      `json:"media_card_message,omitempty"`
	// Kinds this package does not read are kept raw.
	ProductResponseMessage json.RawMessage `json:"product_response_message,omitempty"`
	ChannelSpecificMessage json.RawMessage `json:"channel_specific_message,omitempty"`
	ReplyTo                *ReplyTo        `json:"reply_to,omitempty"`
}

// ChoiceResponseMessage is the contact picking a choice.
type ChoiceResponseMessage struct {
	MessageID    string `json:"message_id"`
	PostbackData string `json:"postback_data"`
}

// FallbackMessage is a contact message the channel could not map to a kind.
type FallbackMessage struct {
	RawMessage string  `json:"raw_message,omitempty"`
	Reason     *Reason `json:"reason,omitempty"`
}

// Reason explains a failure (delivery report) or a fallback message.
type Reason struct {
	Code        ReasonCode    `json:"code,omitempty"`
	Description string        `json:"description,omitempty"`
	SubCode     ReasonSubCode `json:"sub_code,omitempty"`
	// ChannelCode is the channel's own error code (WhatsApp only for now).
	ChannelCode string `json:"channel_code,omitempty"`
}

// MediaCardMessage is media with a caption, from a contact.
type MediaCardMessage struct {
	URL     string `json:"url"`
	Caption string `json:"caption,omitempty"`
}

// ReplyTo names the message a contact message answers.
type ReplyTo struct {
	MessageID string `json:"message_id"`
}

// ListMessages fetches one page. Use Pages or Messages to walk all of them.
func (c *Client) ListMessages(ctx context.Context, params ListMessagesParams) (*ListMessagesResponse, error) {
	if err := params.Validate(); err != nil {
		return nil, err
	}
	path := c.projectPath("messages")
	if q := params.query(); len(q) > 0 {
		path += "?" + q.Encode()
	}
	req, err := c.NewRequest(http.MethodGet, path, nil)
	if err != nil {
		return nil, err
	}
	var out ListMessagesResponse
	if _, err := c.do(ctx, "list messages", req, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// Pages walks the pages of ListMessages, following next_page_token until it
// is empty. PageSize 0 means BulkPageSize. An error ends the walk after it is
// yielded; breaking out of the loop stops fetching.
func (c *Client) Pages(ctx context.Context, params ListMessagesParams) iter.Seq2[*ListMessagesResponse, error] {
	params.PageSize = cmp.Or(params.PageSize, BulkPageSize)
	return func(yield func(*ListMessagesResponse, error) bool) {
		p := params // each walk starts from the first page
		for {
			page, err := c.ListMessages(ctx, p)
			if err != nil {
				yield(nil, err)
				return
			}
			if !yield(page, nil) || page.NextPageToken == "" {
				return
			}
			if page.NextPageToken == p.PageToken {
				yield(nil, errors.New("sinch: list messages: the server returned the page token it was given"))
				return
			}
			p.PageToken = page.NextPageToken
		}
	}
}

// Messages walks every message of every page; see Pages.
func (c *Client) Messages(ctx context.Context, params ListMessagesParams) iter.Seq2[*ConversationMessage, error] {
	return func(yield func(*ConversationMessage, error) bool) {
		for page, err := range c.Pages(ctx, params) {
			if err != nil {
				yield(nil, err)
				return
			}
			for i := range page.Messages {
				if !yield(&page.Messages[i], nil) {
					return
				}
			}
		}
	}
}

// GetMessage fetches one message. source may be empty (the API's default,
// SourceConversation).
func (c *Client) GetMessage(ctx context.Context, messageID string, source MessagesSource) (*ConversationMessage, error) {
	req, err := c.messageRequest(http.MethodGet, messageID, source)
	if err != nil {
		return nil, err
	}
	var out ConversationMessage
	if _, err := c.do(ctx, "get message", req, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// DeleteMessage deletes one message from Conversation API storage; it does
// not retract a message already delivered.
func (c *Client) DeleteMessage(ctx context.Context, messageID string, source MessagesSource) error {
	req, err := c.messageRequest(http.MethodDelete, messageID, source)
	if err != nil {
		return err
	}
	_, err = c.do(ctx, "delete message", req, nil)
	return err
}

func (c *Client) messageRequest(method, messageID string, source MessagesSource) (*http.Request, error) {
	var p problems
	p.check(messageID != "", "message_id", "is required")
	p.check(source == "" || source.Valid(), "messages_source", notInEnum(source))
	if err := p.err(); err != nil {
		return nil, err
	}
	path := c.projectPath("messages", url.PathEscape(messageID))
	if source != "" {
		path += "?" + url.Values{"messages_source": {string(source)}}.Encode()
	}
	return c.NewRequest(method, path, nil)
}
