package sinchsim

import (
	"bytes"
	"encoding/json"
	"fmt"
	"maps"
	"math"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/sinch-dispatch/sinch-dispatch/internal/sinch"
)

// invalidArgument is a 400 INVALID_ARGUMENT naming the offending field.
type invalidArgument struct {
	field  string // JSON path, e.g. recipient.identified_by.channel_identities[0].identity
	reason string
}

func (e *invalidArgument) Error() string {
	if e.field == "" {
		return e.reason
	}
	return e.field + ": " + e.reason
}

func invalid(field, format string, args ...any) *invalidArgument {
	return &invalidArgument{field: field, reason: fmt.Sprintf(format, args...)}
}

// sendRequest is a validated messages:send body.
type sendRequest struct {
	appID                string
	identities           []channelIdentity // recipient.identified_by
	contactID            string            // recipient.contact_id
	message              json.RawMessage   // compacted
	callbackURL          string
	priority             []string // channel_priority_order
	messageMetadata      string
	conversationMetadata json.RawMessage // compacted; nil if absent
	dispatchOnly         bool            // processing_strategy DISPATCH_ONLY
	correlationID        string
	contentType          string        // message_content_type; "" if absent
	ttl                  time.Duration // 0 if absent
}

// Enum values (as Sinch spells them) of the fields sinchsim checks.
var (
	queues               = []string{string(sinch.QueueNormal), string(sinch.QueueHigh)}
	processingStrategies = []string{string(sinch.ProcessingDefault), string(sinch.ProcessingDispatchOnly)}
	metadataStrategies   = []string{string(sinch.MetadataReplace), string(sinch.MetadataMergePatch)}
	contentTypes         = []string{string(sinch.ContentUnknown), string(sinch.ContentMarketing), string(sinch.ContentNotification)}
	agentTypes           = []string{"UNKNOWN_AGENT_TYPE", "HUMAN", "BOT"}

	// messageKinds are AppMessage's oneof: exactly one must be set.
	messageKinds = []string{"text_message", "media_message", "template_message", "choice_message",
		"card_message", "carousel_message", "location_message", "list_message", "contact_info_message"}
	// omniOverrideKinds are OmniMessageOverride's oneof: the message kinds,
	// with a template_reference in place of template_message.
	omniOverrideKinds = []string{"text_message", "media_message", "template_reference", "choice_message",
		"card_message", "carousel_message", "location_message", "list_message", "contact_info_message"}
)

// Field sets of the objects sinchsim checks for unknown fields.
var (
	sendFields = newFieldSet("app_id", "recipient", "message", "callback_url", "channel_priority_order",
		"channel_properties", "message_metadata", "conversation_metadata", "queue", "ttl",
		"processing_strategy", "correlation_id", "conversation_metadata_update_strategy", "message_content_type")
	recipientFields       = newFieldSet("contact_id", "identified_by")
	identifiedByFields    = newFieldSet("channel_identities")
	channelIdentityFields = newFieldSet("channel", "identity", "app_id")
	messageFields         = newFieldSet(append([]string{"explicit_channel_message", "explicit_channel_omni_message",
		"channel_specific_message", "agent"}, messageKinds...)...)
	omniOverrideFields = newFieldSet(omniOverrideKinds...)
	agentFields        = newFieldSet("display_name", "type", "picture_url")
	textFields         = newFieldSet("text")
	mediaFields        = newFieldSet("url", "thumbnail_url", "filename_override")
	templateFields     = newFieldSet("omni_template", "channel_template")
	templateRefFields  = newFieldSet("template_id", "version", "language_code", "parameters")
	coordinatesFields  = newFieldSet("latitude", "longitude")
	locationFields     = newFieldSet("coordinates", "title", "label")

	msisdnPattern = regexp.MustCompile(`^\+?[1-9][0-9]{6,14}$`)
	ttlPattern    = regexp.MustCompile(`^[0-9]+s$`)
)

