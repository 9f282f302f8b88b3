package recipients

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"golang.org/x/text/encoding/unicode"
)

// allocated returns the bytes allocated while running f: an upper bound on
// the memory f held at any one time.
func allocated(f func()) uint64 {
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	f()
	runtime.ReadMemStats(&after)
	return after.TotalAlloc - before.TotalAlloc
}

// corpusCase is one hostile input: a file under testdata/bad, or one the
// test generates because it is too large to commit (see
// testdata/bad/README.md).
type corpusCase struct {
	name string
	file string           // under testdata/bad; "" for a generated input
	gen  func() io.Reader // generated input, built before measuring
	opts Options
	// template, if set, is a file under testdata/bad/templates: it is parsed
	// and, if that succeeds, rendered for every valid row of file.
	template string

	fatal    error     // the sentinel of the expected fatal error, or nil
	fatalMsg string    // the fatal error's exact text
	want     []outcome // every record before a fatal error; reasons exact
	maxAlloc uint64    // bytes; 0 means smallAlloc
}

const (
	tenMB = 10 << 20
	// smallAlloc bounds a committed file: buffers, one record, metadata.
	smallAlloc = 2 << 20
	// largeAlloc bounds a generated 10 MB input: a few times MaxRowBytes,
	// well under one copy of the input (reading it whole would take 2×10 MB).
	largeAlloc = 16 << 20
)

// Reasons that several cases share.
const (
	notUTF8    = `value is not valid UTF-8 (save the file as "CSV UTF-8", or name its encoding with --encoding)`
	bareQuote  = `bare " in a non-quoted value (--strict-quotes is set: quote the whole value and double the " inside it)`
	strayQuote = `stray " in a quoted value (a " inside quotes must be doubled)`
)

// excelUnicodeText is what unicode-text-utf16le.csv and -be.csv hold, as
// Excel saves "Unicode text": tab-separated, CRLF, UTF-16 with a byte order
// mark. Made with iconv from the same UTF-8 text.
var excelUnicodeText = []outcome{
	ok(2, sms, "+33612345678"),
	ok(3, sms, "+12015550123"),
	ok(4, sms, "+442079460958"),
	ok(5, sms, "+4915123456789"), // a quoted CRLF: lines 5-6
}

// utf16LE returns s as UTF-16 LE with a byte order mark.
func utf16LE(s string) string {
	out, err := unicode.UTF16(unicode.LittleEndian, unicode.UseBOM).NewEncoder().String(s)
	if err != nil {
		panic(err)
	}
	return out
}

