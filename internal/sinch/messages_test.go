package sinch_test

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/sinch-dispatch/sinch-dispatch/internal/sinch"
)

func TestSendMessageRequestValidate(t *testing.T) {
	tests := []struct {
		name   string
		mod    func(*sinch.SendMessageRequest)
		fields []string // fields named by the errors; none means valid
	}{
		{"valid text", func(*sinch.SendMessageRequest) {}, nil},
		{"valid by contact", func(r *sinch.SendMessageRequest) {
			r.Recipient = sinch.Recipient{ContactID: "c1"}
		}, nil},
		{"valid with every option", func(r *sinch.SendMessageRequest) {
			r.CallbackURL = "https://example.com/cb"
			r.ChannelPriorityOrder = []sinch.Channel{sinch.ChannelWhatsApp, sinch.ChannelSMS}
			r.ChannelProperties = map[string]string{"WHATSAPP_HEADER": "hi"}
			r.MessageMetadata = strings.Repeat("m", sinch.MaxMessageMetadataLen)
			r.ConversationMetadata = json.RawMessage(`{"k":"v"}`)
			r.Queue = sinch.QueueNormal
			r.TTL = sinch.TTL(sinch.MinTTL)
			r.ProcessingStrategy = sinch.ProcessingDispatchOnly
			r.CorrelationID = strings.Repeat("é", sinch.MaxCorrelationIDLen) // characters, not bytes
			r.ConversationMetadataUpdateStrategy = sinch.MetadataMergePatch
			r.MessageContentType = sinch.ContentNotification
		}, nil},
		{"valid other kind", func(r *sinch.SendMessageRequest) {
			r.Message = sinch.AppMessage{Other: map[string]json.RawMessage{"carousel_message": json.RawMessage(`{"cards":[]}`)}}
		}, nil},
		{"app_id", func(r *sinch.SendMessageRequest) { r.AppID = "" }, []string{"app_id"}},
		{"no recipient", func(r *sinch.SendMessageRequest) { r.Recipient = sinch.Recipient{} }, []string{"recipient"}},
		{"both recipients", func(r *sinch.SendMessageRequest) { r.Recipient.ContactID = "c1" }, []string{"recipient"}},
		{"no identities", func(r *sinch.SendMessageRequest) { r.Recipient.IdentifiedBy.ChannelIdentities = nil },
			[]string{"recipient.identified_by.channel_identities"}},
		{"bad identity", func(r *sinch.SendMessageRequest) {
			r.Recipient.IdentifiedBy.ChannelIdentities = []sinch.ChannelIdentity{{Channel: "sms"}}
		}, []string{"recipient.identified_by.channel_identities[0].channel", "recipient.identified_by.channel_identities[0].identity"}},
		{"no message kind", func(r *sinch.SendMessageRequest) { r.Message = sinch.AppMessage{} }, []string{"message"}},
		{"two message kinds", func(r *sinch.SendMessageRequest) {
			r.Message.MediaMessage = &sinch.MediaMessage{URL: "https://x/y.png"}
		}, []string{"message"}},
		{"typed and other kind", func(r *sinch.SendMessageRequest) {
			r.Message.Other = map[string]json.RawMessage{"list_message": json.RawMessage(`{}`)}
		}, []string{"message"}},
		{"empty text", func(r *sinch.SendMessageRequest) { r.Message.TextMessage.Text = "" }, []string{"message.text_message.text"}},
		{"template without reference", func(r *sinch.SendMessageRequest) {
			r.Message = sinch.AppMessage{TemplateMessage: &sinch.TemplateMessage{}}
		}, []string{"message.template_message"}},
		{"template bad channel", func(r *sinch.SendMessageRequest) {
			r.Message = sinch.AppMessage{TemplateMessage: &sinch.TemplateMessage{
				ChannelTemplate: map[sinch.Channel]sinch.TemplateReference{"FAX": {TemplateID: "t"}}}}
		}, []string{"message.template_message.channel_template.FAX"}},
		{"too many choices", func(r *sinch.SendMessageRequest) {
			choices := make([]sinch.Choice, sinch.MaxChoices+1)
			for i := range choices {
				choices[i].TextMessage = &sinch.TextMessage{Text: "c"}
			}
			r.Message = sinch.AppMessage{ChoiceMessage: &sinch.ChoiceMessage{Choices: choices}}
		}, []string{"message.choice_message.choices"}},
		{"choice with two kinds", func(r *sinch.SendMessageRequest) {
			r.Message = sinch.AppMessage{ChoiceMessage: &sinch.ChoiceMessage{Choices: []sinch.Choice{{
				TextMessage: &sinch.TextMessage{Text: "a"}, URLMessage: &sinch.URLMessage{Title: "b", URL: "https://b"}}}}}
		}, []string{"message.choice_message.choices[0]"}},
		{"card height", func(r *sinch.SendMessageRequest) {
			r.Message = sinch.AppMessage{CardMessage: &sinch.CardMessage{Title: "t", Height: "HUGE"}}
		}, []string{"message.card_message.height"}},
		{"explicit channel key", func(r *sinch.SendMessageRequest) {
			r.Message.ExplicitChannelMessage = map[sinch.Channel]string{"whatsapp": "{}"}
		}, []string{"message.explicit_channel_message.whatsapp"}},
		{"agent type", func(r *sinch.SendMessageRequest) { r.Message.Agent = &sinch.Agent{Type: "ROBOT"} }, []string{"message.agent.type"}},
		{"callback_url", func(r *sinch.SendMessageRequest) { r.CallbackURL = "example.com/cb" }, []string{"callback_url"}},
		{"channel_priority_order", func(r *sinch.SendMessageRequest) {
			r.ChannelPriorityOrder = []sinch.Channel{sinch.ChannelSMS, "PIGEON"}
		}, []string{"channel_priority_order[1]"}},
		{"channel_properties", func(r *sinch.SendMessageRequest) {
			r.ChannelProperties = map[string]string{"K": strings.Repeat("v", sinch.MaxChannelPropertyLen+1)}
		}, []string{"channel_properties.K"}},
		{"message_metadata", func(r *sinch.SendMessageRequest) {
			r.MessageMetadata = strings.Repeat("m", sinch.MaxMessageMetadataLen+1)
		}, []string{"message_metadata"}},
		{"conversation_metadata JSON", func(r *sinch.SendMessageRequest) { r.ConversationMetadata = json.RawMessage(`{`) },
			[]string{"conversation_metadata"}},
		{"conversation_metadata length", func(r *sinch.SendMessageRequest) {
			r.ConversationMetadata = json.RawMessage(`{"k":"` + strings.Repeat("x", sinch.MaxConversationMetadataLen) + `"}`)
		}, []string{"conversation_metadata"}},
		{"conversation_metadata not an object", func(r *sinch.SendMessageRequest) {
			r.ConversationMetadata = json.RawMessage(`"k=v"`)
		}, []string{"conversation_metadata"}},
		{"queue", func(r *sinch.SendMessageRequest) { r.Queue = "LOW_PRIORITY" }, []string{"queue"}},
		{"ttl too short", func(r *sinch.SendMessageRequest) { r.TTL = sinch.TTL(2 * time.Second) }, []string{"ttl"}},
		{"ttl negative", func(r *sinch.SendMessageRequest) { r.TTL = sinch.TTL(-time.Hour) }, []string{"ttl"}},
		{"ttl fraction", func(r *sinch.SendMessageRequest) { r.TTL = sinch.TTL(3500 * time.Millisecond) }, []string{"ttl"}},
		{"processing_strategy", func(r *sinch.SendMessageRequest) { r.ProcessingStrategy = "FAST" }, []string{"processing_strategy"}},
		{"correlation_id", func(r *sinch.SendMessageRequest) {
			r.CorrelationID = strings.Repeat("c", sinch.MaxCorrelationIDLen+1)
		}, []string{"correlation_id"}},
		{"conversation_metadata_update_strategy", func(r *sinch.SendMessageRequest) {
			r.ConversationMetadataUpdateStrategy = "MERGE"
		}, []string{"conversation_metadata_update_strategy"}},
		{"message_content_type", func(r *sinch.SendMessageRequest) { r.MessageContentType = "SPAM" }, []string{"message_content_type"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req := textRequest()
			tt.mod(req)
			err := req.Validate()
			var got []string
			for _, e := range unjoin(err) {
				var ve *sinch.ValidationError
				if !errors.As(e, &ve) {
					t.Fatalf("error %v: got %T, want *sinch.ValidationError", e, e)
				}
				got = append(got, ve.Field)
				if !strings.HasPrefix(e.Error(), "sinch: invalid request: "+ve.Field+" ") {
					t.Errorf("Error(): got %q, want it to start with the field", e)
				}
			}
			if strings.Join(got, ",") != strings.Join(tt.fields, ",") {
				t.Errorf("fields: got %q, want %q (err %v)", got, tt.fields, err)
			}
			if err != nil && !sinch.IsPermanent(err) {
				t.Errorf("IsPermanent: got false, want true")
			}
		})
	}
}

