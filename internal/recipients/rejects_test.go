package recipients

import (
	"bytes"
	"encoding/csv"
	"errors"
	"io"
	"slices"
	"strings"
	"testing"
)

func TestEscapeFormula(t *testing.T) {
	tests := []struct{ in, want string }{
		{"", ""},
		{"plain", "plain"},
		{"=HYPERLINK(\"http://evil.example\",\"x\")", "'=HYPERLINK(\"http://evil.example\",\"x\")"},
		{"+1", "'+1"},
		{"-2+3", "'-2+3"},
		{"@SUM(A1)", "'@SUM(A1)"},
		{"\t=1", "'\t=1"},
		{"\r=1", "'\r=1"},
		{"＝1+1", "'＝1+1"},
		{"＋1", "'＋1"},
		{"－1", "'－1"},
		{"＠x", "'＠x"},
		{"a=1", "a=1"},
		{" =1", " =1"},
		{"'already", "'already"},
		{"row has 2 fields", "row has 2 fields"},
	}
	for _, tt := range tests {
		if got := EscapeFormula(tt.in); got != tt.want {
			t.Errorf("EscapeFormula(%q): got %q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestRejectWriter(t *testing.T) {
	var buf bytes.Buffer
	rw := NewRejectWriter(&buf)
	rejects := []*RowError{
		{Line: 3, Column: "phone", Reason: "not a valid phone number for region US"},
		{Line: 4, Column: "=cmd|' /C calc'!A0", Reason: "value contains a NUL byte"},
		{Line: 9, Reason: `bare " in a non-quoted value, somewhere`},
		{Line: 12, Column: "@x", Reason: "-leading dash"},
	}
	for _, re := range rejects {
		if err := rw.Write(re); err != nil {
			t.Fatal(err)
		}
	}
	if err := rw.Flush(); err != nil {
		t.Fatal(err)
	}
	if got, want := rw.Count(), len(rejects); got != want {
		t.Errorf("Count: got %d, want %d", got, want)
	}
	got, err := csv.NewReader(&buf).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	want := [][]string{
		{"row", "column", "reason"},
		{"3", "phone", "not a valid phone number for region US"},
		{"4", "'=cmd|' /C calc'!A0", "value contains a NUL byte"},
		{"9", "", `bare " in a non-quoted value, somewhere`},
		{"12", "'@x", "'-leading dash"},
	}
	if !slices.EqualFunc(got, want, slices.Equal) {
		t.Errorf("got %q, want %q", got, want)
	}
}

func TestRejectWriterEmpty(t *testing.T) {
	var buf bytes.Buffer
	rw := NewRejectWriter(&buf)
	if err := rw.Flush(); err != nil {
		t.Fatal(err)
	}
	if got, want := buf.String(), "row,column,reason\n"; got != want {
		t.Errorf("got %q, want %q", got, want)
	}
}

type errWriter struct{}

func (errWriter) Write([]byte) (int, error) { return 0, errors.New("disk full") }

func TestRejectWriterError(t *testing.T) {
	rw := NewRejectWriter(errWriter{})
	_ = rw.Write(&RowError{Line: 2, Reason: "x"})
	if err := rw.Flush(); err == nil || !strings.Contains(err.Error(), "disk full") {
		t.Errorf("got %v, want an error containing \"disk full\"", err)
	}
}

// TestFormulaFileRejects reads formula.csv and writes its rejects: nothing
// in the rejects file may start a formula.
func TestFormulaFileRejects(t *testing.T) {
	header := "phone,first_name,=cmd|' /C calc'!A0\n"
	in := header +
		"+33612345678,Ann,\xff\n" + // rejected on the formula-named column
		"=1+1,@SUM(A1:A9),-2\n" // rejected on phone
	r, err := NewReader(strings.NewReader(in), Options{})
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	rw := NewRejectWriter(&buf)
	for {
		_, err := r.Next()
		if err == io.EOF {
			break
		}
		var re *RowError
		if !errors.As(err, &re) {
			t.Fatalf("got %v, want a RowError", err)
		}
		if err := rw.Write(re); err != nil {
			t.Fatal(err)
		}
	}
	if err := rw.Flush(); err != nil {
		t.Fatal(err)
	}
	recs, err := csv.NewReader(&buf).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	want := [][]string{
		{"row", "column", "reason"},
		{"2", "'=cmd|' /C calc'!A0", notUTF8},
		{"3", "phone", "not a phone number"},
	}
	if !slices.EqualFunc(recs, want, slices.Equal) {
		t.Errorf("got %q, want %q", recs, want)
	}
	for _, rec := range recs {
		for _, cell := range rec {
			if cell != "" && strings.ContainsRune("=+-@\t\r", rune(cell[0])) {
				t.Errorf("cell %q starts a formula", cell)
			}
		}
	}
}
