package enqueue

import (
	"strings"
	"testing"

	"github.com/sinch-dispatch/sinch-dispatch/internal/sinch"
)

func TestReadSuppressListForms(t *testing.T) {
	t.Parallel()
	type probe struct {
		ch   sinch.Channel
		id   string
		want bool
	}
	for _, tc := range []struct {
		name, file, region string
		n                  int
		probes             []probe
	}{
		{"plain list, any channel, normalised", "+33 6 12 34 56 78\n\n0033612345679\r\n", "", 2, []probe{
			{sinch.ChannelSMS, "+33612345678", true},
			{sinch.ChannelWhatsApp, "+33612345678", true},
			{sinch.ChannelSMS, "+33612345679", true},
			{sinch.ChannelSMS, "+33612345670", false},
		}},
		{"national numbers with a region", "06 12 34 56 78\n", "fr", 1, []probe{{sinch.ChannelSMS, "+33612345678", true}}},
		{"csv with a channel column", "\ufeffname,Phone,channel\nAnn,+33612345678,whatsapp\nBob,+33612345679,\nCid,psid-42,MESSENGER\n", "", 3, []probe{
			{sinch.ChannelWhatsApp, "+33612345678", true},
			{sinch.ChannelSMS, "+33612345678", false}, // only on WhatsApp
			{sinch.ChannelSMS, "+33612345679", true},  // empty channel: every channel
			{sinch.ChannelMessenger, "psid-42", true},
		}},
		{"semicolon csv", "identity;x\n+33612345678;1\n", "", 1, []probe{{sinch.ChannelRCS, "+33612345678", true}}},
		{"empty file", "", "", 0, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			l, err := ReadSuppressList(strings.NewReader(tc.file), tc.region)
			if err != nil {
				t.Fatal(err)
			}
			if l.Len() != tc.n {
				t.Errorf("got %d entries, want %d", l.Len(), tc.n)
			}
			for _, p := range tc.probes {
				if got := l.Contains(p.ch, p.id); got != p.want {
					t.Errorf("Contains(%s, %s): got %v, want %v", p.ch, p.id, got, p.want)
				}
			}
		})
	}
}

func TestReadSuppressListNamesTheBadLineNotTheEntry(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ name, file, want string }{
		{"bad number in a list", "+33612345678\n+33612345679\nnot-a-number-555\n", "line 3"},
		{"national number without region", "06 12 34 56 78\n", "line 1"},
		{"bad channel in a csv", "phone,channel\n+33612345678,PIGEON\n", "line 2"},
		{"non-phone identity without a channel", "psid-42abc\n", "needs a CSV with phone and channel"},
		{"control characters in a messenger identity", "phone,channel\npsid-42abc,MESSENGER\n\"ps\tid\",MESSENGER\n", "line 3: recipient contains control characters"},
		{"empty messenger identity", "phone,channel\n ,MESSENGER\n", "line 2: recipient is empty"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ReadSuppressList(strings.NewReader(tc.file), "")
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("got %v, want an error mentioning %q", err, tc.want)
			}
			if strings.Contains(err.Error(), "555") || strings.Contains(err.Error(), "12 34") {
				t.Fatalf("error %q quotes the entry", err)
			}
		})
	}
}
