package recipients

import (
	"bytes"
	"errors"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"unicode/utf8"
)

// addFileSeeds adds every test file as a seed.
func addFileSeeds(f *testing.F, add func(data []byte)) {
	files, _ := filepath.Glob(filepath.Join(testdata, "*.csv"))
	bad, _ := filepath.Glob(filepath.Join(testdata, "bad", "*.csv"))
	for _, name := range append(files, bad...) {
		data, err := os.ReadFile(name)
		if err != nil {
			f.Fatal(err)
		}
		add(data)
	}
}

var csvSeeds = []string{
	"phone\n+33612345678\n",
	"phone,channel,name\n+33612345678,whatsapp,\"a,b\"\n\"x\"y,sms,z\n",
	"phone,name\n+1\"2,a\n\"+33612345678\",\"b\nc\"\r\n\r\n",
	"\ufeffphone;name\r\n+33612345678;\"a;\"\"b\"\"\"\r\n",
	"phone,name\n+33612345678,\"unterminated\n+33612345678,x\n",
	"phone,name\n\r+33612345678,x\n\"\"\"\",\n",
	"identity,channel\npsid,MESSENGER\n,TELEGRAM\n",
}

// fuzzEncodings are the Options.Encoding values FuzzReader picks from.
var fuzzEncodings = [4]string{"", "windows-1252", "shift_jis", "utf-16be"}

const (
	fuzzEncodingShift = 8       // limit bits 8-9 pick one of fuzzEncodings
	fuzzStrictQuotes  = 1 << 10 // limit bit 10 sets StrictQuotes
)

// FuzzReader checks that the reader never panics and that every record comes
// out as a row or a RowError, in line order, on the right line. limit holds
// the options: MaxRowBytes (bits 0-7), the encoding (8-9), StrictQuotes
// (10) and how much of the file MaxBytes cuts off (13-15).
func FuzzReader(f *testing.F) {
	for _, s := range csvSeeds {
		f.Add([]byte(s), false, uint16(0))
		f.Add([]byte(s), false, uint16(fuzzStrictQuotes))
	}
	addFileSeeds(f, func(data []byte) {
		f.Add(data, false, uint16(0))
		f.Add(data, false, uint16(fuzzStrictQuotes|1<<fuzzEncodingShift)) // windows-1252
	})
	f.Fuzz(func(t *testing.T, data []byte, semicolon bool, limit uint16) {
		opts := Options{
			DefaultRegion: "US",
			MaxRowBytes:   16 + int(limit%256),
			MaxFieldBytes: 32,
			MaxColumns:    8,
			// Cut the file short by up to 7 bytes now and then: the rows
			// before the cut still come out, then ErrTooLarge.
			MaxBytes:     max(1, int64(len(data))-int64(limit>>13)),
			Encoding:     fuzzEncodings[limit>>fuzzEncodingShift&3],
			StrictQuotes: limit&fuzzStrictQuotes != 0,
		}
		if semicolon {
			opts.Delimiter = ';'
		}
		r, err := NewReader(bytes.NewReader(data), opts)
		if err != nil {
			var fe *FatalError
			if !errors.As(err, &fe) {
				t.Fatalf("NewReader: got %T %v, want a *FatalError", err, err)
			}
			return
		}
		// Every decoder here turns only a 0x0A byte into a '\n' (UTF-16
		// has one in each line break and in some other characters).
		lines := bytes.Count(data, []byte{'\n'}) + 1
		prev := 1
		for i := 0; ; i++ {
			row, err := r.Next()
			if err == io.EOF {
				break
			}
			line := row.Line
			var re *RowError
			switch {
			case errors.As(err, &re):
				line = re.Line
				if re.Reason == "" {
					t.Fatalf("line %d: RowError without a reason", re.Line)
				}
			case errors.Is(err, ErrTooLarge) && int64(len(data)) > opts.MaxBytes:
				return
			case err != nil:
				t.Fatalf("Next: got fatal error %v, want rows and RowErrors only", err)
			default:
				checkRow(t, r, row)
			}
			if line <= prev || line > lines {
				t.Fatalf("record %d: got line %d after line %d in a %d-line file", i, line, prev, lines)
			}
			prev = line
		}
	})
}

var e164 = regexp.MustCompile(`^\+[1-9][0-9]{3,14}$`)

func checkRow(t *testing.T, r *Reader, row Row) {
	t.Helper()
	switch {
	case !row.Channel.Valid():
		t.Fatalf("line %d: got channel %q", row.Line, row.Channel)
	case row.Channel.PhoneBased() && !e164.MatchString(row.Identity):
		t.Fatalf("line %d: got %s identity %q, want E.164", row.Line, row.Channel, row.Identity)
	case strings.TrimSpace(row.Identity) != row.Identity || row.Identity == "":
		t.Fatalf("line %d: got identity %q, want it trimmed and non-empty", row.Line, row.Identity)
	case len(row.Vars) != len(r.Columns()):
		t.Fatalf("line %d: got %d vars, want %d", row.Line, len(row.Vars), len(r.Columns()))
	}
	for k, v := range row.Vars {
		if !utf8.ValidString(v) || !r.recs.text.valid(v) || strings.IndexByte(v, 0) >= 0 || len(v) > r.opts.MaxFieldBytes {
			t.Fatalf("line %d: var %q has a value that should have been rejected", row.Line, k)
		}
	}
}

