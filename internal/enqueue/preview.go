package enqueue

import (
	"bufio"
	"encoding/csv"
	"fmt"
	"io"
	"strconv"

	"github.com/sinch-dispatch/sinch-dispatch/internal/recipients"
)

// PreviewHeader is the first line of a preview file: one line follows per
// valid row, in file order, with the row's personalised text as it will be
// sent. encoding is empty and segments 0 for what is not an SMS text.
var PreviewHeader = []string{"row", "channel", "identity", "encoding", "segments", "characters", "text"}

// previewWriter writes the preview CSV. Cells are formula-escaped like the
// rejects file and the report, so a spreadsheet never runs a cell.
type previewWriter struct {
	buf    *bufio.Writer
	w      *csv.Writer
	header bool
	cells  []string
}

func newPreviewWriter(w io.Writer) *previewWriter {
	buf := bufio.NewWriterSize(w, 64<<10)
	return &previewWriter{buf: buf, w: csv.NewWriter(buf), cells: make([]string, len(PreviewHeader))}
}

func (p *previewWriter) write(it *item) error {
	if !p.header {
		p.header = true
		if err := p.w.Write(PreviewHeader); err != nil {
			return fmt.Errorf("write preview: %w", err)
		}
	}
	rec := it.p.reg.Record
	c := p.cells
	c[0], c[1], c[2] = strconv.Itoa(rec.Row), string(rec.Channel), recipients.EscapeFormula(rec.Identity)
	c[3], c[4], c[5] = "", "0", strconv.Itoa(len([]rune(it.text)))
	if s := it.p.sms; s != nil {
		c[3], c[4], c[5] = string(s.count.Encoding), strconv.Itoa(s.count.Segments), strconv.Itoa(s.count.Chars)
	}
	c[6] = recipients.EscapeFormula(it.text)
	if err := p.w.Write(c); err != nil {
		return fmt.Errorf("write preview: %w", err)
	}
	return nil
}

func (p *previewWriter) flush() error {
	if !p.header { // no valid row: still a well-formed file
		p.header = true
		p.w.Write(PreviewHeader)
	}
	p.w.Flush()
	if err := p.w.Error(); err != nil {
		return fmt.Errorf("write preview: %w", err)
	}
	if err := p.buf.Flush(); err != nil {
		return fmt.Errorf("write preview: %w", err)
	}
	return nil
}
