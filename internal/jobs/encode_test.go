package jobs

import (
	"bytes"
	"encoding/json"
	"fmt"
	"reflect"
	"testing"
	"time"

	"github.com/sinch-dispatch/sinch-dispatch/internal/campaign"
	"github.com/sinch-dispatch/sinch-dispatch/internal/sinch"
	"github.com/sinch-dispatch/sinch-dispatch/internal/sms"
)

// TestEncodeSendIsJSONMarshal: the hand-written payload encoder writes the
// bytes json.Marshal writes, for strings that need escaping, every message
// kind, and a text message next to any other AppMessage field (so a field
// added to AppMessage later cannot be dropped by the text fast path).
func TestEncodeSendIsJSONMarshal(t *testing.T) {
	t.Parallel()
	paris, err := time.LoadLocation("Europe/Paris")
	if err != nil {
		t.Fatal(err)
	}
	win, err := campaign.ParseWindow("08:30-20:00", paris)
	if err != nil {
		t.Fatal(err)
	}
	base := SendPayload{CampaignID: "spring-sale", Key: "0123456789abcdef01234567", Row: 42, Channel: sinch.ChannelSMS,
		Identity: "+33612345678", Queue: sinch.QueueHigh, TTLSeconds: 86400}
	text := func(s string) sinch.AppMessage { return sinch.AppMessage{TextMessage: &sinch.TextMessage{Text: s}} }

	var cases []SendPayload
	for _, s := range []string{"", "Hi Ann, your offer is waiting!", `say "hi"`, `back\slash`, "<b>&amp;</b>",
		"tab\tnew\nline\x00\x1f\x7f", "Grüße, 你好 👋", "bad utf8 \xff\xfe", "line sep \u2028 para \u2029"} {
		p := base
		p.Message = text(s)
		cases = append(cases, p)
		p.Identity, p.CampaignID = s, s+"-c"
		cases = append(cases, p)
	}
	p := base
	p.Window, p.Row, p.TTLSeconds = win, -1, 0
	p.Message = text("windowed")
	cases = append(cases, p)
	for _, fb := range []struct {
		chs []sinch.Channel
		ids map[sinch.Channel]string
	}{
		{[]sinch.Channel{sinch.ChannelWhatsApp, sinch.ChannelSMS}, nil},
		{[]sinch.Channel{sinch.ChannelWhatsApp, sinch.ChannelMessenger, sinch.ChannelSMS},
			map[sinch.Channel]string{sinch.ChannelMessenger: "7312984561", sinch.ChannelInstagram: `q"<x>`}},
	} {
		p := base
		p.Message, p.Channels, p.Identities = text("fallback"), fb.chs, fb.ids
		cases = append(cases, p)
	}
	for _, ct := range []sinch.ContentType{sinch.ContentMarketing, sinch.ContentNotification} {
		p := base
		p.Message, p.ContentType, p.SegmentPrice = text("typed"), ct, 7500
		cases = append(cases, p)
	}
	archivedP := base
	archivedP.Message, archivedP.Archive = text("archived"), `rejected by Sinch: 400 "bad"`
	cases = append(cases, archivedP)
	for _, price := range []sms.Price{1, 7500, 1000000, 123456789} {
		p := base
		p.Message, p.SegmentPrice = text("priced"), price
		cases = append(cases, p)
	}
	for _, m := range []sinch.AppMessage{
		{},
		{TemplateMessage: &sinch.TemplateMessage{OmniTemplate: &sinch.TemplateReference{TemplateID: "t", Version: "1", Parameters: map[string]string{"name": "<Ann>"}}}},
		{MediaMessage: &sinch.MediaMessage{URL: "https://example.com/a.png?x=1&y=2"}},
		{Other: map[string]json.RawMessage{"carousel_message": json.RawMessage(`{ "choices" : [] }`)}},
	} {
		p := base
		p.Message = m
		cases = append(cases, p)
	}
	// A text message plus each other field of AppMessage set to something.
	typ := reflect.TypeFor[sinch.AppMessage]()
	for i := range typ.NumField() {
		f := typ.Field(i)
		if f.Name == "TextMessage" {
			continue
		}
		m := text("and more")
		v := reflect.ValueOf(&m).Elem().Field(i)
		switch f.Type.Kind() {
		case reflect.Pointer:
			v.Set(reflect.New(f.Type.Elem()))
		case reflect.Map:
			mv := reflect.MakeMap(f.Type)
			val := reflect.New(f.Type.Elem()).Elem()
			if val.Kind() == reflect.Slice { // json.RawMessage
				val = reflect.ValueOf([]byte(`{"x":1}`)).Convert(f.Type.Elem())
			}
			mv.SetMapIndex(reflect.ValueOf("extra_kind").Convert(f.Type.Key()), val)
			v.Set(mv)
		default:
			t.Fatalf("AppMessage.%s: kind %s not covered by this test", f.Name, f.Type.Kind())
		}
		p := base
		p.Message = m
		if _, ok := m.Text(); ok {
			t.Errorf("AppMessage.%s set: still taken for a text-only message", f.Name)
		}
		cases = append(cases, p)
	}

	for _, p := range cases {
		want, wantErr := json.Marshal(p)
		got, err := encodeSend(p)
		if (err != nil) != (wantErr != nil) || !bytes.Equal(got, want) {
			t.Errorf("encodeSend:\n got  %s (err %v)\n want %s (err %v)", got, err, want, wantErr)
		}
	}
}