// FuzzGuard checks the guard against encoding/csv: without cuts, both must
// see exactly the same records on the same lines; with cuts, scan checks
// that they stay in step.
func FuzzGuard(f *testing.F) {
	for _, s := range csvSeeds {
		f.Add(s, byte(','), uint8(5), uint8(3))
	}
	addFileSeeds(f, func(data []byte) { f.Add(string(data), byte(','), uint8(20), uint8(4)) })
	f.Fuzz(func(t *testing.T, in string, delim byte, maxRow, maxFields uint8) {
		if delim == 0 || delim > 0x7f || delim == '"' || delim == '\r' || delim == '\n' {
			delim = ','
		}
		for _, strict := range []bool{false, true} {
			compareWithCSV(t, in, delim, strict)
			scan(t, in, delim, 1+int(maxRow), 1+int(maxFields%16), strict)
		}
	})
}

// FuzzNormalizePhone checks that NormalizePhone never panics, returns E.164
// that normalizes to itself, and never quotes its input in an error.
func FuzzNormalizePhone(f *testing.F) {
	for _, s := range []string{
		"+33 6 12 34 56 78", "0033612345678", "(201) 555-0123", "011 44 20 7946 0958", "+1 650 253 0000 ext. 123",
		"tel:+33612345678", "＋33612345678", "n/a", "", "+", "00", "+999 1", "1-800-FLOWERS", "+33 (0)6 12 34 56 78",
	} {
		f.Add(s, uint8(0))
	}
	regions := []string{"", "US", "FR", "GB", "DE", "JP", "BR", "IN"}
	f.Fuzz(func(t *testing.T, raw string, r uint8) {
		region := regions[int(r)%len(regions)]
		got, err := NormalizePhone(raw, region)
		if err != nil {
			if s := strings.TrimSpace(raw); len(s) >= 6 && strings.Contains(err.Error(), s) {
				t.Fatalf("NormalizePhone(%q, %q): error %q quotes the input", raw, region, err)
			}
			return
		}
		if !e164.MatchString(got) {
			t.Fatalf("NormalizePhone(%q, %q): got %q, want E.164", raw, region, got)
		}
		if again, err := NormalizePhone(got, ""); again != got || err != nil {
			t.Fatalf("NormalizePhone(%q, \"\"): got %q, %v, want %q (from %q)", got, again, err, got, raw)
		}
	})
}

// FuzzRender checks that parsing and rendering any template never panics,
// stays within MaxRenderedBytes and MaxTextRunes, fails only with RowErrors,
// and never quotes the row's values in an error.
func FuzzRender(f *testing.F) {
	for _, s := range []string{
		"Hi {{.first_name}}", "{{range $i, $c := .x}}{{$c}}{{end}}", "{{range 100000000}}{{end}}", "{{.x.y}}",
		`{{slice .x 0 100}}`, `{{index .x 3}}`, `{{or .x "there"}}`, `{{urlquery .x}}`, `{{.x | js}}`,
		`{{with .x}}{{.}}{{end}}`, `{{if lt .x 3}}a{{end}}`, `{{define "a"}}{{template "a"}}{{end}}{{template "a"}}`,
		`{{printf "%999999d" 1}}`, `{{$a := .x}}{{$a}}{{$a}}`, `{{index . "first name"}}`, "{{", "{{.}}",
	} {
		f.Add(s, "Ann")
	}
	tmpls, _ := filepath.Glob(filepath.Join(testdata, "bad", "templates", "*.tmpl"))
	for _, name := range tmpls {
		data, err := os.ReadFile(name)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(string(data), "Ann")
	}
	f.Fuzz(func(t *testing.T, text, value string) {
		opts := TemplateOptions{MaxTextRunes: 50}
		tmpl, err := ParseTemplateWith(text, opts)
		if err != nil {
			if !errors.Is(err, ErrTemplate) {
				t.Fatalf("ParseTemplate(%q): got %v, want an ErrTemplate", text, err)
			}
			return
		}
		secret := "Zq9" + value + "9qZ"
		vars := map[string]string{"x": secret, "first_name": secret}
		for _, v := range tmpl.Vars() {
			vars[v] = secret
		}
		out, err := tmpl.Render(vars)
		if err == nil {
			if len(out) > 4*50 || utf8.RuneCountInString(out) > 50 || !utf8.ValidString(out) {
				t.Fatalf("Render(%q): got %d bytes, %d runes, want at most 200 bytes and 50 valid runes", text, len(out), utf8.RuneCountInString(out))
			}
			return
		}
		var re *RowError
		if !errors.As(err, &re) {
			t.Fatalf("Render(%q): got %T %v, want a *RowError", text, err, err)
		}
		if strings.Contains(err.Error(), secret) && !strings.Contains(text, secret) {
			t.Fatalf("Render(%q): error %q quotes a value", text, err)
		}
	})
}
