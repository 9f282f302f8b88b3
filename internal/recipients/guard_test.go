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
	err    error // nil or a *csv.ParseError
}

// scan runs input through a guard and encoding/csv, as NewReader does, and
// checks that both agree on where every record starts.
func scan(t testing.TB, input string, delim byte, maxRowBytes, maxFields int) []scanned {
	t.Helper()
	g := newGuard(strings.NewReader(input), delim, maxRowBytes, maxFields, DefaultMaxBytes)
	g.start()
	cr := csv.NewReader(g)
	cr.Comma = rune(delim)
	cr.FieldsPerRecord = -1
	var out []scanned
	for {
		rec, err := cr.Read()
		if err == io.EOF {
			break
		}
		var perr *csv.ParseError
		if err != nil && !errors.As(err, &perr) {
			t.Fatalf("input %q: csv.Read: unexpected error %v", input, err)
		}
		info, ok := g.pop()
		if !ok {
			t.Fatalf("input %q: encoding/csv returned a record the guard does not know", input)
		}
		if err == nil {
			if line, _ := cr.FieldPos(0); line != info.emittedLine {
				t.Fatalf("input %q: record on line %d: encoding/csv says it starts on emitted line %d, guard says %d",
					input, info.line, line, info.emittedLine)
			}
		} else if perr.StartLine != info.emittedLine {
			t.Fatalf("input %q: bad record on line %d: encoding/csv says it starts on emitted line %d, guard says %d",
				input, info.line, perr.StartLine, info.emittedLine)
		}
		out = append(out, scanned{info: info, fields: slices.Clone(rec), err: err})
	}
	if _, ok := g.pop(); ok {
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
		`+33612345678,a"b,c`,
		`+33612345678,"a"b,c`,
		`+33612345678,,,,,,,,`,
		`+33612345678,"",""`,
		`"""",""""`,
		"\"a\n\n\nb\",\"\n\"",
	}
	for _, row := range rows {
		for limit := 5; limit <= len(row)+1; limit++ {
			in := row + "\nz,k,k\n"
			got := scan(t, in, ',', limit, 3)
			wantLine := 2 + strings.Count(row, "\n")
			if len(got) != 2 {
				t.Fatalf("row %q, limit %d: got %d records %+v, want 2", row, limit, len(got), got)
			}
			if got[0].info.line != 1 {
				t.Errorf("row %q, limit %d: got first record on line %d, want 1", row, limit, got[0].info.line)
			}
			last := got[1]
			if last.info.line != wantLine || last.err != nil || last.info.cut != notCut || !slices.Equal(last.fields, []string{"z", "k", "k"}) {
				t.Errorf("row %q, limit %d: got last record %+v, want [z k k] on line %d", row, limit, last, wantLine)
			}
			if len(row) > limit && got[0].info.cut == notCut && strings.Count(row, ",") < 4 {
				t.Errorf("row %q, limit %d: got an uncut first record %+v", row, limit, got[0])
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
		want      []recordInfo // emittedLine is not compared
	}{
		{"plain", "a,b\nc,d\n", 100, 10, []recordInfo{
			{line: 1, quoteErrField: -1}, {line: 2, quoteErrField: -1}}},
		{"bare quote in field 2", "a,b\"c,d\ne\n", 100, 10, []recordInfo{
			{line: 1, quoteErrField: 1}, {line: 2, quoteErrField: -1}}},
		{"stray quote in field 1", "\"a\"b,c\ne\n", 100, 10, []recordInfo{
			{line: 1, quoteErrField: 0}, {line: 2, quoteErrField: -1}}},
		{"unterminated", "a\n\"b\nc\nd", 100, 10, []recordInfo{
			{line: 1, quoteErrField: -1}, {line: 2, unterminated: true, quoteErrField: -1}}},
		{"unterminated and cut", "a\n\"b\nc\nd", 3, 10, []recordInfo{
			{line: 1, quoteErrField: -1}, {line: 2, cut: cutBytes, unterminated: true, quoteErrField: -1}}},
		{"too many fields", "a,b,c,d\ne\n", 100, 2, []recordInfo{
			{line: 1, cut: cutFields, quoteErrField: -1}, {line: 2, quoteErrField: -1}}},
		{"too long", "abcdef\ne\n", 5, 10, []recordInfo{
			{line: 1, cut: cutBytes, quoteErrField: -1}, {line: 2, quoteErrField: -1}}},
		{"cut after a leading CR", "\rx\nz\n", 1, 10, []recordInfo{
			{line: 1, cut: cutBytes, quoteErrField: -1}, {line: 2, quoteErrField: -1}}},
		{"exactly the limit", "abcde\ne\n", 5, 10, []recordInfo{
			{line: 1, quoteErrField: -1}, {line: 2, quoteErrField: -1}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := scan(t, tt.in, ',', tt.maxRow, tt.maxFields)
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
// passes encoding/csv exactly what it would read from the file itself.
func TestGuardMatchesCSV(t *testing.T) {
	inputs := []string{
		"", "\n", "\r\n", "\r", "\r\r", "\r\r\n", "a\r", "a\rb\n", "\"a\"\r", "\"a\"\rb\n", "\"a\"\r\r\n",
		"a,\"b\nc\",d\n\ne\n", "\"\"\"\"\n", "a\"\n", "\"a\n", "\"a\"\"", ",,\n,\n", "\ufeffa,b\n",
		"a;b,c\n", "\"a\r\nb\"\r\n", "x\n\r\ny\n", "\"\"x\"\n\"y\"\n",
	}
	for _, in := range inputs {
		for _, delim := range []byte{',', ';'} {
			compareWithCSV(t, in, delim)
		}
	}
}

// compareWithCSV reads in with encoding/csv alone and through the guard,
// with limits that never cut, and fails if the records differ.
func compareWithCSV(t testing.TB, in string, delim byte) {
	t.Helper()
	cr := csv.NewReader(strings.NewReader(strings.TrimPrefix(in, "\ufeff")))
	cr.Comma = rune(delim)
	cr.FieldsPerRecord = -1
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
		line := 0
		if err == nil {
			line, _ = cr.FieldPos(0)
		} else {
			line = perr.StartLine
		}
		want = append(want, scanned{info: recordInfo{line: line}, fields: slices.Clone(rec), err: err})
	}
	got := scan(t, in, delim, len(in)+1, len(in)+1)
	if len(got) != len(want) {
		t.Fatalf("input %q: got %d records %+v, want %d %+v", in, len(got), got, len(want), want)
	}
	for i := range got {
		g, w := got[i], want[i]
		if g.info.line != w.info.line || !slices.Equal(g.fields, w.fields) || (g.err == nil) != (w.err == nil) {
			t.Errorf("input %q: record %d: got line %d %q (err %v), want line %d %q (err %v)",
				in, i, g.info.line, g.fields, g.err, w.info.line, w.fields, w.err)
		}
		if g.err != nil && g.err.Error() != w.err.Error() {
			t.Errorf("input %q: record %d: got error %v, want %v", in, i, g.err, w.err)
		}
	}
}
