package recipients

import (
	"errors"
	"io"
	"maps"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/sinch-dispatch/sinch-dispatch/internal/sinch"
)

const (
	sms       = sinch.ChannelSMS
	whatsapp  = sinch.ChannelWhatsApp
	rcs       = sinch.ChannelRCS
	mms       = sinch.ChannelMMS
	messenger = sinch.ChannelMessenger
	telegram  = sinch.ChannelTelegram
)

func TestSampleCampaign(t *testing.T) {
	got, rows := readFile(t, "sample-campaign.csv", Options{DefaultRegion: "US"})
	want := []outcome{
		ok(2, sms, "+33612345678"),
		ok(3, sms, "+12015550123"),
		ok(4, sms, "+12025550143"),       // channel "sms", lower case
		ok(5, whatsapp, "+442079460958"), // "WhatsApp"
		ok(6, sms, "+12125550199"),
		ok(7, sms, "+4915123456789"),
		ok(8, sms, "+14155550132"),
		ok(9, sms, "+16465550147"),
		ok(10, whatsapp, "+34612345678"),
		ok(11, sms, "+13055550110"),
		ok(12, sms, "+33781234567"), // "0033 …" read with region US
		ok(13, rcs, "+61412345678"),
		rejected(14, "phone", "not a valid phone number for region US"),
		ok(15, sms, "+819012345678"),
		ok(16, sms, "+16175550175"), // empty first_name is accepted
		rejected(17, "channel", "unknown channel"),
		ok(18, sms, "+5511912345678"),
		ok(19, sms, "+12015550123"), // repeat of line 3: de-duplication is not this package's job
		ok(20, sms, "+393123456789"),
		ok(21, sms, "+919876543210"),
		ok(22, messenger, "4471829301"), // not phone-based: kept as written
		ok(23, sms, "+31612345678"),
		ok(24, sms, "+18005550199"),
		rejected(25, "phone", "phone number is empty"),
		ok(26, sms, "+33612345678"), // repeat of line 2 in another format
		ok(27, sms, "+79123456789"),
		ok(28, sms, "+27821234567"),
		ok(29, sms, "+8613800138000"),
		ok(30, telegram, "@emma_moore"), // trimmed
		ok(31, sms, "+13035550100"),
		ok(32, sms, "+13125550188"),
		rejected(33, "phone", "phone number has an extension"),
		ok(34, sms, "+12025550143"), // repeat of line 4
		rejected(35, "phone", "not a valid phone number for region GB"),
		rejected(36, "phone", "not a phone number"),
		ok(37, sms, "+33698765432"),
		ok(38, mms, "+13125550134"),
		ok(39, sms, "+34699123456"),
		ok(40, sms, "+17185550186"),
		ok(41, sms, "+19295550171"),
		rejected(42, "phone", "recipient is empty"),
	}
	compareOutcomes(t, got, want)

	// Vars: every column but phone and channel, values exactly as written.
	wantVars := map[int]map[string]string{
		10: {"first_name": "Lucía", "last_name": "Martínez", "store": "Madrid"},
		16: {"first_name": "", "last_name": "Nguyen", "store": "Boston"},
		23: {"first_name": "de Vries, Sanne", "last_name": "de Vries", "store": "Amsterdam"},
	}
	for _, row := range rows {
		if w, ok := wantVars[row.Line]; ok && !maps.Equal(row.Vars, w) {
			t.Errorf("line %d: got vars %v, want %v", row.Line, row.Vars, w)
		}
	}
}

