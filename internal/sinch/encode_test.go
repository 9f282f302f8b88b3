package sinch_test

import (
	"bytes"
	"encoding/json"
	"reflect"
	"testing"
	"time"

	"github.com/sinch-dispatch/sinch-dispatch/internal/sinch"
)

// TestSendRequestJSONIsJSONMarshal: the body SendMessage sends is what
// json.Marshal writes, for the SDK's request fixtures, strings that need
// escaping, channel fallback, and every field of the request (and of its
// recipient and message) set in turn, so that a field added later cannot be
// dropped by the hand-written encoder.
func TestSendRequestJSONIsJSONMarshal(t *testing.T) {
	t.Parallel()
	base := sinch.SendMessageRequest{
		AppID: "01EB4ZQDYQ2B8XF3KQ3ZQ7N6TR",
		Recipient: sinch.Recipient{IdentifiedBy: &sinch.IdentifiedBy{
			ChannelIdentities: []sinch.ChannelIdentity{{Channel: sinch.ChannelSMS, Identity: "+46701234567"}},
		}},
		Message:            sinch.AppMessage{TextMessage: &sinch.TextMessage{Text: "Hi Anna, 20% off today"}},
		CallbackURL:        "https://example.com/hooks/sinch?x=1&y=2",
		MessageMetadata:    "spring-sale",
		Queue:              sinch.QueueNormal,
		TTL:                sinch.TTL(2 * time.Hour),
		ProcessingStrategy: sinch.ProcessingDispatchOnly,
		CorrelationID:      "spring-sale:42",
		MessageContentType: sinch.ContentMarketing,
	}
	var cases []sinch.SendMessageRequest
	for _, name := range []string{"SendTextMessageRequestDto.json", "SendTemplateMessageRequestDto.json",
		"SendMediaMessageRequestDto.json", "SendChoiceMessageRequestDto.json"} {
		cases = append(cases, *decodeFixture[sinch.SendMessageRequest](t, name))
	}
	cases = append(cases, sinch.SendMessageRequest{}, base)
	for _, s := range []string{"", `say "hi"`, `back\slash`, "<b>&amp;</b>", "tab\tnew\nline\x00\x1f\x7f",
		"Grüße, 你好 👋", "bad utf8 \xff\xfe", "line sep \u2028 para \u2029"} {
		r := base
		r.Message = sinch.AppMessage{TextMessage: &sinch.TextMessage{Text: s}}
		r.AppID, r.CallbackURL, r.MessageMetadata, r.CorrelationID = s, s, s, s
		r.Recipient = sinch.Recipient{IdentifiedBy: &sinch.IdentifiedBy{
			ChannelIdentities: []sinch.ChannelIdentity{{Channel: sinch.Channel(s), Identity: s, AppID: s}},
		}}
		cases = append(cases, r)
	}
	fallback := base
	fallback.ChannelPriorityOrder = []sinch.Channel{sinch.ChannelWhatsApp, sinch.ChannelMessenger, sinch.ChannelSMS}
	fallback.Recipient = sinch.Recipient{IdentifiedBy: &sinch.IdentifiedBy{ChannelIdentities: []sinch.ChannelIdentity{
		{Channel: sinch.ChannelWhatsApp, Identity: "+46701234567"},
		{Channel: sinch.ChannelMessenger, Identity: "7312984561", AppID: "fb-app"},
		{Channel: sinch.ChannelSMS, Identity: "+46701234567"},
	}}}
	cases = append(cases, fallback)
	for _, rcp := range []sinch.Recipient{
		{}, {ContactID: "contact-1"},
		{IdentifiedBy: &sinch.IdentifiedBy{}},
		{IdentifiedBy: &sinch.IdentifiedBy{ChannelIdentities: []sinch.ChannelIdentity{}}},
		{IdentifiedBy: base.Recipient.IdentifiedBy, ContactID: "both"},
	} {
		r := base
		r.Recipient = rcp
		cases = append(cases, r)
	}
	for _, ttl := range []time.Duration{0, time.Second, 7 * 24 * time.Hour, -time.Minute} {
		r := base
		r.TTL = sinch.TTL(ttl)
		cases = append(cases, r)
	}
	for _, meta := range []string{`{"a": [1, 2], "b": "<x>"}`, `"a string"`, `{"broken": `} {
		r := base
		r.ConversationMetadata = json.RawMessage(meta)
		cases = append(cases, r)
	}
	// Each field of the request, of its recipient's identity and of its
	// message set in turn, next to the common fields.
	for i := range reflect.TypeFor[sinch.SendMessageRequest]().NumField() {
		r := base
		fill(t, reflect.ValueOf(&r).Elem().Field(i), 0)
		cases = append(cases, r)
	}
	for i := range reflect.TypeFor[sinch.ChannelIdentity]().NumField() {
		r := base
		id := r.Recipient.IdentifiedBy.ChannelIdentities[0]
		fill(t, reflect.ValueOf(&id).Elem().Field(i), 0)
		r.Recipient = sinch.Recipient{IdentifiedBy: &sinch.IdentifiedBy{ChannelIdentities: []sinch.ChannelIdentity{id}}}
		cases = append(cases, r)
	}
	for i := range reflect.TypeFor[sinch.AppMessage]().NumField() {
		r := base
		r.Message = sinch.AppMessage{TextMessage: &sinch.TextMessage{Text: "text and more"}}
		fill(t, reflect.ValueOf(&r.Message).Elem().Field(i), 0)
		cases = append(cases, r)
	}

	for _, r := range cases {
		want, wantErr := json.Marshal(&r)
		got, err := sinch.EncodeSendRequest(&r)
		if (err != nil) != (wantErr != nil) || !bytes.Equal(got, want) {
			t.Errorf("send request body:\n got  %s (err %v)\n want %s (err %v)", got, err, want, wantErr)
		}
	}
}

// fill sets v, and what it points to or holds, to non-zero values, with
// strings that need escaping.
func fill(t *testing.T, v reflect.Value, depth int) {
	t.Helper()
	if depth > 4 || !v.CanSet() {
		return
	}
	if v.Type() == reflect.TypeFor[json.RawMessage]() {
		v.SetBytes([]byte(`{"k": [1, "<&>"]}`))
		return
	}
	switch v.Kind() {
	case reflect.String:
		v.SetString(`v "<&>" é`)
	case reflect.Bool:
		v.SetBool(true)
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		v.SetInt(int64(90 * time.Second))
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		v.SetUint(7)
	case reflect.Float32, reflect.Float64:
		v.SetFloat(1.5)
	case reflect.Pointer:
		p := reflect.New(v.Type().Elem())
		fill(t, p.Elem(), depth+1)
		v.Set(p)
	case reflect.Struct:
		for i := range v.NumField() {
			fill(t, v.Field(i), depth+1)
		}
	case reflect.Slice:
		s := reflect.MakeSlice(v.Type(), 2, 2)
		for i := range 2 {
			fill(t, s.Index(i), depth+1)
		}
		v.Set(s)
	case reflect.Map:
		m := reflect.MakeMap(v.Type())
		k, e := reflect.New(v.Type().Key()).Elem(), reflect.New(v.Type().Elem()).Elem()
		fill(t, k, depth+1)
		fill(t, e, depth+1)
		m.SetMapIndex(k, e)
		v.Set(m)
	case reflect.Interface:
		v.Set(reflect.ValueOf("any <value>"))
	default:
		t.Fatalf("fill: kind %s not covered by this test", v.Kind())
	}
}
