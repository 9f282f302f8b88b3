package sinch

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"math"
	"net/http"
	"net/url"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// Client-side limits from the messages:send spec.
const (
	MaxCorrelationIDLen        = 128  // correlation_id, in characters
	MaxMessageMetadataLen      = 1024 // message_metadata, in characters
	MaxConversationMetadataLen = 2048 // conversation_metadata, in characters
	MaxChannelPropertyLen      = 1024 // each channel_properties value, in characters
	MaxChoices                 = 10   // choices of a choice or card message
)

// TTL bounds. The API accepts up to MaxTTLSeconds (10,000 years), which is
// beyond time.Duration's range (about 292 years), so MaxTTL is the largest
// whole-second TTL a time.Duration holds; any such TTL is within the API's.
const (
	MinTTL        = 3 * time.Second
	MaxTTL        = maxDuration / time.Second * time.Second
	MaxTTLSeconds = 315_576_000_000
)

const maxDuration = time.Duration(math.MaxInt64)

// SendMessageRequest is the body of POST /v1/projects/{project_id}/messages:send.
type SendMessageRequest struct {
	AppID                              string                 `json:"app_id"`
	Recipient                          Recipient              `json:"recipient"`
	Message                            AppMessage             `json:"message"`
	CallbackURL                        string                 `json:"callback_url,omitempty"`
	ChannelPriorityOrder               []Channel              `json:"channel_priority_order,omitempty"`
	ChannelProperties                  map[string]string      `json:"channel_properties,omitempty"`
	MessageMetadata                    string                 `json:"message_metadata,omitempty"`
	ConversationMetadata               json.RawMessage        `json:"conversation_metadata,omitempty"` // the API takes an object; SDK fixtures carry a string, which Validate refuses
	Queue                              Queue                  `json:"queue,omitempty"`
	TTL                                TTL                    `json:"ttl,omitempty"`
	ProcessingStrategy                 ProcessingStrategy     `json:"processing_strategy,omitempty"`
	CorrelationID                      string                 `json:"correlation_id,omitempty"`
	ConversationMetadataUpdateStrategy MetadataUpdateStrategy `json:"conversation_metadata_update_strategy,omitempty"`
	MessageContentType                 ContentType            `json:"message_content_type,omitempty"`
}

// SendMessageResponse is the answer to messages:send.
type SendMessageResponse struct {
	MessageID    string    `json:"message_id"`
	AcceptedTime time.Time `json:"accepted_time"`
}

// TTL is the message ttl. On the wire it is whole seconds with an "s"
// suffix ("86400s"), the protobuf Duration form; zero is omitted.
type TTL time.Duration

// MarshalJSON writes whole seconds; Validate rejects fractions.
func (t TTL) MarshalJSON() ([]byte, error) {
	return json.Marshal(strconv.FormatInt(int64(time.Duration(t)/time.Second), 10) + "s")
}

// UnmarshalJSON reads "<seconds>s", seconds possibly fractional ("1.5s").
func (t *TTL) UnmarshalJSON(b []byte) error {
	if string(b) == "null" {
		return nil
	}
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return fmt.Errorf("sinch: ttl must be a string like \"86400s\": %w", err)
	}
	num, ok := strings.CutSuffix(s, "s")
	if !ok || num == "" || strings.Trim(num, "0123456789.") != "" {
		return fmt.Errorf("sinch: ttl %q is not a number of seconds like \"86400s\"", s)
	}
	d, err := time.ParseDuration(s)
	if err != nil {
		return fmt.Errorf("sinch: ttl %q is out of range", s)
	}
	*t = TTL(d)
	return nil
}

// Recipient identifies the contact: by channel identities (required in
// Dispatch mode) or by contact ID, not both.
type Recipient struct {
	IdentifiedBy *IdentifiedBy `json:"identified_by,omitempty"`
	ContactID    string        `json:"contact_id,omitempty"`
}

// IdentifiedBy lists the recipient's identities, tried in order unless
// channel_priority_order says otherwise.
type IdentifiedBy struct {
	ChannelIdentities []ChannelIdentity `json:"channel_identities"`
}

// ChannelIdentity is a contact's address on one channel, e.g. an E.164
// number on SMS. AppID is needed for app-scoped channels (Messenger,
// Instagram, LINE, WeChat).
type ChannelIdentity struct {
	Channel  Channel `json:"channel"`
	Identity string  `json:"identity"`
	AppID    string  `json:"app_id,omitempty"`
}