// hostileCorpus lists every input of testdata/bad and every generated one,
// with exactly what each must produce.
var hostileCorpus = []corpusCase{
	// Encoding and framing.
	{name: "non-UTF-8 bytes", file: "non-utf8.csv", want: []outcome{
		ok(2, sms, "+33612345678"),
		rejected(3, "first_name", notUTF8),
		ok(4, sms, "+12015550123"),
		rejected(5, "city", notUTF8),
		ok(6, sms, "+4915123456789"),
	}},
	// Latin-1 decodes any byte: the UTF-8 of row 6 is read as "JÃ¼rgen", a
	// wrong guess no reader can detect.
	{name: "non-UTF-8 bytes read as ISO-8859-1", file: "non-utf8.csv", opts: Options{Encoding: "iso-8859-1"}, want: []outcome{
		ok(2, sms, "+33612345678"),
		ok(3, sms, "+33698765432"),
		ok(4, sms, "+12015550123"),
		ok(5, sms, "+442079460958"),
		ok(6, sms, "+4915123456789"),
	}},
	{name: "windows-1252", file: "windows-1252.csv", opts: Options{Encoding: "windows-1252"}, want: []outcome{
		ok(2, sms, "+33612345678"),
		ok(3, sms, "+12015550123"),
		ok(4, sms, "+442079460958"),
		ok(5, sms, "+4915123456789"),
		rejected(6, "first_name", "value is not valid windows-1252 (is --encoding right?)"), // 0x81 is undefined
		ok(7, sms, "+61412345678"),
	}},
	{name: "windows-1252 read as UTF-8", file: "windows-1252.csv", want: []outcome{
		rejected(2, "first_name", notUTF8),
		rejected(3, "first_name", notUTF8),
		rejected(4, "first_name", notUTF8),
		rejected(5, "first_name", notUTF8),
		rejected(6, "first_name", notUTF8),
		ok(7, sms, "+61412345678"),
	}},
	{name: "Excel Unicode text, UTF-16 LE", file: "unicode-text-utf16le.csv", opts: Options{Delimiter: '\t'}, want: excelUnicodeText},
	{name: "Excel Unicode text, UTF-16 BE", file: "unicode-text-utf16be.csv", opts: Options{Delimiter: '\t'}, want: excelUnicodeText},
	{name: "Excel Unicode text read as comma-separated", file: "unicode-text-utf16le.csv", fatal: ErrNoPhoneColumn,
		fatalMsg: `recipients: line 1: no phone column: want a column named "phone" or "identity", and the first line must be the header; ` +
			`the header has a single column containing '\t': is the delimiter '\t'? (Excel's "Unicode text" is tab-separated)`},
	{name: "UTF-16 counted in the file's bytes for MaxBytes", gen: func() io.Reader {
		// 22 + 3×32 = 118 bytes of UTF-16 after the byte order mark hold
		// three rows; as UTF-8 they would hold six.
		return strings.NewReader(utf16LE("phone,note\n" + strings.Repeat("+33612345678,ok\n", 10)))
	}, opts: Options{MaxBytes: 118}, want: []outcome{
		ok(2, sms, "+33612345678"),
		ok(3, sms, "+33612345678"),
		ok(4, sms, "+33612345678"),
	}, fatal: ErrTooLarge, fatalMsg: "recipients: line 5: file is too large: the file is larger than 118 bytes (--max-bytes); split it or raise --max-bytes"},
	{name: "10 MB field in a UTF-16 file", gen: func() io.Reader {
		return io.MultiReader(strings.NewReader(utf16LE("phone,note\n+33612345678,")),
			newRepeatReader("a\x00", tenMB/2), strings.NewReader(utf16LE("\n+33612345678,ok\n")[2:]))
	}, want: []outcome{
		rejected(2, "", "row is longer than 1048576 bytes (--max-row-bytes)"),
		ok(3, sms, "+33612345678"),
	}, maxAlloc: largeAlloc},
	{name: "NUL bytes", file: "nul-bytes.csv", want: []outcome{
		ok(2, sms, "+33612345678"),
		rejected(3, "first_name", "value contains a NUL byte"),
		rejected(4, "phone", "value contains a NUL byte"),
		ok(5, sms, "+4915123456789"),
	}},
	{name: "NUL byte in the header", gen: func() io.Reader { return strings.NewReader("phone,na\x00me\n+33612345678,x\n") },
		fatal: ErrMalformedHeader, fatalMsg: "recipients: line 1: malformed header row: column 2: the name contains a NUL byte (is the file UTF-16 without a byte order mark? name it with --encoding utf-16le or utf-16be)"},
	{name: "byte order mark", file: "bom.csv", opts: Options{DefaultRegion: "US"}, want: []outcome{
		ok(2, sms, "+33612345678"),
		ok(3, sms, "+12015550123"),
	}},
	{name: "CRLF and blank lines", file: "crlf.csv", opts: Options{DefaultRegion: "US"}, want: []outcome{
		ok(2, sms, "+33612345678"),
		ok(3, sms, "+12015550123"), // quoted CRLF inside: lines 3-4; line 5 is blank
		ok(6, sms, "+442079460958"),
	}},
	{name: "quoted fields", file: "quotes.csv", opts: Options{DefaultRegion: "US"}, want: []outcome{
		ok(2, sms, "+33612345678"),
		ok(3, sms, "+12015550123"), // three-line note: lines 3-5
		ok(6, sms, "+442079460958"),
		rejected(7, "phone", "phone number is empty"),
		ok(8, sms, "+4915123456789"), // two-line first_name: lines 8-9
		ok(10, sms, "+34612345678"),  // no final line break
	}},
	{name: "unbalanced quotes", file: "unbalanced-quotes.csv", want: []outcome{
		ok(2, sms, "+33612345678"),
		ok(3, sms, "+12015550123"), // Bo"b: a quote inside an unquoted value is part of it
		rejected(4, "first_name", strayQuote),
		ok(5, sms, "+4915123456789"),
		// The quote opened on line 6 is never closed: lines 6-8 are one field.
		rejected(6, "", "a quoted field starting on this row is never closed, so the rest of the file could not be read"),
	}},
	{name: "unbalanced quotes, strict", file: "unbalanced-quotes.csv", opts: Options{StrictQuotes: true}, want: []outcome{
		ok(2, sms, "+33612345678"),
		rejected(3, "first_name", bareQuote),
		rejected(4, "first_name", strayQuote),
		ok(5, sms, "+4915123456789"),
		// The quote opened on line 6 is never closed: lines 6-8 are one field.
		rejected(6, "", "a quoted field starting on this row is never closed, so the rest of the file could not be read"),
	}},
	{name: "unterminated quote before 300,000 rows", gen: func() io.Reader {
		rows := strings.Repeat("+33612345678,ok\n", 300_000)
		return strings.NewReader("phone,note\n+33612345678,ok\n+33612345678,\"oops\n" + rows)
	}, want: []outcome{
		ok(2, sms, "+33612345678"),
		rejected(3, "", "a quoted field starting on this row is never closed, so the rest of the file could not be read"),
	}, maxAlloc: largeAlloc},
	{name: "inch marks", file: "inch-marks.csv", want: []outcome{
		ok(2, sms, "+33612345678"),  // 27" screen, 37°36'37.8"N 121°2'17.9"W
		ok(3, sms, "+12015550123"),  // 5'10" shelf
		ok(4, sms, "+442079460958"), // "12"" x 18"" print", quoted
		ok(5, sms, "+4915123456789"),
		rejected(6, "item", strayQuote), // "Carl"x: a quoted field, then x
		ok(7, sms, "+61412345678"),
	}},
	{name: "inch marks, strict", file: "inch-marks.csv", opts: Options{StrictQuotes: true}, want: []outcome{
		rejected(2, "item", bareQuote),
		rejected(3, "item", bareQuote),
		ok(4, sms, "+442079460958"),
		ok(5, sms, "+4915123456789"),
		rejected(6, "item", strayQuote),
		ok(7, sms, "+61412345678"),
	}},
	{name: "wrong delimiter", file: "semicolon.csv", opts: Options{Delimiter: ';', DefaultRegion: "US"}, want: []outcome{
		ok(2, sms, "+33612345678"),
		ok(3, sms, "+12015550123"),
		rejected(4, "", "row has 1 field, want 3 (one per header column)"), // commas are not the delimiter
		ok(5, sms, "+4915123456789"),
	}},
	{name: "field count", file: "field-count.csv", want: []outcome{
		ok(2, sms, "+33612345678"),
		rejected(3, "", "row has 2 fields, want 3 (one per header column)"),
		rejected(4, "", "row has 4 fields, want 3 (one per header column)"),
		ok(5, sms, "+4915123456789"),
		rejected(6, "", "row has 4 fields, want 3 (one per header column)"), // trailing delimiter; line 7 is blank
		rejected(8, "", "row has 1 field, want 3 (one per header column)"),
		ok(9, sms, "+819012345678"),
	}},

	// Header problems are fatal.
	{name: "empty file", file: "empty.csv", fatal: ErrEmpty, fatalMsg: "recipients: file is empty"},
	{name: "header only", file: "header-only.csv"},
	{name: "no phone column", file: "missing-phone-column.csv", fatal: ErrNoPhoneColumn,
		fatalMsg: `recipients: line 1: no phone column: want a column named "phone" or "identity", and the first line must be the header`},
	{name: "duplicate headers", file: "duplicate-headers.csv", fatal: ErrDuplicateColumn,
		fatalMsg: `recipients: line 1: duplicate column name: "first_name" (column 2) and "First_Name" (column 4), "phone" (column 1) and "Phone" (column 5)`},

	// Size limits.
	{name: "10 MB field in a row", gen: func() io.Reader {
		return io.MultiReader(strings.NewReader("phone,note\n+33612345678,"),
			newRepeatReader("a", tenMB), strings.NewReader("\n+33612345678,ok\n"))
	}, want: []outcome{
		rejected(2, "", "row is longer than 1048576 bytes (--max-row-bytes)"),
		ok(3, sms, "+33612345678"),
	}, maxAlloc: largeAlloc},
	{name: "10 MB quoted field of line breaks", gen: func() io.Reader {
		return io.MultiReader(strings.NewReader("phone,note\n+33612345678,\""),
			newRepeatReader("\n", tenMB), strings.NewReader("\"\n+33612345678,ok\n"))
	}, want: []outcome{
		rejected(2, "", "row is longer than 1048576 bytes (--max-row-bytes)"),
		ok(3+tenMB, sms, "+33612345678"),
	}, maxAlloc: largeAlloc},
	{name: "field over MaxFieldBytes", gen: func() io.Reader {
		return strings.NewReader("phone,note\n+33612345678," + strings.Repeat("a", DefaultMaxFieldBytes+1) + "\n+33612345678,ok\n")
	}, want: []outcome{
		rejected(2, "note", "value is longer than 65536 bytes (--max-field-bytes)"),
		ok(3, sms, "+33612345678"),
	}},
	{name: "10 MB header name", gen: func() io.Reader {
		return io.MultiReader(strings.NewReader("phone,"), newRepeatReader("a", tenMB), strings.NewReader("\n+33612345678,ok\n"))
	}, fatal: ErrMalformedHeader, fatalMsg: "recipients: line 1: malformed header row: the header is longer than 1048576 bytes (--max-row-bytes)",
		maxAlloc: largeAlloc},
	{name: "1,000,000 header columns", gen: func() io.Reader {
		var b strings.Builder
		b.WriteString("phone")
		for i := range 1_000_000 {
			fmt.Fprintf(&b, ",c%d", i)
		}
		b.WriteString("\n+33612345678\n")
		return strings.NewReader(b.String())
	}, fatal: ErrTooManyColumns, fatalMsg: "recipients: line 1: too many columns: the header has more than 1000 columns (--max-columns)",
		maxAlloc: largeAlloc},
	{name: "1,000,000 fields in a row", gen: func() io.Reader {
		return io.MultiReader(strings.NewReader("phone,note\n+33612345678"),
			newRepeatReader(",", 1_000_000), strings.NewReader("\n+33612345678,ok\n"))
	}, want: []outcome{
		rejected(2, "", "row has more than 1000 fields, want 2 (one per header column)"),
		ok(3, sms, "+33612345678"),
	}, maxAlloc: largeAlloc},
	{name: "stream over MaxBytes", gen: func() io.Reader {
		// 11 + 3×16 = 59 bytes fit in 60; row 5 does not.
		return strings.NewReader("phone,note\n" + strings.Repeat("+33612345678,ok\n", 10))
	}, opts: Options{MaxBytes: 60}, want: []outcome{
		ok(2, sms, "+33612345678"),
		ok(3, sms, "+33612345678"),
		ok(4, sms, "+33612345678"),
	}, fatal: ErrTooLarge, fatalMsg: "recipients: line 5: file is too large: the file is larger than 60 bytes (--max-bytes); split it or raise --max-bytes"},
	{name: "10 MB stream over MaxBytes in the header", gen: func() io.Reader {
		return io.MultiReader(strings.NewReader("phone,"), newRepeatReader("a", tenMB))
	}, opts: Options{MaxBytes: 1 << 20, MaxRowBytes: 2 << 20}, fatal: ErrTooLarge,
		fatalMsg: "recipients: line 1: file is too large: the file is larger than 1048576 bytes (--max-bytes); split it or raise --max-bytes",
		maxAlloc: largeAlloc},

	// Cells a spreadsheet would run: kept as written (escaping is for
	// output, see EscapeFormula); a formula is never a phone number.
	{name: "formula injection", file: "formula.csv", want: []outcome{
		ok(2, sms, "+33612345678"),
		rejected(3, "phone", "not a phone number"), // =1+1
		ok(4, sms, "+12015550123"),
		ok(5, sms, "+442079460958"),
		rejected(6, "phone", "not a phone number"), // -3+3
	}},

	// Phone numbers in every odd format.
	{name: "numbers with a default region", file: "bad-numbers.csv", opts: Options{DefaultRegion: "US"}, want: []outcome{
		ok(2, sms, "+33612345678"),  // +33 6 12 34 56 78
		ok(3, sms, "+33612345678"),  // 0033 6 12 34 56 78
		ok(4, sms, "+442079460958"), // 011 44 20 7946 0958
		ok(5, sms, "+12015550123"),  // (201) 555-0123
		ok(6, sms, "+12015550123"),  // 201.555.0123
		ok(7, sms, "+12015550123"),  // 1-201-555-0123
		ok(8, sms, "+12015550123"),  // +1 (201) 555-0123
		ok(9, sms, "+442079460958"), // surrounding spaces
		ok(10, sms, "+33612345678"), // +33 (0)6 …
		ok(11, sms, "+33612345678"), // full-width plus
		ok(12, sms, "+33612345678"), // tel: URI
		rejected(13, "phone", "not a valid phone number for region FR"),
		rejected(14, "phone", "not a valid phone number for region US"),
		rejected(15, "phone", "not a valid phone number for region US"),
		rejected(16, "phone", "phone number has an unknown country calling code"),
		rejected(17, "phone", "not a phone number"),
		rejected(18, "phone", "phone number is empty"),
		rejected(19, "phone", "phone number has an extension"),
		rejected(20, "phone", "too long to be a phone number (more than 64 bytes)"),
		rejected(21, "phone", "not a valid phone number for region GB"),
	}},
	{name: "numbers without a default region", file: "numbers-no-region.csv", want: []outcome{
		ok(2, sms, "+33612345678"),
		ok(3, sms, "+33612345678"),
		rejected(4, "phone", "phone number has no country code (+…) and no default region is set"),
		rejected(5, "phone", "phone number has no country code (+…) and no default region is set"),
		rejected(6, "phone", "phone number contains letters"),
		rejected(7, "phone", "phone number has an extension"),
		rejected(8, "phone", "too short to be a phone number"),
		rejected(9, "phone", "too long to be a phone number"),
		ok(10, sms, "+12015550123"),
	}},

	// Templates that try to loop, recurse, call methods or reach the
	// filesystem are refused when parsed; output bombs are refused per row.
	{name: "template ranging over an integer", file: "template-rows.csv", template: "range-integer.tmpl", fatal: ErrTemplate,
		fatalMsg: "recipients: invalid message template: {{range}} is not supported: template variables are strings"},
	{name: "template recursion", file: "template-rows.csv", template: "template-recursion.tmpl", fatal: ErrTemplate,
		fatalMsg: "recipients: invalid message template: {{define}} and {{block}} are not supported"},
	{name: "template method call", file: "template-rows.csv", template: "method-call.tmpl", fatal: ErrTemplate,
		fatalMsg: "recipients: invalid message template: {{.first_name.ToUpper}}: template variables are strings and have no fields"},
	{name: "template call", file: "template-rows.csv", template: "call.tmpl", fatal: ErrTemplate,
		fatalMsg: `recipients: invalid message template: {{call .first_name}}: function "call" is not supported (use and, or, not, eq, ne, lt, le, gt, ge, len, index, slice, html, js, urlquery)`},
	{name: "template printf bomb", file: "template-rows.csv", template: "printf-bomb.tmpl", fatal: ErrTemplate,
		fatalMsg: `recipients: invalid message template: {{printf "%0999999999d" 1}}: function "printf" is not supported (use and, or, not, eq, ne, lt, le, gt, ge, len, index, slice, html, js, urlquery)`},
	{name: "template reading a file", file: "template-rows.csv", template: "read-file.tmpl", fatal: ErrTemplate,
		fatalMsg: `recipients: invalid message template: message:1: function "readFile" not defined`},
	{name: "template output bomb", file: "template-rows.csv", template: "output-bomb.tmpl", want: []outcome{
		ok(2, sms, "+33612345678"),
		rejected(3, "", "message is longer than 8000 bytes (MaxRenderedBytes)"),
		rejected(4, "", "message is 3010 characters long, more than 2000 (--max-message-chars)"),
		ok(5, sms, "+4915123456789"),
	}},
}

