package recipients

import (
	"strings"
	"testing"

	"github.com/nyaruka/phonenumbers"
	"github.com/sinch-dispatch/sinch-dispatch/internal/sinch"
)

func TestNormalizePhone(t *testing.T) {
	tests := []struct {
		in, region string
		want       string // E.164, or "" when rejected
		wantErr    string // substring of the reason
	}{
		// International format works with any region, or none.
		{"+33 6 12 34 56 78", "", "+33612345678", ""},
		{"+33 6 12 34 56 78", "US", "+33612345678", ""},
		{"+33.6.12.34.56.78", "", "+33612345678", ""},
		{"+33-6-12-34-56-78", "", "+33612345678", ""},
		{"+33 (0)6 12 34 56 78", "", "+33612345678", ""},
		{"+1 (201) 555-0123", "", "+12015550123", ""},
		{"  +44 20 7946 0958\t", "", "+442079460958", ""},
		{"＋33612345678", "", "+33612345678", ""},
		{"tel:+33612345678", "", "+33612345678", ""},
		// 00 and other international prefixes.
		{"0033 6 12 34 56 78", "", "+33612345678", ""},
		{"0033 6 12 34 56 78", "US", "+33612345678", ""},
		{"0033612345678", "FR", "+33612345678", ""},
		{"001 201 555 0123", "FR", "+12015550123", ""},
		{"011 33 6 12 34 56 78", "US", "+33612345678", ""},
		// National format needs the region.
		{"06 12 34 56 78", "FR", "+33612345678", ""},
		{"06 12 34 56 78", "fr", "+33612345678", ""},
		{"(201) 555-0123", "US", "+12015550123", ""},
		{"201.555.0123", "US", "+12015550123", ""},
		{"1-201-555-0123", "US", "+12015550123", ""},
		{"020 7946 0958", "GB", "+442079460958", ""},
		{"06 12 34 56 78", "", "", "no country code (+…) and no default region is set"},
		{"(201) 555-0123", "FR", "", "not a valid phone number for region FR"},
		// Rejections.
		{"", "US", "", "phone number is empty"},
		{"   ", "US", "", "phone number is empty"},
		{"n/a", "US", "", "not a phone number"},
		{"+", "", "", "not a phone number"},
		{"+33 1 23", "", "", "not a valid phone number for region FR"},
		{"555-0100", "US", "", "not a valid phone number for region US"},
		{"+1 555 555 5555", "", "", "not a valid phone number for region US"},
		{"+44 7700 900123", "", "", "not a valid phone number for region GB"},
		{"+999 123 456 789", "US", "", "unknown country calling code"},
		{"+1 650 253 0000 ext. 123", "", "", "phone number has an extension"},
		{"1", "US", "", "not a phone number"},
		{"+33 1", "US", "", "too short to be a phone number"},
		{strings.Repeat("1", 65), "US", "", "too long to be a phone number"},
		{"201A00A00 0000 0000", "DE", "", "phone number contains letters"},
		{"1-800-FLOWERS", "US", "", "phone number contains letters"},
		{"+33 6 12 34 56 7O", "", "", "phone number contains letters"},
		{"0033 6 12 34 56 7O", "", "", "phone number contains letters"},
		{"TEL:+33612345678", "", "+33612345678", ""},
		{"+49 201 000000000000", "", "", "too long to be a phone number (more than 15 digits)"},
	}
	for _, tt := range tests {
		got, err := NormalizePhone(tt.in, tt.region)
		switch {
		case tt.wantErr == "" && (err != nil || got != tt.want):
			t.Errorf("NormalizePhone(%q, %q): got %q, %v, want %q", tt.in, tt.region, got, err, tt.want)
		case tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)):
			t.Errorf("NormalizePhone(%q, %q): got %q, %v, want error containing %q", tt.in, tt.region, got, err, tt.wantErr)
		case err != nil && strings.TrimSpace(tt.in) != "" && len(tt.in) > 3 && strings.Contains(err.Error(), strings.TrimSpace(tt.in)):
			t.Errorf("NormalizePhone(%q, %q): error %q contains the number", tt.in, tt.region, err)
		}
	}
}