// AppMessage is a message from the app. Exactly one kind is set: a typed
// field, or an entry of Other.
type AppMessage struct {
	TextMessage     *TextMessage     `json:"text_message,omitempty"`
	TemplateMessage *TemplateMessage `json:"template_message,omitempty"`
	MediaMessage    *MediaMessage    `json:"media_message,omitempty"`
	ChoiceMessage   *ChoiceMessage   `json:"choice_message,omitempty"`
	CardMessage     *CardMessage     `json:"card_message,omitempty"`
	LocationMessage *LocationMessage `json:"location_message,omitempty"`

	ExplicitChannelMessage     map[Channel]string          `json:"explicit_channel_message,omitempty"`
	ExplicitChannelOmniMessage map[Channel]json.RawMessage `json:"explicit_channel_omni_message,omitempty"`
	ChannelSpecificMessage     map[Channel]json.RawMessage `json:"channel_specific_message,omitempty"`
	Agent                      *Agent                      `json:"agent,omitempty"`

	// Other holds fields without a typed counterpart, by JSON name: the other
	// message kinds (carousel_message, list_message, contact_info_message)
	// and whatever the API adds later. MarshalJSON merges them in;
	// UnmarshalJSON fills it, so nothing is lost in a round trip.
	Other map[string]json.RawMessage `json:"-"`
}

// appMessageFields has AppMessage's fields without its methods.
type appMessageFields AppMessage

// appMessageNames are the JSON names of AppMessage's typed fields.
var appMessageNames = jsonNames(reflect.TypeFor[appMessageFields]())

// MarshalJSON encodes the typed fields and merges in Other.
func (m AppMessage) MarshalJSON() ([]byte, error) {
	b, err := json.Marshal(appMessageFields(m))
	if err != nil || len(m.Other) == 0 {
		return b, err
	}
	merged := map[string]json.RawMessage{}
	if err := json.Unmarshal(b, &merged); err != nil {
		return nil, err
	}
	for k, v := range m.Other {
		if appMessageNames[k] {
			return nil, fmt.Errorf("sinch: AppMessage.Other[%q] duplicates a typed field", k)
		}
		merged[k] = v
	}
	return json.Marshal(merged)
}

// UnmarshalJSON decodes the typed fields and keeps the rest in Other.
func (m *AppMessage) UnmarshalJSON(b []byte) error {
	if string(b) == "null" {
		return nil
	}
	var f appMessageFields
	if err := json.Unmarshal(b, &f); err != nil {
		return err
	}
	var all map[string]json.RawMessage
	if err := json.Unmarshal(b, &all); err != nil {
		return err
	}
	for k, v := range all {
		if appMessageNames[k] || string(v) == "null" {
			continue
		}
		if f.Other == nil {
			f.Other = map[string]json.RawMessage{}
		}
		f.Other[k] = v
	}
	*m = AppMessage(f)
	return nil
}

// Kinds returns the JSON names of the message kinds present, sorted: the
// typed kinds that are set and the "…_message" keys of Other.
func (m *AppMessage) Kinds() []string {
	var kinds []string
	typed := []struct {
		name string
		set  bool
	}{
		{"text_message", m.TextMessage != nil},
		{"template_message", m.TemplateMessage != nil},
		{"media_message", m.MediaMessage != nil},
		{"choice_message", m.ChoiceMessage != nil},
		{"card_message", m.CardMessage != nil},
		{"location_message", m.LocationMessage != nil},
	}
	for _, k := range typed {
		if k.set {
			kinds = append(kinds, k.name)
		}
	}
	for k := range m.Other {
		if strings.HasSuffix(k, "_message") {
			kinds = append(kinds, k)
		}
	}
	slices.Sort(kinds)
	return kinds
}

// TextMessage is plain text.
type TextMessage struct {
	Text string `json:"text"`
}

// TemplateMessage references a stored template: an omnichannel one, and/or
// per-channel ones that override it.
type TemplateMessage struct {
	OmniTemplate    *TemplateReference            `json:"omni_template,omitempty"`
	ChannelTemplate map[Channel]TemplateReference `json:"channel_template,omitempty"`
}

// TemplateReference names a template and fills its parameters. For WhatsApp
// templates TemplateID is the template name and LanguageCode is required
// (underscore form, e.g. en_US).
type TemplateReference struct {
	TemplateID   string            `json:"template_id"`
	Version      string            `json:"version,omitempty"`
	LanguageCode string            `json:"language_code,omitempty"`
	Parameters   map[string]string `json:"parameters,omitempty"`
}

