package recipients

import (
	"encoding/csv"
	"errors"
	"io"
	"slices"
	"strings"
	"testing"
)

// scanned is one record as encoding/csv returns it through the guard.
type scanned struct {
	info   recordInfo
	fields []string
}

// scan runs input (UTF-8 text) through the record layer of a Reader, the
// guard and encoding/csv, which checks that both agree on where every
// record starts and that encoding/csv reports no error the guard missed.
func scan(t testing.TB, input string, delim byte, maxRowBytes, maxFields int, strictQuotes bool) []scanned {
	t.Helper()
	rs := csvRecords(strings.NewReader(input), Options{
		Delimiter: rune(delim), MaxRowBytes: maxRowBytes, MaxColumns: maxFields, StrictQuotes: strictQuotes,
	})
	var out []scanned
	for {
		rec, info, err := rs.read()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatalf("input %q (strict quotes %v): got error %v, want records only", input, strictQuotes, err)
		}
		out = append(out, scanned{info: info, fields: slices.Clone(rec)})
	}
	if _, ok := rs.g.pop(); ok {
		t.Fatalf("input %q: the guard has a record encoding/csv did not return", input)
	}
	return out
}

// TestGuardCuts cuts rows at every byte and checks that, whatever state the
// cut leaves a quoted field in, the next row comes out whole, on the right
// line.
func TestGuardCuts(t *testing.T) {
	rows := []string{
		`+33612345678,"ab""cd""ef",x`,
		`+33612345678,"ab""cd"""`,
		`+33612345678,"a,b",c`,
		"+33612345678,\"a\r\nb\"\r",
		"\r+33612345678,x,y",
		"\rx",
		"\r\"x",
		`+33612345678,a"b,c`,
		`+33612345678,"a"b,c`,
		`+33612345678,,,,,,,,`,
		`+33612345678,"",""`,
		`"""",""""`,
		"\"a\n\n\nb\",\"\n\"",
		`27" screen,"a"b,"c`,
	}
	for _, strict := range []bool{false, true} {
		for _, row := range rows {
			for limit := 5; limit <= len(row)+1; limit++ {
				in := row + "\nz,k,k\n"
				got := scan(t, in, ',', limit, 3, strict)
				wantLine := 2 + strings.Count(row, "\n")
				if len(got) != 2 {
					t.Fatalf("row %q, limit %d, strict %v: got %d records %+v, want 2", row, limit, strict, len(got), got)
				}
				if got[0].info.line != 1 {
					t.Errorf("row %q, limit %d, strict %v: got first record on line %d, want 1", row, limit, strict, got[0].info.line)
				}
				last := got[1]
				if last.info.line != wantLine || last.info.cut != notCut || !slices.Equal(last.fields, []string{"z", "k", "k"}) {
					t.Errorf("row %q, limit %d, strict %v: got last record %+v, want [z k k] on line %d", row, limit, strict, last, wantLine)
				}
				if len(row) > limit && got[0].info.cut == notCut && strings.Count(row, ",") < 4 {
					t.Errorf("row %q, limit %d, strict %v: got an uncut first record %+v", row, limit, strict, got[0])
				}
			}
		}
	}
}

