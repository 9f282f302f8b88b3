package sinch_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/sinch-dispatch/sinch-dispatch/internal/sinch"
)

// fixtureDir holds the JSON samples of Sinch's Java SDK (see its README.md).
const fixtureDir = "../../testdata/sinch"

func readFixture(t *testing.T, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(fixtureDir, name))
	if err != nil {
		t.Fatalf("fixture: %v", err)
	}
	return b
}

// decodeFixture decodes a fixture into a new T.
func decodeFixture[T any](t *testing.T, name string) *T {
	t.Helper()
	v := new(T)
	if err := json.Unmarshal(readFixture(t, name), v); err != nil {
		t.Fatalf("decode %s: %v", name, err)
	}
	return v
}

// sameJSON reports whether two documents are equal as JSON values.
func sameJSON(t *testing.T, a, b []byte) bool {
	t.Helper()
	var x, y any
	if err := json.Unmarshal(a, &x); err != nil {
		t.Fatalf("sameJSON: %v", err)
	}
	if err := json.Unmarshal(b, &y); err != nil {
		t.Fatalf("sameJSON: %v", err)
	}
	return reflect.DeepEqual(x, y)
}

// check reports a mismatch as "got X, want Y".
func check[T comparable](t *testing.T, what string, got, want T) {
	t.Helper()
	if got != want {
		t.Errorf("%s: got %v, want %v", what, got, want)
	}
}