// Limits from the API reference (lengths in characters).
const (
	minTTLSeconds      = 3
	maxTTLSeconds      = 315576000000
	maxCorrelationID   = 128
	maxMessageMetadata = 1024
	maxConvMetadata    = 2048
	maxPropertyValue   = 1024
	maxChoices         = 10
	maxCarouselCards   = 10
)

// fieldSet maps each accepted key to its canonical (proto) name. Like
// proto JSON, it accepts both the proto name (app_id) and the lowerCamel
// JSON name (appId).
type fieldSet map[string]string

func newFieldSet(names ...string) fieldSet {
	fs := fieldSet{}
	for _, n := range names {
		fs[n] = n
		parts := strings.Split(n, "_")
		for i := 1; i < len(parts); i++ {
			parts[i] = strings.ToUpper(parts[i][:1]) + parts[i][1:]
		}
		fs[strings.Join(parts, "")] = n
	}
	return fs
}

// object decodes raw as a JSON object whose keys must be in fields (nil:
// any key). Keys come back canonical; null members are dropped, since
// proto JSON treats null as "not set".
func object(path string, raw json.RawMessage, fields fieldSet) (map[string]json.RawMessage, error) {
	var m map[string]json.RawMessage
	if len(raw) == 0 || raw[0] != '{' || json.Unmarshal(raw, &m) != nil {
		if path == "" {
			return nil, invalid("", "request body must be a valid JSON object")
		}
		return nil, invalid(path, "must be a JSON object")
	}
	// Almost every body uses canonical names and no nulls: m is then the
	// answer, and copying it would only cost allocations.
	canonical := true
	for k, v := range m {
		if fields != nil {
			name, ok := fields[k]
			if !ok {
				return nil, invalid(join(path, k), "unknown field")
			}
			canonical = canonical && name == k
		}
		canonical = canonical && !isNull(v)
	}
	if canonical {
		return m, nil
	}
	out := make(map[string]json.RawMessage, len(m))
	for k, v := range m {
		name := k
		if fields != nil {
			var ok bool
			if name, ok = fields[k]; !ok {
				return nil, invalid(join(path, k), "unknown field")
			}
			if _, dup := out[name]; dup {
				return nil, invalid(join(path, name), "set twice (as %s and its JSON name)", name)
			}
		}
		if !isNull(v) {
			out[name] = v
		}
	}
	return out, nil
}

func isNull(raw json.RawMessage) bool { return bytes.Equal(raw, []byte("null")) }

func join(path, field string) string {
	if path == "" {
		return field
	}
	return path + "." + field
}

// str decodes an optional string member ("" when absent).
func str(obj map[string]json.RawMessage, path, field string) (string, error) {
	raw, ok := obj[field]
	if !ok {
		return "", nil
	}
	if len(raw) < 2 || raw[0] != '"' {
		return "", invalid(join(path, field), "must be a string")
	}
	// raw was validated with the body it came from: a string with no
	// escapes and valid UTF-8 decodes to its bytes, as almost all do.
	if body := raw[1 : len(raw)-1]; bytes.IndexByte(body, '\\') < 0 && utf8.Valid(body) {
		return string(body), nil
	}
	var s string
	if json.Unmarshal(raw, &s) != nil {
		return "", invalid(join(path, field), "must be a string")
	}
	return s, nil
}

// requiredStr decodes a string member that must be present and non-empty.
func requiredStr(obj map[string]json.RawMessage, path, field string) (string, error) {
	s, err := str(obj, path, field)
	if err == nil && s == "" {
		err = invalid(join(path, field), "is required")
	}
	return s, err
}

// enum decodes an optional string member that must be one of values.
func enum(obj map[string]json.RawMessage, path, field string, values []string) (string, error) {
	s, err := str(obj, path, field)
	if err != nil {
		return "", err
	}
	if _, set := obj[field]; set && !slices.Contains(values, s) {
		return "", invalid(join(path, field), "invalid value %q, want one of %s", s, strings.Join(values, ", "))
	}
	return s, nil
}

