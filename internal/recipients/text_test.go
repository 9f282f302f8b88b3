package recipients

import (
	"errors"
	"maps"
	"strings"
	"testing"

	"golang.org/x/text/encoding/unicode"
)

func TestParseEncoding(t *testing.T) {
	tests := []struct {
		name string
		in   []byte // decoded to want
		want string
	}{
		{"windows-1252", []byte("caf\xe9 \x80 \x93x\x94"), "café € “x”"},
		{" Windows-1252 ", []byte("\xe9"), "é"},
		{"cp1252", []byte("\x80"), "€"},
		{"iso-8859-1", []byte("\x80\xe9"), "€é"}, // WHATWG: read as windows-1252
		{"latin1", []byte("\xe9"), "é"},
		{"shift_jis", []byte("\x93\x8c\x8b\x9e"), "東京"},
		{"Shift_JIS", []byte("\x82\xa0"), "あ"},
		{"gbk", []byte("\xc4\xe3\xba\xc3"), "你好"},
		{"utf-16le", []byte("h\x00i\x00"), "hi"},
		{"IBM437", []byte("\x82"), "é"}, // IANA only
		{"macintosh", []byte("\x8e"), "é"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e, err := ParseEncoding(tt.name)
			if err != nil {
				t.Fatalf("got error %v, want nil", err)
			}
			got, err := e.NewDecoder().Bytes(tt.in)
			if err != nil || string(got) != tt.want {
				t.Errorf("decoding %q: got %q, %v, want %q", tt.in, got, err, tt.want)
			}
		})
	}
}

func TestParseEncodingUTF8(t *testing.T) {
	for _, name := range []string{"", "utf-8", "UTF8", " utf-8 ", "unicode-1-1-utf-8", "csUTF8"} {
		e, err := ParseEncoding(name)
		if err != nil || e != unicode.UTF8 {
			t.Errorf("ParseEncoding(%q): got %v, %v, want unicode.UTF8", name, e, err)
		}
	}
}

func TestParseEncodingErrors(t *testing.T) {
	tests := []struct {
		name string
		want string
	}{
		{"klingon", `unknown encoding "klingon": want a WHATWG or IANA name such as utf-8, windows-1252, iso-8859-1 or shift_jis`},
		{" win-1252 ", `unknown encoding "win-1252": want a WHATWG or IANA name such as utf-8, windows-1252, iso-8859-1 or shift_jis`},
		{"iso-2022-kr", `unknown encoding "iso-2022-kr": the name is known but the encoding cannot be decoded`}, // WHATWG "replacement"
		{"UTF-32", `unknown encoding "UTF-32": the name is known but the encoding cannot be decoded`},           // IANA, no decoder
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e, err := ParseEncoding(tt.name)
			if e != nil || !errors.Is(err, ErrUnknownEncoding) || err.Error() != tt.want {
				t.Errorf("got %v, %v, want nil and\n\t%s", e, err, tt.want)
			}
		})
	}
}

// TestEncodingChoice checks which encoding a file is read in: a byte order
// mark wins over Options.Encoding, and naming UTF-8 keeps UTF-8 checked.
func TestEncodingChoice(t *testing.T) {
	tests := []struct {
		name string
		in   string
		opts Options
		want []outcome
		vars map[string]string // of the first row
	}{
		{"UTF-8 byte order mark over windows-1252", "\xef\xbb\xbfphone,name\n+33612345678,Amélie\n",
			Options{Encoding: "windows-1252"}, []outcome{ok(2, sms, "+33612345678")}, map[string]string{"name": "Amélie"}},
		{"UTF-16 byte order mark over windows-1252", utf16LE("phone,name\n+33612345678,Amélie\n"),
			Options{Encoding: "windows-1252"}, []outcome{ok(2, sms, "+33612345678")}, map[string]string{"name": "Amélie"}},
		{"UTF-16 LE without a byte order mark", utf16LE("phone,name\n+33612345678,Zoë\n")[2:],
			Options{Encoding: "utf-16le"}, []outcome{ok(2, sms, "+33612345678")}, map[string]string{"name": "Zoë"}},
		{"windows-1252 without a byte order mark", "phone,name\n+33612345678,Am\xe9lie\n",
			Options{Encoding: "windows-1252"}, []outcome{ok(2, sms, "+33612345678")}, map[string]string{"name": "Amélie"}},
		{"UTF-8 named, invalid bytes still rejected", "phone,name\n+33612345678,Am\xe9lie\n+33612345678,ok\n",
			Options{Encoding: "utf-8"}, []outcome{rejected(2, "name", notUTF8), ok(3, sms, "+33612345678")}, nil},
		{"U+FFFD in a UTF-8 file is a character", "phone,name\n+33612345678,\ufffd\n",
			Options{}, []outcome{ok(2, sms, "+33612345678")}, map[string]string{"name": "\ufffd"}},
		{"unpaired surrogate in UTF-16", utf16LE("phone,name\n+33612345678,") + "\x00\xd8" + utf16LE("\n+33612345678,ok\n")[2:],
			Options{}, []outcome{rejected(2, "name", "value is not valid UTF-16"), ok(3, sms, "+33612345678")}, nil},
		{"invalid Shift_JIS", "phone,name\n+33612345678,\x82\n+33612345678,\x82\xa0\n",
			Options{Encoding: "shift_jis"}, []outcome{
				rejected(2, "name", "value is not valid shift_jis (is --encoding right?)"), ok(3, sms, "+33612345678")}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, rows := readString(t, tt.in, tt.opts)
			compareExact(t, got, tt.want)
			if tt.vars != nil && (len(rows) == 0 || !maps.Equal(rows[0].Vars, tt.vars)) {
				t.Errorf("got rows %+v, want the first with vars %q", rows, tt.vars)
			}
		})
	}
}

// TestUTF16Cut checks a UTF-16 file cut in the middle of a character by
// MaxBytes: the rows before the cut come out, then ErrTooLarge.
func TestUTF16Cut(t *testing.T) {
	in := utf16LE("phone,name\n+33612345678,Zoë\n+33612345678,😀\n")
	// After the BOM, the header (22 bytes) and row 2 (34) fit; row 3 is cut
	// 3 bytes into the surrogate pair of 😀, after "+33612345678," (26).
	r, err := NewReader(strings.NewReader(in), Options{MaxBytes: 22 + 34 + 26 + 3})
	if err != nil {
		t.Fatal(err)
	}
	if row, err := r.Next(); err != nil || row.Vars["name"] != "Zoë" {
		t.Fatalf("got %+v, %v, want row 2", row, err)
	}
	if _, err := r.Next(); !errors.Is(err, ErrTooLarge) {
		t.Fatalf("got %v, want ErrTooLarge", err)
	}
}