func TestFixtures(t *testing.T) {
	tests := map[string]func(t *testing.T, name string){
		"AppResponseDto.json": func(t *testing.T, name string) {
			app := decodeFixture[sinch.App](t, name)
			check(t, "id", app.ID, "an app id")
			check(t, "display_name", app.DisplayName, "Brazil App")
			check(t, "processing_mode", app.ProcessingMode, sinch.ModeDispatch)
			check(t, "rate_limits", app.RateLimits, sinch.RateLimits{Outbound: 20, Inbound: 100, Webhooks: 200})
			check(t, "retention_policy", app.RetentionPolicy, sinch.RetentionPolicy{RetentionType: sinch.RetentionConversationExpire, TTLDays: 180})
			check(t, "dispatch_retention_policy", app.DispatchRetentionPolicy, sinch.RetentionPolicy{RetentionType: sinch.RetentionMessageExpire, TTLDays: 0})
			check(t, "queue_stats.outbound_limit", app.QueueStats.OutboundLimit, 500000)
			check(t, "persist_message_status", app.PersistMessageStatus, sinch.Enabled{Enabled: false})
			if len(app.ChannelCredentials) != 1 {
				t.Fatalf("channel_credentials: got %d, want 1", len(app.ChannelCredentials))
			}
			check(t, "channel_credentials[0]", app.ChannelCredentials[0], sinch.ChannelCredential{
				Channel: sinch.ChannelMessenger, State: sinch.ChannelState{Status: "ACTIVE"}, ChannelKnownID: "a channel id"})
			// Channel tokens and callback secrets are not kept.
			b, _ := json.Marshal(app)
			for _, secret := range []string{"my token", "foo value", "my secret"} {
				if bytes.Contains(b, []byte(secret)) {
					t.Errorf("decoded App keeps the secret %q: %s", secret, b)
				}
			}
		},
		"ContactMessageFallbackDto.json": func(t *testing.T, name string) {
			m := decodeFixture[sinch.ContactMessage](t, name)
			if m.FallbackMessage == nil || m.FallbackMessage.Reason == nil || m.ReplyTo == nil {
				t.Fatalf("got %+v, want fallback_message with a reason and reply_to", m)
			}
			check(t, "raw_message", m.FallbackMessage.RawMessage, "raw message value")
			check(t, "reason", *m.FallbackMessage.Reason, sinch.Reason{Code: sinch.ReasonRecipientNotOptedIn,
				Description: "reason description", SubCode: sinch.SubCodeUnspecified, ChannelCode: "a channel code"})
			check(t, "reply_to.message_id", m.ReplyTo.MessageID, "message id value")
			roundTrip(t, name, m)
		},
		"ConversationMessageAppTextResponseDto.json": func(t *testing.T, name string) {
			m := decodeFixture[sinch.ConversationMessage](t, name)
			check(t, "id", m.ID, "id value")
			check(t, "direction", m.Direction, sinch.DirectionToApp)
			check(t, "accept_time", m.AcceptTime, time.Date(2020, 11, 17, 16, 5, 51, 724083000, time.UTC))
			check(t, "channel_identity", *m.ChannelIdentity, sinch.ChannelIdentity{Channel: sinch.ChannelMessenger, Identity: "an identity", AppID: "an app id"})
			check(t, "injected", m.Injected, true)
			check(t, "processing_mode", m.ProcessingMode, sinch.ModeConversation)
			check(t, "sender_id", m.SenderID, "sender id")
			if m.MessageStatus != nil {
				t.Errorf("message_status: got %+v, want nil (absent)", m.MessageStatus)
			}
			am := m.AppMessage
			if am == nil || am.TextMessage == nil || am.Agent == nil {
				t.Fatalf("app_message: got %+v, want text_message and agent", am)
			}
			check(t, "text", am.TextMessage.Text, "This is a text message.")
			check(t, "agent", *am.Agent, sinch.Agent{DisplayName: "display_name value", Type: sinch.AgentBot, PictureURL: "picture_url value"})
			check(t, "explicit_channel_message", am.ExplicitChannelMessage[sinch.ChannelKakaoTalk], "foo value")
			checkChoices(t, am.ExplicitChannelOmniMessage[sinch.ChannelKakaoTalk])
			if !strings.Contains(string(am.ChannelSpecificMessage[sinch.ChannelMessenger]), `"flow_id": "1"`) {
				t.Errorf("channel_specific_message: got %s, want the raw flow message", am.ChannelSpecificMessage[sinch.ChannelMessenger])
			}
			roundTrip(t, name, m)
		},
		"MessageDeliveryReceiptEventDto.json": func(t *testing.T, name string) {
			d := decodeFixture[sinch.DeliveryReceipt](t, name)
			check(t, "app_id", d.AppID, "app id value")
			check(t, "project_id", d.ProjectID, "project id value")
			check(t, "correlation_id", d.CorrelationID, "correlation id value")
			check(t, "message_metadata", d.MessageMetadata, "metadata value")
			check(t, "event_time", d.EventTime, time.Date(2020, 11, 17, 16, 5, 45, 0, time.UTC))
			r := d.MessageDeliveryReport
			if r == nil || r.Reason == nil || r.ChannelIdentity == nil {
				t.Fatalf("message_delivery_report: got %+v, want it with reason and channel_identity", r)
			}
			check(t, "status", r.Status, sinch.StatusDelivered)
			check(t, "message_id", r.MessageID, "message id")
			check(t, "conversation_id", r.ConversationID, "conversation id")
			check(t, "contact_id", r.ContactID, "contact ID")
			check(t, "reason.code", r.Reason.Code, sinch.ReasonRecipientNotOptedIn)
			check(t, "reason.sub_code", r.Reason.SubCode, sinch.SubCodeUnspecified)
			check(t, "processing_mode", r.ProcessingMode, sinch.ModeDispatch)
			check(t, "channel_identity.channel", r.ChannelIdentity.Channel, sinch.ChannelMessenger)
			roundTrip(t, name, d)
		},
		"MessagesListResponse-page-0.json": func(t *testing.T, name string) {
			p := decodeFixture[sinch.ListMessagesResponse](t, name)
			check(t, "next_page_token", p.NextPageToken, "ChowMUhRN1c0WjFSMTI2N0RCQlI4UzQ3TlZQOEoGCP70264G")
			checkListedMessage(t, p, "Test2", time.Date(2024, 2, 22, 7, 40, 46, 0, time.UTC))
		},
		"MessagesListResponse-page-1.json": func(t *testing.T, name string) {
			p := decodeFixture[sinch.ListMessagesResponse](t, name)
			check(t, "next_page_token", p.NextPageToken, "")
			checkListedMessage(t, p, "Test", time.Date(2024, 2, 22, 7, 37, 32, 0, time.UTC))
		},
		"SendChoiceMessageRequestDto.json": func(t *testing.T, name string) {
			r := checkSendRequest(t, name)
			if r.Message.ChoiceMessage == nil {
				t.Fatal("choice_message: got nil")
			}
			b, _ := json.Marshal(r.Message.ChoiceMessage)
			checkChoices(t, json.RawMessage(`{"choice_message":`+string(b)+`}`))
		},
		"SendMediaMessageRequestDto.json": func(t *testing.T, name string) {
			r := checkSendRequest(t, name)
			check(t, "media_message", *r.Message.MediaMessage, sinch.MediaMessage{
				URL: "an url value", ThumbnailURL: "another url", FilenameOverride: "filename override value"})
		},
		"SendMessageResponseDto.json": func(t *testing.T, name string) {
			r := decodeFixture[sinch.SendMessageResponse](t, name)
			check(t, "message_id", r.MessageID, "message id")
			check(t, "accepted_time", r.AcceptedTime, time.Date(2024, 6, 18, 12, 34, 56, 0, time.UTC))
			roundTrip(t, name, r)
		},
		"SendTemplateMessageRequestDto.json": func(t *testing.T, name string) {
			r := checkSendRequest(t, name)
			tm := r.Message.TemplateMessage
			if tm == nil || tm.OmniTemplate == nil {
				t.Fatalf("template_message: got %+v, want omni_template", tm)
			}
			check(t, "omni_template.template_id", tm.OmniTemplate.TemplateID, "another template ID")
			check(t, "omni_template.version", tm.OmniTemplate.Version, "another version")
			check(t, "omni_template.parameters.name", tm.OmniTemplate.Parameters["name"],
				`Value for the name parameter used in the version 1 and language "en-US" of the template`)
			check(t, "channel_template.KAKAOTALK.language_code", tm.ChannelTemplate[sinch.ChannelKakaoTalk].LanguageCode, "en-US")
		},
		"SendTextMessageRequestDto.json": func(t *testing.T, name string) {
			r := checkSendRequest(t, name)
			check(t, "text", r.Message.TextMessage.Text, "This is a text message.")
		},
	}

	entries, err := os.ReadDir(fixtureDir)
	if err != nil {
		t.Fatal(err)
	}
	var seen int
	for _, e := range entries {
		if filepath.Ext(e.Name()) != ".json" {
			continue
		}
		seen++
		test, ok := tests[e.Name()]
		if !ok {
			t.Errorf("%s: no test decodes this fixture", e.Name())
			continue
		}
		t.Run(e.Name(), func(t *testing.T) { test(t, e.Name()) })
	}
	if seen != len(tests) {
		t.Errorf("fixtures: got %d files, want %d", seen, len(tests))
	}
}