// array decodes an optional array member.
func array(obj map[string]json.RawMessage, path, field string) ([]json.RawMessage, error) {
	raw, ok := obj[field]
	if !ok {
		return nil, nil
	}
	var a []json.RawMessage
	if len(raw) == 0 || raw[0] != '[' || json.Unmarshal(raw, &a) != nil {
		return nil, invalid(join(path, field), "must be an array")
	}
	return a, nil
}

func validChannel(c string) bool { return sinch.Channel(c).Valid() }

// channels are the ConversationChannel names, for error messages and
// query parameter checks.
var channels = sinch.ChannelNames()

func channelNames() string { return strings.Join(channels, ", ") }

// parseSend validates a messages:send body the way the API does and
// returns the fields the simulator uses. dispatchApp says whether the app
// is in DISPATCH mode.
func parseSend(body []byte, dispatchApp bool) (*sendRequest, error) {
	// object unmarshals the whole body, which validates all of it, so
	// later Compact calls on its parts cannot fail.
	top, err := object("", bytes.TrimSpace(body), sendFields)
	if err != nil {
		return nil, err
	}
	req := &sendRequest{}
	// Parsed first because it decides whether contact_id is allowed.
	strategy, err := enum(top, "", "processing_strategy", processingStrategies)
	if err != nil {
		return nil, err
	}
	req.dispatchOnly = strategy == string(sinch.ProcessingDispatchOnly)

	if req.appID, err = requiredStr(top, "", "app_id"); err != nil {
		return nil, err
	}
	if err := parseRecipient(top, req, dispatchApp || req.dispatchOnly); err != nil {
		return nil, err
	}
	if err := parseMessage(top, req); err != nil {
		return nil, err
	}
	if req.callbackURL, err = str(top, "", "callback_url"); err != nil {
		return nil, err
	}
	if req.callbackURL != "" {
		if err := checkCallbackURL(req.callbackURL); err != nil {
			return nil, invalid("callback_url", "%s", err)
		}
	}
	order, err := array(top, "", "channel_priority_order")
	if err != nil {
		return nil, err
	}
	for i, raw := range order {
		var c string
		path := fmt.Sprintf("channel_priority_order[%d]", i)
		if json.Unmarshal(raw, &c) != nil {
			return nil, invalid(path, "must be a string")
		}
		if !validChannel(c) {
			return nil, invalid(path, "invalid channel %q, want one of %s", c, channelNames())
		}
		req.priority = append(req.priority, c)
	}
	if raw, ok := top["channel_properties"]; ok {
		props, err := object("channel_properties", raw, nil)
		if err != nil {
			return nil, err
		}
		for k := range props {
			v, err := str(props, "channel_properties", k)
			if err != nil {
				return nil, err
			}
			if utf8.RuneCountInString(v) > maxPropertyValue {
				return nil, invalid(join("channel_properties", k), "longer than %d characters", maxPropertyValue)
			}
		}
	}
	if req.messageMetadata, err = str(top, "", "message_metadata"); err != nil {
		return nil, err
	}
	if utf8.RuneCountInString(req.messageMetadata) > maxMessageMetadata {
		return nil, invalid("message_metadata", "longer than %d characters", maxMessageMetadata)
	}
	if raw, ok := top["conversation_metadata"]; ok {
		if raw[0] != '{' {
			return nil, invalid("conversation_metadata", "must be a JSON object")
		}
		var buf bytes.Buffer
		_ = json.Compact(&buf, raw) // raw is valid: body was
		if utf8.RuneCount(buf.Bytes()) > maxConvMetadata {
			return nil, invalid("conversation_metadata", "longer than %d characters", maxConvMetadata)
		}
		req.conversationMetadata = buf.Bytes()
	}
	if _, err := enum(top, "", "queue", queues); err != nil {
		return nil, err
	}
	if req.ttl, err = parseTTL(top); err != nil {
		return nil, err
	}
	if req.correlationID, err = str(top, "", "correlation_id"); err != nil {
		return nil, err
	}
	if utf8.RuneCountInString(req.correlationID) > maxCorrelationID {
		return nil, invalid("correlation_id", "longer than %d characters", maxCorrelationID)
	}
	if _, err := enum(top, "", "conversation_metadata_update_strategy", metadataStrategies); err != nil {
		return nil, err
	}
	if req.contentType, err = enum(top, "", "message_content_type", contentTypes); err != nil {
		return nil, err
	}
	return req, nil
}