func TestBadFilesVars(t *testing.T) {
	tests := []struct {
		file string
		opts Options
		want map[int]map[string]string
	}{
		{"bad/bom.csv", Options{DefaultRegion: "US"}, map[int]map[string]string{
			2: {"first_name": "Ann"}, // the BOM is not part of the first column's name
		}},
		{"bad/crlf.csv", Options{DefaultRegion: "US"}, map[int]map[string]string{
			2: {"first_name": "Ann", "note": "plain"},
			3: {"first_name": "Bob", "note": "two\nlines"}, // encoding/csv turns a quoted CRLF into LF
		}},
		{"bad/quotes.csv", Options{DefaultRegion: "US"}, map[int]map[string]string{
			2:  {"first_name": "Smith, Jane", "note": `said "hi"`},
			3:  {"first_name": "Bob", "note": "line one\nline two\nline three"},
			6:  {"first_name": `O"Brien`, "note": `a, b, "c"`},
			8:  {"first_name": "multi\nline, with comma", "note": "x"},
			10: {"first_name": "Last", "note": "no newline at end"},
		}},
		{"bad/semicolon.csv", Options{Delimiter: ';', DefaultRegion: "US"}, map[int]map[string]string{
			2: {"first_name": "Jean", "city": "Paris, France"},
			3: {"first_name": "Bob; Jr.", "city": "Newark"},
		}},
		{"bad/non-utf8.csv", Options{}, map[int]map[string]string{
			6: {"first_name": "Jürgen", "city": "München"},
		}},
		{"bad/non-utf8.csv", Options{Encoding: "iso-8859-1"}, map[int]map[string]string{
			3: {"first_name": "François", "city": "Montréal"},
		}},
		{"bad/windows-1252.csv", Options{Encoding: "windows-1252"}, map[int]map[string]string{
			2: {"first_name": "Amélie", "city": "Montréal", "note": "Prix 5 €"},
			3: {"first_name": "Zoë", "city": "Köln", "note": "“curly” quotes"},
			4: {"first_name": "Chloé", "city": "Besançon", "note": "–dash—"},
		}},
		{"bad/unicode-text-utf16le.csv", Options{Delimiter: '\t'}, excelUnicodeTextVars},
		{"bad/unicode-text-utf16be.csv", Options{Delimiter: '\t'}, excelUnicodeTextVars},
		{"bad/inch-marks.csv", Options{}, map[int]map[string]string{
			2: {"item": `27" screen`, "location": `37°36'37.8"N 121°2'17.9"W`},
			3: {"item": `5'10" shelf`, "location": "Newark"},
			4: {"item": `12" x 18" print`, "location": "London"},
		}},
		{"bad/formula.csv", Options{}, map[int]map[string]string{
			// The reader keeps values as written; escaping is for output.
			2: {"first_name": `=HYPERLINK("http://evil.example/","click")`, "=cmd|' /C calc'!A0": "+1"},
			4: {"first_name": "Bob", "=cmd|' /C calc'!A0": "=2+5"},
		}},
	}
	for _, tt := range tests {
		t.Run(filepath.Base(tt.file), func(t *testing.T) {
			_, rows := readFile(t, tt.file, tt.opts)
			seen := 0
			for _, row := range rows {
				w, ok := tt.want[row.Line]
				if !ok {
					continue
				}
				seen++
				if !maps.Equal(row.Vars, w) {
					t.Errorf("line %d: got vars %q, want %q", row.Line, row.Vars, w)
				}
			}
			if seen != len(tt.want) {
				t.Errorf("got %d of the rows to check, want %d", seen, len(tt.want))
			}
		})
	}
}

func assertFatal(t *testing.T, err, want error, wantDetail string) {
	t.Helper()
	if !errors.Is(err, want) {
		t.Fatalf("got error %v, want %v", err, want)
	}
	var fe *FatalError
	if !errors.As(err, &fe) {
		t.Fatalf("got error of type %T, want *FatalError", err)
	}
	if !strings.Contains(fe.Detail, wantDetail) {
		t.Errorf("got detail %q, want it to contain %q", fe.Detail, wantDetail)
	}
}

// excelUnicodeTextVars are the variables of the Excel "Unicode text"
// samples, in UTF-16 LE and BE.
var excelUnicodeTextVars = map[int]map[string]string{
	2: {"first_name": "Amélie", "city": "Montréal", "note": `27" screen`},
	3: {"first_name": "Zoë", "city": "東京", "note": "tab\there"},
	4: {"first_name": "Chloé 😀", "city": "Price €5", "note": `said "hi"`},
	5: {"first_name": "Jürgen", "city": "München", "note": "two\nlines"},
}

