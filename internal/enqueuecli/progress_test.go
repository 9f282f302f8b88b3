package enqueuecli

import (
	"io"
	"strings"
	"testing"
)

// The progress bar's last draw ends its line, so the summary that follows
// starts on a line of its own instead of being glued to "… rows".
func TestProgressBarEndsItsLine(t *testing.T) {
	var w strings.Builder
	p := newProgress(&w, 100, strings.NewReader(strings.Repeat("x", 100)))
	io.Copy(io.Discard, p)
	p.done(300000)
	if got, want := w.String(), "\r[==============================] 100% 300000 rows\n"; got != want {
		t.Errorf("bar: got %q, want %q", got, want)
	}
}
