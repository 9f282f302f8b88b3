package enqueue

import (
	"bytes"
	"context"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/hibiken/asynq"

	"github.com/sinch-dispatch/sinch-dispatch/internal/campaign"
	"github.com/sinch-dispatch/sinch-dispatch/internal/redistest"
	"github.com/sinch-dispatch/sinch-dispatch/internal/sinch"
)

// The JSON API and schedules describe a fallback with the same keys as
// the flags: channels is a list, channel_text and channel_template objects.
func TestSpecChannelsFromJSON(t *testing.T) {
	t.Parallel()
	s, err := DecodeSpecJSON(strings.NewReader(`{"campaign":"fb","channels":["whatsapp","SMS"],
		"channel_template":{"WHATSAPP":"spring_sale:en_US"},"channel_text":{"sms":"Hi {{.first_name}}"}}`))
	if err != nil {
		t.Fatal(err)
	}
	o, err := s.Resolve(time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if want := []sinch.Channel{sinch.ChannelWhatsApp, sinch.ChannelSMS}; !reflect.DeepEqual(o.Channels, want) || o.Channel != sinch.ChannelWhatsApp {
		t.Errorf("got channels %v (first %s), want %v", o.Channels, o.Channel, want)
	}
	if got := o.Source.Describe(); got != "template:WHATSAPP=spring_sale+SMS text" {
		t.Errorf("source: got %q", got)
	}
	// One channel is --channel.
	one, err := Spec{Campaign: "one", Channels: []string{"RCS"}, Text: "Hi"}.Resolve(time.Now())
	if err != nil || one.Channel != sinch.ChannelRCS || one.Channels != nil {
		t.Errorf("one channel: got %s %v (%v), want RCS and no fallback", one.Channel, one.Channels, err)
	}

	for _, tc := range []struct{ json, want string }{
		{`{"campaign":"x","text":"Hi","channels":"WHATSAPP,SMS"}`, "channels: want a list of strings"},
		{`{"campaign":"x","text":"Hi","channel_text":["SMS"]}`, "channel_text: want an object of strings"},
	} {
		if _, err := DecodeSpecJSON(strings.NewReader(tc.json)); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: got %v, want %q", tc.json, err, tc.want)
		}
	}
	for _, tc := range []struct {
		s    Spec
		want string
	}{
		{Spec{Campaign: "x", Text: "Hi", Channels: []string{"SMS", "FAX"}}, "channels: unknown channel"},
		{Spec{Campaign: "x", Text: "Hi", Channels: []string{"MESSENGER", "INSTAGRAM"}}, "channels: lists no phone-based channel"},
		{Spec{Campaign: "x", TemplateID: "t", Channels: []string{"WHATSAPP", "SMS"}, ChannelTemplate: map[string]string{"WHATSAPP": ":en_US"}},
			"channel_template: WHATSAPP: want a template ID"},
		{Spec{Campaign: "x", TemplateID: "t", Channels: []string{"WHATSAPP", "SMS"}, ChannelTemplate: map[string]string{"SMS": "a"},
			ChannelText: map[string]string{"SMS": "b"}}, "channel_text: SMS: cannot be combined with a channel_template for SMS"},
		{Spec{Campaign: "x", Text: "Hi", Channels: []string{"WHATSAPP", "SMS"}, ChannelText: map[string]string{"SMS": "{{.x"}},
			"channel_text: SMS:"},
		{Spec{Campaign: "x", Text: "Hi", ChannelText: map[string]string{"WHATSAPP": "b"}}, "channel_text: names WHATSAPP, which the upload does not send on (SMS)"},
	} {
		if _, err := tc.s.Resolve(time.Now()); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%+v: got %v, want %q", tc.s, err, tc.want)
		}
	}
}

// A fallback's SMS is its SMS text: counted, bounded by --max-segments
// and made GSM-safe, while the WhatsApp template is not an SMS.
func TestFallbackSMSTextIsCounted(t *testing.T) {
	t.Parallel()
	data := "phone,msg\n+33612345678,It’s here\n+33612345679," + strings.Repeat("b", 400) + "\n"
	o, err := Spec{Campaign: "fb", Channels: []string{"WHATSAPP", "SMS"}, ChannelTemplate: map[string]string{"WHATSAPP": "wa"},
		ChannelText: map[string]string{"SMS": "{{.msg}}"}, GSMSafe: true, MaxSegments: new(2)}.Resolve(time.Now())
	if err != nil {
		t.Fatal(err)
	}
	var preview bytes.Buffer
	o.CSV, o.DryRun, o.Preview = strings.NewReader(data), true, &preview
	sum, err := New(nil, nil).Run(context.Background(), o)
	if err != nil {
		t.Fatal(err)
	}
	if sum.Enqueued != 1 || sum.Rejected != 1 || sum.FirstRejects[0].Row != 3 || !strings.Contains(sum.FirstRejects[0].Reason, "needs 3 segments") {
		t.Fatalf("got %+v, want row 3 rejected for its 3-segment SMS", sum)
	}
	if sum.SMS == nil || sum.SMS.Messages != 1 || sum.SMS.GSM7 != 1 || sum.GSMSafeChanged != 1 {
		t.Errorf("got SMS %+v (%d changed), want one GSM-7 SMS made GSM-safe", sum.SMS, sum.GSMSafeChanged)
	}
	if !strings.Contains(preview.String(), "It's here") {
		t.Errorf("preview shows the SMS text as sent:\n%s", preview.String())
	}
}

// A fallback row is skipped when any of its identities is suppressed:
// an SMS opt-out is not sent a WhatsApp message that falls back to SMS.
func TestFallbackRowSuppressedOnAnyChannel(t *testing.T) {
	t.Parallel()
	r := redistest.New(t)
	client := asynq.NewClient(r.AsynqOpt())
	t.Cleanup(func() { client.Close() })
	store := campaign.NewStore(r.Client)
	ctx := context.Background()
	if _, err := store.Suppress(ctx, campaign.Suppression{Channel: sinch.ChannelSMS, Identity: "+33612345678", Reason: "STOP"}); err != nil {
		t.Fatal(err)
	}
	list, err := ReadSuppressList(strings.NewReader("channel,phone\nMESSENGER,m3\n"), "")
	if err != nil {
		t.Fatal(err)
	}
	data := "phone,messenger\n+33612345678,m1\n+33612345679,m2\n+33612345670,m3\n"
	o, err := Spec{Campaign: "fbs", Channels: []string{"MESSENGER", "SMS"}, Text: "Hi"}.Resolve(time.Now())
	if err != nil {
		t.Fatal(err)
	}
	o.CSV, o.Suppress = strings.NewReader(data), list
	sum, err := New(store, client).Run(ctx, o)
	if err != nil {
		t.Fatal(err)
	}
	if sum.Enqueued != 1 || sum.Suppressed != 2 {
		t.Fatalf("got %+v, want row 3 only enqueued: row 2 suppressed on SMS (Redis), row 4 on MESSENGER (--suppress)", sum)
	}
}
