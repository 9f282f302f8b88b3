package sinchsim

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"
)

// multiBody is a DISPATCH_ONLY text message to several identities
// (channel, identity pairs), with extra top-level members.
func multiBody(app string, ids []channelIdentity, extra ...string) string {
	var list []string
	for _, id := range ids {
		list = append(list, `{"channel":"`+id.Channel+`","identity":"`+id.Identity+`"}`)
	}
	fields := append([]string{
		`"app_id":"` + app + `"`,
		`"recipient":{"identified_by":{"channel_identities":[` + strings.Join(list, ",") + `]}}`,
		`"message":{"text_message":{"text":"hello"}}`,
		`"processing_strategy":"DISPATCH_ONLY"`,
	}, extra...)
	return "{" + strings.Join(fields, ",") + "}"
}

// receiptSteps reads n receipts and returns them as "STATUS CHANNEL"
// (plus the reason code, if any), in arrival order.
func receiptSteps(t *testing.T, got <-chan callback, n int) []string {
	t.Helper()
	var out []string
	for range n {
		var r receiptJSON
		if err := json.Unmarshal(next(t, got).body, &r); err != nil {
			t.Fatal(err)
		}
		step := r.Report.Status + " " + r.Report.ChannelIdentity.Channel
		if r.Report.Reason != nil {
			step += " " + r.Report.Reason.Code
		}
		out = append(out, step)
	}
	return out
}

const failing = "+46707777777" // matches failFirst below

const failFirst = `7777$`

// A recipient failing on its first channel gets SWITCHING_CHANNEL, then
// delivery on the next channel of channel_priority_order; one that does
// not match delivers on the first.
func TestFallbackReceipts(t *testing.T) {
	t.Parallel()
	url, got := receiver(t)
	s := newSim(t, Config{CallbackURL: url, FailFirstChannel: failFirst})
	both := func(identity string) []channelIdentity {
		return []channelIdentity{{Channel: "SMS", Identity: identity}, {Channel: "RCS", Identity: identity}}
	}
	tests := []struct {
		name string
		body string
		want []string
	}{
		{"priority order", multiBody(DefaultAppID, both(failing), `"channel_priority_order":["RCS","SMS"]`),
			[]string{"QUEUED_ON_CHANNEL RCS", "SWITCHING_CHANNEL RCS RECIPIENT_NOT_REACHABLE", "QUEUED_ON_CHANNEL SMS", "DELIVERED SMS"}},
		{"identities order", multiBody(DefaultAppID, both(failing)),
			[]string{"QUEUED_ON_CHANNEL SMS", "SWITCHING_CHANNEL SMS RECIPIENT_NOT_REACHABLE", "QUEUED_ON_CHANNEL RCS", "DELIVERED RCS"}},
		{"no match", multiBody(DefaultAppID, both(phone(1)), `"channel_priority_order":["RCS","SMS"]`),
			[]string{"QUEUED_ON_CHANNEL RCS", "DELIVERED RCS"}},
		{"nowhere to switch", multiBody(DefaultAppID, both(failing)[:1]),
			[]string{"QUEUED_ON_CHANNEL SMS", "FAILED SMS RECIPIENT_NOT_REACHABLE"}},
	}
	for _, tt := range tests {
		// One at a time: a message's receipts come in order, but two
		// messages' receipts may interleave.
		s.send(t, tt.body)
		if steps := receiptSteps(t, got, len(tt.want)); strings.Join(steps, "; ") != strings.Join(tt.want, "; ") {
			t.Errorf("%s: got %q, want %q", tt.name, steps, tt.want)
		}
	}
}

// Listing shows the channel the message is on: the first until the
// switch, the next one after it, with the status of each step.
func TestFallbackInListing(t *testing.T) {
	t.Parallel()
	clock := newFakeClock()
	s := newSim(t, Config{Clock: clock.Now, FailFirstChannel: failFirst, PersistMessageStatus: true, CallbackDelay: time.Minute})
	s.send(t, multiBody(DefaultAppID, []channelIdentity{{Channel: "WHATSAPP", Identity: failing}, {Channel: "SMS", Identity: failing}},
		`"channel_priority_order":["WHATSAPP","SMS"]`))
	for i, want := range []string{"<nil> WHATSAPP", "QUEUED_ON_CHANNEL WHATSAPP", "SWITCHING_CHANNEL WHATSAPP",
		"QUEUED_ON_CHANNEL SMS", "DELIVERED SMS"} {
		m := s.list(t, query("messages_source", "DISPATCH_SOURCE")).Messages[0]
		status := "<nil>"
		if m.MessageStatus != nil {
			status = m.MessageStatus.Status
		}
		if got := status + " " + m.ChannelIdentity.Channel; got != want {
			t.Errorf("after %dm: got %s, want %s", i, got, want)
		}
		if i == 4 {
			for ch, n := range map[string]int{"SMS": 1, "WHATSAPP": 0} {
				if got := len(s.list(t, query("messages_source", "DISPATCH_SOURCE", "channel", ch)).Messages); got != n {
					t.Errorf("listing channel %s after the switch: got %d, want %d", ch, got, n)
				}
			}
		}
		clock.Advance(time.Minute)
	}
}

// Channels are checked against the app's credentials, and the priority
// order against the recipient's identities.
func TestChannelsValidatedAgainstApp(t *testing.T) {
	t.Parallel()
	s := newSim(t, Config{Apps: []App{{ID: "sms-only", Channels: []string{"SMS"}}, {ID: "all"}}})
	sms := channelIdentity{Channel: "SMS", Identity: phone(1)}
	wa := channelIdentity{Channel: "WHATSAPP", Identity: phone(1)}
	tests := []struct {
		name, body, field string // field "": accepted
	}{
		{"identity on a channel the app lacks", multiBody("sms-only", []channelIdentity{sms, wa}),
			"recipient.identified_by.channel_identities[1].channel: channel WHATSAPP is not configured in app sms-only"},
		{"priority channel the app lacks", multiBody("sms-only", []channelIdentity{sms}, `"channel_priority_order":["SMS","RCS"]`),
			"channel_priority_order[1]: channel RCS is not configured in app sms-only"},
		{"priority without any identity", multiBody("all", []channelIdentity{sms}, `"channel_priority_order":["RCS","WHATSAPP"]`),
			"channel_priority_order: the recipient has no channel identity on any of RCS, WHATSAPP"},
		{"priority channel without identity is passed over", multiBody("all", []channelIdentity{sms}, `"channel_priority_order":["RCS","SMS"]`), ""},
		{"identities the app has", multiBody("sms-only", []channelIdentity{sms}), ""},
	}
	for _, tt := range tests {
		r := s.mustDo(t, http.MethodPost, sendPath, tt.body, basicAuth)
		switch {
		case tt.field == "" && r.status != http.StatusOK:
			t.Errorf("%s: got %d %s, want 200", tt.name, r.status, r.body)
		case tt.field != "" && (r.status != http.StatusBadRequest || r.envelope(t).Error.Message != tt.field):
			t.Errorf("%s: got %d %s, want 400 %q", tt.name, r.status, r.body, tt.field)
		}
	}
}
