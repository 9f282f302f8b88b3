package recipients

import (
	"encoding/csv"
	"fmt"
	"io"
	"strconv"
	"strings"
)

// RejectWriter writes rejected rows as a CSV file with the header
// "row,column,reason", for the user to fix their file. Cells are escaped with
// EscapeFormula, so opening the file in a spreadsheet runs nothing. It is not
// safe for concurrent use.
type RejectWriter struct {
	w           *csv.Writer
	wroteHeader bool
	count       int
}

// NewRejectWriter returns a RejectWriter writing to w. Call Flush at the end.
func NewRejectWriter(w io.Writer) *RejectWriter {
	return &RejectWriter{w: csv.NewWriter(w)}
}

// Write adds one rejected row, writing the header first if needed.
func (rw *RejectWriter) Write(e *RowError) error {
	if err := rw.header(); err != nil {
		return err
	}
	rec := []string{strconv.Itoa(e.Line), EscapeFormula(e.Column), EscapeFormula(e.Reason)}
	if err := rw.w.Write(rec); err != nil {
		return fmt.Errorf("recipients: writing rejects: %w", err)
	}
	rw.count++
	return nil
}

// Count returns the number of rows written.
func (rw *RejectWriter) Count() int { return rw.count }

// Flush writes the header if no row was written, then flushes buffered data
// to the underlying writer.
func (rw *RejectWriter) Flush() error {
	if err := rw.header(); err != nil {
		return err
	}
	rw.w.Flush()
	if err := rw.w.Error(); err != nil {
		return fmt.Errorf("recipients: writing rejects: %w", err)
	}
	return nil
}

func (rw *RejectWriter) header() error {
	if rw.wroteHeader {
		return nil
	}
	rw.wroteHeader = true
	if err := rw.w.Write([]string{"row", "column", "reason"}); err != nil {
		return fmt.Errorf("recipients: writing rejects: %w", err)
	}
	return nil
}

// EscapeFormula makes s safe to put in a CSV cell that a spreadsheet will
// open: if s begins with a character that makes Excel, LibreOffice or Google
// Sheets read the cell as a formula (=, +, -, @, tab or carriage return, as
// listed by OWASP, and their full-width forms ＝ ＋ － ＠), it is prefixed with
// a single quote, which spreadsheets show as text. Other strings are
// returned unchanged. CSV quoting is the CSV writer's job, not this one's.
func EscapeFormula(s string) string {
	if s == "" {
		return s
	}
	switch s[0] {
	case '=', '+', '-', '@', '\t', '\r':
		return "'" + s
	}
	for _, p := range []string{"＝", "＋", "－", "＠"} {
		if strings.HasPrefix(s, p) {
			return "'" + s
		}
	}
	return s
}