// TestHostileCorpus runs every hostile input and checks that each ends in
// exactly the expected row-numbered rejections or fatal error, within a
// bounded amount of memory, without a panic.
func TestHostileCorpus(t *testing.T) {
	for _, tc := range hostileCorpus {
		t.Run(tc.name, func(t *testing.T) {
			if tc.gen != nil && tc.maxAlloc == largeAlloc && testing.Short() {
				t.Skip("generates a 10 MB input")
			}
			var in io.Reader
			if tc.gen != nil {
				in = tc.gen() // built before measuring
			} else {
				data, err := os.ReadFile(filepath.Join(testdata, "bad", tc.file))
				if err != nil {
					t.Fatal(err)
				}
				in = strings.NewReader(string(data))
			}
			var tmplText string
			if tc.template != "" {
				b, err := os.ReadFile(filepath.Join(testdata, "bad", "templates", tc.template))
				if err != nil {
					t.Fatal(err)
				}
				tmplText = string(b)
			}

			var got []outcome
			var err error
			n := allocated(func() { got, err = runCorpusCase(t, in, tc.opts, tmplText) })

			switch {
			case tc.fatal == nil && err != nil:
				t.Errorf("got fatal error %v, want none", err)
			case tc.fatal != nil && !errors.Is(err, tc.fatal):
				t.Errorf("got error %v, want one wrapping %v", err, tc.fatal)
			case tc.fatal != nil && err.Error() != tc.fatalMsg:
				t.Errorf("got error\n\t%s\nwant\n\t%s", err, tc.fatalMsg)
			}
			compareExact(t, got, tc.want)
			limit := tc.maxAlloc
			if limit == 0 {
				limit = smallAlloc
			}
			if n > limit {
				t.Errorf("allocated %d bytes, want at most %d", n, limit)
			}
			t.Logf("allocated %d KiB", n>>10)
		})
	}
}