func TestFatalErrors(t *testing.T) {
	tests := []struct {
		name       string
		in         string
		opts       Options
		want       error
		wantLine   int
		wantDetail string
	}{
		{"empty", "", Options{}, ErrEmpty, 0, ""},
		{"only a BOM", "\xef\xbb\xbf", Options{}, ErrEmpty, 0, ""},
		{"blank lines", "\n\r\n\n", Options{}, ErrNoHeader, 0, "only blank lines"},
		{"no phone column", "mobile,name\n+33612345678,Ann\n", Options{}, ErrNoPhoneColumn, 1, `"phone" or "identity"`},
		{"data instead of a header", "+33612345678,Ann\n", Options{}, ErrNoPhoneColumn, 1, "the first line must be the header"},
		{"wrong delimiter hint", "phone;name\n+33612345678;Ann\n", Options{}, ErrNoPhoneColumn, 1, `is the delimiter ';'?`},
		{"header after blank lines", "\n\nmobile\n", Options{}, ErrNoPhoneColumn, 3, ""},
		{"duplicate", "phone,name,name\n", Options{}, ErrDuplicateColumn, 1, `"name" (column 2) and "name" (column 3)`},
		{"duplicate ignoring case and spaces", "phone,Name, name \n", Options{}, ErrDuplicateColumn, 1, `"Name" (column 2) and "name" (column 3)`},
		{"phone and identity", "phone,identity\n", Options{}, ErrDuplicateColumn, 1, `"phone" (column 1) and "identity" (column 2)`},
		{"two channel columns", "phone,channel,Channel\n", Options{}, ErrDuplicateColumn, 1, `"channel" (column 2) and "Channel" (column 3)`},
		{"empty name", "phone,,name\n", Options{}, ErrEmptyColumnName, 1, "column 2 has no name"},
		{"blank name", "phone,name,  \n", Options{}, ErrEmptyColumnName, 1, "column 3 has no name"},
		{"trailing delimiter", "phone,name,\n", Options{}, ErrEmptyColumnName, 1, "column 3 has no name"},
		{"too many columns", "phone,a,b,c\n", Options{MaxColumns: 3}, ErrTooManyColumns, 1, "more than 3 columns"},
		{"too many columns cut by the guard", "phone" + strings.Repeat(",x", 10) + "\n", Options{MaxColumns: 3}, ErrTooManyColumns, 1, "more than 3 columns"},
		{"header too long", "phone,first_name,last_name\n", Options{MaxRowBytes: 10}, ErrMalformedHeader, 1, "longer than 10 bytes"},
		{"name too long", "phone,first_name\n", Options{MaxFieldBytes: 5}, ErrMalformedHeader, 1, "column 2: the name is longer than 5 bytes"},
		{"bare quote in header, strict", "phone,fir\"st\n", Options{StrictQuotes: true}, ErrMalformedHeader, 1,
			"column 2: bare \" in a non-quoted value (--strict-quotes is set"},
		{"stray quote in header", "phone,\"first\"x\n", Options{}, ErrMalformedHeader, 1, "column 2: stray \""},
		{"unterminated header", "phone,\"first\n+33612345678,Ann\n", Options{}, ErrMalformedHeader, 1, "never closed"},
		{"NUL in header", "phone,na\x00me\n", Options{}, ErrMalformedHeader, 1, "NUL byte"},
		{"unpaired surrogate in a UTF-16 header", "\xff\xfep\x00h\x00o\x00n\x00e\x00,\x00\x00\xd8\n\x00", Options{}, ErrEncoding, 1,
			"column 2: the name is not valid UTF-16"},
		{"UTF-16 without a byte order mark", "p\x00h\x00o\x00n\x00e\x00\n\x00", Options{}, ErrMalformedHeader, 1,
			"name it with --encoding utf-16le or utf-16be"},
		{"Latin-1 header", "phone,pr\xe9nom\n", Options{}, ErrEncoding, 1,
			`column 2: the name is not valid UTF-8 (save the file as "CSV UTF-8", or name its encoding with --encoding)`},
		{"undefined windows-1252 byte in the header", "phone,x\x81\n", Options{Encoding: "windows-1252"}, ErrEncoding, 1,
			"column 2: the name is not valid windows-1252 (is --encoding right?)"},
		{"template variable without a column", "phone,first_name\n", Options{Template: mustParse(t, "Hi {{.firstname}}")},
			ErrUnknownVariable, 1, "the template uses {{.firstname}} but the CSV has no \"firstname\" column"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, err := NewReader(strings.NewReader(tt.in), tt.opts)
			if r != nil {
				t.Errorf("got a Reader, want nil")
			}
			assertFatal(t, err, tt.want, tt.wantDetail)
			var fe *FatalError
			if errors.As(err, &fe) && fe.Line != tt.wantLine {
				t.Errorf("got line %d, want %d", fe.Line, tt.wantLine)
			}
		})
	}
}