// MediaMessage is an image, video, document, etc. by URL.
type MediaMessage struct {
	URL              string `json:"url"`
	ThumbnailURL     string `json:"thumbnail_url,omitempty"`
	FilenameOverride string `json:"filename_override,omitempty"`
}

// ChoiceMessage is a text with up to MaxChoices choices.
type ChoiceMessage struct {
	TextMessage       *TextMessage             `json:"text_message,omitempty"`
	Choices           []Choice                 `json:"choices"`
	MessageProperties *ChoiceMessageProperties `json:"message_properties,omitempty"`
}

// ChoiceMessageProperties are optional channel-specific extras.
type ChoiceMessageProperties struct {
	WhatsAppFooter string `json:"whatsapp_footer,omitempty"`
}

// Choice is one option of a choice, card or carousel message: exactly one of
// the kinds, plus optional postback data.
type Choice struct {
	CallMessage          *CallMessage          `json:"call_message,omitempty"`
	LocationMessage      *LocationMessage      `json:"location_message,omitempty"`
	TextMessage          *TextMessage          `json:"text_message,omitempty"`
	URLMessage           *URLMessage           `json:"url_message,omitempty"`
	CalendarMessage      *CalendarMessage      `json:"calendar_message,omitempty"`
	ShareLocationMessage *ShareLocationMessage `json:"share_location_message,omitempty"`
	// PostbackData comes back in the contact's choice_response_message. The
	// spec types it "any", so it is kept as raw JSON (usually a string).
	PostbackData json.RawMessage `json:"postback_data,omitempty"`
}

func (c *Choice) kinds() int {
	n := 0
	for _, set := range []bool{c.CallMessage != nil, c.LocationMessage != nil, c.TextMessage != nil,
		c.URLMessage != nil, c.CalendarMessage != nil, c.ShareLocationMessage != nil} {
		if set {
			n++
		}
	}
	return n
}

// CallMessage is a choice that calls a phone number.
type CallMessage struct {
	PhoneNumber string `json:"phone_number"` // E.164 with leading +
	Title       string `json:"title"`
}

// URLMessage is a choice that opens a URL.
type URLMessage struct {
	Title string `json:"title"`
	URL   string `json:"url"`
}

// CalendarMessage is a choice that adds a calendar event.
type CalendarMessage struct {
	Title            string    `json:"title"`
	EventStart       time.Time `json:"event_start"`
	EventEnd         time.Time `json:"event_end"`
	EventTitle       string    `json:"event_title"`
	EventDescription string    `json:"event_description,omitempty"`
	FallbackURL      string    `json:"fallback_url"`
}

// ShareLocationMessage is a choice asking the contact to share a location.
type ShareLocationMessage struct {
	Title       string `json:"title"`
	FallbackURL string `json:"fallback_url"`
}

// LocationMessage is a point on a map.
type LocationMessage struct {
	Coordinates Coordinates `json:"coordinates"`
	Title       string      `json:"title"`
	Label       string      `json:"label,omitempty"`
}

// Coordinates is a latitude and longitude in degrees.
type Coordinates struct {
	Latitude  float64 `json:"latitude"`
	Longitude float64 `json:"longitude"`
}

// CardMessage is a card with text, media and up to MaxChoices choices.
type CardMessage struct {
	Title             string                 `json:"title,omitempty"`
	Description       string                 `json:"description,omitempty"`
	MediaMessage      *MediaMessage          `json:"media_message,omitempty"`
	Height            CardHeight             `json:"height,omitempty"`
	Choices           []Choice               `json:"choices,omitempty"`
	MessageProperties *CardMessageProperties `json:"message_properties,omitempty"`
}

// CardMessageProperties are optional channel-specific extras.
type CardMessageProperties struct {
	WhatsAppHeader string `json:"whatsapp_header,omitempty"`
}

// Agent is the person or bot shown as the sender, on channels that support it.
type Agent struct {
	DisplayName string    `json:"display_name,omitempty"`
	Type        AgentType `json:"type,omitempty"`
	PictureURL  string    `json:"picture_url,omitempty"`
}