// checkSendRequest checks the fields the four send fixtures share, that
// they round-trip unchanged, and that Validate flags their placeholder
// callback_url, their string conversation_metadata (the API takes only an
// object) and their 2s ttl.
func checkSendRequest(t *testing.T, name string) *sinch.SendMessageRequest {
	t.Helper()
	r := decodeFixture[sinch.SendMessageRequest](t, name)
	check(t, "app_id", r.AppID, "my app ID")
	check(t, "recipient.contact_id", r.Recipient.ContactID, "my contact ID")
	check(t, "ttl", time.Duration(r.TTL), 2*time.Second)
	check(t, "conversation_metadata", string(r.ConversationMetadata), `"conversation metadata"`)
	check(t, "queue", r.Queue, sinch.QueueHigh)
	check(t, "processing_strategy", r.ProcessingStrategy, sinch.ProcessingDispatchOnly)
	check(t, "conversation_metadata_update_strategy", r.ConversationMetadataUpdateStrategy, sinch.MetadataReplace)
	check(t, "message_content_type", r.MessageContentType, sinch.ContentMarketing)
	check(t, "channel_priority_order", len(r.ChannelPriorityOrder) == 1 && r.ChannelPriorityOrder[0] == sinch.ChannelLine, true)
	check(t, "channel_properties", r.ChannelProperties["a property key"], "a property value")
	check(t, "correlation_id", r.CorrelationID, "correlation ID value")
	check(t, "agent.type", r.Message.Agent.Type, sinch.AgentBot)
	checkChoices(t, r.Message.ExplicitChannelOmniMessage[sinch.ChannelKakaoTalk])
	roundTrip(t, name, r)

	// The SDK's placeholders are not valid requests.
	var fields []string
	for _, err := range unjoin(r.Validate()) {
		var ve *sinch.ValidationError
		if errors.As(err, &ve) {
			fields = append(fields, ve.Field)
		}
	}
	check(t, "Validate fields", strings.Join(fields, ","), "callback_url,conversation_metadata,ttl")
	return r
}