// runCorpusCase reads in to the end, rendering tmplText (if any) for each
// valid row. It turns a panic into a test failure naming the input.
func runCorpusCase(t *testing.T, in io.Reader, opts Options, tmplText string) (outs []outcome, err error) {
	defer func() {
		if p := recover(); p != nil {
			t.Fatalf("panic: %v", p)
		}
	}()
	var tmpl *Template
	if tmplText != "" {
		if tmpl, err = ParseTemplate(tmplText); err != nil {
			return nil, err
		}
		opts.Template = tmpl
	}
	r, err := NewReader(in, opts)
	if err != nil {
		return nil, err
	}
	for {
		row, err := r.Next()
		if err == nil && tmpl != nil {
			_, err = tmpl.RenderRow(row)
		}
		var re *RowError
		switch {
		case err == io.EOF:
			return outs, nil
		case errors.As(err, &re):
			outs = append(outs, rejected(re.Line, re.Column, re.Reason))
		case err != nil:
			return outs, err
		default:
			outs = append(outs, ok(row.Line, row.Channel, row.Identity))
		}
		if len(outs) > 1_000_000 {
			t.Fatal("Next never returned io.EOF")
		}
	}
}

// TestHostileCorpusIsComplete fails when a file is added to testdata/bad
// without a case in hostileCorpus.
func TestHostileCorpusIsComplete(t *testing.T) {
	covered := map[string]bool{"README.md": true}
	for _, tc := range hostileCorpus {
		covered[tc.file] = true
		if tc.template != "" {
			covered[filepath.Join("templates", tc.template)] = true
		}
	}
	root := filepath.Join(testdata, "bad")
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		rel, _ := filepath.Rel(root, path)
		if !covered[rel] {
			t.Errorf("testdata/bad/%s has no case in hostileCorpus", rel)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}