func TestFatalErrorMessage(t *testing.T) {
	_, err := NewReader(strings.NewReader("phone,name,name\n"), Options{})
	got := err.Error()
	want := `recipients: line 1: duplicate column name: "name" (column 2) and "name" (column 3)`
	if got != want {
		t.Errorf("got %q, want %q", got, want)
	}
	_, err = NewReader(strings.NewReader(""), Options{})
	if got, want := err.Error(), "recipients: file is empty"; got != want {
		t.Errorf("got %q, want %q", got, want)
	}
}

func TestOptions(t *testing.T) {
	tests := []struct {
		name      string
		opts      Options
		wantError string // "" for valid options
	}{
		{"zero value", Options{}, ""},
		{"semicolon", Options{Delimiter: ';'}, ""},
		{"tab", Options{Delimiter: '\t'}, ""},
		{"lower-case region", Options{DefaultRegion: "fr"}, ""},
		{"quote delimiter", Options{Delimiter: '"'}, "Options.Delimiter"},
		{"newline delimiter", Options{Delimiter: '\n'}, "Options.Delimiter"},
		{"CR delimiter", Options{Delimiter: '\r'}, "Options.Delimiter"},
		{"multi-byte delimiter", Options{Delimiter: '§'}, "Options.Delimiter"},
		{"negative delimiter", Options{Delimiter: -1}, "Options.Delimiter"},
		{"unknown region", Options{DefaultRegion: "XX"}, `Options.DefaultRegion "XX"`},
		{"country name as region", Options{DefaultRegion: "France"}, "Options.DefaultRegion"},
		{"unknown channel", Options{DefaultChannel: "sms"}, "Options.DefaultChannel"},
		{"negative MaxFieldBytes", Options{MaxFieldBytes: -1}, "Options.MaxFieldBytes"},
		{"negative MaxColumns", Options{MaxColumns: -1}, "Options.MaxColumns"},
		{"negative MaxRowBytes", Options{MaxRowBytes: -5}, "Options.MaxRowBytes"},
		{"negative MaxBytes", Options{MaxBytes: -1}, "Options.MaxBytes"},
		{"strict quotes", Options{StrictQuotes: true}, ""},
		{"encoding", Options{Encoding: "windows-1252"}, ""},
		{"unknown encoding", Options{Encoding: "klingon"}, `recipients: Options.Encoding: unknown encoding "klingon"`},
		{"undecodable encoding", Options{Encoding: "iso-2022-kr"}, `recipients: Options.Encoding: unknown encoding "iso-2022-kr"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in := "phone\n+33612345678\n"
			if tt.opts.Delimiter == ';' || tt.opts.Delimiter == '\t' {
				in = "phone" + string(tt.opts.Delimiter) + "x\n"
			}
			_, err := NewReader(strings.NewReader(in), tt.opts)
			switch {
			case tt.wantError == "" && err != nil:
				t.Errorf("got error %v, want nil", err)
			case tt.wantError != "" && (err == nil || !strings.Contains(err.Error(), tt.wantError)):
				t.Errorf("got error %v, want one naming %s", err, tt.wantError)
			}
		})
	}
}

func TestWithDefaults(t *testing.T) {
	got := Options{DefaultRegion: " us "}.WithDefaults()
	want := Options{
		Delimiter: DefaultDelimiter, DefaultRegion: "US", DefaultChannel: DefaultChannel,
		MaxFieldBytes: DefaultMaxFieldBytes, MaxColumns: DefaultMaxColumns, MaxRowBytes: DefaultMaxRowBytes,
		MaxBytes: DefaultMaxBytes,
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got %+v, want %+v", got, want)
	}
}

func TestRowRejections(t *testing.T) {
	tests := []struct {
		name string
		in   string // after the header "phone,channel,name\n"
		opts Options
		want outcome
	}{
		{"too few fields", "+33612345678,SMS\n", Options{}, rejected(2, "", "row has 2 fields, want 3")},
		{"too many fields", "+33612345678,SMS,Ann,x\n", Options{}, rejected(2, "", "row has 4 fields, want 3")},
		{"far too many fields", "+33612345678,SMS,Ann" + strings.Repeat(",x", 20) + "\n", Options{MaxColumns: 5}, rejected(2, "", "row has more than 5 fields, want 3")},
		{"bare quote is part of the value", "+33612345678,SMS,A\"nn\n", Options{}, outcome{}},
		{"bare quote, strict", "+33612345678,SMS,A\"nn\n", Options{StrictQuotes: true}, rejected(2, "name", bareQuote)},
		{"stray quote, strict", "+33612345678,\"SMS\" ,Ann\n", Options{StrictQuotes: true}, rejected(2, "channel", strayQuote)},
		{"stray quote", "+33612345678,\"SMS\" ,Ann\n", Options{}, rejected(2, "channel", `stray "`)},
		{"stray quote after CR", "+33612345678,SMS,\"Ann\"\rx\n", Options{}, rejected(2, "name", `stray "`)},
		{"unterminated quote", "+33612345678,SMS,\"Ann\n", Options{}, rejected(2, "", "never closed")},
		{"field too long", "+33612345678,SMS," + strings.Repeat("a", 11) + "\n", Options{MaxFieldBytes: 12}, outcome{}},
		{"field too long", "+33612345678,SMS," + strings.Repeat("a", 13) + "\n", Options{MaxFieldBytes: 12}, rejected(2, "name", "value is longer than 12 bytes")},
		{"row too long", "+33612345678,SMS," + strings.Repeat("a", 100) + "\n", Options{MaxRowBytes: 64}, rejected(2, "", "row is longer than 64 bytes")},
		{"row too long in quotes", "+33612345678,SMS,\"" + strings.Repeat("a\n", 100) + "\"\n", Options{MaxRowBytes: 64}, rejected(2, "", "row is longer than 64 bytes")},
		{"invalid UTF-8", "+33612345678,SMS,Fran\xe7ois\n", Options{}, rejected(2, "name", "not valid UTF-8")},
		{"NUL byte", "+33612345678,SMS,A\x00nn\n", Options{}, rejected(2, "name", "NUL byte")},
		{"unknown channel", "+33612345678,PIGEON,Ann\n", Options{}, rejected(2, "channel", "unknown channel (want one of WHATSAPP, RCS, SMS,")},
		{"channel with a typo", "+33612345678,whats app,Ann\n", Options{}, rejected(2, "channel", "unknown channel")},
		{"empty phone", " ,SMS,Ann\n", Options{}, rejected(2, "phone", "phone number is empty")},
		{"invalid phone", "+33 1 23,SMS,Ann\n", Options{}, rejected(2, "phone", "not a valid phone number for region FR")},
		{"national number without a region", "06 12 34 56 78,SMS,Ann\n", Options{}, rejected(2, "phone", "no country code (+…) and no default region is set")},
		{"national number of another region", "06 12 34 56 78,SMS,Ann\n", Options{DefaultRegion: "US"}, rejected(2, "phone", "not a valid phone number for region US")},
		{"letters", "call me,SMS,Ann\n", Options{}, rejected(2, "phone", "not a phone number")},
		{"empty messenger identity", " ,MESSENGER,Ann\n", Options{}, rejected(2, "phone", "recipient is empty (a MESSENGER identity is required)")},
		{"control characters in identity", "\"ab\tc\",TELEGRAM,Ann\n", Options{}, rejected(2, "phone", "control characters")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, _ := readString(t, "phone,channel,name\n"+tt.in+"+33612345678,SMS,Zoe\n", tt.opts)
			want := []outcome{tt.want, ok(len(strings.Split(tt.in, "\n"))+1, sms, "+33612345678")}
			if tt.want == (outcome{}) {
				want[0] = ok(2, sms, "+33612345678")
			}
			if tt.want.Reason == "never closed" {
				want = want[:1] // the quote swallowed the last row
			}
			compareOutcomes(t, got, want)
		})
	}
}