func TestGuardRecordInfo(t *testing.T) {
	tests := []struct {
		name      string
		in        string
		maxRow    int
		maxFields int
		strict    bool
		want      []recordInfo // emittedLine is not compared
	}{
		{"plain", "a,b\nc,d\n", 100, 10, false, []recordInfo{
			{line: 1, quoteErrField: -1}, {line: 2, quoteErrField: -1}}},
		{"bare quote in field 2", "a,b\"c,d\ne\n", 100, 10, false, []recordInfo{
			{line: 1, quoteErrField: -1}, {line: 2, quoteErrField: -1}}},
		{"bare quote in field 2, strict", "a,b\"c,d\ne\n", 100, 10, true, []recordInfo{
			{line: 1, cut: cutBareQuote, quoteErrField: 1}, {line: 2, quoteErrField: -1}}},
		{"bare quote then a quoted field", "a,b\"c,\"d\ne\"\nf\n", 100, 10, false, []recordInfo{
			{line: 1, quoteErrField: -1}, {line: 3, quoteErrField: -1}}},
		{"bare quote then a quoted field, strict", "a,b\"c,\"d\ne\"\nf\n", 100, 10, true, []recordInfo{
			{line: 1, cut: cutBareQuote, quoteErrField: 1}, {line: 2, cut: cutBareQuote, quoteErrField: 0}, {line: 3, quoteErrField: -1}}},
		{"stray quote in field 1", "\"a\"b,c\ne\n", 100, 10, false, []recordInfo{
			{line: 1, cut: cutStrayQuote, quoteErrField: 0}, {line: 2, quoteErrField: -1}}},
		{"stray quote in field 1, strict", "\"a\"b,c\ne\n", 100, 10, true, []recordInfo{
			{line: 1, cut: cutStrayQuote, quoteErrField: 0}, {line: 2, quoteErrField: -1}}},
		{"stray quote after CR", "x,\"a\"\rb,c\ne\n", 100, 10, false, []recordInfo{
			{line: 1, cut: cutStrayQuote, quoteErrField: 1}, {line: 2, quoteErrField: -1}}},
		{"unterminated", "a\n\"b\nc\nd", 100, 10, false, []recordInfo{
			{line: 1, quoteErrField: -1}, {line: 2, unterminated: true, quoteErrField: -1}}},
		{"unterminated and cut", "a\n\"b\nc\nd", 3, 10, false, []recordInfo{
			{line: 1, quoteErrField: -1}, {line: 2, cut: cutBytes, unterminated: true, quoteErrField: -1}}},
		{"too many fields", "a,b,c,d\ne\n", 100, 2, false, []recordInfo{
			{line: 1, cut: cutFields, quoteErrField: -1}, {line: 2, quoteErrField: -1}}},
		{"too long", "abcdef\ne\n", 5, 10, false, []recordInfo{
			{line: 1, cut: cutBytes, quoteErrField: -1}, {line: 2, quoteErrField: -1}}},
		{"too long before a stray quote", "\"abcdef\"x\ne\n", 5, 10, false, []recordInfo{
			{line: 1, cut: cutBytes, quoteErrField: -1}, {line: 2, quoteErrField: -1}}},
		{"cut after a leading CR", "\rx\nz\n", 1, 10, false, []recordInfo{
			{line: 1, cut: cutBytes, quoteErrField: -1}, {line: 2, quoteErrField: -1}}},
		{"bare quote after a leading CR, strict", "\r\"x\nz\n", 100, 10, true, []recordInfo{
			{line: 1, cut: cutBareQuote, quoteErrField: 0}, {line: 2, quoteErrField: -1}}},
		{"exactly the limit", "abcde\ne\n", 5, 10, false, []recordInfo{
			{line: 1, quoteErrField: -1}, {line: 2, quoteErrField: -1}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := scan(t, tt.in, ',', tt.maxRow, tt.maxFields, tt.strict)
			var infos []recordInfo
			for _, s := range got {
				s.info.emittedLine = 0
				infos = append(infos, s.info)
			}
			if !slices.Equal(infos, tt.want) {
				t.Errorf("got %+v, want %+v", infos, tt.want)
			}
		})
	}
}

// TestGuardMatchesCSV checks, on tricky inputs without cuts, that the guard
// and encoding/csv read what encoding/csv reads from the file itself.
func TestGuardMatchesCSV(t *testing.T) {
	inputs := []string{
		"", "\n", "\r\n", "\r", "\r\r", "\r\r\n", "a\r", "a\rb\n", "\"a\"\r", "\"a\"\rb\n", "\"a\"\r\r\n",
		"a,\"b\nc\",d\n\ne\n", "\"\"\"\"\n", "a\"\n", "\"a\n", "\"a\"\"", ",,\n,\n", "\ufeffa,b\n",
		"a;b,c\n", "\"a\r\nb\"\r\n", "x\n\r\ny\n", "\"\"x\"\n\"y\"\n", "\r\"\n", "a\"b\"\n",
		"a\"b,\"c\nd\"\n", "27\" screen,\"x\"y,z\nw\n", "a,\"b\"\"\n\"\"c\"\n",
	}
	for _, in := range inputs {
		for _, delim := range []byte{',', ';'} {
			for _, strict := range []bool{false, true} {
				compareWithCSV(t, in, delim, strict)
			}
		}
	}
}

