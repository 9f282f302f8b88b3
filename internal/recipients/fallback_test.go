package recipients

import (
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/sinch-dispatch/sinch-dispatch/internal/sinch"
)

func TestParseChannels(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		in   string
		want []sinch.Channel
		err  string
	}{
		{"WHATSAPP,SMS", []sinch.Channel{sinch.ChannelWhatsApp, sinch.ChannelSMS}, ""},
		{" messenger , sms ", []sinch.Channel{sinch.ChannelMessenger, sinch.ChannelSMS}, ""},
		{"RCS", []sinch.Channel{sinch.ChannelRCS}, ""},
		{"MESSENGER", []sinch.Channel{sinch.ChannelMessenger}, ""}, // one channel: as --channel
		{"WHATSAPP,PIGEON", nil, "unknown channel"},
		{"SMS,sms", nil, "SMS is listed twice"},
		{"SMS,,RCS", nil, "empty channel name"},
		{"", nil, "empty channel name"},
		{"MESSENGER,INSTAGRAM", nil, "no phone-based channel"},
	} {
		got, err := ParseChannels(tc.in)
		switch {
		case tc.err != "" && (err == nil || !strings.Contains(err.Error(), tc.err)):
			t.Errorf("ParseChannels(%q): got error %v, want one containing %q", tc.in, err, tc.err)
		case tc.err == "" && (err != nil || !reflect.DeepEqual(got, tc.want)):
			t.Errorf("ParseChannels(%q): got %v, %v; want %v", tc.in, got, err, tc.want)
		}
	}
}

// testdata/fallback.csv is the docs' example: the messenger column is the
// MESSENGER identity, the phone the WHATSAPP and SMS one; a row without a
// MESSENGER identity or with a bad number is rejected, naming the column.
func TestFallbackRows(t *testing.T) {
	t.Parallel()
	f, err := os.Open(filepath.Join(testdata, "fallback.csv"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	r, err := NewReader(f, Options{Channels: []sinch.Channel{sinch.ChannelMessenger, sinch.ChannelWhatsApp, sinch.ChannelSMS}})
	if err != nil {
		t.Fatal(err)
	}
	if got := r.Columns(); !reflect.DeepEqual(got, []string{"first_name", "code"}) {
		t.Errorf("columns: got %v, want the variables only", got)
	}
	outs, rows := readAll(t, r)
	want := []outcome{
		ok(2, sinch.ChannelMessenger, "7312984561"),
		ok(3, sinch.ChannelMessenger, "5513408877"),
		rejected(4, "messenger", "no MESSENGER identity: the messenger column is empty (--channels lists MESSENGER)"),
		rejected(5, "phone", "not a phone number"),
	}
	if len(outs) != len(want) {
		t.Fatalf("got %v, want %v", outs, want)
	}
	for i := range want {
		if outs[i].Line != want[i].Line || outs[i].Column != want[i].Column || outs[i].Identity != want[i].Identity ||
			!strings.Contains(outs[i].Reason, want[i].Reason) {
			t.Errorf("row %d: got %v, want %v", i, outs[i], want[i])
		}
	}
	wantIDs := []sinch.ChannelIdentity{{Channel: sinch.ChannelMessenger, Identity: "7312984561"},
		{Channel: sinch.ChannelWhatsApp, Identity: "+33612345678"}, {Channel: sinch.ChannelSMS, Identity: "+33612345678"}}
	if !reflect.DeepEqual(rows[0].Identities, wantIDs) {
		t.Errorf("identities: got %v, want %v", rows[0].Identities, wantIDs)
	}
	if rows[0].Vars["first_name"] != "Amélie" || len(rows[0].Vars) != 2 {
		t.Errorf("vars: got %v", rows[0].Vars)
	}
}

func TestFallbackHeader(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		csv  string
		want error
		msg  string
	}{
		{"phone,first_name\n+33612345678,A\n", ErrNoChannelColumn, `column named "messenger"`},
		{"phone,messenger,channel\n+33612345678,1,SMS\n", ErrChannelColumn, "cannot be combined with --channels"},
	} {
		_, err := NewReader(strings.NewReader(tc.csv), Options{Channels: []sinch.Channel{sinch.ChannelMessenger, sinch.ChannelSMS}})
		if !errors.Is(err, tc.want) || !strings.Contains(err.Error(), tc.msg) {
			t.Errorf("%q: got %v, want %v containing %q", tc.csv, err, tc.want, tc.msg)
		}
	}
	if _, err := NewReader(strings.NewReader("phone\n"), Options{Channels: []sinch.Channel{sinch.ChannelSMS, sinch.ChannelSMS}}); err == nil ||
		!strings.Contains(err.Error(), "Options.Channels SMS is listed twice") {
		t.Errorf("repeated channel: got %v", err)
	}
}