func TestParseChannel(t *testing.T) {
	tests := []struct {
		in      string
		want    sinch.Channel
		wantErr bool
	}{
		{"SMS", sinch.ChannelSMS, false},
		{"sms", sinch.ChannelSMS, false},
		{" WhatsApp ", sinch.ChannelWhatsApp, false},
		{"kakaotalkchat", sinch.ChannelKakaoTalkChat, false},
		{"applebc", sinch.ChannelAppleBC, false},
		{"", "", true},
		{"whats app", "", true},
		{"EMAIL", "", true},
	}
	for _, tt := range tests {
		got, err := ParseChannel(tt.in)
		if got != tt.want || (err != nil) != tt.wantErr {
			t.Errorf("ParseChannel(%q): got %q, %v, want %q (error %v)", tt.in, got, err, tt.want, tt.wantErr)
		}
		if err != nil && tt.in != "" && strings.Contains(err.Error(), strings.TrimSpace(tt.in)) {
			t.Errorf("ParseChannel(%q): error %q quotes the input", tt.in, err)
		}
	}
	// Every channel of the enum is accepted in lower case.
	for _, c := range sinch.Channels {
		if got, err := ParseChannel(strings.ToLower(string(c))); got != c || err != nil {
			t.Errorf("ParseChannel(%q): got %q, %v, want %q", strings.ToLower(string(c)), got, err, c)
		}
	}
}

// RegionOf agrees with libphonenumber's own answer, on numbers of calling
// codes shared by several regions too (+1, +7, +44).
func TestRegionOf(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"+33612345678", "FR"},
		{"+12025550143", "US"},
		{"+14165550123", "CA"},
		{"+442079460958", "GB"},
		{"+79123456789", "RU"},
		{"+77012345678", "KZ"},
		{"+3584573975", "FI"},
		{"+35312345678", "IE"},
		{"+819012345678", "JP"},
		{"", ""},
		{"33612345678", ""},
		{"+", ""},
	} {
		if got := RegionOf(tc.in); got != tc.want {
			t.Errorf("RegionOf(%q): got %q, want %q", tc.in, got, tc.want)
		}
	}
	// And libphonenumber is the oracle for the table's shortcut.
	for _, e164 := range []string{"+447911123456", "+441481123456", "+18095550123", "+61412345678", "+4915123456789", "+5511912345678"} {
		num, err := phonenumbers.Parse(e164, "")
		if err != nil {
			t.Fatal(err)
		}
		if got, want := RegionOf(e164), phonenumbers.GetRegionCodeForNumber(num); got != want {
			t.Errorf("RegionOf(%q): got %q, want libphonenumber's %q", e164, got, want)
		}
	}
}

func TestNormalizeIdentity(t *testing.T) {
	tests := []struct {
		ch          sinch.Channel
		raw, region string
		want        string
		wantErr     string // part of the error; "" means none
	}{
		{sinch.ChannelSMS, " +33 6 12 34 56 78 ", "", "+33612345678", ""},
		{sinch.ChannelWhatsApp, "06 12 34 56 78", "fr", "+33612345678", ""},
		{sinch.ChannelRCS, "06 12 34 56 78", "", "", "no default region"},
		{sinch.ChannelSMS, "  ", "FR", "", "phone number is empty"},
		{sinch.ChannelMessenger, "  psid-42 ", "", "psid-42", ""},
		{sinch.ChannelMessenger, " +33 6 12 34 56 78", "FR", "+33 6 12 34 56 78", ""}, // not a phone channel: kept as written
		{sinch.ChannelTelegram, " ", "", "", "recipient is empty (a TELEGRAM identity is required)"},
		{sinch.ChannelTelegram, "ab\tc", "", "", "recipient contains control characters"},
	}
	for _, tt := range tests {
		got, err := NormalizeIdentity(tt.ch, tt.raw, tt.region)
		switch {
		case tt.wantErr == "" && (got != tt.want || err != nil):
			t.Errorf("NormalizeIdentity(%s, %q, %q): got %q, %v, want %q", tt.ch, tt.raw, tt.region, got, err, tt.want)
		case tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)):
			t.Errorf("NormalizeIdentity(%s, %q, %q): got %q, %v, want an error containing %q", tt.ch, tt.raw, tt.region, got, err, tt.wantErr)
		case err != nil && strings.TrimSpace(tt.raw) != "" && strings.Contains(err.Error(), strings.TrimSpace(tt.raw)):
			t.Errorf("NormalizeIdentity(%s, %q, %q): error %q quotes the identity", tt.ch, tt.raw, tt.region, err)
		}
	}
}