// TestEncodeChunkIsJSONMarshal: the chunk encoder writes what json.Marshal
// writes, and every recipient decodes back to the send it came from.
func TestEncodeChunkIsJSONMarshal(t *testing.T) {
	t.Parallel()
	win, err := campaign.ParseWindow("08:30-20:00", time.UTC)
	if err != nil {
		t.Fatal(err)
	}
	base := SendPayload{CampaignID: "spring-sale", Channel: sinch.ChannelSMS, Queue: sinch.QueueHigh, TTLSeconds: 86400,
		Window: win, ContentType: sinch.ContentMarketing, App: "app-1"}
	var sends []SendPayload
	for i, text := range []string{"Hi Ann, your offer is waiting!", `say "hi" <b>&amp;</b>`, "Grüße 👋", ""} {
		p := base
		p.Row, p.Identity = i+2, fmt.Sprintf("+3361234567%d", i)
		p.Message = sinch.AppMessage{TextMessage: &sinch.TextMessage{Text: text}}
		if i == 1 {
			p.SegmentPrice = 7500
		}
		sends = append(sends, p)
	}
	other := base
	other.Row, other.Channel, other.Identity = 9, "MESSENGER", "psid-1"
	other.Message = sinch.AppMessage{MediaMessage: &sinch.MediaMessage{URL: "https://example.com/a.png"}}
	sends = append(sends, other)

	c := &ChunkPayload{CampaignID: base.CampaignID, Channel: base.Channel, Queue: base.Queue, TTLSeconds: base.TTLSeconds,
		Window: base.Window, ContentType: base.ContentType, App: base.App}
	for _, p := range sends {
		c.Recipients = append(c.Recipients, ChunkRecipientOf(p, c.Channel))
	}
	want, _ := json.Marshal(c)
	got, err := encodeChunk(c)
	if err != nil || !bytes.Equal(got, want) {
		t.Fatalf("encodeChunk:\n got  %s (err %v)\n want %s", got, err, want)
	}
	back, err := DecodeChunk(got)
	if err != nil {
		t.Fatal(err)
	}
	for i, p := range sends {
		p.Key = campaign.RecipientKey(p.Channel, p.Identity)
		g := back.Send(i)
		gb, _ := json.Marshal(g)
		wb, _ := json.Marshal(p)
		if !bytes.Equal(gb, wb) {
			t.Errorf("recipient %d:\n got  %s\n want %s", i, gb, wb)
		}
	}
	if n, chunk := TaskRecipients(c.CampaignID, ChunkTaskID(c)); !chunk || n != int64(len(sends)) {
		t.Fatalf("TaskRecipients(%s) = %d, %v; want %d, true", ChunkTaskID(c), n, chunk, len(sends))
	}
	if n, chunk := TaskRecipients(c.CampaignID, TaskID(c.CampaignID, "0123456789abcdef01234567")); chunk || n != 1 {
		t.Fatalf("TaskRecipients of a send task = %d, %v; want 1, false", n, chunk)
	}
	for _, bad := range []string{"not json", `{"campaign_id":"c"}`, `{"campaign_id":"c","channel":"SMS","r":[{"n":1}]}`} {
		if _, err := DecodeChunk([]byte(bad)); err == nil {
			t.Errorf("DecodeChunk(%s): no error", bad)
		}
	}
}