// parseTTL returns the message's ttl; 0 when it has none.
func parseTTL(top map[string]json.RawMessage) (time.Duration, error) {
	ttl, err := str(top, "", "ttl")
	if err != nil {
		return 0, err
	}
	if _, set := top["ttl"]; !set {
		return 0, nil
	}
	if !ttlPattern.MatchString(ttl) {
		return 0, invalid("ttl", "must be whole seconds with the suffix s, e.g. 86400s")
	}
	n, err := strconv.ParseUint(strings.TrimSuffix(ttl, "s"), 10, 64)
	if err != nil || n < minTTLSeconds || n > maxTTLSeconds {
		return 0, invalid("ttl", "must be between %ds and %ds", minTTLSeconds, maxTTLSeconds)
	}
	// The upper bound (10,000 years) overflows a Duration (292 years);
	// such a ttl never passes in a simulation, as if there were none.
	if n > uint64(math.MaxInt64/int64(time.Second)) {
		return 0, nil
	}
	return time.Duration(n) * time.Second, nil
}

func parseRecipient(top map[string]json.RawMessage, req *sendRequest, dispatch bool) error {
	raw, ok := top["recipient"]
	if !ok {
		return invalid("recipient", "is required")
	}
	rec, err := object("recipient", raw, recipientFields)
	if err != nil {
		return err
	}
	_, hasContact := rec["contact_id"]
	_, hasIdentified := rec["identified_by"]
	switch {
	case hasContact && hasIdentified:
		return invalid("recipient", "set either contact_id or identified_by, not both")
	case hasContact:
		if dispatch {
			return invalid("recipient.contact_id", "not supported in DISPATCH mode: use recipient.identified_by")
		}
		req.contactID, err = requiredStr(rec, "recipient", "contact_id")
		return err
	case !hasIdentified:
		return invalid("recipient", "one of contact_id or identified_by is required")
	}
	by, err := object("recipient.identified_by", rec["identified_by"], identifiedByFields)
	if err != nil {
		return err
	}
	list, err := array(by, "recipient.identified_by", "channel_identities")
	if err != nil {
		return err
	}
	if len(list) == 0 {
		return invalid("recipient.identified_by.channel_identities", "at least one channel identity is required")
	}
	for i, raw := range list {
		path := fmt.Sprintf("recipient.identified_by.channel_identities[%d]", i)
		ci, err := object(path, raw, channelIdentityFields)
		if err != nil {
			return err
		}
		var id channelIdentity
		if id.Channel, err = requiredStr(ci, path, "channel"); err != nil {
			return err
		}
		if !validChannel(id.Channel) {
			return invalid(path+".channel", "invalid channel %q, want one of %s", id.Channel, channelNames())
		}
		if id.Identity, err = requiredStr(ci, path, "identity"); err != nil {
			return err
		}
		if sinch.Channel(id.Channel).PhoneBased() && !msisdnPattern.MatchString(id.Identity) {
			return invalid(path+".identity", "must be an MSISDN (E.164 phone number) on channel %s", id.Channel)
		}
		if id.AppID, err = str(ci, path, "app_id"); err != nil {
			return err
		}
		req.identities = append(req.identities, id)
	}
	return nil
}