func TestRowErrorMessage(t *testing.T) {
	tests := []struct {
		err  *RowError
		want string
	}{
		{&RowError{Line: 12, Column: "channel", Reason: "unknown channel"}, `row 12, column "channel": unknown channel`},
		{&RowError{Line: 3, Reason: "row has 2 fields, want 3"}, `row 3: row has 2 fields, want 3`},
	}
	for _, tt := range tests {
		if got := tt.err.Error(); got != tt.want {
			t.Errorf("got %q, want %q", got, tt.want)
		}
	}
}

func TestChannels(t *testing.T) {
	in := "phone,channel\n" +
		"+33612345678,\n" + // empty: default channel
		"+33612345678,  whatsapp \n" +
		"+33612345678,Rcs\n" +
		"+33612345678,viberbm\n" +
		"psid-1,messenger\n" +
		"  ig-user  ,INSTAGRAM\n" +
		"line-id,line\n" +
		"+33612345678,KakaoTalk\n" // identity kept as written for non-phone channels
	tests := []struct {
		name string
		opts Options
		want []outcome
	}{
		{"default SMS", Options{}, []outcome{
			ok(2, sms, "+33612345678"),
			ok(3, whatsapp, "+33612345678"),
			ok(4, rcs, "+33612345678"),
			ok(5, sinch.ChannelViberBM, "+33612345678"),
			ok(6, messenger, "psid-1"),
			ok(7, sinch.ChannelInstagram, "ig-user"),
			ok(8, sinch.ChannelLine, "line-id"),
			ok(9, sinch.ChannelKakaoTalk, "+33612345678"),
		}},
		{"default WhatsApp", Options{DefaultChannel: whatsapp}, []outcome{
			ok(2, whatsapp, "+33612345678"),
			ok(3, whatsapp, "+33612345678"),
			ok(4, rcs, "+33612345678"),
			ok(5, sinch.ChannelViberBM, "+33612345678"),
			ok(6, messenger, "psid-1"),
			ok(7, sinch.ChannelInstagram, "ig-user"),
			ok(8, sinch.ChannelLine, "line-id"),
			ok(9, sinch.ChannelKakaoTalk, "+33612345678"),
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, _ := readString(t, in, tt.opts)
			compareOutcomes(t, got, tt.want)
		})
	}

	// Without a channel column every row gets the default channel.
	got, _ := readString(t, "identity\npsid-9\n", Options{DefaultChannel: messenger})
	compareOutcomes(t, got, []outcome{ok(2, messenger, "psid-9")})
}