// checkChoices decodes the SDK's sample choice message (an AppMessage).
func checkChoices(t *testing.T, raw json.RawMessage) {
	t.Helper()
	var m sinch.AppMessage
	if err := json.Unmarshal(raw, &m); err != nil {
		t.Fatalf("choice message: %v", err)
	}
	if m.ChoiceMessage == nil || len(m.ChoiceMessage.Choices) != 6 {
		t.Fatalf("choice_message: got %+v, want 6 choices", m.ChoiceMessage)
	}
	c := m.ChoiceMessage.Choices
	check(t, "choices[0].call_message", *c[0].CallMessage, sinch.CallMessage{PhoneNumber: "phone number value", Title: "title value"})
	check(t, "choices[0].postback_data", string(c[0].PostbackData), `"postback call_message data value"`)
	check(t, "choices[1].location_message", *c[1].LocationMessage, sinch.LocationMessage{
		Coordinates: sinch.Coordinates{Latitude: 47.6279809, Longitude: -2.8229159}, Title: "title value", Label: "label value"})
	check(t, "choices[2].text_message.text", c[2].TextMessage.Text, "This is a text message.")
	check(t, "choices[3].url_message", *c[3].URLMessage, sinch.URLMessage{Title: "title value", URL: "an url value"})
	check(t, "choices[4].calendar_message.event_start", c[4].CalendarMessage.EventStart, time.Date(2023, 10, 1, 10, 0, 0, 0, time.UTC))
	check(t, "choices[4].calendar_message.event_title", c[4].CalendarMessage.EventTitle, "Team Meeting")
	check(t, "choices[5].share_location_message", *c[5].ShareLocationMessage, sinch.ShareLocationMessage{
		Title: "Share Location Example", FallbackURL: "https://maps.example.com/?q=37.7749,-122.4194"})
}

func checkListedMessage(t *testing.T, p *sinch.ListMessagesResponse, text string, accepted time.Time) {
	t.Helper()
	if len(p.Messages) != 1 {
		t.Fatalf("messages: got %d, want 1", len(p.Messages))
	}
	m := p.Messages[0]
	check(t, "id", m.ID, "Fake ID")
	check(t, "direction", m.Direction, sinch.DirectionToApp)
	check(t, "accept_time", m.AcceptTime, accepted)
	check(t, "metadata", m.Metadata, `{"operator":"310150"}`)
	check(t, "channel_identity", *m.ChannelIdentity, sinch.ChannelIdentity{Channel: sinch.ChannelSMS, Identity: "12345678901"})
	check(t, "injected", m.Injected, false)
	if m.MessageStatus != nil {
		t.Errorf("message_status: got %+v, want nil for null", m.MessageStatus)
	}
	if m.ContactMessage == nil || m.ContactMessage.TextMessage == nil {
		t.Fatalf("contact_message: got %+v, want a text message", m.ContactMessage)
	}
	check(t, "contact_message.text", m.ContactMessage.TextMessage.Text, text)
	if m.ContactMessage.ReplyTo != nil {
		t.Errorf("reply_to: got %+v, want nil for null", m.ContactMessage.ReplyTo)
	}
}

// roundTrip checks that encoding v gives back the fixture, as JSON values.
func roundTrip(t *testing.T, name string, v any) {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatalf("encode: %v", err)
	}
	if !sameJSON(t, b, readFixture(t, name)) {
		t.Errorf("round trip of %s changed it:\ngot  %s", name, b)
	}
}

func TestMessageStatusShapes(t *testing.T) {
	tests := []struct {
		json       string
		want       sinch.DeliveryStatus
		wantReason sinch.ReasonCode // "": no Reason
		nil        bool
	}{
		{`null`, "", "", true},
		{`"DELIVERED"`, sinch.StatusDelivered, "", false},
		{`{"status":"READ","reason":{"code":"UNKNOWN"}}`, sinch.StatusRead, "UNKNOWN", false},
		// The shape of Sinch's SDKs: reason is the code as a string.
		{`{"status":"FAILED","event_time":"2024-02-22T07:40:46Z","reason":"RECIPIENT_NOT_REACHABLE"}`,
			sinch.StatusFailed, sinch.ReasonRecipientNotReachable, false},
		{`{"status":"DELIVERED","event_time":"2024-02-22T07:40:46Z"}`, sinch.StatusDelivered, "", false},
		{`{"status":"FAILED","reason":7}`, sinch.StatusFailed, "", false},
		{`[1,2]`, "", "", false},
	}
	for _, tt := range tests {
		var m sinch.ConversationMessage
		if err := json.Unmarshal([]byte(`{"id":"x","message_status":`+tt.json+`}`), &m); err != nil {
			t.Errorf("%s: got error %v, want none", tt.json, err)
			continue
		}
		if (m.MessageStatus == nil) != tt.nil {
			t.Errorf("%s: got MessageStatus %+v, want nil %v", tt.json, m.MessageStatus, tt.nil)
			continue
		}
		if m.MessageStatus != nil {
			check(t, tt.json+" status", m.MessageStatus.Status, tt.want)
			check(t, tt.json+" raw", string(m.MessageStatus.Raw), tt.json)
			var gotReason sinch.ReasonCode
			if r := m.MessageStatus.Reason; r != nil {
				gotReason = r.Code
			}
			check(t, tt.json+" reason", gotReason, tt.wantReason)
		}
	}
}