func parseMessage(top map[string]json.RawMessage, req *sendRequest) error {
	raw, ok := top["message"]
	if !ok {
		return invalid("message", "is required")
	}
	msg, err := object("message", raw, messageFields)
	if err != nil {
		return err
	}
	kind, err := oneKind("message", msg, messageKinds)
	if err != nil {
		return err
	}
	if err := checkKind("message", kind, msg[kind]); err != nil {
		return err
	}
	if err := checkChannelMap(msg, "explicit_channel_message", '"'); err != nil {
		return err
	}
	if err := checkOmniOverrides(msg); err != nil {
		return err
	}
	if err := checkChannelMap(msg, "channel_specific_message", '{'); err != nil {
		return err
	}
	if a, ok := msg["agent"]; ok {
		agent, err := object("message.agent", a, agentFields)
		if err != nil {
			return err
		}
		for _, f := range []string{"display_name", "picture_url"} {
			if _, err := str(agent, "message.agent", f); err != nil {
				return err
			}
		}
		if _, err := enum(agent, "message.agent", "type", agentTypes); err != nil {
			return err
		}
	}
	var buf bytes.Buffer
	_ = json.Compact(&buf, raw) // raw is valid: the body was
	req.message = buf.Bytes()
	return nil
}

// oneKind returns the one member of obj among kinds, which must hold
// exactly one (a oneof).
func oneKind(path string, obj map[string]json.RawMessage, kinds []string) (string, error) {
	var set []string
	for _, k := range kinds {
		if _, ok := obj[k]; ok {
			set = append(set, k)
		}
	}
	switch len(set) {
	case 0:
		return "", invalid(path, "one of %s is required", strings.Join(kinds, ", "))
	case 1:
		return set[0], nil
	}
	return "", invalid(path, "only one message kind may be set, got %s", strings.Join(set, " and "))
}