func TestHeaderNames(t *testing.T) {
	r, err := NewReader(strings.NewReader(" Phone ,first_name, CHANNEL ,last name\n"), Options{})
	if err != nil {
		t.Fatal(err)
	}
	if got, want := r.PhoneColumn(), "Phone"; got != want {
		t.Errorf("PhoneColumn: got %q, want %q", got, want)
	}
	if got, want := r.ChannelColumn(), "CHANNEL"; got != want {
		t.Errorf("ChannelColumn: got %q, want %q", got, want)
	}
	if got, want := strings.Join(r.Columns(), "|"), "first_name|last name"; got != want {
		t.Errorf("Columns: got %q, want %q", got, want)
	}

	r, err = NewReader(strings.NewReader("identity\n"), Options{})
	if err != nil {
		t.Fatal(err)
	}
	if got, want := r.ChannelColumn(), ""; got != want {
		t.Errorf("ChannelColumn: got %q, want %q", got, want)
	}
	if got := r.Columns(); len(got) != 0 {
		t.Errorf("Columns: got %q, want none", got)
	}
}

func TestLineNumbers(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want []int
	}{
		{"plain", "phone\n+33612345678\n+33612345678\n", []int{2, 3}},
		{"no final newline", "phone\n+33612345678\n+33612345678", []int{2, 3}},
		{"blank lines", "\nphone\n\n+33612345678\n\n\n+33612345678\n\n", []int{4, 7}},
		{"CRLF blank lines", "phone\r\n\r\n+33612345678\r\n\r\n+33612345678\r\n", []int{3, 5}},
		{"multi-line fields", "phone,note\n+33612345678,\"a\nb\nc\"\n+33612345678,\"\n\"\n+33612345678,x\n", []int{2, 5, 7}},
		{"after a quote error", "phone,note\n+33612345678,a\"b\n+33612345678,\"x\ny\"z\n+33612345678,x\n", []int{2, 3, 5}},
		{"after a cut row", "phone,note\n+33612345678,\"" + strings.Repeat("x\n", 50) + "\"\n+33612345678,x\n", []int{2, 53}},
		{"lone CR is not a line break", "phone,note\n+33612345678,a\rb\n+33612345678,x\n", []int{2, 3}},
		{"CR-only line is blank", "phone\n\r\n+33612345678\n", []int{3}},
		{"trailing CR at EOF", "phone\n+33612345678\r", []int{2}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, _ := readString(t, tt.in, Options{MaxRowBytes: 64})
			var lines []int
			for _, o := range got {
				lines = append(lines, o.Line)
			}
			if !equalInts(lines, tt.want) {
				t.Errorf("got lines %v, want %v (outcomes %v)", lines, tt.want, got)
			}
		})
	}
}