// compareWithCSV reads in with encoding/csv alone and through the guard,
// with limits that never cut, and fails if the records differ.
//
// With strictQuotes the reference is encoding/csv without LazyQuotes: where
// it reports ErrBareQuote or ErrQuote, the guard must cut the record at the
// same field for the same reason, or (ErrQuote at the end of the file) mark
// it unterminated. Without strictQuotes the reference is encoding/csv with
// LazyQuotes, which agrees with the guard's rules up to the first stray
// quote in a quoted field: there the guard cuts the record, and LazyQuotes
// reads on past the quote, so the comparison stops.
func compareWithCSV(t testing.TB, in string, delim byte, strictQuotes bool) {
	t.Helper()
	cr := csv.NewReader(strings.NewReader(in))
	cr.Comma = rune(delim)
	cr.FieldsPerRecord = -1
	cr.LazyQuotes = !strictQuotes
	var want []scanned
	for {
		rec, err := cr.Read()
		if err == io.EOF {
			break
		}
		var perr *csv.ParseError
		if err != nil && !errors.As(err, &perr) {
			t.Fatalf("input %q: %v", in, err)
		}
		w := scanned{info: recordInfo{quoteErrField: -1}, fields: slices.Clone(rec)}
		if err == nil {
			w.info.line, _ = cr.FieldPos(0)
		} else {
			w.info.line = perr.StartLine
			w.info.quoteErrField = len(rec) // the fields before the bad one
			w.info.cut = cutStrayQuote
			if errors.Is(err, csv.ErrBareQuote) {
				w.info.cut = cutBareQuote
			}
		}
		want = append(want, w)
	}
	got := scan(t, in, delim, len(in)+1, len(in)+1, strictQuotes)
	for i := range max(len(got), len(want)) {
		if i >= len(got) || i >= len(want) {
			t.Fatalf("input %q (strict quotes %v): got %d records %+v, want %d %+v", in, strictQuotes, len(got), got, len(want), want)
		}
		g, w := got[i], want[i]
		if g.info.unterminated && i == len(got)-1 && w.info.cut == cutStrayQuote && strictQuotes {
			// encoding/csv's ErrQuote at the end of the file.
			w.info.cut, w.info.quoteErrField, w.info.unterminated = notCut, -1, true
			g.fields = g.fields[:min(len(g.fields), len(w.fields))]
		}
		if g.info.unterminated && i == len(got)-1 && !strictQuotes {
			w.info.unterminated = true // LazyQuotes ends the field at the end of the file, silently
		}
		stray := !strictQuotes && g.info.cut == cutStrayQuote
		if stray {
			// encoding/csv's LazyQuotes reads the field on: compare the
			// fields before it, and no further records.
			w.info.cut, w.info.quoteErrField = cutStrayQuote, g.info.quoteErrField
			w.fields = w.fields[:min(len(w.fields), g.info.quoteErrField)]
		}
		if w.info.cut == cutBareQuote || w.info.cut == cutStrayQuote {
			if len(g.fields) != w.info.quoteErrField+1 {
				t.Errorf("input %q (strict quotes %v): record %d: got %d fields %q, want %d, the last one cut at the quote",
					in, strictQuotes, i, len(g.fields), g.fields, w.info.quoteErrField+1)
			}
			g.fields = g.fields[:min(len(g.fields), w.info.quoteErrField)]
		}
		g.info.emittedLine = 0
		if g.info != w.info || !slices.Equal(g.fields, w.fields) {
			t.Errorf("input %q (strict quotes %v): record %d: got %+v %q, want %+v %q",
				in, strictQuotes, i, g.info, g.fields, w.info, w.fields)
		}
		if stray {
			return
		}
	}
}