// SendMessage sends a message from the app to one recipient. An empty
// req.AppID means the client's app (req itself is not modified). req is
// checked with Validate first; a *ValidationError is returned without a call.
// A success means Sinch queued the message; delivery is reported by callback.
func (c *Client) SendMessage(ctx context.Context, req *SendMessageRequest) (*SendMessageResponse, error) {
	if req == nil {
		return nil, &ValidationError{Field: "request", Problem: "is nil"}
	}
	r := *req
	if r.AppID == "" {
		r.AppID = c.appID
	}
	if err := r.Validate(); err != nil {
		return nil, err
	}
	body, err := r.appendJSON(make([]byte, 0, 512))
	if err != nil {
		return nil, fmt.Errorf("sinch: encode request: %w", err)
	}
	var out SendMessageResponse
	if c.direct != nil {
		if err := c.sendDirect(ctx, body, &out); err != nil {
			return nil, err
		}
		return &out, nil
	}
	httpReq, err := c.newRequest(http.MethodPost, c.projectPath("messages:send"), body)
	if err != nil {
		return nil, err
	}
	if _, err := c.do(ctx, "send message", httpReq, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// Validate makes the checks the API would make on its side, so a bad request
// fails before it is sent (and before it costs a rate-limit slot). It returns
// every problem found, each a *ValidationError, joined.
func (r *SendMessageRequest) Validate() error {
	var p problems
	p.check(r.AppID != "", "app_id", "is required")
	r.Recipient.validate(&p)
	r.Message.validate(&p, "message")
	if r.CallbackURL != "" {
		u, err := url.Parse(r.CallbackURL)
		p.check(err == nil && (u.Scheme == "http" || u.Scheme == "https") && u.Host != "",
			"callback_url", "must be an absolute http or https URL")
	}
	for i, ch := range r.ChannelPriorityOrder {
		if !ch.Valid() {
			p.add(fmt.Sprintf("channel_priority_order[%d]", i), notInEnum(ch))
		}
	}
	for _, k := range slices.Sorted(maps.Keys(r.ChannelProperties)) {
		p.maxLen(r.ChannelProperties[k], MaxChannelPropertyLen, "channel_properties."+k)
	}
	p.maxLen(r.MessageMetadata, MaxMessageMetadataLen, "message_metadata")
	if len(r.ConversationMetadata) > 0 {
		// The API takes only a JSON object (null means unset) and measures
		// it as sent: json.Marshal compacts a RawMessage (and escapes <, >, &).
		wire, err := json.Marshal(r.ConversationMetadata)
		switch {
		case err != nil:
			p.add("conversation_metadata", "is not valid JSON")
		case string(wire) == "null":
		case wire[0] != '{':
			p.add("conversation_metadata", "must be a JSON object")
		default:
			p.maxLen(string(wire), MaxConversationMetadataLen, "conversation_metadata")
		}
	}
	checkEnum(&p, r.Queue == "" || r.Queue.Valid(), "queue", r.Queue)
	if ttl := time.Duration(r.TTL); ttl != 0 {
		if ttl < MinTTL {
			p.add("ttl", fmt.Sprintf("must be at least %s, got %s", MinTTL, ttl))
		}
		if ttl%time.Second != 0 {
			p.add("ttl", fmt.Sprintf("must be whole seconds, got %s", ttl))
		}
	}
	checkEnum(&p, r.ProcessingStrategy == "" || r.ProcessingStrategy.Valid(), "processing_strategy", r.ProcessingStrategy)
	p.maxLen(r.CorrelationID, MaxCorrelationIDLen, "correlation_id")
	checkEnum(&p, r.ConversationMetadataUpdateStrategy == "" || r.ConversationMetadataUpdateStrategy.Valid(),
		"conversation_metadata_update_strategy", r.ConversationMetadataUpdateStrategy)
	checkEnum(&p, r.MessageContentType == "" || r.MessageContentType.Valid(), "message_content_type", r.MessageContentType)
	return p.err()
}

func (r *Recipient) validate(p *problems) {
	switch {
	case r.IdentifiedBy == nil && r.ContactID == "":
		p.add("recipient", "needs identified_by or contact_id")
	case r.IdentifiedBy != nil && r.ContactID != "":
		p.add("recipient", "must have only one of identified_by and contact_id")
	case r.IdentifiedBy != nil:
		ids := r.IdentifiedBy.ChannelIdentities
		p.check(len(ids) > 0, "recipient.identified_by.channel_identities", "is empty")
		for i, id := range ids {
			if id.Channel.Valid() && id.Identity != "" {
				continue // the usual case: no message to format
			}
			field := fmt.Sprintf("recipient.identified_by.channel_identities[%d]", i)
			p.check(id.Channel.Valid(), field+".channel", notInEnum(id.Channel))
			p.check(id.Identity != "", field+".identity", "is required")
		}
	}
}

func (m *AppMessage) validate(p *problems, field string) {
	switch kinds := m.Kinds(); len(kinds) {
	case 0:
		p.add(field, "has no message kind (text_message, media_message, template_message, ...)")
	case 1:
	default:
		p.add(field, fmt.Sprintf("has %d message kinds (%s); exactly one is allowed", len(kinds), strings.Join(kinds, ", ")))
	}
	if m.TextMessage != nil {
		p.check(m.TextMessage.Text != "", field+".text_message.text", "is required")
	}
	if m.MediaMessage != nil {
		p.check(m.MediaMessage.URL != "", field+".media_message.url", "is required")
	}
	if t := m.TemplateMessage; t != nil {
		p.check(t.OmniTemplate != nil || len(t.ChannelTemplate) > 0, field+".template_message", "needs omni_template or channel_template")
		if t.OmniTemplate != nil {
			p.check(t.OmniTemplate.TemplateID != "", field+".template_message.omni_template.template_id", "is required")
		}
		for _, ch := range slices.Sorted(maps.Keys(t.ChannelTemplate)) {
			f := field + ".template_message.channel_template." + string(ch)
			p.check(ch.Valid(), f, "is not keyed by a channel")
			p.check(t.ChannelTemplate[ch].TemplateID != "", f+".template_id", "is required")
		}
	}
	if c := m.ChoiceMessage; c != nil {
		p.check(len(c.Choices) > 0, field+".choice_message.choices", "is empty")
		validateChoices(p, field+".choice_message.choices", c.Choices)
	}
	if c := m.CardMessage; c != nil {
		checkEnum(p, c.Height == "" || c.Height.Valid(), field+".card_message.height", c.Height)
		validateChoices(p, field+".card_message.choices", c.Choices)
	}
	if l := m.LocationMessage; l != nil {
		p.check(l.Title != "", field+".location_message.title", "is required")
	}
	for _, ch := range slices.Sorted(maps.Keys(m.ExplicitChannelMessage)) {
		p.check(ch.Valid(), field+".explicit_channel_message."+string(ch), "is not keyed by a channel")
	}
	for _, ch := range slices.Sorted(maps.Keys(m.ExplicitChannelOmniMessage)) {
		p.check(ch.Valid(), field+".explicit_channel_omni_message."+string(ch), "is not keyed by a channel")
	}
	for _, ch := range slices.Sorted(maps.Keys(m.ChannelSpecificMessage)) {
		p.check(ch.Valid(), field+".channel_specific_message."+string(ch), "is not keyed by a channel")
	}
	if m.Agent != nil {
		checkEnum(p, m.Agent.Type == "" || m.Agent.Type.Valid(), field+".agent.type", m.Agent.Type)
	}
}

func validateChoices(p *problems, field string, choices []Choice) {
	p.check(len(choices) <= MaxChoices, field, fmt.Sprintf("has %d choices; at most %d are allowed", len(choices), MaxChoices))
	for i := range choices {
		p.check(choices[i].kinds() == 1, fmt.Sprintf("%s[%d]", field, i), "must have exactly one kind (text_message, url_message, ...)")
	}
}

// problems collects validation failures.
type problems []error

func (p *problems) add(field, problem string) {
	*p = append(*p, &ValidationError{Field: field, Problem: problem})
}

func (p *problems) check(ok bool, field, problem string) {
	if !ok {
		p.add(field, problem)
	}
}

func (p *problems) maxLen(s string, max int, field string) {
	if n := utf8.RuneCountInString(s); n > max {
		p.add(field, fmt.Sprintf("must be at most %d characters, got %d", max, n))
	}
}

func (p problems) err() error { return errors.Join(p...) }

func notInEnum[T ~string](v T) string { return fmt.Sprintf("has unknown value %q", string(v)) }

// checkEnum adds notInEnum(v) for field unless ok; the message is only
// formatted when it is needed (Validate runs on every send).
func checkEnum[T ~string](p *problems, ok bool, field string, v T) {
	if !ok {
		p.add(field, notInEnum(v))
	}
}

// jsonNames returns the JSON names of a struct type's fields.
func jsonNames(t reflect.Type) map[string]bool {
	names := map[string]bool{}
	for i := range t.NumField() {
		f := t.Field(i)
		name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
		if name != "-" && f.IsExported() {
			names[cmp.Or(name, f.Name)] = true
		}
	}
	return names
}