func equalInts(a, b []int) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func TestNextAfterEOF(t *testing.T) {
	r, err := NewReader(strings.NewReader("phone\n+33612345678\n"), Options{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := r.Next(); err != nil {
		t.Fatalf("got %v, want a row", err)
	}
	for range 3 {
		if _, err := r.Next(); err != io.EOF {
			t.Fatalf("got %v, want io.EOF", err)
		}
	}
}

type failingReader struct {
	data string
	err  error
}

func (f *failingReader) Read(p []byte) (int, error) {
	if f.data == "" {
		return 0, f.err
	}
	n := copy(p, f.data)
	f.data = f.data[n:]
	return n, nil
}

func TestReadError(t *testing.T) {
	boom := errors.New("connection reset")
	r, err := NewReader(&failingReader{data: "phone\n+33612345678\n", err: boom}, Options{})
	if err != nil {
		t.Fatal(err)
	}
	row, err := r.Next()
	if err != nil || row.Identity != "+33612345678" {
		t.Fatalf("got %v, %v, want the first row", row, err)
	}
	for range 2 { // the error is sticky
		if _, err := r.Next(); !errors.Is(err, boom) {
			t.Fatalf("got %v, want an error wrapping %v", err, boom)
		}
	}

	_, err = NewReader(&failingReader{err: boom}, Options{})
	if !errors.Is(err, boom) {
		t.Fatalf("NewReader: got %v, want an error wrapping %v", err, boom)
	}
}

// TestErrorsHoldNoCellValues checks that no RowError quotes a value of its
// row, over every test file.
func TestErrorsHoldNoCellValues(t *testing.T) {
	files := []string{
		"sample-campaign.csv", "bad/bad-numbers.csv", "bad/field-count.csv", "bad/non-utf8.csv",
		"bad/nul-bytes.csv", "bad/formula.csv", "bad/unbalanced-quotes.csv", "bad/quotes.csv",
	}
	for _, name := range files {
		data, err := os.ReadFile(filepath.Join(testdata, name))
		if err != nil {
			t.Fatal(err)
		}
		lines := strings.Split(string(data), "\n")
		r, err := NewReader(strings.NewReader(string(data)), Options{DefaultRegion: "US"})
		if err != nil {
			t.Fatal(err)
		}
		for {
			_, err := r.Next()
			if err == io.EOF {
				break
			}
			var re *RowError
			if !errors.As(err, &re) {
				continue
			}
			msg := re.Error()
			header := strings.Split(lines[0], ",")
			for i, cell := range strings.Split(lines[re.Line-1], ",") {
				if i < len(header) && (header[i] == "channel" || header[i] == "note") {
					continue // not personal data; bad-numbers.csv's note describes the case
				}
				cell = strings.Trim(cell, "\" \r")
				if len(cell) >= 4 && cell != re.Column && strings.Contains(msg, cell) {
					t.Errorf("%s: error %q contains the cell value %q", name, msg, cell)
				}
			}
		}
	}
}