func unjoin(err error) []error {
	if err == nil {
		return nil
	}
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		return j.Unwrap()
	}
	return []error{err}
}

func TestTTLJSON(t *testing.T) {
	tests := []struct {
		ttl  sinch.TTL
		json string
	}{
		{sinch.TTL(86400 * time.Second), `"86400s"`},
		{sinch.TTL(sinch.MinTTL), `"3s"`},
		{sinch.TTL(sinch.MaxTTL), `"9223372036s"`},
	}
	for _, tt := range tests {
		b, err := json.Marshal(tt.ttl)
		if err != nil || string(b) != tt.json {
			t.Errorf("Marshal(%v): got %s, %v, want %s", time.Duration(tt.ttl), b, err, tt.json)
		}
		var got sinch.TTL
		if err := json.Unmarshal([]byte(tt.json), &got); err != nil || got != tt.ttl {
			t.Errorf("Unmarshal(%s): got %v, %v, want %v", tt.json, time.Duration(got), err, time.Duration(tt.ttl))
		}
	}

	var frac sinch.TTL
	if err := json.Unmarshal([]byte(`"1.5s"`), &frac); err != nil || time.Duration(frac) != 1500*time.Millisecond {
		t.Errorf(`Unmarshal("1.5s"): got %v, %v, want 1.5s`, time.Duration(frac), err)
	}
	for _, bad := range []string{`86400`, `"86400"`, `"1h"`, `"-5s"`, `"s"`, `"315576000000s"`} {
		var got sinch.TTL
		if err := json.Unmarshal([]byte(bad), &got); err == nil {
			t.Errorf("Unmarshal(%s): got %v, want an error", bad, time.Duration(got))
		}
	}

	// Zero is omitted from a request.
	b, err := json.Marshal(sinch.SendMessageRequest{})
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(b), "ttl") {
		t.Errorf("zero TTL: got %s, want no ttl field", b)
	}
}