// checkOmniOverrides checks message.explicit_channel_omni_message: per
// channel, an OmniMessageOverride, which is one message kind or a
// template_reference, exactly one, checked as in message itself.
func checkOmniOverrides(msg map[string]json.RawMessage) error {
	const path = "message.explicit_channel_omni_message"
	if err := checkChannelMap(msg, "explicit_channel_omni_message", '{'); err != nil {
		return err
	}
	raw, ok := msg["explicit_channel_omni_message"]
	if !ok {
		return nil
	}
	m, _ := object(path, raw, nil) // checkChannelMap decoded it
	// Sorted, so that the first error is the same on every run.
	for _, ch := range slices.Sorted(maps.Keys(m)) {
		p := join(path, ch)
		o, err := object(p, m[ch], omniOverrideFields)
		if err != nil {
			return err
		}
		kind, err := oneKind(p, o, omniOverrideKinds)
		if err != nil {
			return err
		}
		if kind == "template_reference" {
			err = checkTemplateRef(join(p, kind), o[kind])
		} else {
			err = checkKind(p, kind, o[kind])
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// checkChannelMap checks a map keyed by channel whose values start with
// first ('"' for strings, '{' for objects).
func checkChannelMap(msg map[string]json.RawMessage, field string, first byte) error {
	raw, ok := msg[field]
	if !ok {
		return nil
	}
	path := "message." + field
	m, err := object(path, raw, nil)
	if err != nil {
		return err
	}
	for ch, v := range m {
		if !validChannel(ch) {
			return invalid(path, "invalid channel key %q, want one of %s", ch, channelNames())
		}
		if v[0] != first {
			want := "a string"
			if first == '{' {
				want = "an object"
			}
			return invalid(join(path, ch), "must be %s", want)
		}
	}
	return nil
}

// checkKind checks the required parts of one message kind. Deeply nested
// optional parts (choices' contents, list items) are checked only for
// shape, not for unknown fields.
func checkKind(parent, kind string, raw json.RawMessage) error {
	path := join(parent, kind)
	switch kind {
	case "text_message":
		return checkText(path, raw)
	case "media_message":
		return checkMedia(path, raw)
	case "location_message":
		return checkLocation(path, raw)
	case "template_message":
		t, err := object(path, raw, templateFields)
		if err != nil {
			return err
		}
		omni, hasOmni := t["omni_template"]
		chans, hasChans := t["channel_template"]
		if !hasOmni && !hasChans {
			return invalid(path, "one of omni_template or channel_template is required")
		}
		if hasOmni {
			if err := checkTemplateRef(path+".omni_template", omni); err != nil {
				return err
			}
		}
		if hasChans {
			m, err := object(path+".channel_template", chans, nil)
			if err != nil {
				return err
			}
			for ch, ref := range m {
				if !validChannel(ch) {
					return invalid(path+".channel_template", "invalid channel key %q", ch)
				}
				if err := checkTemplateRef(path+".channel_template."+ch, ref); err != nil {
					return err
				}
			}
		}
		return nil
	}
	obj, err := object(path, raw, nil)
	if err != nil {
		return err
	}
	switch kind {
	case "choice_message":
		choices, err := array(obj, path, "choices")
		if err != nil {
			return err
		}
		if len(choices) == 0 || len(choices) > maxChoices {
			return invalid(path+".choices", "must hold 1 to %d choices", maxChoices)
		}
		if t, ok := obj["text_message"]; ok {
			return checkText(path+".text_message", t)
		}
	case "card_message":
		choices, err := array(obj, path, "choices")
		if err != nil {
			return err
		}
		if len(choices) > maxChoices {
			return invalid(path+".choices", "must hold at most %d choices", maxChoices)
		}
		if m, ok := obj["media_message"]; ok {
			return checkMedia(path+".media_message", m)
		}
	case "carousel_message":
		cards, err := array(obj, path, "cards")
		if err != nil {
			return err
		}
		if len(cards) == 0 || len(cards) > maxCarouselCards {
			return invalid(path+".cards", "must hold 1 to %d cards", maxCarouselCards)
		}
	case "list_message":
		if _, err := requiredStr(obj, path, "title"); err != nil {
			return err
		}
		sections, err := array(obj, path, "sections")
		if err != nil {
			return err
		}
		if len(sections) == 0 {
			return invalid(path+".sections", "at least one section is required")
		}
	case "contact_info_message":
		n, ok := obj["name"]
		if !ok {
			return invalid(path+".name", "is required")
		}
		name, err := object(path+".name", n, nil)
		if err != nil {
			return err
		}
		if _, err := requiredStr(name, path+".name", "full_name"); err != nil {
			return err
		}
		phones, err := array(obj, path, "phone_numbers")
		if err != nil {
			return err
		}
		if len(phones) == 0 {
			return invalid(path+".phone_numbers", "at least one phone number is required")
		}
	}
	return nil
}

func checkText(path string, raw json.RawMessage) error {
	t, err := object(path, raw, textFields)
	if err != nil {
		return err
	}
	_, err = requiredStr(t, path, "text")
	return err
}

func checkMedia(path string, raw json.RawMessage) error {
	m, err := object(path, raw, mediaFields)
	if err != nil {
		return err
	}
	if _, err := requiredStr(m, path, "url"); err != nil {
		return err
	}
	for _, f := range []string{"thumbnail_url", "filename_override"} {
		if _, err := str(m, path, f); err != nil {
			return err
		}
	}
	return nil
}

func checkLocation(path string, raw json.RawMessage) error {
	l, err := object(path, raw, locationFields)
	if err != nil {
		return err
	}
	c, ok := l["coordinates"]
	if !ok {
		return invalid(path+".coordinates", "is required")
	}
	coords, err := object(path+".coordinates", c, coordinatesFields)
	if err != nil {
		return err
	}
	for _, f := range []string{"latitude", "longitude"} {
		var v float64
		raw, ok := coords[f]
		if !ok {
			return invalid(path+".coordinates."+f, "is required")
		}
		if json.Unmarshal(raw, &v) != nil {
			return invalid(path+".coordinates."+f, "must be a number")
		}
	}
	_, err = requiredStr(l, path, "title")
	return err
}

func checkTemplateRef(path string, raw json.RawMessage) error {
	t, err := object(path, raw, templateRefFields)
	if err != nil {
		return err
	}
	if _, err := requiredStr(t, path, "template_id"); err != nil {
		return err
	}
	for _, f := range []string{"version", "language_code"} {
		if _, err := str(t, path, f); err != nil {
			return err
		}
	}
	if p, ok := t["parameters"]; ok {
		params, err := object(path+".parameters", p, nil)
		if err != nil {
			return err
		}
		for k := range params {
			if _, err := str(params, path+".parameters", k); err != nil {
				return err
			}
		}
	}
	return nil
}