func TestAppMessageOtherRoundTrip(t *testing.T) {
	in := `{"carousel_message":{"cards":[{"title":"a"}]},"text_message":{"text":"hi"},"future_field":1,"list_message":null}`
	var m sinch.AppMessage
	if err := json.Unmarshal([]byte(in), &m); err != nil {
		t.Fatal(err)
	}
	if m.TextMessage == nil || m.TextMessage.Text != "hi" {
		t.Errorf("TextMessage: got %+v, want hi", m.TextMessage)
	}
	if got, want := string(m.Other["carousel_message"]), `{"cards":[{"title":"a"}]}`; got != want {
		t.Errorf("Other[carousel_message]: got %s, want %s", got, want)
	}
	if _, ok := m.Other["list_message"]; ok {
		t.Errorf("Other[list_message]: got the null value, want it skipped")
	}
	if got, want := strings.Join(m.Kinds(), ","), "carousel_message,text_message"; got != want {
		t.Errorf("Kinds: got %q, want %q", got, want)
	}
	out, err := json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := string(out), `{"carousel_message":{"cards":[{"title":"a"}]},"future_field":1,"text_message":{"text":"hi"}}`; got != want {
		t.Errorf("Marshal: got %s, want %s", got, want)
	}

	clash := sinch.AppMessage{Other: map[string]json.RawMessage{"text_message": json.RawMessage(`{}`)}}
	if _, err := json.Marshal(clash); err == nil {
		t.Errorf("Marshal with Other duplicating a typed field: got nil error, want one")
	}
}
